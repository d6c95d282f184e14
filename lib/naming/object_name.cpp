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

std::optional<parsed_name> parse_object_name(std::string_view name) {
    if (name.size() < name_len) return std::nullopt;
    // The fixed-length name is at the end; anything before it is the key prefix.
    std::string_view s = name.substr(name.size() - name_len);
    if (s.substr(0, prefix.size()) != prefix || s.substr(s.size() - suffix.size()) != suffix) return std::nullopt;
    std::string_view ts = s.substr(prefix.size(), time_len);  // 20261125T054233.123Z
    if (ts[8] != 'T' || ts[15] != '.' || ts[19] != 'Z' || s[prefix.size() + time_len] != '-') return std::nullopt;

    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, milli = 0;
    if (!digits(ts, 0, 4, y) || !digits(ts, 4, 2, mo) || !digits(ts, 6, 2, d) || !digits(ts, 9, 2, h) ||
        !digits(ts, 11, 2, mi) || !digits(ts, 13, 2, sec) || !digits(ts, 16, 3, milli))
        return std::nullopt;
    chr::year_month_day ymd{chr::year{y}, chr::month{static_cast<unsigned>(mo)}, chr::day{static_cast<unsigned>(d)}};
    // object_name() never writes a leap second, so 60 is rejected like any other impossible value.
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;

    std::string_view hash = s.substr(prefix.size() + time_len + 1, hash_len);
    for (char c : hash)
        if (!is_hex(c, false)) return std::nullopt;

    parsed_name out;
    out.time = chr::sys_days{ymd} + chr::hours{h} + chr::minutes{mi} + chr::seconds{sec} + chr::milliseconds{milli};
    out.sha256_suffix = std::string(hash);
    return out;
}

}  // namespace scb::naming
