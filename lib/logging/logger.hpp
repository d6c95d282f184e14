#pragma once
// One line per event on stderr. Under systemd (JOURNAL_STREAM set) each line starts with a syslog
// priority prefix so `journalctl -p err` works, and no timestamp (the journal adds its own).
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace scb::logging {

enum class level { debug = 0, info = 1, warning = 2, error = 3 };

std::optional<level> parse_level(std::string_view text);  // debug|info|warn|warning|error
void set_level(level l) noexcept;
level current_level() noexcept;
/// Chooses the line format: syslog prefixes for the journal, else a UTC timestamp. Called once at start.
void configure_for_environment();
/// Writes one whole line atomically (one write(2)), so lines from threads never interleave.
void write_line(level l, std::string_view text);

template <class... Args>
void emit(level l, const Args&... args) {
    if (l < current_level()) return;
    std::ostringstream os;
    (os << ... << args);
    write_line(l, os.str());
}

template <class... Args> void debug(const Args&... a) { emit(level::debug, a...); }
template <class... Args> void info(const Args&... a) { emit(level::info, a...); }
template <class... Args> void warn(const Args&... a) { emit(level::warning, a...); }
template <class... Args> void error(const Args&... a) { emit(level::error, a...); }

}  // namespace scb::logging
