#pragma once
// The backups under a prefix, as `list`, `restore` and `verify` see them: which listed keys are
// ours, newest first by S3's LastModified, and how a row is printed. Pure: no I/O.
#include "naming/object_name.hpp"
#include "s3/client.hpp"

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scb::restore {

/// One object under the prefix. `name` is set only when the key is exactly PREFIX + a name made by
/// naming::object_name() (no deeper folder, nothing else around it); `stored` when S3's LastModified
/// could be read (whole seconds with S3 itself).
struct backup_entry {
    s3::object_info object;
    std::optional<naming::parsed_name> name;
    std::optional<std::chrono::system_clock::time_point> stored;
    [[nodiscard]] bool is_backup() const noexcept { return name.has_value(); }
};

/// The parsed name when `key` is exactly `prefix` + "channel-<YYYYMMDDTHHMMSS.mmmZ>-<sha6>.backup";
/// nullopt otherwise (another prefix such as "node10/" when ours is "node1", a sub-folder, a foreign file).
std::optional<naming::parsed_name> parse_backup_key(std::string_view key, std::string_view prefix);

/// Classifies listed objects and orders them: backups newest first by S3's LastModified, then by the
/// time in the name, then by key (all descending); then every other key in key order. LastModified
/// comes first because S3's clock is right when the node's was not: a version named while the
/// node's clock was a year ahead must not outrank every later one. A backup whose LastModified
/// cannot be read is placed by the time in its name.
std::vector<backup_entry> catalog(std::vector<s3::object_info> objects, std::string_view prefix);

/// How far a name may be from S3's LastModified before the node's clock counts as wrong: more than
/// an upload takes, even with retries, and far more than NTP-synced clocks ever differ.
inline constexpr std::chrono::minutes clock_tolerance{5};

/// Backups whose name's time is more than clock_tolerance from S3's LastModified.
struct clock_report {
    std::size_t count = 0;
    const backup_entry* worst = nullptr;       ///< the one with the largest gap
    std::chrono::milliseconds name_ahead_by{};  ///< its name's time minus its LastModified
};

/// The backups of `entries` named by a clock that was wrong (see clock_report); nullopt when none.
std::optional<clock_report> clock_mismatch(const std::vector<backup_entry>& entries);

/// One line for the operator: which backup's name disagrees with S3 and by how much, that the order
/// follows S3's LastModified, and to fix the node's clock.
std::string describe(const clock_report& report);

/// The newest backup of a catalog (its first entry when that is a backup); nullptr when there is none.
const backup_entry* newest(const std::vector<backup_entry>& entries) noexcept;

/// "2026-11-25T05:42:33.123Z": the name's time, ISO 8601 UTC with milliseconds.
std::string format_time(const naming::parsed_name& name);

/// The `list` table: a header line "KEY  SIZE  TIME (UTC)  SHA256", then one line per entry,
/// columns separated by two spaces and padded to the widest value; SIZE right-aligned. A key that
/// is not a backup shows "-" as its time and "-" as its suffix.
std::string format_table(const std::vector<backup_entry>& entries);

/// `list --json`: a JSON array, one object per entry, in catalog order:
/// {"key","size","time","sha256_suffix","last_modified","etag"} (etag without its quotes); time and
/// sha256_suffix are null for a key that is not a backup. Ends with a newline.
std::string format_json(const std::vector<backup_entry>& entries);

}  // namespace scb::restore
