#pragma once
// Names of the S3 objects (and spool files) that hold one version of channel.backup.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace scb::naming {

/// "channel-20261125T054233.123Z-a1b2c3.backup": the UTC time with milliseconds (names sort as text in
/// time order), then the LAST 6 hex digits of the content's SHA-256 (lower-cased).
/// Throws std::invalid_argument if `sha256_hex` has fewer than 6 hex digits at its end (a bug of the caller).
std::string object_name(std::chrono::system_clock::time_point t, std::string_view sha256_hex);

/// "...a1b2c3": how log lines show a content, the same suffix its object name and `list` show.
std::string short_sha256(std::string_view sha256_hex);

/// What a name made by object_name() holds.
struct parsed_name {
    std::chrono::system_clock::time_point time;  // millisecond precision, UTC
    std::string sha256_suffix;                   // 6 lower-case hex digits
    bool legacy = false;                         // the original Python service's form (legacy_object_name)
};

/// "channel-20261125-054233-a1b2c3.backup": how the original Python service named its versions (UTC
/// time in whole seconds, the last 6 hex digits of the SHA-256). Read, never written, so that an
/// operator who switches keeps that history: `list`, `restore` and `verify` see these backups, and
/// the copies it left in BACKUP_DIRECTORY are uploaded under their own names.
std::string legacy_object_name(std::chrono::system_clock::time_point t, std::string_view sha256_hex);

/// Strict inverse of object_name() and legacy_object_name(): the date must be a real calendar date,
/// the time a real time, the suffix 6 lower-case hex digits. Accepts a key with any prefix before
/// "channel-" (such as "node1/channel-….backup"); returns nullopt for anything else.
std::optional<parsed_name> parse_object_name(std::string_view name);

/// The name `p` was parsed from (object_name() or legacy_object_name(), as p.legacy says).
std::string name_of(const parsed_name& p);

}  // namespace scb::naming
