#pragma once
// Uploads versions to S3 one at a time: the newest pending version wins, failures are retried
// with backoff forever, and a spool copy is deleted only after S3 confirmed it (or confirmed a
// newer version that supersedes it: every SCB is a complete snapshot of all channels).
#include "backup/backoff.hpp"
#include "backup/version.hpp"
#include "s3/client.hpp"
#include "s3/object_options.hpp"
#include "spool/spool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace scb::backup {

struct uploader_options {
    std::string prefix;
    s3::object_options object;  // checksum, SSE, storage class, Object Lock: headers per PUT
    std::string latest_key;     // non-empty: each confirmed version is also PUT at prefix + latest_key
    std::chrono::milliseconds retry_min{1000};
    std::chrono::milliseconds retry_max{300'000};
    // Failures only the operator can fix (credentials, bucket) are retried no faster than this.
    std::chrono::milliseconds fatal_retry_min{60'000};
    // After each spool write, the oldest spool files beyond this many are deleted (never the newest).
    std::size_t spool_max_files = 100;
    // A new version is written to the spool only if S3 has not confirmed it (or a newer one) this
    // long after it was submitted, or at once when an attempt fails or at shutdown: the spool's
    // fsync would otherwise compete with the upload it protects (docs/performance.md).
    std::chrono::milliseconds spool_delay{1000};
};

/// What happened to an upload, for logs, health and metrics.
struct upload_event {
    bool ok = false;
    std::string key;
    std::size_t bytes = 0;
    std::chrono::milliseconds duration{0};
    std::string sha256_hex;  // of the version uploaded
    s3::error err;  // when !ok
};

/// Applies the spool cap (spool::trim) and warns with the names it dropped. Blocking: spool thread.
void trim_spool(const spool::spool& store, std::size_t max_files);

class uploader {
public:
    /// `spool_io` is a one-thread pool: spool writes and deletes run there in order, off the
    /// io_context thread (an fsync can take long).
    uploader(boost::asio::any_io_executor ex, s3::client& client, spool::spool& store,
             boost::asio::thread_pool& spool_io, uploader_options opts);

    /// Spooled versions an earlier run left (oldest first): uploaded before anything new.
    void add_leftovers(const std::vector<spool::entry>& entries);
    /// A new version: it becomes the one version waiting for upload, replacing an older one still
    /// waiting. Returns its number (version::seq), which the caller stores in its copy before
    /// passing that to keep_copy().
    std::uint64_t submit(version v);
    /// Keeps a submitted version safe across a restart: its spool copy is written (on the spool
    /// thread) unless S3 confirms it, or a newer one, within spool_delay; at once if an attempt fails
    /// first or the uploader is stopped.
    void keep_copy(const version& v);
    /// A version that is about to be submitted (lnd closed its temp file; the rename follows): signs
    /// its PUT and takes the parked connection back now, so that the upload only has to send
    /// (s3::client::prepare_put). `v.data` must stay the buffer later submitted.
    boost::asio::awaitable<void> prepare(const version& v);
    /// SHA-256 of the newest version accepted (waiting, in flight or confirmed); empty if none.
    [[nodiscard]] const std::string& newest_sha() const noexcept;
    /// True when nothing waits and nothing is in flight.
    [[nodiscard]] bool idle() const noexcept;

    /// Uploads until finish() is called and the upload in flight (if any) has ended.
    boost::asio::awaitable<void> run();
    /// Shutdown, step one: take no new upload, stop retrying; the upload in flight may finish.
    void finish();
    /// Shutdown, step two (grace period over): abort the upload in flight; it stays in the spool.
    void abort();

    /// Called after every upload attempt (logs are written by the uploader itself).
    std::function<void(const upload_event&)> on_upload;
    /// Called on the spool thread after each spool write or delete (e.g. to count pending files).
    std::function<void()> on_spool_change;

private:
    std::optional<version> take_next();
    bool load(version& v);
    void forget_spooled(std::vector<std::string> names);
    /// Hands every version still waiting for its spool copy to the spool thread.
    void spool_unconfirmed();
    /// S3 confirmed `confirmed_seq`: it, every older version and every one whose spool copy is being
    /// deleted (`deleted`: superseded by a newer one) need no spool copy written any more.
    void drop_unspooled(std::uint64_t confirmed_seq, const std::vector<std::string>& deleted);
    boost::asio::awaitable<void> upload_with_retries(version job);
    boost::asio::awaitable<void> put_latest(version job);
    [[nodiscard]] s3::put_options put_options_for(const version& v) const;

    boost::asio::any_io_executor ex_;
    s3::client& client_;
    spool::spool& spool_;
    boost::asio::thread_pool& spool_io_;
    uploader_options opts_;
    backoff backoff_;

    std::deque<version> leftovers_;
    std::optional<version> next_;
    std::optional<version> in_flight_;
    std::string confirmed_sha_;
    std::uint64_t submitted_ = 0;
    // Highest seq S3 confirmed: the spool thread skips writing a copy that is already safe in S3.
    std::atomic<std::uint64_t> confirmed_seq_{0};
    std::vector<std::string> superseded_;  // spool names to delete once a newer version is confirmed
    std::vector<version> unspooled_;       // submitted, no spool copy yet (waiting for spool_delay)
    boost::asio::steady_timer spool_delay_;

    boost::asio::steady_timer wake_;   // a condition variable: cancelled when work or finish() arrives
    boost::asio::steady_timer retry_timer_;  // backoff between attempts
    boost::asio::cancellation_signal abort_;
    bool closing_ = false;
    bool aborted_ = false;
};

}  // namespace scb::backup
