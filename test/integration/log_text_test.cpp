// What reaches the log: one printable line, whatever outside text it carries (issue #13).
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

using namespace scb::test;

TEST_CASE("a file name with terminal escape sequences reaches the log escaped, on one line", "[log_text]") {
    daemon_fixture f;
    const std::string evil_folder = f.dir.path() + "/lnd\x1b]0;pwned\x07\x1b[2J\nfake line";
    std::filesystem::create_directories(evil_folder);
    auto r = f.run_once({"once"}, {"MONITOR_FILE_PATH=" + evil_folder + "/channel.backup"});
    CHECK(r.exit_code != 0);  // the file does not exist
    INFO(r.err);
    CHECK(r.err.find("channel.backup") != std::string::npos);
    CHECK(r.err.find('\x1b') == std::string::npos);
    CHECK(r.err.find('\x07') == std::string::npos);
    CHECK(r.err.find("lnd\\x1b]0;pwned\\x07\\x1b[2J\\x0afake line") != std::string::npos);
    // Every line the daemon wrote starts as a log line does: nobody can forge one with a newline.
    std::size_t start = 0;
    while (start < r.err.size()) {
        const auto end = r.err.find('\n', start);
        const std::string line = r.err.substr(start, end - start);
        CHECK(line.rfind("20", 0) == 0);
        if (end == std::string::npos) break;
        start = end + 1;
    }
}
