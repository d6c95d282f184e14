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

uploader::uploader(asio::any_io_executor ex, s3::client& client, const spool::spool* store, asio::thread_pool& spool_io,
                   uploader_options opts)
    : ex_(ex),
      client_(client),
      spool_(store),
      spool_io_(spool_io),
      opts_(std::move(opts)),
      policy_(opts_.policy),
      timers_{asio::steady_timer(ex), asio::steady_timer(ex), asio::steady_timer(ex)},
      wake_(ex, steady_clock::time_point::max()) {}

void trim_spool(const spool::spool& store, std::size_t max_files) {
    auto dropped = store.trim(max_files);
    if (dropped.empty()) return;
    std::string names;
    for (const auto& n : dropped) names += (names.empty() ? "" : ", ") + n;
    // Every version holds all channels, so a newer one makes these redundant once it is in S3;
    // until then they were the fallback, hence a warning.
    logging::warn("spool holds more than ", max_files, " versions (SCB_SPOOL_MAX_FILES / --spool-max-files): dropped ",
                  dropped.size(), " oldest not yet confirmed by S3: ", names);
}

// ---- inputs ----

void uploader::add_leftovers(const std::vector<spool::entry>& entries) {
    if (!spool_) return;
    ev::leftovers_found found;
    for (const auto& e : entries) {
        std::string bytes;
        if (auto ec = spool_->read(e.name, bytes)) {
            logging::error("cannot read spooled version ", e.name, ": ", ec.message(), " - skipped");
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
    return client_.prepare_put(opts_.prefix + v.name, *v.data, put_options_for(v.sha256));
}

s3::put_options uploader::put_options_for(const crypto::sha256_digest& sha) const {
    auto o = s3::make_put_options(opts_.object, std::chrono::system_clock::now());
    o.body_sha256 = sha;  // hashed when the file was read: not again per PUT
    return o;
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
        auto ec = spool_ ? spool_->read(a.v.name, bytes) : std::make_error_code(std::errc::no_such_file_or_directory);
        if (ec || crypto::sha256_hex(bytes) != a.v.sha256_hex) {
            logging::error("cannot read spooled version ", a.v.name, ": ",
                           ec ? ec.message() : std::string("its content changed since start-up"), " - skipped");
            asio::post(ex_, [this, seq = a.v.seq] { feed(ev::put_done{seq, put_outcome::unreadable}); });
            return;
        }
        sha = crypto::sha256(bytes);
        data = std::make_shared<const std::string>(std::move(bytes));
    }
    put_started_ = steady_clock::now();
    const std::string key = opts_.prefix + a.v.name;
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
                           if (!cancelled && on_upload) on_upload(upload_event{!err, key, bytes, took, v.sha256_hex, err});
                           if (!err)
                               logging::info("uploaded ", key, " (", bytes, " bytes, sha256 ", naming::short_sha256(v.sha256_hex),
                                             ", ", ms(took), ")");
                           else if (cancelled)
                               logging::warn("upload of ", key, " aborted at shutdown; it stays in the spool for the next start");
                           feed(ev::put_done{v.seq, outcome_of(err, cancelled)});
                       }));
}

asio::awaitable<s3::error> uploader::put_with_latest(std::string key, std::shared_ptr<const std::string> data,
                                                     crypto::sha256_digest sha, std::string name) {
    // (Calls are built before co_await: g++ 12 double-destroys by-value temporaries inside one.)
    auto put_op = client_.put_object(key, *data, put_options_for(sha));
    auto put = co_await std::move(put_op);
    if (put.err || opts_.latest_key.empty()) co_return put.err;
    if ((co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none) co_return put.err;
    // The stable key is a convenience copy: a failure is logged, the next version rewrites it.
    const std::string latest = opts_.prefix + opts_.latest_key;
    auto latest_op = client_.put_object(latest, *data, put_options_for(sha));
    auto r = co_await std::move(latest_op);
    if (r.err)
        logging::warn("could not update ", latest, ": ", r.err.describe());
    else
        logging::info("updated ", latest, " to ", name);
    co_return put.err;
}

void uploader::write_copy(const job_ref& v) {
    auto it = versions_.find(v.seq);
    if (!spool_ || it == versions_.end()) {
        // No spool of our own: the process that owns it watches the same file and keeps it.
        if (!spool_ && !no_spool_logged_) {
            logging::warn("no spool (another scb-backup process owns it): version ", v.name,
                          " is kept only in memory until S3 confirms it");
            no_spool_logged_ = true;
        }
        asio::post(ex_, [this, seq = v.seq, ok = !spool_ ? true : false] { feed(ev::copy_done{seq, ok}); });
        return;
    }
    // The spool copy is what survives a crash or an outage; written off this thread. The pool has
    // one thread, so a later delete of the same name always runs after this write.
    asio::post(spool_io_, [this, name = v.name, data = it->second.data, seq = v.seq] {
        bool ok = false;
        std::string problem;
        std::size_t pending = 0;
        try {
            if (auto ec = spool_->write(name, *data)) {
                problem = "cannot write " + (spool_->dir() / name).string() + ": " + ec.message();
                logging::error("spool: ", problem,
                               " - the upload goes on from memory, but this version is not safe across a restart");
            } else {
                ok = true;
                trim_spool(*spool_, opts_.spool_max_files);
            }
            std::error_code ec;
            pending = spool_->pending(ec).size();
        } catch (const std::exception& e) {  // never let a spool failure end the process
            problem = e.what();
            logging::error("spool: ", problem);
        }
        asio::post(ex_, [this, seq, ok, problem = std::move(problem), pending] {
            if (on_spool_change) on_spool_change(ok, problem, pending);
            feed(ev::copy_done{seq, ok});
        });
    });
}

void uploader::delete_copies(std::vector<std::string> names) {
    if (!spool_) {
        asio::post(ex_, [this] { feed(ev::delete_done{true}); });
        return;
    }
    asio::post(spool_io_, [this, names = std::move(names)] {
        bool ok = true;
        std::string problem;
        std::size_t pending = 0;
        try {
            for (const auto& name : names)
                if (auto ec = spool_->remove(name)) {
                    ok = false;
                    problem = "cannot delete the confirmed copy " + name + ": " + ec.message();
                    logging::warn("spool: ", problem);
                }
            std::error_code ec;
            pending = spool_->pending(ec).size();
        } catch (const std::exception& e) {
            ok = false;
            problem = e.what();
            logging::error("spool: ", problem);
        }
        asio::post(ex_, [this, ok, problem = std::move(problem), pending] {
            if (on_spool_change) on_spool_change(true, problem, pending);  // a failed delete loses nothing
            feed(ev::delete_done{ok});
        });
    });
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
    const std::string key = opts_.prefix + r.v.name;
    switch (r.kind) {
    case what::confirmed:
        confirmed_sha_ = r.v.sha256_hex;
        break;
    case what::already_in_s3:
        confirmed_sha_ = r.v.sha256_hex;
        logging::info("version ", r.v.name, " has the content S3 confirmed last: not uploaded again");
        break;
    case what::unchanged:
        unchanged_ = true;  // the daemon says why the file was rewritten
        break;
    case what::superseded:
        logging::info("version ", r.v.name, " superseded by ", r.by->name, " before its upload (it holds all channels)");
        break;
    case what::collapsed:
        logging::info("spooled version ", r.v.name, " has the content of the newer ", r.by->name,
                      ": uploaded once, as that one");
        break;
    case what::failed:
        if (s3::is_retryable(last_error_.code))
            logging::warn("upload failed (attempt ", r.attempt + 1, "): ", last_error_.describe(), "; retrying in ",
                          format_duration(*r.retry_in));
        else
            logging::error("upload failed (attempt ", r.attempt + 1, "): ", last_error_.describe(),
                           "; this needs a fix, retrying in ", format_duration(*r.retry_in));
        break;
    case what::gave_up:
        logging::error("upload of ", key, " failed: ", last_error_.describe(), "; the version stays in the spool");
        break;
    case what::not_retrying:
        logging::info("not retrying ", key, " during shutdown; it stays in the spool");
        break;
    case what::grace_over:
        logging::warn("grace period over: aborting the upload of ", key);
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
            client_.park_connection();
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
