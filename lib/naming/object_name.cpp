#include "naming/object_name.hpp"

#include "common/utc_time.hpp"

#include <algorithm>
#include <stdexcept>

namespace scb::naming {
namespace {

namespace chr = std::chrono;

constexpr std::string_view prefix = "channel-";
constexpr std::string_view suffix = ".backup";
// "channel-" + "20261125T054233.123Z" + "-" + "a1b2c3" + ".backup"
constexpr std::size_t time_len = 20;
constexpr std::size_t hash_len = 6;
constexpr std::size_t name_len = prefix.size() + time_len + 1 + hash_len + suffix.size();
// The original Python service's: "channel-" + "20261125-054233" + "-" + "a1b2c3" + ".backup"
constexpr std::size_t legacy_time_len = 15;
constexpr std::size_t legacy_name_len = prefix.size() + legacy_time_len + 1 + hash_len + suffix.size();

bool is_hex(char c, bool allow_upper) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (allow_upper && c >= 'A' && c <= 'F');
}

// Reads `count` decimal digits at `pos`; false if any is not a digit.
bool digits(std::string_view s, std::size_t pos, std::size_t count, int& out) {
    out = 0;
    for (std::size_t i = 0; i < count; ++i) {
        char c = s[pos + i];
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    return true;
}

}  // namespace

std::string object_name(chr::system_clock::time_point t, std::string_view sha256_hex) {
    if (sha256_hex.size() < hash_len) throw std::invalid_argument("object_name: sha256 shorter than 6 hex digits");
    std::string tail(sha256_hex.substr(sha256_hex.size() - hash_len));
    for (char& c : tail) {
        if (!is_hex(c, true)) throw std::invalid_argument("object_name: sha256 is not hex");
        if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    }

    const std::string time = utc::format(t, utc::layout::basic_millis);
    std::string name;
    name.reserve(name_len);
    name.append(prefix).append(time).append("-").append(tail).append(suffix);
    return name;
}

std::string short_sha256(std::string_view sha256_hex) {
    return "..." + std::string(sha256_hex.substr(sha256_hex.size() - std::min(sha256_hex.size(), hash_len)));
}

namespace {

/// The name at the end of `name`, `len` characters long, laid out as `layout` says: 'd' a digit,
/// any other character itself. The time fields are at the positions of "YYYYMMDD?HHMMSS" (+ ".mmm").
std::optional<parsed_name> parse_layout(std::string_view name, std::size_t len, std::string_view time_layout) {
    if (name.size() < len) return std::nullopt;
    // The fixed-length name is at the end; anything before it is the key prefix.
    std::string_view s = name.substr(name.size() - len);
    if (s.substr(0, prefix.size()) != prefix || s.substr(s.size() - suffix.size()) != suffix) return std::nullopt;
    std::string_view ts = s.substr(prefix.size(), time_layout.size());
    for (std::size_t i = 0; i < time_layout.size(); ++i)
        if (time_layout[i] != 'd' && ts[i] != time_layout[i]) return std::nullopt;
    if (s[prefix.size() + time_layout.size()] != '-') return std::nullopt;

    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, milli = 0;
    if (!digits(ts, 0, 4, y) || !digits(ts, 4, 2, mo) || !digits(ts, 6, 2, d) || !digits(ts, 9, 2, h) ||
        !digits(ts, 11, 2, mi) || !digits(ts, 13, 2, sec) || (ts.size() > 16 && !digits(ts, 16, 3, milli)))
        return std::nullopt;
    chr::year_month_day ymd{chr::year{y}, chr::month{static_cast<unsigned>(mo)}, chr::day{static_cast<unsigned>(d)}};
    // Neither service writes a leap second, so 60 is rejected like any other impossible value.
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;

    std::string_view hash = s.substr(prefix.size() + time_layout.size() + 1, hash_len);
    for (char c : hash)
        if (!is_hex(c, false)) return std::nullopt;

    parsed_name out;
    out.time = chr::sys_days{ymd} + chr::hours{h} + chr::minutes{mi} + chr::seconds{sec} + chr::milliseconds{milli};
    out.sha256_suffix = std::string(hash);
    return out;
}

}  // namespace

std::optional<parsed_name> parse_object_name(std::string_view name) {
    if (auto ours = parse_layout(name, name_len, "ddddddddTdddddd.dddZ")) return ours;
    auto legacy = parse_layout(name, legacy_name_len, "dddddddd-dddddd");
    if (legacy) legacy->legacy = true;
    return legacy;
}

std::string legacy_object_name(chr::system_clock::time_point t, std::string_view sha256_hex) {
    // The same time and suffix as object_name(), laid out as the Python service did (whole seconds).
    std::string name = object_name(t, sha256_hex);
    const std::string time = name.substr(prefix.size(), time_len);  // 20261125T054233.123Z
    return std::string(prefix) + time.substr(0, 8) + "-" + time.substr(9, 6) + name.substr(prefix.size() + time_len);
}

std::string name_of(const parsed_name& p) {
    return p.legacy ? legacy_object_name(p.time, p.sha256_suffix) : object_name(p.time, p.sha256_suffix);
}

}  // namespace scb::naming
