// config: the list / restore / verify commands and their flags.
#include "config/settings.hpp"
#include "restore/commands.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace scb::config;

namespace {
parse_result parse_args(std::vector<std::string> args, std::map<std::string, std::string> vars = {
                                                            {"S3_BUCKET_NAME", "my-bucket"}}) {
    args.insert(args.begin(), "scb-backup");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    auto env = [vars](const std::string& n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
    return parse(static_cast<int>(argv.size()), argv.data(), env);
}
}  // namespace

TEST_CASE("restore: list, restore and verify parse with their own flags", "[unit][restore][config]") {
    auto l = parse_args({"list", "--json"}).values;
    CHECK(l.cmd == command::list);
    CHECK(l.json);
    CHECK(is_restore_command(l.cmd));
    CHECK_FALSE(is_restore_command(command::run));
    CHECK_FALSE(is_restore_command(command::once));

    auto r = parse_args({"restore", "--output", "/tmp/x.backup", "--key", "n/k", "--force"}).values;
    CHECK(r.cmd == command::restore);
    CHECK(r.output == "/tmp/x.backup");
    CHECK(r.restore_key == "n/k");
    CHECK(r.force);
    auto plain = parse_args({"restore", "--output", "out.backup"}).values;
    CHECK(plain.restore_key.empty());
    CHECK_FALSE(plain.force);

    auto v = parse_args({"verify"}, {{"S3_BUCKET_NAME", "my-bucket"}, {"MONITOR_FILE_PATH", "/lnd/channel.backup"}}).values;
    CHECK(v.cmd == command::verify);
    CHECK(v.file == "/lnd/channel.backup");
}

TEST_CASE("restore: misplaced or missing restore flags are usage errors", "[unit][restore][config]") {
    CHECK_THROWS_WITH(parse_args({"restore"}), Catch::Contains("--output"));
    CHECK_THROWS_WITH(parse_args({"restore", "--output", "/tmp/"}), Catch::Contains("must name a file"));
    CHECK_THROWS_WITH(parse_args({"restore", "--output", "x", "--key", ""}), Catch::Contains("--key is empty"));
    CHECK_THROWS_AS(parse_args({"run", "--output", "x"}), usage_error);
    CHECK_THROWS_AS(parse_args({"list", "--force"}), usage_error);
    CHECK_THROWS_AS(parse_args({"verify", "--json"}), usage_error);
    CHECK_THROWS_WITH(parse_args({"list"}, {}), Catch::Contains("no bucket"));
}

TEST_CASE("restore: --help lists the new commands and flags", "[unit][restore][config]") {
    auto h = parse_args({"--help"});
    CHECK(h.exit_now);
    CHECK_THAT(h.text, Catch::Contains("list") && Catch::Contains("restore  --output PATH") &&
                           Catch::Contains("verify") && Catch::Contains("--force") && Catch::Contains("--json"));
}

TEST_CASE("restore: paths printed in the next step are safe shell words", "[unit][restore]") {
    CHECK(scb::restore::shell_quote("/home/lnd/restore.backup") == "/home/lnd/restore.backup");
    CHECK(scb::restore::shell_quote("/tmp/my backup") == "'/tmp/my backup'");
    CHECK(scb::restore::shell_quote("/tmp/it's") == "'/tmp/it'\\''s'");
}
