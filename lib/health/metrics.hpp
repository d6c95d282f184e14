#pragma once
// What the daemon has done, kept for the health endpoint and Prometheus: versions seen, uploads,
// failures by S3 error class, durations, the spool backlog, and whether the newest version is in S3.
// Holds no secret: error lines come from s3::error::describe(), which never contains one.
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace scb::health {

using wall_clock = std::chrono::system_clock;

/// Upper bounds of the upload-duration histogram buckets, in seconds (+Inf is implied).
inline constexpr std::array<double, 11> duration_buckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                         0.5,   1,    2.5,   5,    10};

/// The daemon's counters and health. Safe to update from any thread (one mutex): the uploader and
/// the HTTP server live on the io_context thread, spool bookkeeping may not.
class state {
public:
    /// A new version of the file was read (start-up, watch or reconcile); it becomes the newest,
    /// not yet in S3.
    void version_seen(std::string sha256_hex, wall_clock::time_point when);
    /// S3 confirmed an upload. When `sha256_hex` is the newest version seen, everything is backed up.
    void upload_succeeded(std::string_view sha256_hex, std::size_t bytes, std::chrono::duration<double> took,
                          wall_clock::time_point when);
    /// An upload attempt failed. `code_label` is the error class for the metric label
    /// (s3::name(err.code), e.g. "timeout", "access_denied"); `reason` the log line (err.describe()).
    void upload_failed(std::string_view code_label, std::string reason);
    /// Versions waiting in the spool (the daemon counts them after each spool change).
    void set_pending_spool_files(std::size_t n);

    /// The Prometheus text exposition format 0.0.4, every metric prefixed `scb_backup_`.
    [[nodiscard]] std::string render_prometheus(wall_clock::time_point now) const;

    /// {true, "ok"} when nothing is waiting too long and the last upload attempt did not fail;
    /// else {false, why}: "upload failing: <error line>", or the newest version is not in S3 after
    /// more than `stale_after`. Before any version was seen (lnd has not written one) it is healthy.
    [[nodiscard]] std::pair<bool, std::string> health(wall_clock::time_point now, std::chrono::seconds stale_after) const;

private:
    /// Seconds the newest version has waited for S3 (0 when it is there or there is none).
    [[nodiscard]] double unbacked_age_seconds(wall_clock::time_point now) const;

    mutable std::mutex mutex_;
    std::uint64_t versions_seen_ = 0;
    std::uint64_t uploads_succeeded_ = 0;
    std::map<std::string, std::uint64_t, std::less<>> uploads_failed_;  // by error class, sorted for stable output
    std::uint64_t bytes_uploaded_ = 0;
    std::array<std::uint64_t, duration_buckets.size()> bucket_counts_{};  // not cumulative; summed when rendered
    std::uint64_t duration_count_ = 0;
    double duration_sum_ = 0;
    std::size_t pending_spool_files_ = 0;
    std::optional<wall_clock::time_point> last_success_;

    std::string newest_sha_;
    wall_clock::time_point newest_seen_at_{};
    bool newest_in_s3_ = true;  // nothing seen yet: nothing missing
    std::optional<std::string> failing_;  // the last attempt's error line, until an upload succeeds
};

}  // namespace scb::health
