// config::parse: mistakes in settings that used to pass (or fail later, confusingly) are refused at
// start with one line, and likely typos in variable names are warned about with the closest setting.
#include "config/settings.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

using namespace scb::config;
using namespace std::chrono_literals;
using Catch::Contains;

namespace {

/// parse() with these flags and this environment; every variable's name is also enumerated.
parse_result parse_with(std::vector<std::string> args, std::map<std::string, std::string> vars) {
    args.insert(args.begin(), "scb-backup");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    std::vector<std::string> names;
    for (const auto& [name, value] : vars) names.push_back(name);
    auto env = [vars](const std::string& n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
    return parse(static_cast<int>(argv.size()), argv.data(), env, names);
}

std::string joined(const std::vector<std::string>& lines) {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
}

}  // namespace

TEST_CASE("settings: a misspelt variable is warned about with the closest setting", "[unit][config][settings]") {
    auto r = parse_with({}, {{"S3_BUCKET_NAME", "b-1"},
                             {"S3_BACKUP_PREFX", "node1/"},
                             {"SCB_RETRY_MAXX", "1m"},
                             {"MONITOR_FILE", "/x"},
                             {"PATH", "/usr/bin"},
                             {"AWS_SECRET_ACCES_KEY", "x"},
                             {"SCB_LOG_LEVEL", "info"}});
    const auto w = joined(r.warnings);
    CHECK_THAT(w, Contains("S3_BACKUP_PREFX is not a setting; did you mean S3_BACKUP_PREFIX?"));
    CHECK_THAT(w, Contains("SCB_RETRY_MAXX is not a setting; did you mean SCB_RETRY_MAX?"));
    CHECK_THAT(w, Contains("MONITOR_FILE is not a setting; did you mean MONITOR_FILE_PATH?"));
    CHECK(r.warnings.size() == 3);  // PATH, AWS_* and real settings are not ours to judge
}

TEST_CASE("settings: the warnings found before a usage error come with it", "[unit][config][settings]") {
    try {
        (void)parse_with({}, {{"S3_BUCKET_NAM", "b-1"}});
        FAIL("no bucket was accepted");
    } catch (const scb::config::usage_error& e) {
        CHECK_THAT(e.what(), Contains("no bucket"));
        CHECK_THAT(joined(e.warnings), Contains("S3_BUCKET_NAM is not a setting; did you mean S3_BUCKET_NAME?"));
    }
}

TEST_CASE("settings: a misspelt variable in the env file is warned about with its line", "[unit][config][settings]") {
    scb::unit::temp_dir dir;
    const auto path = (dir.path / "scb.env").string();
    std::ofstream(path) << "S3_BUCKET_NAME=b-1\nBACKUP_DIRECTRY=/var/lib/x\nS3_BACKUP_PREFIX=node1/ # prod\n";
    auto r = parse_with({"--env-file", path}, {});
    const auto w = joined(r.warnings);
    CHECK_THAT(w, Contains("BACKUP_DIRECTRY is not a setting; did you mean BACKUP_DIRECTORY?") &&
                      Contains(path + " line 2"));
    // The env file's own warnings come along.
    CHECK_THAT(w, Contains(path + " line 3 (S3_BACKUP_PREFIX)"));
    CHECK(r.values.prefix == "node1/ # prod");
}

TEST_CASE("settings: a prefix without a trailing slash is warned about", "[unit][config][settings]") {
    auto r = parse_with({"--prefix", "node1"}, {{"S3_BUCKET_NAME", "b-1"}});
    CHECK_THAT(joined(r.warnings), Contains("node1channel-"));
    CHECK(parse_with({"--prefix", "node1/"}, {{"S3_BUCKET_NAME", "b-1"}}).warnings.empty());
    CHECK(parse_with({}, {{"S3_BUCKET_NAME", "b-1"}}).warnings.empty());
}

TEST_CASE("settings: a prefix S3 would not store as meant is refused", "[unit][config][settings]") {
    const std::map<std::string, std::string> env{{"S3_BUCKET_NAME", "b-1"}};
    for (const std::string& bad : std::vector<std::string>{"/node1/", std::string(513, 'p'), "a/../b/", "../x/", "./x/", "a/./", "a/.."}) {
        CAPTURE(bad);
        CHECK_THROWS_WITH(parse_with({"--prefix", bad}, env), Contains("S3_BACKUP_PREFIX / --prefix"));
    }
    CHECK(parse_with({"--prefix", std::string(511, 'p') + "/"}, env).values.prefix.size() == 512);
    CHECK(parse_with({"--prefix", "a..b/.c/"}, env).values.prefix == "a..b/.c/");
}

TEST_CASE("settings: --max-size above 1 GiB and --retry-min under 100 ms are refused", "[unit][config][settings]") {
    const std::map<std::string, std::string> env{{"S3_BUCKET_NAME", "b-1"}};
    CHECK_THROWS_WITH(parse_with({"--max-size", "2GiB"}, env), Contains("SCB_MAX_SIZE / --max-size"));
    CHECK_THROWS_WITH(parse_with({"--max-size", "1073741825"}, env), Contains("--max-size"));
    CHECK(parse_with({"--max-size", "1GiB"}, env).values.max_size == 1ull << 30);
    CHECK_THROWS_WITH(parse_with({"--retry-min", "50ms"}, env), Contains("SCB_RETRY_MIN / --retry-min"));
    CHECK(parse_with({"--retry-min", "100ms"}, env).values.retry_min == 100ms);
}

TEST_CASE("settings: durations and sizes are digits, an optional fraction and a unit", "[unit][config][settings]") {
    for (const char* bad : {"0x10", " 5", "5 ", "1e3", "nan", "inf", "-1s", "+5s", "1.", ".5", "5 s", "1,5s", ""}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_duration(bad), std::invalid_argument);
    }
    CHECK(parse_duration("1.5s") == 1500ms);
    CHECK(parse_duration("0.25m") == 15s);
    CHECK(parse_duration("90") == 90s);
    CHECK(parse_duration("007ms") == 7ms);
    for (const char* bad : {"0x10", " 5", "5 ", "1e3", "+5", "1.5GiB", "", "18446744073709551616"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(parse_size(bad), std::invalid_argument);
    }
    const std::map<std::string, std::string> env{{"S3_BUCKET_NAME", "b-1"}};
    CHECK_THROWS_WITH(parse_with({"--reconcile-interval", "0x10"}, env), Contains("SCB_RECONCILE_INTERVAL"));
    CHECK_THROWS_WITH(parse_with({"--object-lock-mode", "GOVERNANCE", "--object-lock-days", " 5"}, env),
                      Contains("SCB_OBJECT_LOCK_DAYS / --object-lock-days"));
}
