// config::parse_env_file: an operator's EnvironmentFile. Bad lines throw env_file_error; every
// variable it returns has a valid name.
#include "config/env_file.hpp"

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        for (const auto& [name, value] : scb::config::parse_env_file(text, "fuzz.env")) {
            if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) __builtin_trap();
            for (char c : name)
                if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) __builtin_trap();
            (void)value;
        }
    } catch (const scb::config::env_file_error& e) {
        // The message names the line, never the value (it may be a secret).
        if (std::string(e.what()).rfind("fuzz.env line ", 0) != 0) __builtin_trap();
    }
    return 0;
}
