// Every setting `--help` lists is in the example env file (commented, with its default) and in the
// README's settings table (with the same default), so the three cannot drift apart again.
#include "config/settings.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct documented_setting {
    std::vector<std::string> variables;  // the variable, and the one read when it is unset
    std::string default_text;
};

/// The settings as --help prints them: "  <blanks>VAR[, VAR2][ (…)]; default TEXT".
std::vector<documented_setting> settings_in_help() {
    static const std::regex line(R"(^ +([A-Z][A-Z0-9_]+)(?:, ([A-Z][A-Z0-9_]+))?(?: \(.*\))?; default (.*)$)");
    std::vector<documented_setting> out;
    std::istringstream help(scb::config::help_text());
    for (std::string l; std::getline(help, l);) {
        std::smatch m;
        if (!std::regex_match(l, m, line)) continue;
        documented_setting s{{m[1].str()}, m[3].str()};
        if (m[2].matched) s.variables.push_back(m[2].str());
        out.push_back(s);
    }
    return out;
}

std::vector<std::string> lines_of(const std::string& relative) {
    std::ifstream in(std::string(SCB_SOURCE_DIR) + "/" + relative);
    REQUIRE(in.good());
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

std::string without_backticks(std::string s) {
    std::erase(s, '`');
    return s;
}

std::string trimmed(const std::string& s) {
    const auto b = s.find_first_not_of(' ');
    if (b == std::string::npos) return {};
    return s.substr(b, s.find_last_not_of(' ') - b + 1);
}

/// A default that is a value one could write in the file (not "off", "AWS by region", a home path).
bool literal(const std::string& d) {
    static const std::regex value(R"([A-Za-z0-9._:/-]+)");
    return std::regex_match(d, value) && d != "off" && d != "none" && d != "empty";
}

}  // namespace

TEST_CASE("--help lists the settings the documentation checks below", "[docs]") {
    const auto settings = settings_in_help();
    // 28 settings with a flag, plus SCB_DESTINATIONS: a parse that finds far fewer is broken.
    CHECK(settings.size() >= 29);
}

TEST_CASE("Every setting of --help is in the example env file, commented, with its default", "[docs]") {
    const auto file = lines_of("deploy/systemd/scb-backup.env.example");
    for (const auto& s : settings_in_help()) {
        for (const auto& var : s.variables) {
            INFO(var << " (default " << s.default_text << ")");
            const std::string assignment = "#" + var + "=";
            std::string value;
            bool found = false;
            for (const auto& l : file)
                if (l.rfind(assignment, 0) == 0) {
                    found = true;
                    value = l.substr(assignment.size());
                }
            CHECK(found);
            if (found && literal(s.default_text)) CHECK(value == s.default_text);
        }
    }
}

TEST_CASE("Every setting of --help is in the README's table with the same default", "[docs]") {
    const auto readme = lines_of("README.md");
    for (const auto& s : settings_in_help()) {
        INFO(s.variables.front() << " (default " << s.default_text << ")");
        const std::string first_cell = "| `" + s.variables.front() + "`";
        std::string row;
        for (const auto& l : readme)
            if (l.rfind(first_cell, 0) == 0) row = l;
        REQUIRE(!row.empty());
        // | variables | flag | default | meaning |
        std::vector<std::string> cells;
        std::istringstream in(row.substr(1));
        for (std::string c; std::getline(in, c, '|');) cells.push_back(trimmed(c));
        REQUIRE(cells.size() >= 4);
        for (const auto& var : s.variables) CHECK(cells[0].find("`" + var + "`") != std::string::npos);
        CHECK(without_backticks(cells[2]) == s.default_text);
    }
}
