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

#include <algorithm>
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

namespace {

std::vector<std::string> names_of(const std::vector<destination::target*>& targets) {
    std::vector<std::string> names;
    names.reserve(targets.size());
    for (const auto* t : targets) names.push_back(t->name());
    return names;
}

}  // namespace

daemon::daemon(asio::any_io_executor ex, std::vector<destination::target*> targets, const spool::spool* store,
               daemon_options opts)
    : ex_(ex), targets_(std::move(targets)), spool_(store), opts_(std::move(opts)),
      keeper_(ex, store, names_of(targets_), opts_.spool_max_files), heartbeat_wake_(ex), verify_wake_(ex),
      confirmed_(targets_.size()) {
    keeper_.on_change = [this](bool ok, const std::string& problem, std::size_t pending) {
        if (!opts_.health) return;
        opts_.health->set_pending_spool_files(pending);
        opts_.health->spool_state(ok, problem, std::chrono::system_clock::now());
    };
    if (opts_.health && targets_.size() > 1) opts_.health->set_destinations(names_of(targets_));
    for (std::size_t i = 0; i < targets_.size(); ++i) {
        auto o = opts_.upload;
        if (targets_.size() > 1) o.log_tag = targets_[i]->name() + ": ";
        // Each its own jitter: destinations failing together must not retry in step.
        o.policy.seed += i;
        uploaders_.push_back(std::make_unique<uploader>(ex, *targets_[i], i, keeper_, std::move(o)));
        uploaders_.back()->on_upload = [this](const upload_event& ev) { on_upload(ev); };
    }
}

daemon::~daemon() = default;  // the spool keeper lets queued writes and deletes reach the disk first

std::string daemon::health_name(std::size_t i) const { return targets_.size() > 1 ? targets_[i]->name() : std::string(); }

bool daemon::all_current() const {
    return opts_.health ? opts_.health->all_current() : true;
}

void daemon::on_upload(const upload_event& ev) {
    const auto now = std::chrono::system_clock::now();
    const std::string dest = health_name(ev.destination);
    if (opts_.health) {
        if (ev.ok)
            opts_.health->upload_succeeded(dest, ev.sha256_hex, ev.bytes, ev.duration, now);
        else
            opts_.health->upload_failed(dest, s3::name(ev.err.code), ev.err.describe(), now);
    }
    // Everything is stored now: tell the dead man's switch at once.
    if (ev.ok && all_current()) heartbeat_wake_.cancel();
    if (ev.ok) {
        confirmed_[ev.destination] = confirmed_object{ev.key, ev.sha256_hex};
        // The start-up upload is read back at once, the later ones at the interval.
        if (opts_.verify_interval.count() > 0 && !std::exchange(first_verify_requested_, true)) verify_wake_.cancel();
    }
    if (!opts_.notifier) return;
    if (targets_.size() > 1 && opts_.health)
        opts_.notifier->status(opts_.health->status_line(now));
    else
        opts_.notifier->status(ev.ok ? "backed up " + ev.key : "upload failing: " + ev.err.describe());
}

std::chrono::system_clock::time_point daemon::naming_clock() const {
    for (const auto* t : targets_)
        if (t->clock_known()) return t->now();
    return std::chrono::system_clock::now();
}

std::string daemon::next_name(const std::string& sha256_hex) {
    using std::chrono::milliseconds;
    // S3's clock, not only ours: a node whose clock is a year off must not name versions that sort
    // before (or after) everything else.
    auto t = std::chrono::time_point_cast<milliseconds>(naming_clock());
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
    if (s.v.sha256_hex != uploaders_.front()->newest_sha()) {
        for (auto& u : uploaders_) {
            auto prepare = u->prepare(s.v);
            co_await std::move(prepare);
        }
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
    // Every destination gets every version (they all saw the same ones, so they agree on "unchanged").
    bool accepted = false;
    for (auto& u : uploaders_) accepted = u->submit(*v, why == origin::startup) || accepted;
    if (accepted) newest_ = *v;
    if (!accepted) {
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

bool daemon::written_since_last_read() const {
    const auto now = snapshot::stat_identity(opts_.file);
    return now && (!last_identity_ || !(*now == *last_identity_));
}

bool daemon::take_and_record(origin why, const char* detail) {
    auto v = consider(why, detail);
    if (v) record(*v, detail);
    return v.has_value();
}

std::string daemon::describe_change(watch::change_reason reason) {
    std::string why = watch::to_string(reason);
    const bool file_changed = reason == watch::change_reason::moved_to || reason == watch::change_reason::close_write;
    if (!file_changed || std::exchange(first_change_seen_, true)) return why;
    // A minute is far more than lnd takes to start; a channel opened that soon is the rare exception.
    const auto since = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_);
    if (since > std::chrono::minutes(1)) return why;
    return why + ", " + std::to_string(since.count()) + " s after scb-backup started: most likely lnd's start-up rewrite";
}

asio::awaitable<void> daemon::watch_loop() {
    co_await asio::this_coro::reset_cancellation_state(any_cancellation_stops{});
    co_await asio::this_coro::throw_if_cancelled(false);
    watch::watcher watcher(ex_, opts_.file);
    // The start-up read came before this watch existed: a version lnd wrote in between raised no
    // event we could see, and would wait for the first reconcile (5 min by default). Look once now.
    if (written_since_last_read())
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
            const std::string why = describe_change(reason);
            if (auto v = consider(origin::watch, why.c_str())) {
                // Step aside: the uploader puts the PUT on the wire before this loop logs.
                co_await asio::post(ex_, asio::use_awaitable);
                record(*v, why.c_str());
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

asio::awaitable<int> daemon::stop_after_last_look(asio::signal_set& signals) {
    const int signo = co_await wait_for_stop_signal(signals);
    if (signo == 0) co_return 0;  // another task ended first: nothing to add
    // Under systemd (the unit is ordered Before=lnd.service) lnd has written its shutdown version
    // and exited before this SIGTERM; its rename may not have been read from inotify yet.
    if (written_since_last_read())
        take_and_record(origin::watch, "written just before the stop signal (lnd writes one as it shuts down)");
    co_return signo;
}

asio::awaitable<void> daemon::abort_on_second_signal(asio::signal_set& signals) {
    for (;;) {
        auto [ec, signo] = co_await signals.async_wait(use_tuple);
        if (ec || co_await cancelled()) co_return;
        if (signo == SIGHUP) continue;
        logging::warn("second signal (", signal_name(signo), "): aborting the upload in flight");
        for (auto& u : uploaders_) u->abort();
        co_return;
    }
}

asio::awaitable<void> daemon::heartbeat_loop() {
    for (;;) {
        // Only while healthy: silence is the alarm.
        // (Healthy means every destination got the newest version within --stale-after.)
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

asio::awaitable<void> daemon::verify_loop() {
    for (;;) {
        verify_wake_.expires_after(opts_.verify_interval);
        co_await verify_wake_.async_wait(use_tuple);  // cancelled by the first confirmation: verify now
        if (co_await cancelled()) co_return;
        auto verify = verify_uploads();
        co_await std::move(verify);
        if (co_await cancelled()) co_return;
    }
}

asio::awaitable<void> daemon::verify_uploads() {
    bool upload_again = false;
    for (std::size_t i = 0; i < targets_.size(); ++i) {
        if (!confirmed_[i]) continue;
        const confirmed_object c = *confirmed_[i];
        auto get = opts_.verify_readers.at(i)->get(c.key);
        auto back = co_await std::move(get);
        if (co_await cancelled()) co_return;
        const std::string tag = targets_.size() > 1 ? targets_[i]->name() + ": " : std::string();
        std::string problem;
        if (back.err.code == s3::errc::no_such_key) {
            problem = "the object is missing";
        } else if (back.err.code == s3::errc::access_denied) {
            problem = "it cannot be read (--verify-interval needs s3:GetObject, docs/iam.md)";
        } else if (back.err) {
            // Not a verdict on the object: S3 did not answer. The next interval tries again.
            logging::warn(tag, "read-back of ", c.key, " failed: ", back.err.describe(), "; tried again in ",
                          format_duration(opts_.verify_interval));
            continue;
        } else if (crypto::sha256_hex(back.value) != c.sha256_hex) {
            problem = "its content differs from what was uploaded (sha256 " +
                      naming::short_sha256(crypto::sha256_hex(back.value)) + ", uploaded " + naming::short_sha256(c.sha256_hex) + ")";
        }
        if (problem.empty()) {
            logging::info(tag, "read-back of ", c.key, ": the same SHA-256 (", naming::short_sha256(c.sha256_hex), ")");
            continue;
        }
        logging::error(tag, "read-back of ", c.key, ": ", problem);
        // Unhealthy with the reason, counted as a failure of this destination (code "read_back").
        if (opts_.health)
            opts_.health->upload_failed(health_name(i), "read_back", "read-back of " + c.key + ": " + problem,
                                        std::chrono::system_clock::now());
        if (back.err.code != s3::errc::access_denied) upload_again = true;
        confirmed_[i].reset();
    }
    if (!upload_again || !newest_) co_return;
    // Under a new name, to every destination: a spool copy must never wait for a destination that
    // was not asked for it. The others get one more object with the same content.
    version v = *newest_;
    v.name = next_name(v.sha256_hex);
    for (auto& u : uploaders_) u->submit(v, true);
    record(v, "uploaded again after a failed read-back");
}

asio::awaitable<void> daemon::learn_clocks() {
    using op_type = decltype(asio::co_spawn(ex_, targets_.front()->learn_clock(), asio::deferred));
    std::vector<op_type> ops;
    ops.reserve(targets_.size());
    for (auto* t : targets_) ops.push_back(asio::co_spawn(ex_, t->learn_clock(), asio::deferred));
    // One clock is enough to name versions by: as soon as a destination knows S3's, the others stop
    // asking (a stalled one must not hold up the start; each learns from its first answer anyway).
    auto one_clock_known = [this](const std::exception_ptr&) {
        return naming_clock_known() ? asio::cancellation_type::terminal : asio::cancellation_type::none;
    };
    // learn_clock() reports nothing: an unknown clock only means local names.
    (void)co_await asio::experimental::make_parallel_group(std::move(ops))
        .async_wait(one_clock_known, asio::use_awaitable);
}

bool daemon::naming_clock_known() const {
    return std::any_of(targets_.begin(), targets_.end(), [](const destination::target* t) { return t->clock_known(); });
}

asio::awaitable<int> daemon::learn_clocks_or_stop(asio::signal_set& signals) {
    auto [order, learn_error, signal_error, signo] =
        co_await asio::experimental::make_parallel_group(asio::co_spawn(ex_, learn_clocks(), asio::deferred),
                                                         asio::co_spawn(ex_, wait_for_stop_signal(signals), asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    // Neither task fails (an unknown clock only means local names); whichever ended first, a stop
    // signal that came is reported.
    (void)order, (void)learn_error, (void)signal_error;
    co_return signo;
}

asio::awaitable<void> daemon::run_uploaders() {
    // Each destination's uploader runs on its own; the group passes our cancellation (partial:
    // finish, terminal: abort) to every one and returns when all have ended.
    co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
    using op_type = decltype(asio::co_spawn(ex_, uploaders_.front()->run(), asio::deferred));
    std::vector<op_type> ops;
    for (auto& u : uploaders_) ops.push_back(asio::co_spawn(ex_, u->run(), asio::deferred));
    auto [order, errors] = co_await asio::experimental::make_parallel_group(std::move(ops))
                               .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    (void)order;
    for (auto& e : errors)
        if (e) std::rethrow_exception(e);
}

asio::awaitable<int> daemon::run() {
    asio::signal_set signals(ex_, SIGINT, SIGTERM, SIGHUP);

    // Versions are named by S3's clock: learn it before the first name (one HEAD, never fails). A stop
    // signal meanwhile ends the start at once, not after the HEAD's timeouts: nothing is in flight
    // yet, and lnd's file and any spooled copy are still there for the next start.
    if (auto early = co_await learn_clocks_or_stop(signals); early != 0) {
        second_signal_stop_.emit(asio::cancellation_type::terminal);
        logging::info("stopped before the first upload");
        co_return exit_code::ok;
    }

    std::error_code spool_ec;
    const auto leftovers = keeper_.start(spool_ec);
    if (spool_ec) {
        logging::error("spool folder ", spool_->dir().string(), " cannot be listed: ", spool_ec.message());
        if (opts_.health) opts_.health->spool_state(false, spool_ec.message(), std::chrono::system_clock::now());
    }
    for (std::size_t i = 0; i < uploaders_.size(); ++i) {
        if (!leftovers[i].empty())
            logging::info(leftovers[i].size(), " version(s) left in the spool by an earlier run", 
                          uploaders_.size() > 1 ? " for " + targets_[i]->name() : std::string(),
                          ": uploading them first");
        uploaders_[i]->add_leftovers(leftovers[i]);
    }
    if (opts_.health) opts_.health->set_pending_spool_files(keeper_.pending());
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
    if (opts_.verify_interval.count() > 0 && opts_.verify_readers.size() == targets_.size())
        asio::co_spawn(ex_, verify_loop(), asio::bind_cancellation_slot(verify_stop_.slot(), asio::detached));

    // Like asyncio.wait(FIRST_COMPLETED): the watcher, the uploader and the signals run together.
    // Whichever ends first cancels the others with a *partial* cancellation: the watcher stops, the
    // uploader finishes (the PUT in flight gets the grace period, unconfirmed versions are spooled).
    // The group returns when all three have ended.
    auto [order, watch_error, upload_error, signal_error, signo] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex_, watch_loop(), asio::deferred), asio::co_spawn(ex_, run_uploaders(), asio::deferred),
            asio::co_spawn(ex_, stop_after_last_look(signals), asio::deferred))
            .async_wait(asio::experimental::wait_for_one(asio::cancellation_type::partial), asio::use_awaitable);
    (void)signal_error;
    (void)signo;

    int code = exit_code::ok;
    if (order[0] == 0) {
        try {
            if (watch_error) std::rethrow_exception(watch_error);
            logging::error("the watch ended unexpectedly");
        } catch (const watch::watch_error& e) {
            logging::error(e.what());  // the whole line: the folder, the reason and the fix
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
    verify_stop_.emit(asio::cancellation_type::terminal);
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
    auto learn = learn_clocks();
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
    for (auto& u : uploaders_) u->submit(*v, true);
    // The same uploaders as `run`, finishing as soon as the version is confirmed or given up.
    auto all = run_uploaders();
    co_await std::move(all);
    std::vector<std::string> failed;
    const uploader* first_failure = nullptr;
    for (const auto& u : uploaders_)
        if (u->confirmed_sha() != sha) {
            failed.push_back(u->target().name() + " (" + u->last_error().describe() + ")");
            if (!first_failure) first_failure = u.get();
        }
    if (!first_failure) co_return exit_code::ok;
    if (failed.size() < uploaders_.size()) {
        std::string list;
        for (const auto& f : failed) list += (list.empty() ? "" : "; ") + f;
        logging::error("partial success: ", uploaders_.size() - failed.size(), " of ", uploaders_.size(),
                       " destinations have the version; failed: ", list);
        co_return exit_code::partial;
    }
    co_return exit_code::for_s3_error(first_failure->last_error().code);
}

}  // namespace scb::backup
