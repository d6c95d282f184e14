#pragma once
// What the daemon has done, kept for the health endpoint and Prometheus: versions seen, uploads,
// failures by S3 error class, durations, the spool backlog, the watched file's state, and since when
// S3 has not had the file's newest state.
// Holds no secret: error lines come from s3::error::describe() and file system errors, never a key.
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

/// What the watched file is, as far as backing it up goes.
enum class file_condition {
    ok,          // readable and accepted (or not read yet)
    missing,     // not there (a typo in the path, lnd not started, the folder gone)
    unreadable,  // there but open/read fails (permissions: lnd's umask 077)
    refused,     // read but not accepted as a backup: too large, too small, not a regular file
};

/// The metric label and health-line word: "ok", "missing", "unreadable", "refused".
std::string_view name(file_condition c) noexcept;

/// The daemon's counters and health. Safe to update from any thread (one mutex): the uploader and
/// the HTTP server live on the io_context thread, spool bookkeeping may not.
///
/// Health is one rule: unhealthy once S3 has lacked the file's newest state for longer than
/// stale_after (or the spool has been broken that long), whatever the reason. The reason only
/// words the line. Every text stored here from outside goes through logging::printable().
class state {
public:
    /// A new version of the file was read (start-up, watch or reconcile); it becomes the newest,
    /// not yet in S3. The oldest change not in S3 stays the older one if one is already waiting.
    void version_seen(std::string sha256_hex, wall_clock::time_point when);
    /// S3 confirmed an upload. When `sha256_hex` is the newest version seen, no version waits any
    /// more (a file problem, if any, still counts). Ends "upload failing" either way.
    void upload_succeeded(std::string_view sha256_hex, std::size_t bytes, std::chrono::duration<double> took,
                          wall_clock::time_point when);
    /// An upload attempt failed. `code_label` is the error class for the metric label
    /// (s3::name(err.code), e.g. "timeout", "access_denied"); `reason` the log line (err.describe()).
    /// Remembered for the health line until an upload succeeds; not unhealthy by itself.
    void upload_failed(std::string_view code_label, std::string reason);
    /// The file's condition after a look at it, `detail` saying what was wrong (e.g. the path and
    /// strerror). While not ok, S3 lacks the file's newest state since `when` (the first bad look;
    /// later bad looks keep it). Back to ok, that ends; a changed content then comes as version_seen().
    void file_state(file_condition c, std::string detail, wall_clock::time_point when);
    /// Whether writing to the spool folder works; broken since `when` (the first failure) until ok.
    void spool_state(bool ok, std::string detail, wall_clock::time_point when);
    /// Versions waiting in the spool (the daemon counts them after each spool change).
    void set_pending_spool_files(std::size_t n);

    /// The Prometheus text exposition format 0.0.4, every metric prefixed `scb_backup_`.
    [[nodiscard]] std::string render_prometheus(wall_clock::time_point now) const;

    /// {true, "ok"}, or {false, one line} once the oldest change not in S3, or a broken spool, is
    /// older than `stale_after`. The line names the reason, first that applies: the file
    /// ("channel.backup missing: <detail>", "... unreadable: ...", "... refused: ..."), "upload
    /// failing: <error line>", "spool broken: <detail>", else "newest version (sha256 …) not in S3",
    /// and says for how long. Before any version was seen and with the file ok, it is healthy.
    [[nodiscard]] std::pair<bool, std::string> health(wall_clock::time_point now, std::chrono::seconds stale_after) const;

private:
    /// Since when S3 lacks the file's newest state: the older of a waiting version and a file problem.
    [[nodiscard]] std::optional<wall_clock::time_point> unbacked_since() const;

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
    std::optional<wall_clock::time_point> version_waiting_since_;  // a version seen that S3 has not confirmed
    std::optional<std::string> failing_;  // the last attempt's error line, until an upload succeeds

    file_condition file_ = file_condition::ok;
    std::string file_detail_;
    wall_clock::time_point file_bad_since_{};  // meaningful while file_ != ok

    std::optional<std::string> spool_broken_;  // what is wrong with the spool folder, while it is
    wall_clock::time_point spool_broken_since_{};
};

}  // namespace scb::health
