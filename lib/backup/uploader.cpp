#include "backup/uploader.hpp"

#include "crypto/hash.hpp"
#include "logging/logger.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>

namespace scb::backup {

namespace asio = boost::asio;
using std::chrono::steady_clock;

uploader::uploader(asio::any_io_executor ex, s3::client& client, spool::spool& store, asio::thread_pool& spool_io,
                   uploader_options opts)
    : ex_(ex),
      client_(client),
      spool_(store),
      spool_io_(spool_io),
      opts_(std::move(opts)),
      backoff_(opts_.retry_min, opts_.retry_max),
      spool_delay_(ex),
      wake_(ex, steady_clock::time_point::max()),
      retry_timer_(ex) {}

void uploader::add_leftovers(const std::vector<spool::entry>& entries) {
    for (const auto& e : entries) {
        version v;
        v.name = e.name;
        v.from_spool = true;
        leftovers_.push_back(std::move(v));
    }
    wake_.cancel();
}

std::uint64_t uploader::submit(version v) {
    v.seq = ++submitted_;
    const auto seq = v.seq;
    if (next_) {
        logging::info("version ", next_->name, " superseded by ", v.name, " before its upload started");
        superseded_.push_back(next_->name);
    }
    next_ = std::move(v);
    wake_.cancel();
    return seq;
}

void uploader::keep_copy(const version& v) {
    if (v.seq != 0 && v.seq <= confirmed_seq_.load()) return;  // S3 has it already
    unspooled_.push_back(v);
    if (unspooled_.size() > 1) return;  // the timer runs for the oldest one
    spool_delay_.expires_after(opts_.spool_delay);
    spool_delay_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) spool_unconfirmed();  // (with an error `this` may be gone: the io_context is stopping)
    });
}

void uploader::spool_unconfirmed() {
    spool_delay_.cancel();
    for (auto& v : std::exchange(unspooled_, {})) {
        // The spool copy is what survives a crash or an outage; write it off this thread. The pool
        // has one thread, so a later delete of the same name always runs after this write. A
        // version S3 confirmed before the pool got to it needs no copy: fsync only what must be durable.
        asio::post(spool_io_, [this, name = std::move(v.name), data = std::move(v.data), seq = v.seq] {
            if (seq != 0 && seq <= confirmed_seq_.load()) {
                logging::debug("spool: ", name, " is in S3 already; no copy written");
                return;
            }
            if (auto ec = spool_.write(name, *data))
                logging::error("cannot write the spool copy ", (spool_.dir() / name).string(), ": ", ec.message(),
                               " - the upload goes on from memory, but this version is not safe across a restart");
            trim_spool(spool_, opts_.spool_max_files);
            if (on_spool_change) on_spool_change();
        });
    }
}

void uploader::drop_unspooled(std::uint64_t confirmed_seq, const std::vector<std::string>& deleted) {
    std::erase_if(unspooled_, [&](const version& v) {
        return v.seq <= confirmed_seq || std::find(deleted.begin(), deleted.end(), v.name) != deleted.end();
    });
    // A cancelled timer would still wake an idle daemon at its old deadline (see run()).
    if (unspooled_.empty()) spool_delay_.cancel();
}

asio::awaitable<void> uploader::prepare(const version& v) {
    return client_.prepare_put(opts_.prefix + v.name, *v.data, put_options_for(v));
}

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

const std::string& uploader::newest_sha() const noexcept {
    if (next_) return next_->sha256_hex;
    if (in_flight_) return in_flight_->sha256_hex;
    return confirmed_sha_;
}

bool uploader::idle() const noexcept { return !next_ && !in_flight_ && leftovers_.empty(); }

std::optional<version> uploader::take_next() {
    std::optional<version> job;
    if (!leftovers_.empty()) {
        job = std::move(leftovers_.front());
        leftovers_.pop_front();
    } else if (next_) {
        job = std::move(next_);
        next_.reset();
    }
    return job;
}

bool uploader::load(version& v) {
    if (v.data) return true;
    std::string bytes;
    if (auto ec = spool_.read(v.name, bytes)) {
        logging::error("cannot read spooled version ", v.name, ": ", ec.message(), " - skipped");
        return false;
    }
    v.sha256 = crypto::sha256(bytes);
    v.sha256_hex = crypto::hex(v.sha256);
    v.data = std::make_shared<const std::string>(std::move(bytes));
    return true;
}

void uploader::forget_spooled(std::vector<std::string> names) {
    asio::post(spool_io_, [this, names = std::move(names)] {
        for (const auto& name : names)
            if (auto ec = spool_.remove(name))
                logging::warn("cannot delete confirmed spool copy ", name, ": ", ec.message());
        if (on_spool_change) on_spool_change();
    });
}

void uploader::finish() {
    spool_unconfirmed();  // what is not in S3 by now must survive the exit
    closing_ = true;
    wake_.cancel();
    retry_timer_.cancel();
}

void uploader::abort() {
    spool_unconfirmed();
    aborted_ = true;
    closing_ = true;
    abort_.emit(asio::cancellation_type::terminal);
    wake_.cancel();
    retry_timer_.cancel();
}

asio::awaitable<void> uploader::run() {
    while (!closing_) {
        auto job = take_next();
        if (!job) {
            // Nothing to send: keep the connection for the next version but out of the epoll set,
            // so the server closing it does not wake an idle daemon.
            client_.park_connection();
            // Asio leaves its timerfd armed at the deadline of a timer that was cancelled (the
            // request timeout, once the answer came), which would wake the idle daemon then. A
            // timer due now makes it re-arm the timerfd for the next real deadline.
            wake_.expires_at(steady_clock::now());
            co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
            if (closing_ || !idle()) continue;
            // Sleep until submit(), add_leftovers() or finish() cancels the timer.
            wake_.expires_at(steady_clock::time_point::max());
            auto [ec] = co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
            (void)ec;
            continue;
        }
        auto upload = upload_with_retries(std::move(*job));
        co_await std::move(upload);
    }
}

s3::put_options uploader::put_options_for(const version& v) const {
    auto o = s3::make_put_options(opts_.object, std::chrono::system_clock::now());
    o.body_sha256 = v.sha256;  // hashed when the file was read: not again per PUT
    return o;
}

asio::awaitable<void> uploader::put_latest(version job) {
    // The stable key is a convenience copy: a failure is logged, the next version rewrites it.
    const std::string key = opts_.prefix + opts_.latest_key;
    auto op = client_.put_object(key, *job.data, put_options_for(job));
    auto put = co_await asio::co_spawn(ex_, std::move(op), asio::bind_cancellation_slot(abort_.slot(), asio::use_awaitable));
    if (put.err)
        logging::warn("could not update ", key, ": ", put.err.describe());
    else
        logging::info("updated ", key, " to ", job.name);
}

asio::awaitable<void> uploader::upload_with_retries(version job) {
    for (unsigned attempt = 0;; ++attempt) {
        if (!load(job)) co_return;
        in_flight_ = job;
        const std::string key = opts_.prefix + job.name;
        const auto started = steady_clock::now();
        // The PUT ignores the caller's cancellation: at shutdown it gets a grace period and is
        // cancelled only through abort().
        // (The call is built before co_await: g++ 12 double-destroys by-value temporaries inside one.)
        auto put_op = client_.put_object(key, *job.data, put_options_for(job));
        auto put = co_await asio::co_spawn(ex_, std::move(put_op),
                                           asio::bind_cancellation_slot(abort_.slot(), asio::use_awaitable));
        in_flight_.reset();
        upload_event ev;
        ev.key = key;
        ev.bytes = job.data->size();
        ev.duration = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started);
        ev.ok = !put.err;
        ev.err = put.err;
        ev.sha256_hex = job.sha256_hex;
        if (!put.err && !opts_.latest_key.empty()) {
            auto latest = put_latest(job);
            co_await std::move(latest);
        }
        if (on_upload && !aborted_) on_upload(ev);  // an abort at shutdown is not an S3 failure

        if (!put.err) {
            confirmed_sha_ = job.sha256_hex;
            if (job.seq > confirmed_seq_.load()) confirmed_seq_.store(job.seq);
            logging::info("uploaded ", key, " (", ev.bytes, " bytes, sha256 ", job.sha256_hex.substr(0, 12), ", ",
                          ev.duration.count(), " ms)");
            auto done = std::move(superseded_);
            superseded_.clear();
            done.push_back(job.name);
            // Copies not written yet and now deleted, or older than this one, need writing no more.
            drop_unspooled(job.seq, done);
            forget_spooled(std::move(done));
            co_return;
        }
        if (aborted_) {
            logging::warn("upload of ", key, " aborted at shutdown; it stays in the spool for the next start");
            co_return;
        }
        spool_unconfirmed();  // S3 may be down for long: from now on this version lives in the spool
        const bool retryable = s3::is_retryable(put.err.code);
        auto wait = backoff_.delay(attempt);
        if (!retryable) wait = std::max(wait, std::min(opts_.fatal_retry_min, opts_.retry_max));
        if (retryable)
            logging::warn("upload failed (attempt ", attempt + 1, "): ", put.err.describe(), "; retrying in ",
                          wait.count(), " ms");
        else
            logging::error("upload failed (attempt ", attempt + 1, "): ", put.err.describe(), "; this needs a fix, retrying in ",
                           wait.count(), " ms");
        if (closing_) {
            logging::info("not retrying ", key, " during shutdown; it stays in the spool");
            co_return;
        }
        // New versions do not cut the backoff short (a burst during an outage must not hammer
        // S3); finish() does.
        retry_timer_.expires_after(wait);
        auto [ec] = co_await retry_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ec;
        if (closing_) {
            logging::info("not retrying ", key, " during shutdown; it stays in the spool");
            co_return;
        }
        // A newer version waiting replaces this one and every older leftover: it holds all channels.
        if (next_ && next_->name != job.name) {
            superseded_.push_back(job.name);
            for (auto& old : leftovers_) superseded_.push_back(old.name);
            leftovers_.clear();
            logging::info("retrying with the newer version ", next_->name, " instead of ", job.name);
            job = std::move(*next_);
            next_.reset();
        }
    }
}

}  // namespace scb::backup
