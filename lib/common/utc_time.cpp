#include "common/utc_time.hpp"

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

}  // namespace scb::utc
