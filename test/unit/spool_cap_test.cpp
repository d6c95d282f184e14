// The spool cap: SCB_SPOOL_MAX_FILES / --spool-max-files and trim_spool().
#include "backup/uploader.hpp"
#include "config/settings.hpp"
#include "spool/spool.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <unistd.h>

using namespace scb;

namespace {

s3::env_lookup env_of(std::map<std::string, std::string> vars) {
    vars.emplace("S3_BUCKET_NAME", "my-bucket");
    return [vars](const std::string& n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

config::parse_result parse_with(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), "scb-backup");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    return config::parse(static_cast<int>(argv.size()), argv.data(), env_of(std::move(env)));
}

}  // namespace

TEST_CASE("The spool cap defaults to 100 and is set by SCB_SPOOL_MAX_FILES or --spool-max-files",
          "[unit][config][spool]") {
    CHECK(parse_with({}).values.spool_max_files == 100);
    CHECK(parse_with({}, {{"SCB_SPOOL_MAX_FILES", "7"}}).values.spool_max_files == 7);
    CHECK(parse_with({"--spool-max-files", "3"}, {{"SCB_SPOOL_MAX_FILES", "7"}}).values.spool_max_files == 3);
    CHECK_THAT(config::describe(parse_with({"--spool-max-files", "3"}).values), Catch::Contains("spool-max-files=3"));
    CHECK_THAT(config::help_text(), Catch::Contains("--spool-max-files") && Catch::Contains("SCB_SPOOL_MAX_FILES"));
}

TEST_CASE("A bad spool cap is a usage error naming the variable and the flag", "[unit][config][spool]") {
    for (const std::string bad : {"0", "-1", "ten", "5x", "", "99999999999"}) {
        CAPTURE(bad);
        CHECK_THROWS_WITH(parse_with({"--spool-max-files", bad}),
                          Catch::Contains("SCB_SPOOL_MAX_FILES / --spool-max-files"));
    }
}

TEST_CASE("trim_spool() keeps the newest versions up to the cap", "[unit][spool]") {
    char tmpl[] = "/tmp/scb-cap-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::filesystem::path dir = std::string(tmpl) + "/spool";
    {
        auto s = spool::spool::open(dir);
        std::vector<std::string> names;
        for (int i = 0; i < 6; ++i) {
            names.push_back("channel-20261125T0542" + std::to_string(10 + i) + ".000Z-a1b2c" + std::to_string(i) +
                            ".backup");
            REQUIRE_FALSE(s.write(names.back(), "version " + std::to_string(i)));
            backup::trim_spool(s, 4);
        }
        auto left = s.pending();
        REQUIRE(left.size() == 4);
        CHECK(left.front().name == names[2]);
        CHECK(left.back().name == names[5]);
    }
    std::filesystem::remove_all(tmpl);
}
