#include "logging/logger.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace scb::logging {
namespace {
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
        auto now = std::chrono::system_clock::now();
        auto t = std::chrono::system_clock::to_time_t(now);
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
        std::tm tm{};
        gmtime_r(&t, &tm);
        char buf[64];
        std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
        line += buf;
    }
    line += label(l);
    line += ' ';
    // A log line stays one line whatever the message holds.
    for (char c : text) line += (c == '\n' || c == '\r') ? ' ' : c;
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
