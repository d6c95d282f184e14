#pragma once
// The one place that writes a UTC time as text (logs, object names, SigV4, S3 headers, restore).
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace scb::utc {

enum class layout {
    extended,         // 2026-12-02T07:35:29Z       (S3 headers, credential expiry)
    extended_millis,  // 2026-12-02T07:35:29.901Z   (log lines, restore's "saved" times)
    basic,            // 20261202T073529Z           (SigV4's x-amz-date; its first 8 are the scope date)
    basic_millis,     // 20261202T073529.901Z       (object names)
};

/// `t` in the given layout, rounded towards the past (a time before 1970 too).
std::string format(std::chrono::system_clock::time_point t, layout l);

/// Reads an ISO 8601 time with a zone, as credential endpoints and S3's LastModified write it:
/// "2024-05-01T17:30:00Z", with or without fractional seconds (dropped), "z", or an offset
/// ("+02:00", "-0100"). Nullopt for anything else, a time without a zone included.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);

}  // namespace scb::utc
