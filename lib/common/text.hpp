#pragma once
// Small text helpers shared by the parsers of settings, env files and credential answers, and the logs.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>
#include <string_view>

namespace scb {

/// `s` without leading and trailing blanks (space, tab, CR, LF).
inline std::string trim(std::string_view s) {
    constexpr std::string_view blanks = " \t\r\n";
    const auto b = s.find_first_not_of(blanks);
    if (b == std::string_view::npos) return {};
    const auto e = s.find_last_not_of(blanks);
    return std::string(s.substr(b, e - b + 1));
}

/// ASCII case-insensitive equality ("HTTPS" == "https").
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

/// A duration as a person writes it in a setting: "5m", "1s", "250ms", "1h" (the largest unit that
/// writes it exactly; config::parse_duration reads it back).
inline std::string format_duration(std::chrono::milliseconds d) {
    const auto ms = d.count();
    if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
    if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
    if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
    return std::to_string(ms) + "ms";
}

}  // namespace scb
