// config::parse_env_file: an operator's EnvironmentFile, read as systemd reads it. Bad lines throw
// env_file_error; every variable it returns has a valid name and the line it was set on; every error
// and warning is one line that starts with the file and the line number (never a value).
#include "config/env_file.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {
bool valid_name(const std::string& n) {
    if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
    for (char c : n)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    return true;
}
bool one_line_about_the_file(const std::string& m) {
    return m.rfind("env file fuzz.env line ", 0) == 0 && m.find('\n') == std::string::npos;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const auto c = scb::config::parse_env_file(text, "fuzz.env");
        for (const auto& [name, value] : c.vars) {
            if (!valid_name(name)) __builtin_trap();
            const auto line = c.lines.find(name);
            if (line == c.lines.end() || line->second < 1) __builtin_trap();
            (void)value;
        }
        if (c.lines.size() != c.vars.size()) __builtin_trap();
        for (const auto& w : c.warnings)
            if (!one_line_about_the_file(w)) __builtin_trap();
    } catch (const scb::config::env_file_error& e) {
        if (!one_line_about_the_file(e.what())) __builtin_trap();
    }
    return 0;
}
