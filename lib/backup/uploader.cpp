#include "backup/uploader.hpp"

#include "common/text.hpp"
#include "crypto/hash.hpp"
#include "logging/logger.hpp"

#include "naming/object_name.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>

namespace scb::backup {

namespace asio = boost::asio;
using std::chrono::steady_clock;
using what = act::report::what;

namespace {

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

put_outcome outcome_of(const s3::error& err, bool cancelled) {
    if (!err) return put_outcome::ok;
    if (cancelled) return put_outcome::aborted;
    return s3::is_retryable(err.code) ? put_outcome::retryable : put_outcome::needs_fix;
}

}  // namespace

uploader::uploader(asio::any_io_executor ex, destination::target& dest, std::size_t index, spool_keeper& keeper,
                   uploader_options opts)
    : ex_(ex),
      dest_(dest),
      index_(index),
      keeper_(keeper),
      opts_(std::move(opts)),
      policy_(opts_.policy),
      timers_{asio::steady_timer(ex), asio::steady_timer(ex), asio::steady_timer(ex)},
      wake_(ex, steady_clock::time_point::max()) {}

// ---- inputs ----

void uploader::add_leftovers(const std::vector<spool::entry>& entries) {
    if (!keeper_.store()) return;
    ev::leftovers_found found;
    for (const auto& e : entries) {
        std::string bytes;
        if (auto ec = keeper_.read(e.name, bytes)) {
            logging::error(opts_.log_tag, "cannot read spooled version ", e.name, ": ", ec.message(), " - skipped");
            continue;
        }
        found.items.push_back(job_ref{++next_seq_, e.name, crypto::sha256_hex(bytes), true});
    }
    feed(found);
}

bool uploader::submit(version v, bool force) {
    v.seq = ++next_seq_;
    job_ref ref{v.seq, v.name, v.sha256_hex, false};
    versions_.emplace(v.seq, std::move(v));
    unchanged_ = false;
    feed(ev::submitted{std::move(ref), force});
    return !unchanged_;
}

void uploader::abort() { feed(ev::abort{}); }

asio::awaitable<void> uploader::prepare(const version& v) {
    return dest_.prepare(dest_.prefix() + v.name, v.data, v.sha256);
}

void uploader::feed(const event& e) {
    for (const auto& a : policy_.on(e)) perform(a);
    // Bytes only while the policy may still send or spool them: memory stays flat in a burst.
    std::erase_if(versions_, [this](const auto& kv) { return !policy_.needs_bytes(kv.first); });
    wake_.cancel();  // run() looks again: finished, idle?
}

// ---- actions ----

void uploader::perform(const action& a) {
    std::visit(
        [this](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, act::start_put>) {
                start_put(x);
            } else if constexpr (std::is_same_v<T, act::cancel_put>) {
                put_cancel_.emit(asio::cancellation_type::terminal);
            } else if constexpr (std::is_same_v<T, act::write_copy>) {
                write_copy(x.v);
            } else if constexpr (std::is_same_v<T, act::delete_copies>) {
                delete_copies(x.names);
            } else if constexpr (std::is_same_v<T, act::arm>) {
                arm(x.timer, x.after);
            } else if constexpr (std::is_same_v<T, act::disarm>) {
                ++timer_generation_[static_cast<std::size_t>(x.timer)];
                timer(x.timer).cancel();
            } else if constexpr (std::is_same_v<T, act::report>) {
                log_report(x);
            } else if constexpr (std::is_same_v<T, act::done>) {
                for (auto& t : timers_) t.cancel();
            }
        },
        a);
}

void uploader::start_put(const act::start_put& a) {
    std::shared_ptr<const std::string> data;
    crypto::sha256_digest sha{};
    if (auto it = versions_.find(a.v.seq); it != versions_.end()) {
        data = it->second.data;
        sha = it->second.sha256;
    } else {
        // A leftover: read from the spool only now, so that a long queue does not sit in memory.
        std::string bytes;
        auto ec = keeper_.read(a.v.name, bytes);
        if (ec || crypto::sha256_hex(bytes) != a.v.sha256_hex) {
            logging::error(opts_.log_tag, "cannot read spooled version ", a.v.name, ": ",
                           ec ? ec.message() : std::string("its content changed since start-up"), " - skipped");
            asio::post(ex_, [this, seq = a.v.seq] { feed(ev::put_done{seq, put_outcome::unreadable}); });
            return;
        }
        sha = crypto::sha256(bytes);
        data = std::make_shared<const std::string>(std::move(bytes));
    }
    put_started_ = steady_clock::now();
    const std::string key = dest_.prefix() + a.v.name;
    auto op = put_with_latest(key, data, sha, a.v.name);
    asio::co_spawn(ex_, std::move(op),
                   asio::bind_cancellation_slot(
                       put_cancel_.slot(),
                       [this, v = a.v, key, bytes = data->size()](std::exception_ptr e, s3::error err) {
                           if (e) {  // a bug below: reported, retried like a network failure
                               try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& ex) {
                                   err.code = s3::errc::protocol_error;
                                   err.message = std::string("internal error: ") + ex.what();
                               }
                           }
                           const bool cancelled = err && (err.code == s3::errc::aborted);
                           const auto took =
                               std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - put_started_);
                           if (err) last_error_ = err;
                           if (!cancelled && on_upload)
                               on_upload(upload_event{index_, !err, key, bytes, took, v.sha256_hex, err});
                           if (!err)
                               logging::info(opts_.log_tag, "uploaded ", key, " (", bytes, " bytes, sha256 ", naming::short_sha256(v.sha256_hex),
                                             ", ", ms(took), ")");
                           else if (cancelled)
                               logging::warn(opts_.log_tag, "upload of ", key, " aborted at shutdown; it stays in the spool for the next start");
                           feed(ev::put_done{v.seq, outcome_of(err, cancelled)});
                       }));
}

asio::awaitable<s3::error> uploader::put_with_latest(std::string key, std::shared_ptr<const std::string> data,
                                                     crypto::sha256_digest sha, std::string name) {
    // (Calls are built before co_await: g++ 12 double-destroys by-value temporaries inside one.)
    auto put_op = dest_.put(key, data, sha);
    auto err = co_await std::move(put_op);
    if (err || opts_.latest_key.empty()) co_return err;
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return err;
    // The stable key is a convenience copy: a failure is logged, the next version rewrites it.
    const std::string latest = dest_.prefix() + opts_.latest_key;
    auto latest_op = dest_.put(latest, data, sha);
    auto latest_err = co_await std::move(latest_op);
    if (latest_err)
        logging::warn(opts_.log_tag, "could not update ", latest, ": ", latest_err.describe());
    else
        logging::info(opts_.log_tag, "updated ", latest, " to ", name);
    co_return err;
}

void uploader::write_copy(const job_ref& v) {
    auto it = versions_.find(v.seq);
    if (!keeper_.store() && !no_spool_logged_) {
        // No spool of our own: the process that owns it watches the same file and keeps it.
        logging::warn(opts_.log_tag, "no spool (another scb-backup process owns it): version ", v.name,
                      " is kept only in memory until it is confirmed");
        no_spool_logged_ = true;
    }
    if (it == versions_.end()) {  // (cannot happen: the policy asks only while it needs the bytes)
        asio::post(ex_, [this, seq = v.seq] { feed(ev::copy_done{seq, false}); });
        return;
    }
    // The spool copy is what survives a crash or an outage; written on the spool thread.
    keeper_.write(v.name, it->second.data, [this, seq = v.seq](bool ok) { feed(ev::copy_done{seq, ok}); });
}

void uploader::delete_copies(std::vector<std::string> names) {
    keeper_.release(std::move(names), [this](bool ok) { feed(ev::delete_done{ok}); });
}

void uploader::arm(timer_kind t, std::chrono::milliseconds after) {
    const auto i = static_cast<std::size_t>(t);
    const auto generation = ++timer_generation_[i];
    timer(t).expires_after(after);
    timer(t).async_wait([this, t, i, generation](const boost::system::error_code& ec) {
        // An aborted wait is never a tick, nor is one that completed just as it was re-armed.
        if (ec || generation != timer_generation_[i]) return;
        if (t == timer_kind::retry) feed(ev::retry_timer_fired{});
        if (t == timer_kind::spool) feed(ev::spool_timer_fired{});
        if (t == timer_kind::grace) feed(ev::grace_timer_fired{});
    });
}

void uploader::log_report(const act::report& r) {
    const std::string key = dest_.prefix() + r.v.name;
    const std::string& tag = opts_.log_tag;
    switch (r.kind) {
    case what::confirmed:
        confirmed_sha_ = r.v.sha256_hex;
        keeper_.confirmed(index_, r.v.name);
        break;
    case what::already_in_s3:
        confirmed_sha_ = r.v.sha256_hex;
        keeper_.confirmed(index_, r.v.name);
        logging::info(tag, "version ", r.v.name, " has the content confirmed last: not uploaded again");
        break;
    case what::unchanged:
        unchanged_ = true;  // the daemon says why the file was rewritten
        break;
    case what::superseded:
        logging::info(tag, "version ", r.v.name, " superseded by ", r.by->name, " before its upload (it holds all channels)");
        break;
    case what::collapsed:
        logging::info(tag, "spooled version ", r.v.name, " has the content of the newer ", r.by->name,
                      ": uploaded once, as that one");
        break;
    case what::failed:
        if (s3::is_retryable(last_error_.code))
            logging::warn(tag, "upload failed (attempt ", r.attempt + 1, "): ", last_error_.describe(), "; retrying in ",
                          format_duration(*r.retry_in));
        else
            logging::error(tag, "upload failed (attempt ", r.attempt + 1, "): ", last_error_.describe(),
                           "; this needs a fix, retrying in ", format_duration(*r.retry_in));
        break;
    case what::gave_up:
        logging::error(tag, "upload of ", key, " failed: ", last_error_.describe(), "; the version stays in the spool");
        break;
    case what::not_retrying:
        logging::info(tag, "not retrying ", key, " during shutdown; it stays in the spool");
        break;
    case what::grace_over:
        logging::warn(tag, "grace period over: aborting the upload of ", key);
        break;
    case what::copy_failed:
    case what::delete_failed:
    case what::unreadable:
        break;  // logged where it happened, with the system's reason
    }
}

// ---- the coroutine ----

asio::awaitable<void> uploader::run() {
    // Partial cancellation is "finish", terminal is "abort": keep the two apart, and never throw
    // on a cancelled state (it is checked after every wait instead).
    co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
    co_await asio::this_coro::throw_if_cancelled(false);
    bool idle_parked = false;
    while (!policy_.finished()) {
        if (opts_.finish_when_idle && policy_.idle()) feed(ev::finish{});
        if (policy_.finished()) break;
        if (policy_.idle() && !idle_parked) {
            // Nothing to send: keep the connection for the next version but out of the epoll set,
            // so the server closing it does not wake an idle daemon. Asio leaves its timerfd armed
            // at the deadline of a timer that was cancelled (the request timeout, once the answer
            // came), which would wake the idle daemon then: a timer due now makes it re-arm.
            dest_.idle();
            idle_parked = true;
            wake_.expires_at(steady_clock::now());
        } else {
            if (!policy_.idle()) idle_parked = false;
            wake_.expires_at(steady_clock::time_point::max());  // until feed() cancels it
        }
        co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
        const auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
        if (cancelled == asio::cancellation_type::none) continue;
        feed((cancelled & asio::cancellation_type::terminal) != asio::cancellation_type::none ? event{ev::abort{}}
                                                                                              : event{ev::finish{}});
        // Clear the state so that a terminal cancellation can still come after a partial one.
        co_await asio::this_coro::reset_cancellation_state(asio::enable_partial_cancellation());
    }
    for (auto& t : timers_) t.cancel();
}

}  // namespace scb::backup
