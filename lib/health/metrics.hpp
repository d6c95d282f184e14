#pragma once
// What the daemon has done, kept for the health endpoint and Prometheus: versions seen, and for each
// destination its uploads, failures by S3 error class, durations, and since when it has not had the
// file's newest state; globally the spool backlog and the watched file's state.
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
#include <vector>

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
/// It tracks one or more destinations (set_destinations(); by default one unnamed destination, ""),
/// each with its own counters, failure line and "behind since". A destination is current once it
/// confirmed the newest version seen (or while none was seen). The file's and the spool's state are
/// global: they concern every destination. The overloads without a destination mean the first one.
///
/// Health is one rule: unhealthy once a destination has lacked the file's newest state for longer
/// than stale_after (or the spool has been broken that long), whatever the reason. The reason only
/// words the line. Every text stored here from outside goes through logging::printable().
class state {
public:
    /// The destinations, in the order of the output; call once, before any other update. Empty:
    /// one unnamed destination (the default). A name given twice counts once. With one unnamed
    /// destination everything renders as it did before destinations existed (no destination label).
    void set_destinations(std::vector<std::string> names);

    /// A new version of the file was read (start-up, watch or reconcile); it becomes the newest.
    /// Every destination lacks it from `when` on, unless it already lacked an older one (then it
    /// keeps the older time) or it confirmed this very sha as the newest and nothing came since.
    void version_seen(std::string sha256_hex, wall_clock::time_point when);
    /// `destination` confirmed an upload. When `sha256_hex` is the newest version seen, that
    /// destination is current (a file problem, if any, still counts). Ends its "upload failing"
    /// either way. An unknown destination name is ignored.
    void upload_succeeded(std::string_view destination, std::string_view sha256_hex, std::size_t bytes,
                          std::chrono::duration<double> took, wall_clock::time_point when);
    /// upload_succeeded() for the first destination.
    void upload_succeeded(std::string_view sha256_hex, std::size_t bytes, std::chrono::duration<double> took,
                          wall_clock::time_point when);
    /// An upload attempt to `destination` failed. `code_label` is the error class for the metric
    /// label (s3::name(err.code), e.g. "timeout", "access_denied"); `reason` the log line
    /// (err.describe()); `when` the time of the attempt (the first failure in a row is kept: failing
    /// since then). Remembered until that destination confirms an upload; not unhealthy by itself.
    /// An unknown destination name is ignored.
    void upload_failed(std::string_view destination, std::string_view code_label, std::string reason,
                       wall_clock::time_point when);
    /// upload_failed() for the first destination, the time of the failure unknown.
    void upload_failed(std::string_view code_label, std::string reason);
    /// The file's condition after a look at it, `detail` saying what was wrong (e.g. the path and
    /// strerror). While not ok, no destination has the file's newest state since `when` (the first
    /// bad look; later bad looks keep it). Back to ok, that ends; a changed content then comes as
    /// version_seen().
    void file_state(file_condition c, std::string detail, wall_clock::time_point when);
    /// Whether writing to the spool folder works; broken since `when` (the first failure) until ok.
    void spool_state(bool ok, std::string detail, wall_clock::time_point when);
    /// Versions waiting in the spool (the daemon counts them after each spool change).
    void set_pending_spool_files(std::size_t n);

    /// The Prometheus text exposition format 0.0.4, every metric prefixed `scb_backup_`. With named
    /// destinations the per-destination metrics carry a `destination` label, and
    /// `scb_backup_destination_current` and `scb_backup_destination_behind_seconds` are added; with
    /// one unnamed destination there is no such label nor gauge.
    [[nodiscard]] std::string render_prometheus(wall_clock::time_point now) const;

    /// {true, "ok"}, or {false, one line} once the oldest change a destination lacks, or a broken
    /// spool, is older than `stale_after`. The line names the reason, first that applies: the file
    /// ("channel.backup missing: <detail>", "... unreadable: ...", "... refused: ..."; it concerns
    /// every destination), "upload failing: <error line>", "spool broken: <detail>", else "newest
    /// version (sha256 …) not in S3", and says for how long. With several destinations, each
    /// destination behind too long gets its own part, "destination NAME: <that wording>", joined
    /// by "; ". Before any version was seen and with the file ok, it is healthy.
    [[nodiscard]] std::pair<bool, std::string> health(wall_clock::time_point now, std::chrono::seconds stale_after) const;

    /// For systemd's STATUS=: with several destinations "2/3 destinations current; b2: server_error
    /// for 4m", each destination not current named with its last error class (or "behind") and for
    /// how long (failing since, else behind since; rounded down to whole hours, minutes or seconds).
    /// With one destination "" (the daemon words its own status then).
    [[nodiscard]] std::string status_line(wall_clock::time_point now) const;

    /// Whether every destination confirmed the newest version seen (true before any was seen).
    [[nodiscard]] bool all_current() const;

private:
    struct destination {
        std::string name;   // as given: looked up by it, and the label value (escaped when rendered)
        std::string shown;  // logging::printable(name), for the health and status lines
        std::uint64_t uploads_succeeded = 0;
        std::map<std::string, std::uint64_t, std::less<>> uploads_failed;  // by error class, sorted for stable output
        std::uint64_t bytes_uploaded = 0;
        std::array<std::uint64_t, duration_buckets.size()> bucket_counts{};  // not cumulative; summed when rendered
        std::uint64_t duration_count = 0;
        double duration_sum = 0;
        std::optional<wall_clock::time_point> last_success;

        std::optional<wall_clock::time_point> behind_since;  // a version seen that it has not confirmed
        std::optional<std::string> failing;       // the last attempt's error line, until an upload succeeds
        std::string failing_code;                 // its error class, printable (meaningful while failing)
        std::optional<wall_clock::time_point> failing_since;  // the first failure in a row, when known
    };

    /// The destination called `name`, or null.
    [[nodiscard]] destination* find(std::string_view name);
    /// Since when `d` lacks the file's newest state: the older of its waiting version and a file problem.
    [[nodiscard]] std::optional<wall_clock::time_point> unbacked_since(const destination& d) const;
    /// The oldest of unbacked_since() over every destination.
    [[nodiscard]] std::optional<wall_clock::time_point> oldest_unbacked_since() const;
    /// Whether the metrics carry a destination label: not for a lone unnamed destination.
    [[nodiscard]] bool labelled() const;

    mutable std::mutex mutex_;
    std::uint64_t versions_seen_ = 0;
    std::size_t pending_spool_files_ = 0;
    std::vector<destination> destinations_ = std::vector<destination>(1);  // never empty

    std::string newest_sha_;

    file_condition file_ = file_condition::ok;
    std::string file_detail_;
    wall_clock::time_point file_bad_since_{};  // meaningful while file_ != ok

    std::optional<std::string> spool_broken_;  // what is wrong with the spool folder, while it is
    wall_clock::time_point spool_broken_since_{};
};

}  // namespace scb::health
