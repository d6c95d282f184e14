#include "common/utc_time.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace scb::utc {

std::string format(std::chrono::system_clock::time_point t, layout l) {
    namespace chr = std::chrono;
    const auto ms = chr::floor<chr::milliseconds>(t);
    const auto day = chr::floor<chr::days>(ms);
    const chr::year_month_day ymd{day};
    const chr::hh_mm_ss hms{ms - day};
    const int year = static_cast<int>(ymd.year());  // 1678..2262: all that a nanosecond time_point holds
    const bool extended = l == layout::extended || l == layout::extended_millis;
    const bool millis = l == layout::extended_millis || l == layout::basic_millis;
    char buf[32];
    std::snprintf(buf, sizeof buf, extended ? "%04d-%02u-%02uT%02d:%02d:%02d" : "%04d%02u%02uT%02d%02d%02d", year,
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    std::string out(buf);
    if (millis) {
        std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(hms.subseconds().count()));
        out += buf;
    }
    out += 'Z';
    return out;
}

std::optional<std::chrono::system_clock::time_point> parse_iso8601(std::string_view t) {
    std::size_t pos = 0;
    auto number = [&](std::size_t n, int& out) {
        if (pos + n > t.size()) return false;
        out = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const char c = t[pos + i];
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        pos += n;
        return true;
    };
    auto literal = [&](char c) {
        if (pos >= t.size() || std::toupper(static_cast<unsigned char>(t[pos])) != c) return false;
        ++pos;
        return true;
    };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (!(number(4, y) && literal('-') && number(2, mo) && literal('-') && number(2, d) && literal('T') &&
          number(2, h) && literal(':') && number(2, mi) && literal(':') && number(2, s)))
        return std::nullopt;
    if (pos < t.size() && t[pos] == '.') {  // fractional seconds: dropped (credentials care about seconds)
        const auto start = ++pos;
        while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') ++pos;
        if (pos == start) return std::nullopt;
    }
    int offset_minutes = 0;
    if (literal('Z')) {
    } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
        const int sign = t[pos++] == '-' ? -1 : 1;
        int oh = 0, om = 0;
        if (!number(2, oh)) return std::nullopt;
        if (pos < t.size() && t[pos] == ':') ++pos;
        if (!number(2, om) || oh > 23 || om > 59) return std::nullopt;
        offset_minutes = sign * (oh * 60 + om);
    } else {
        return std::nullopt;  // no zone: local time is meaningless on a server
    }
    if (pos != t.size()) return std::nullopt;
    const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(static_cast<unsigned>(mo)),
                                          std::chrono::day(static_cast<unsigned>(d))};
    if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
    return std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
           std::chrono::seconds(std::min(s, 59)) - std::chrono::minutes(offset_minutes);
}

}  // namespace scb::utc
