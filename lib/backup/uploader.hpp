#pragma once
// The thin coroutine around one destination's upload_policy: it performs the policy's actions
// (PUTs to its destination, spool writes and deletes through the shared spool keeper, timers, log
// lines) and feeds back what they produced. The decisions themselves are in upload_policy.hpp.
// Each destination has its own uploader, hence its own queue, backoff and connection.
//
// Cancellation is the only way to stop it: run() under a partial cancellation finishes (no new
// PUT, the one in flight gets the grace period, unconfirmed versions are spooled); a terminal
// cancellation, or abort(), cancels the PUT in flight as well.
#include "backup/spool_keeper.hpp"
#include "backup/upload_policy.hpp"
#include "backup/version.hpp"
#include "destination/target.hpp"
#include "s3/error.hpp"
#include "spool/spool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace scb::backup {

struct uploader_options {
    std::string latest_key;     // non-empty: each confirmed version is also PUT at prefix + latest_key
    policy_options policy;      // retries, spool delay, grace period, attempt limit
    // `once`: finish as soon as nothing waits any more.
    bool finish_when_idle = false;
    // Log lines start with this ("b2: ") when there are several destinations; "" with one.
    std::string log_tag;
};

/// What happened to an upload attempt, for health and metrics.
struct upload_event {
    std::size_t destination = 0;  // its index
    bool ok = false;
    std::string key;
    std::size_t bytes = 0;
    std::chrono::milliseconds duration{0};
    std::string sha256_hex;  // of the version uploaded
    s3::error err;           // when !ok
};

class uploader {
public:
    /// Destination `index` (the spool keeper's numbering) is `dest`.
    uploader(boost::asio::any_io_executor ex, destination::target& dest, std::size_t index, spool_keeper& keeper,
             uploader_options opts);

    /// Spooled versions an earlier run left (oldest first): read and hashed now (blocking; at
    /// start-up), uploaded before anything new; copies of content a newer version has collapse.
    void add_leftovers(const std::vector<spool::entry>& entries);
    /// A new version. `force`: upload even when its content is the newest already (start-up).
    /// Returns false when the policy ignored it as unchanged.
    bool submit(version v, bool force = false);
    /// A version that is about to be submitted (lnd closed its temp file; the rename follows): signs
    /// its PUT and takes the parked connection back now (s3::client::prepare_put).
    boost::asio::awaitable<void> prepare(const version& v);
    /// SHA-256 of the newest version accepted (waiting, in flight or confirmed); empty if none.
    [[nodiscard]] const std::string& newest_sha() const noexcept { return policy_.newest_sha(); }
    /// True when nothing waits, is in flight or waits for a retry.
    [[nodiscard]] bool idle() const noexcept { return policy_.idle(); }
    /// Content the destination confirmed last (empty before the first), and the last attempt's error.
    [[nodiscard]] const std::string& confirmed_sha() const noexcept { return confirmed_sha_; }
    [[nodiscard]] const s3::error& last_error() const noexcept { return last_error_; }

    /// Performs the policy until it is done (see the cancellation note above). Never throws for
    /// an S3 or spool failure.
    boost::asio::awaitable<void> run();
    /// Shutdown, step two from outside the cancellation (a second signal): cancel the PUT in flight.
    void abort();

    [[nodiscard]] destination::target& target() noexcept { return dest_; }
    [[nodiscard]] std::size_t index() const noexcept { return index_; }

    /// Called after every upload attempt that was not aborted.
    std::function<void(const upload_event&)> on_upload;

private:
    void feed(const event& e);
    void perform(const action& a);
    void start_put(const act::start_put& a);
    void write_copy(const job_ref& v);
    void delete_copies(std::vector<std::string> names);
    void arm(timer_kind t, std::chrono::milliseconds after);
    void log_report(const act::report& r);
    boost::asio::awaitable<s3::error> put_with_latest(std::string key, std::shared_ptr<const std::string> data,
                                                      crypto::sha256_digest sha, std::string name);
    boost::asio::steady_timer& timer(timer_kind t) { return timers_[static_cast<std::size_t>(t)]; }

    boost::asio::any_io_executor ex_;
    destination::target& dest_;
    std::size_t index_;
    spool_keeper& keeper_;
    uploader_options opts_;
    upload_policy policy_;

    std::uint64_t next_seq_ = 0;
    std::map<std::uint64_t, version> versions_;  // the bytes the policy still needs, by seq
    std::string confirmed_sha_;
    s3::error last_error_;
    boost::asio::cancellation_signal put_cancel_;
    std::chrono::steady_clock::time_point put_started_{};
    std::array<boost::asio::steady_timer, 3> timers_;  // by timer_kind
    std::array<std::uint64_t, 3> timer_generation_{};  // a completion of an older arming is stale
    boost::asio::steady_timer wake_;  // run()'s condition variable: cancelled after every event
    bool no_spool_logged_ = false;
    bool unchanged_ = false;  // the last submit() was ignored as unchanged
};

}  // namespace scb::backup
