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
};

/// Strict inverse of object_name(): the date must be a real calendar date, the time a real time,
/// the suffix 6 lower-case hex digits. Accepts a key with any prefix before "channel-" (such as
/// "node1/channel-….backup"); returns nullopt for anything else.
std::optional<parsed_name> parse_object_name(std::string_view name);

}  // namespace scb::naming
