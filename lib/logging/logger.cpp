#include "logging/logger.hpp"

#include "common/utc_time.hpp"
#include "logging/escape.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace scb::logging {
namespace {

constexpr std::size_t max_line_bytes = 16 * 1024;
std::atomic<level> threshold{level::info};
std::atomic<bool> journal{false};

const char* syslog_prefix(level l) {
    switch (l) {
    case level::debug: return "<7>";
    case level::info: return "<6>";
    case level::warning: return "<4>";
    case level::error: return "<3>";
    }
    return "<6>";
}

const char* label(level l) {
    switch (l) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warning: return "warn";
    case level::error: return "error";
    }
    return "info";
}
}  // namespace

std::optional<level> parse_level(std::string_view t) {
    if (t == "debug") return level::debug;
    if (t == "info") return level::info;
    if (t == "warn" || t == "warning") return level::warning;
    if (t == "error") return level::error;
    return std::nullopt;
}

void set_level(level l) noexcept { threshold = l; }
level current_level() noexcept { return threshold; }

void configure_for_environment() {
    const char* js = std::getenv("JOURNAL_STREAM");
    journal = js && *js;
}

void write_line(level l, std::string_view text) {
    std::string line;
    line.reserve(text.size() + 40);
    if (journal) {
        line += syslog_prefix(l);
    } else {
        line += utc::format(std::chrono::system_clock::now(), utc::layout::extended_millis);
        line += ' ';
    }
    line += label(l);
    line += ' ';
    // A log line stays one printable line whatever the message holds: file names from the watched
    // folder, S3's answers and errno texts come from outside; the cap is the last defence.
    line += printable(text, max_line_bytes);
    line += '\n';
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
        ssize_t n = ::write(STDERR_FILENO, p, left);
        if (n <= 0) break;
        p += n;
        left -= static_cast<std::size_t>(n);
    }
}

}  // namespace scb::logging
