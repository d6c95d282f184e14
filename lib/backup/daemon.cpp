#include "backup/daemon.hpp"

#include "backup/exit_codes.hpp"
#include "common/text.hpp"
#include "crypto/hash.hpp"
#include "logging/logger.hpp"
#include "naming/object_name.hpp"
#include "watch/watcher.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <cstring>

namespace scb::backup {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

/// A task that stops on any cancellation: the parallel group's partial one at shutdown too.
struct any_cancellation_stops {
    asio::cancellation_type_t operator()(asio::cancellation_type_t t) const noexcept {
        return t == asio::cancellation_type::none ? t : asio::cancellation_type::terminal;
    }
};

asio::awaitable<bool> cancelled() {
    co_return (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
}

/// "SIGTERM", not "signal 15".
std::string signal_name(int signo) {
    const char* abbrev = sigabbrev_np(signo);
    return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(signo);
}

health::file_condition condition_of(snapshot::problem p) {
    switch (p) {
    case snapshot::problem::none: return health::file_condition::ok;
    case snapshot::problem::missing: return health::file_condition::missing;
    case snapshot::problem::unreadable: return health::file_condition::unreadable;
    default: return health::file_condition::refused;
    }
}

}  // namespace

daemon::daemon(asio::any_io_executor ex, s3::client& client, const spool::spool* store, daemon_options opts)
    : ex_(ex), client_(client), spool_(store), opts_(std::move(opts)),
      uploader_(ex, client, store, spool_io_, opts_.upload), heartbeat_wake_(ex) {
    uploader_.on_spool_change = [this](bool ok, const std::string& problem, std::size_t pending) {
        if (!opts_.health) return;
        opts_.health->set_pending_spool_files(pending);
        opts_.health->spool_state(ok, problem, std::chrono::system_clock::now());
    };
    uploader_.on_upload = [this](const upload_event& ev) {
        if (opts_.health) {
            if (ev.ok)
                opts_.health->upload_succeeded(ev.sha256_hex, ev.bytes, ev.duration, std::chrono::system_clock::now());
            else
                opts_.health->upload_failed(s3::name(ev.err.code), ev.err.describe());
        }
        // Everything is in S3 now: tell the dead man's switch at once.
        if (ev.ok) heartbeat_wake_.cancel();
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
    // S3's clock, not only ours: a node whose clock is a year off must not name versions that sort
    // before (or after) everything else.
    auto t = std::chrono::time_point_cast<milliseconds>(client_.now());
    // Two names in one millisecond: the next millisecond. A clock corrected backwards (names given
    // before S3's clock was known) is followed rather than pinned to the wrong date.
    if (t <= last_name_time_ && last_name_time_ - t < std::chrono::seconds(2))
        t = std::chrono::time_point_cast<milliseconds>(last_name_time_) + milliseconds(1);
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
    logging::debug("lnd wrote its temp file (", s.v.data->size(), " bytes, sha256 ", naming::short_sha256(s.v.sha256_hex),
                   "): read ahead of its rename");
    if (s.v.sha256_hex != uploader_.newest_sha()) {
        auto prepare = uploader_.prepare(s.v);
        co_await std::move(prepare);
    }
    staged_ = std::move(s);
}

std::optional<version> daemon::read_file() {
    auto taken = snapshot::take(opts_.file, snapshot::min_backup_size, opts_.max_size);
    const auto now = std::chrono::system_clock::now();
    if (taken.what == snapshot::problem::changed_while_reading) {
        // lnd replaced it while we read: its rename raises the next event, which reads it again.
        logging::debug(taken.reason);
        return std::nullopt;
    }
    if (taken.what != snapshot::problem::none) {
        if (taken.what != last_problem_) {
            if (taken.what == snapshot::problem::missing) logging::warn(taken.reason, " - waiting for it to appear");
            else logging::error(taken.reason);
        }
        last_problem_ = taken.what;
        if (taken.what == snapshot::problem::missing) last_identity_.reset();
        if (opts_.health) opts_.health->file_state(condition_of(taken.what), taken.reason, now);
        return std::nullopt;
    }
    if (last_problem_ != snapshot::problem::none) logging::info(opts_.file.string(), " is readable again");
    last_problem_ = snapshot::problem::none;
    if (opts_.health) opts_.health->file_state(health::file_condition::ok, {}, now);
    last_identity_ = taken.snap.id;
    version v;
    v.sha256 = taken.snap.sha256;
    v.sha256_hex = crypto::hex(taken.snap.sha256);
    v.name = next_name(v.sha256_hex);
    v.data = std::make_shared<const std::string>(std::move(taken.snap.data));
    return v;
}

std::optional<version> daemon::consider(origin why, const char* detail) {
    auto v = take_staged(why);
    if (v) {
        last_problem_ = snapshot::problem::none;
        if (opts_.health) opts_.health->file_state(health::file_condition::ok, {}, std::chrono::system_clock::now());
    } else {
        v = read_file();
        if (!v) return std::nullopt;
    }
    // The start-up upload always happens; later, content equal to the newest version is skipped.
    if (!uploader_.submit(*v, why == origin::startup)) {
        logging::info("file rewritten (", detail, ") with unchanged content (sha256 ", naming::short_sha256(v->sha256_hex),
                      "): not uploaded again");
        return std::nullopt;
    }
    return v;
}

void daemon::record(const version& v, const char* detail) {
    logging::info("new version (", detail, "): ", v.data->size(), " bytes, sha256 ", naming::short_sha256(v.sha256_hex), " -> ",
                  v.name);
    if (opts_.health) opts_.health->version_seen(v.sha256_hex, std::chrono::system_clock::now());
}

bool daemon::take_and_record(origin why, const char* detail) {
    auto v = consider(why, detail);
    if (v) record(*v, detail);
    return v.has_value();
}

asio::awaitable<void> daemon::watch_loop() {
    co_await asio::this_coro::reset_cancellation_state(any_cancellation_stops{});
    co_await asio::this_coro::throw_if_cancelled(false);
    watch::watcher watcher(ex_, opts_.file);
    // The start-up read came before this watch existed: a version lnd wrote in between raised no
    // event we could see, and would wait for the first reconcile (5 min by default). Look once now.
    if (auto now = snapshot::stat_identity(opts_.file); now && (!last_identity_ || !(*now == *last_identity_)))
        take_and_record(origin::watch, "written while the watch was set up");
    // The periodic check runs every reconcile_interval, however busy the watch is.
    asio::steady_timer reconcile(ex_);
    auto next_reconcile = std::chrono::steady_clock::now() + opts_.reconcile_interval;
    for (;;) {
        reconcile.expires_at(next_reconcile);
        // Which finished, and why: a failing watch must not wait for the timer (as `||` would).
        auto [order, watch_error, reason, timer_error] =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex_, watcher.next_change(), asio::deferred), reconcile.async_wait(asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        if (co_await cancelled()) co_return;
        if (order[0] == 0) {
            if (watch_error) std::rethrow_exception(watch_error);
            if (reason == watch::change_reason::temp_written) {
                // Work done now is work the upload will not wait for once the rename comes.
                auto prepare = stage(watcher.temp_path());
                co_await std::move(prepare);
                if (co_await cancelled()) co_return;
                continue;
            }
            const char* why = watch::to_string(reason);
            if (auto v = consider(origin::watch, why)) {
                // Step aside: the uploader puts the PUT on the wire before this loop logs.
                co_await asio::post(ex_, asio::use_awaitable);
                record(*v, why);
                if (co_await cancelled()) co_return;
            }
            continue;
        }
        if (timer_error) continue;  // cancelled by the group without a cancellation of ours: look again
        next_reconcile += opts_.reconcile_interval;
        if (next_reconcile < std::chrono::steady_clock::now())
            next_reconcile = std::chrono::steady_clock::now() + opts_.reconcile_interval;
        // The safety net: a change the watch did not report (lost events, a re-pointed symlink).
        watcher.recheck();
        auto now = snapshot::stat_identity(opts_.file);
        if (!now || !last_identity_ || !(*now == *last_identity_)) {
            if (take_and_record(origin::reconcile, "reconcile") && now)
                logging::warn("the periodic check found a version the watch missed");
        }
    }
}

asio::awaitable<int> daemon::wait_for_stop_signal(asio::signal_set& signals) {
    co_await asio::this_coro::reset_cancellation_state(any_cancellation_stops{});
    for (;;) {
        auto [ec, signo] = co_await signals.async_wait(use_tuple);
        if (ec) co_return 0;  // cancelled before any signal came: another task ended first
        if (signo == SIGHUP) {
            // systemd and shells send it; a daemon that re-reads nothing must not die of it.
            logging::info("received SIGHUP: scb-backup has no reload; restart it to apply new settings");
            if (co_await cancelled()) co_return 0;
            continue;
        }
        // A stop signal that came just as another task ended (and cancelled this wait) is still a
        // stop: it is reported, never dropped (the signal_set has consumed it).
        logging::info("received ", signal_name(signo), ": stopping (an upload in flight gets ",
                      format_duration(opts_.upload.policy.grace), " to finish; a second signal aborts it)");
        if (opts_.notifier) opts_.notifier->stopping();
        asio::co_spawn(ex_, abort_on_second_signal(signals),
                       asio::bind_cancellation_slot(second_signal_stop_.slot(), asio::detached));
        co_return signo;
    }
}

asio::awaitable<void> daemon::abort_on_second_signal(asio::signal_set& signals) {
    for (;;) {
        auto [ec, signo] = co_await signals.async_wait(use_tuple);
        if (ec || co_await cancelled()) co_return;
        if (signo == SIGHUP) continue;
        logging::warn("second signal (", signal_name(signo), "): aborting the upload in flight");
        uploader_.abort();
        co_return;
    }
}

asio::awaitable<void> daemon::heartbeat_loop() {
    for (;;) {
        // Only while healthy: silence is the alarm.
        if (opts_.health->health(std::chrono::system_clock::now(), opts_.stale_after).first) {
            auto ping = opts_.heartbeat->ping();
            co_await std::move(ping);
            if (co_await cancelled()) co_return;
        }
        heartbeat_wake_.expires_after(opts_.heartbeat_interval);
        co_await heartbeat_wake_.async_wait(use_tuple);  // cancelled by a successful upload: ping now
        if (co_await cancelled()) co_return;
    }
}

asio::awaitable<int> daemon::run() {
    asio::signal_set signals(ex_, SIGINT, SIGTERM, SIGHUP);

    // Versions are named by S3's clock: learn it before the first name (one HEAD, never fails). A stop
    // signal meanwhile ends the start at once, not after the HEAD's timeouts: nothing is in flight
    // yet, and lnd's file and any spooled copy are still there for the next start.
    auto [start_order, learn_error, early_signal_error, early_signo] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex_, client_.learn_clock(), asio::deferred),
            asio::co_spawn(ex_, wait_for_stop_signal(signals), asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)learn_error;  // learn_clock() reports nothing: an unknown clock only means local names
    (void)early_signal_error;
    (void)start_order;
    if (early_signo != 0) {  // also when the HEAD ended first: the signal came all the same
        second_signal_stop_.emit(asio::cancellation_type::terminal);
        logging::info("stopped before the first upload");
        co_return exit_code::ok;
    }

    std::error_code spool_ec;
    auto leftovers = spool_ ? spool_->pending(spool_ec) : std::vector<spool::entry>{};
    if (spool_ec) {
        logging::error("spool folder ", spool_->dir().string(), " cannot be listed: ", spool_ec.message());
        if (opts_.health) opts_.health->spool_state(false, spool_ec.message(), std::chrono::system_clock::now());
    }
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
    if (opts_.heartbeat && opts_.health)
        asio::co_spawn(ex_, heartbeat_loop(), asio::bind_cancellation_slot(heartbeat_stop_.slot(), asio::detached));

    // Like asyncio.wait(FIRST_COMPLETED): the watcher, the uploader and the signals run together.
    // Whichever ends first cancels the others with a *partial* cancellation: the watcher stops, the
    // uploader finishes (the PUT in flight gets the grace period, unconfirmed versions are spooled).
    // The group returns when all three have ended.
    auto [order, watch_error, upload_error, signal_error, signo] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex_, watch_loop(), asio::deferred), asio::co_spawn(ex_, uploader_.run(), asio::deferred),
            asio::co_spawn(ex_, wait_for_stop_signal(signals), asio::deferred))
            .async_wait(asio::experimental::wait_for_one(asio::cancellation_type::partial), asio::use_awaitable);
    (void)signal_error;
    (void)signo;

    int code = exit_code::ok;
    if (order[0] == 0) {
        try {
            if (watch_error) std::rethrow_exception(watch_error);
            logging::error("the watch ended unexpectedly");
        } catch (const std::exception& e) {
            logging::error("cannot watch ", opts_.file.string(), ": ", e.what());
        }
        code = exit_code::os_error;
    }
    if (upload_error) {
        try {
            std::rethrow_exception(upload_error);
        } catch (const std::exception& e) {
            logging::error("internal error: the uploader stopped: ", e.what());
        }
        code = exit_code::internal;
    } else if (order[0] == 1) {
        logging::error("internal error: the uploader ended on its own");
        code = exit_code::internal;
    }

    watchdog_stop_.emit(asio::cancellation_type::terminal);
    heartbeat_stop_.emit(asio::cancellation_type::terminal);
    second_signal_stop_.emit(asio::cancellation_type::terminal);
    if (opts_.http) opts_.http->close();
    // The uploader ended only after every spool write and delete it started had finished.
    if (spool_) {
        std::error_code ec;
        const auto left = spool_->pending(ec).size();
        logging::info("stopped; ", left, " version(s) wait in the spool for the next start");
    } else {
        logging::info("stopped");
    }
    co_return code;
}

asio::awaitable<int> daemon::once() {
    auto learn = client_.learn_clock();
    co_await std::move(learn);
    auto v = read_file();
    if (!v) {
        if (last_problem_ == snapshot::problem::missing) {
            logging::error(opts_.file.string(), " does not exist: check MONITOR_FILE_PATH / --file");
            co_return exit_code::no_file;
        }
        co_return exit_code::bad_file;
    }
    const std::string sha = v->sha256_hex;
    uploader_.submit(std::move(*v), true);
    // The same uploader as `run`, finishing as soon as the version is confirmed or given up.
    co_await uploader_.run();
    if (uploader_.confirmed_sha() == sha) co_return exit_code::ok;
    co_return exit_code::for_s3_error(uploader_.last_error().code);
}

}  // namespace scb::backup
