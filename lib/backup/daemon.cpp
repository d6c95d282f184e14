#include "backup/daemon.hpp"

#include "backup/exit_codes.hpp"
#include "crypto/hash.hpp"
#include "logging/logger.hpp"
#include "naming/object_name.hpp"
#include "platform/scheduling.hpp"
#include "watch/watcher.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <pthread.h>
#include <sched.h>

#include <csignal>
#include <cstring>

namespace scb::backup {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// EEVDF's shortest slice: the daemon's work per version is about this long (docs/performance.md).
constexpr std::chrono::microseconds short_slice{100};

daemon::daemon(asio::any_io_executor ex, s3::client& client, spool::spool& store, daemon_options opts)
    : ex_(ex), client_(client), spool_(store), opts_(std::move(opts)), uploader_(ex, client, store, spool_io_, opts_.upload),
      heartbeat_wake_(ex) {
    // Spool writes must not delay an upload: SCHED_BATCH keeps the spool thread from preempting
    // the io_context thread when it wakes (both often share a core), so the PUT goes out first.
    asio::post(spool_io_, [] {
        sched_param normal{};
        if (int rc = pthread_setschedparam(pthread_self(), SCHED_BATCH, &normal))
            logging::debug("spool thread: SCHED_BATCH not set: ", std::strerror(rc));
    });
    if (opts_.health) {
        // Runs on the spool thread, after the write or delete: the count is exact (state is thread-safe).
        uploader_.on_spool_change = [this] { opts_.health->set_pending_spool_files(spool_.pending().size()); };
    }
    uploader_.on_upload = [this](const upload_event& ev) {
        last_upload_ok_ = ev.ok;
        // Everything is in S3 now: tell the dead man's switch at once.
        if (ev.ok && uploader_.idle()) heartbeat_wake_.cancel();
        if (opts_.health) {
            if (ev.ok)
                opts_.health->upload_succeeded(ev.sha256_hex, ev.bytes, ev.duration, std::chrono::system_clock::now());
            else
                opts_.health->upload_failed(s3::name(ev.err.code), ev.err.describe());
        }
        if (opts_.notifier)
            opts_.notifier->status(ev.ok ? "backed up " + ev.key : "upload failing: " + ev.err.describe());
    };
}

daemon::~daemon() {
    // Let queued spool writes and deletes reach the disk before the process ends.
    spool_io_.join();
}

std::string daemon::next_name(const std::string& sha256_hex) {
    using std::chrono::milliseconds;
    auto t = std::chrono::time_point_cast<milliseconds>(std::chrono::system_clock::now());
    if (t <= last_name_time_) t = std::chrono::time_point_cast<milliseconds>(last_name_time_) + milliseconds(1);
    last_name_time_ = t;
    return naming::object_name(t, sha256_hex);
}

std::optional<version> daemon::take_staged(origin why) {
    auto staged = std::exchange(staged_, std::nullopt);
    if (!staged || why != origin::watch) return std::nullopt;
    // rename(2) keeps the inode, its size and its mtime: the same identity means the same bytes
    // (snapshot::take relies on the same check while it reads).
    auto now = snapshot::stat_identity(opts_.file);
    if (!now || !(*now == staged->id)) return std::nullopt;
    last_identity_ = staged->id;
    missing_logged_ = false;
    return std::move(staged->v);
}

asio::awaitable<void> daemon::stage(std::filesystem::path temp) {
    staged_.reset();
    auto taken = snapshot::take(temp, snapshot::min_backup_size, opts_.max_size);
    // A temp file that is not a valid backup is judged, and logged, if it ever becomes the file.
    if (taken.what != snapshot::problem::none) co_return;
    staged_version s;
    s.id = taken.snap.id;
    s.v.sha256 = taken.snap.sha256;
    s.v.sha256_hex = crypto::hex(taken.snap.sha256);
    s.v.name = next_name(s.v.sha256_hex);
    s.v.data = std::make_shared<const std::string>(std::move(taken.snap.data));
    logging::debug("lnd wrote its temp file (", s.v.data->size(), " bytes, sha256 ", s.v.sha256_hex.substr(0, 12),
                   "): read ahead of its rename");
    if (s.v.sha256_hex != uploader_.newest_sha()) {
        auto prepare = uploader_.prepare(s.v);
        co_await std::move(prepare);
    }
    staged_ = std::move(s);
}

std::optional<version> daemon::consider(origin why, const char* detail) {
    auto staged = take_staged(why);
    version v;
    if (staged) {
        v = std::move(*staged);
    } else {
        auto taken = snapshot::take(opts_.file, snapshot::min_backup_size, opts_.max_size);
        if (taken.what == snapshot::problem::missing) {
            if (!missing_logged_) logging::warn(taken.reason, " - waiting for it to appear");
            missing_logged_ = true;
            last_identity_.reset();
            return std::nullopt;
        }
        if (taken.what != snapshot::problem::none) {
            logging::error(taken.reason);
            return std::nullopt;
        }
        missing_logged_ = false;
        last_identity_ = taken.snap.id;
        v.sha256 = taken.snap.sha256;
        v.sha256_hex = crypto::hex(taken.snap.sha256);
        v.name = next_name(v.sha256_hex);
        v.data = std::make_shared<const std::string>(std::move(taken.snap.data));
    }
    // The start-up upload always happens; later, content equal to the newest version is skipped.
    if (why != origin::startup && v.sha256_hex == uploader_.newest_sha()) {
        logging::info("file rewritten (", detail, ") with unchanged content (sha256 ", v.sha256_hex.substr(0, 12),
                      "): not uploaded again");
        return std::nullopt;
    }
    v.seq = uploader_.submit(v);
    return v;
}

void daemon::record(const version& v, const char* detail) {
    logging::info("new version (", detail, "): ", v.data->size(), " bytes, sha256 ", v.sha256_hex.substr(0, 12), " -> ",
                  v.name);
    if (opts_.health) opts_.health->version_seen(v.sha256_hex, std::chrono::system_clock::now());
    uploader_.keep_copy(v);
}

bool daemon::take_and_record(origin why, const char* detail) {
    auto v = consider(why, detail);
    if (v) record(*v, detail);
    return v.has_value();
}

asio::awaitable<void> daemon::watch_loop() {
    watch::watcher watcher(ex_, opts_.file);
    // The start-up read came before this watch existed: a version lnd wrote in between raised no
    // event we could see, and would wait for the first reconcile (5 min by default). Look once now.
    if (auto now = snapshot::stat_identity(opts_.file); now && (!last_identity_ || !(*now == *last_identity_)))
        take_and_record(origin::watch, "written while the watch was set up");
    asio::steady_timer reconcile(ex_);
    for (;;) {
        reconcile.expires_after(opts_.reconcile_interval);
        // Awaitables are built before co_await: g++ 12 mishandles temporaries inside one.
        // as_tuple: the timer cancelled by a change completes without throwing (an exception per event).
        auto either = watcher.next_change() || reconcile.async_wait(use_tuple);
        auto event = co_await std::move(either);
        if (event.index() == 0) {
            const auto reason = std::get<0>(event);
            if (reason == watch::change_reason::temp_written) {
                // Work done now is work the upload will not wait for once the rename comes.
                auto prepare = stage(watcher.temp_path());
                co_await std::move(prepare);
                continue;
            }
            const char* why = watch::to_string(reason);
            if (auto v = consider(origin::watch, why)) {
                // Step aside: the uploader, woken by submit(), puts the PUT on the wire before this
                // loop logs, wakes the spool thread and re-arms its watch (each costs microseconds).
                co_await asio::post(ex_, asio::use_awaitable);
                record(*v, why);
            }
            continue;
        }
        // The safety net: a change the watch did not report (lost events, a moved parent folder).
        auto now = snapshot::stat_identity(opts_.file);
        if (now && (!last_identity_ || !(*now == *last_identity_))) {
            if (take_and_record(origin::reconcile, "reconcile"))
                logging::warn("the periodic check found a version the watch missed");
        }
    }
}

asio::awaitable<void> daemon::uploader_task() { co_await uploader_.run(); }

asio::awaitable<int> daemon::wait_for_signal(asio::signal_set& signals) {
    auto [ec, signo] = co_await signals.async_wait(use_tuple);
    co_return ec ? 0 : signo;
}

asio::awaitable<void> daemon::heartbeat_loop() {
    for (;;) {
        // Never while a version waits or the last upload failed: silence is the alarm.
        if (uploader_.idle() && last_upload_ok_) {
            auto ping = opts_.heartbeat->ping();
            co_await std::move(ping);
        }
        heartbeat_wake_.expires_after(opts_.heartbeat_interval);
        co_await heartbeat_wake_.async_wait(use_tuple);  // cancelled by a successful upload: ping now
    }
}

asio::awaitable<int> daemon::run() {
    asio::signal_set signals(ex_, SIGINT, SIGTERM);
    // This thread sleeps until lnd writes, then has ~100 us of work that the upload waits for: ask
    // the scheduler to run it as soon as it wakes rather than after the writer's time slice.
    if (auto slice = platform::request_short_slice(short_slice); !slice.applied)
        logging::debug("short scheduler time slice not requested: ", slice.detail);

    auto leftovers = spool_.pending();
    if (!leftovers.empty())
        logging::info(leftovers.size(), " version(s) left in the spool by an earlier run: uploading them first");
    uploader_.add_leftovers(leftovers);
    if (opts_.health) opts_.health->set_pending_spool_files(leftovers.size());
    take_and_record(origin::startup, "start-up");

    // The health endpoint and the watchdog pings live as long as run(); both are stopped below.
    if (opts_.http) asio::co_spawn(ex_, opts_.http->run(), asio::detached);
    if (opts_.notifier) {
        asio::co_spawn(ex_, opts_.notifier->run_watchdog(ex_),
                       asio::bind_cancellation_slot(watchdog_stop_.slot(), asio::detached));
        opts_.notifier->ready();
        opts_.notifier->status("watching " + opts_.file.string());
    }
    if (opts_.heartbeat)
        asio::co_spawn(ex_, heartbeat_loop(), asio::bind_cancellation_slot(heartbeat_stop_.slot(), asio::detached));

    // Like asyncio.wait(FIRST_COMPLETED): the watcher, the uploader and the signals run together;
    // whichever ends first ends the others (the group cancels them and waits for them).
    asio::steady_timer uploader_done(ex_, asio::steady_timer::time_point::max());
    bool uploader_finished = false;
    auto uploader_completion = [&](std::exception_ptr e) {
        uploader_finished = true;
        uploader_done.cancel();
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                logging::error("the uploader stopped: ", ex.what());
            }
        }
    };
    asio::co_spawn(ex_, uploader_task(), uploader_completion);

    auto [order, watch_error, done_error, signal_error, signo] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex_, watch_loop(), asio::deferred),
            uploader_done.async_wait(asio::deferred),
            asio::co_spawn(ex_, wait_for_signal(signals), asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)done_error;
    (void)signal_error;

    int code = exit_code::ok;
    if (order[0] == 2) {
        logging::info("received signal ", signo, ": stopping (an upload in flight gets ",
                      opts_.shutdown_timeout.count(), " ms to finish; a second signal exits at once)");
    } else if (order[0] == 0) {
        try {
            if (watch_error) std::rethrow_exception(watch_error);
            logging::error("the watch ended unexpectedly");
        } catch (const std::exception& e) {
            logging::error("cannot watch ", opts_.file.string(), ": ", e.what());
        }
        code = exit_code::os_error;
    } else {
        code = exit_code::internal;
    }

    // Shutdown: no new uploads; the one in flight may finish within the grace period.
    if (opts_.notifier) opts_.notifier->stopping();
    uploader_.finish();
    if (!uploader_finished) {
        asio::steady_timer grace(ex_, opts_.shutdown_timeout);
        auto ended = co_await (uploader_done.async_wait(use_tuple) || grace.async_wait(use_tuple) ||
                               signals.async_wait(use_tuple));
        if (!uploader_finished) {
            if (ended.index() == 2)
                logging::warn("second signal: exiting now");
            else
                logging::warn("grace period over: aborting the upload in flight");
            uploader_.abort();
            uploader_done.expires_at(asio::steady_timer::time_point::max());
            if (!uploader_finished) co_await uploader_done.async_wait(use_tuple);
        }
    }
    watchdog_stop_.emit(asio::cancellation_type::terminal);
    heartbeat_stop_.emit(asio::cancellation_type::terminal);
    if (opts_.http) opts_.http->close();
    const auto left = spool_.pending().size();
    logging::info("stopped; ", left, " version(s) wait in the spool for the next start");
    co_return code;
}

asio::awaitable<int> daemon::once() {
    auto taken = snapshot::take(opts_.file, snapshot::min_backup_size, opts_.max_size);
    if (taken.what == snapshot::problem::missing) {
        logging::error(opts_.file.string(), " does not exist: check MONITOR_FILE_PATH / --file");
        co_return exit_code::no_file;
    }
    if (taken.what != snapshot::problem::none) {
        logging::error(taken.reason);
        co_return exit_code::bad_file;
    }
    const std::string sha = crypto::hex(taken.snap.sha256);
    const std::string name = naming::object_name(std::chrono::system_clock::now(), sha);
    const std::string key = opts_.upload.prefix + name;
    // A spool copy first: if S3 cannot take it now, the daemon uploads it at its next start.
    if (auto ec = spool_.write(name, taken.snap.data))
        logging::warn("cannot write the spool copy ", name, ": ", ec.message());
    trim_spool(spool_, opts_.upload.spool_max_files);
    backoff delays(opts_.upload.retry_min, opts_.upload.retry_max);
    for (unsigned attempt = 0;; ++attempt) {
        const auto started = std::chrono::steady_clock::now();
        auto put_op = client_.put_object(key, taken.snap.data,
                                         s3::make_put_options(opts_.upload.object, std::chrono::system_clock::now()));
        auto put = co_await std::move(put_op);
        if (!put.err) {
            logging::info("uploaded ", key, " (", taken.snap.data.size(), " bytes, sha256 ", sha.substr(0, 12), ", ",
                          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count(),
                          " ms)");
            if (auto ec = spool_.remove(name)) logging::warn("cannot delete the spool copy ", name, ": ", ec.message());
            co_return exit_code::ok;
        }
        if (!s3::is_retryable(put.err.code) || attempt + 1 >= opts_.once_attempts) {
            logging::error("upload failed: ", put.err.describe(), "; the version stays in the spool");
            co_return exit_code::for_s3_error(put.err.code);
        }
        const auto wait = delays.delay(attempt);
        logging::warn("upload failed (attempt ", attempt + 1, "): ", put.err.describe(), "; retrying in ", wait.count(),
                      " ms");
        asio::steady_timer timer(ex_, wait);
        co_await timer.async_wait(use_tuple);
    }
}

}  // namespace scb::backup
