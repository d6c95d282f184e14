#include "common/text.hpp"
#include "config/env_file.hpp"
#include "config/settings.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <unistd.h>

using namespace scb::config;
using namespace std::chrono_literals;

namespace {
scb::s3::env_lookup fake_env(std::map<std::string, std::string> vars) {
    return [vars](const std::string& n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

parse_result parse_args(std::vector<std::string> args, std::map<std::string, std::string> env) {
    args.insert(args.begin(), "scb-backup");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    return parse(static_cast<int>(argv.size()), argv.data(), fake_env(std::move(env)));
}
}  // namespace

TEST_CASE("Environment variables configure the daemon with the original service's names", "[unit][config]") {
    auto r = parse_args({}, {{"MONITOR_FILE_PATH", "/lnd/channel.backup"},
                             {"BACKUP_DIRECTORY", "/var/spool/scb"},
                             {"S3_BUCKET_NAME", "my-bucket"},
                             {"S3_BACKUP_PREFIX", "node1/"},
                             {"AWS_DEFAULT_REGION", "eu-central-1"}});
    const auto& s = r.values;
    CHECK(s.cmd == command::run);
    CHECK(s.file == "/lnd/channel.backup");
    CHECK(s.spool_dir == "/var/spool/scb");
    CHECK(s.bucket == "my-bucket");
    CHECK(s.prefix == "node1/");
    CHECK(s.endpoint.region == "eu-central-1");
    CHECK(s.reconcile_interval == 5min);
    CHECK(s.shutdown_timeout == 10s);
    CHECK(s.max_size == 64u * 1024 * 1024);
}

TEST_CASE("A flag wins over its variable, AWS_REGION over AWS_DEFAULT_REGION", "[unit][config]") {
    auto r = parse_args({"once", "--bucket", "flag-bucket", "--retry-max", "90s", "--max-size", "1MiB"},
                        {{"S3_BUCKET_NAME", "env-bucket"}, {"AWS_REGION", "us-west-2"}, {"AWS_DEFAULT_REGION", "eu-west-1"},
                         {"AWS_ENDPOINT_URL", "http://generic:1"}, {"AWS_ENDPOINT_URL_S3", "http://s3only:2"}});
    CHECK(r.values.cmd == command::once);
    CHECK(r.values.bucket == "flag-bucket");
    CHECK(r.values.endpoint.region == "us-west-2");
    CHECK(r.values.endpoint.url == "http://s3only:2");
    CHECK(r.values.retry_max == 90s);
    CHECK(r.values.max_size == 1024 * 1024);
}

TEST_CASE("Defaults follow lnd's and systemd's conventions", "[unit][config]") {
    auto r = parse_args({"--bucket", "b-1"}, {{"HOME", "/home/bob"}});
    CHECK(r.values.file == "/home/bob/.lnd/data/chain/bitcoin/mainnet/channel.backup");
    CHECK(r.values.spool_dir == "/home/bob/.local/state/scb-backup");
    auto sd = parse_args({"--bucket", "b-1"}, {{"HOME", "/home/bob"}, {"STATE_DIRECTORY", "/var/lib/scb-backup"}});
    CHECK(sd.values.spool_dir == "/var/lib/scb-backup");
}

TEST_CASE("Bad settings name the variable and the flag", "[unit][config]") {
    CHECK_THROWS_WITH(parse_args({}, {}), Catch::Contains("S3_BUCKET_NAME") && Catch::Contains("--bucket"));
    CHECK_THROWS_WITH(parse_args({"--bucket", "Bad_Name"}, {}), Catch::Contains("S3_BUCKET_NAME / --bucket"));
    CHECK_THROWS_WITH(parse_args({"--bucket", "ok-b", "--endpoint", "localhost:9000"}, {}),
                      Catch::Contains("--endpoint"));
    CHECK_THROWS_WITH(parse_args({"--bucket", "ok-b"}, {{"SCB_RECONCILE_INTERVAL", "soon"}}),
                      Catch::Contains("SCB_RECONCILE_INTERVAL / --reconcile-interval"));
    CHECK_THROWS_WITH(parse_args({"--bucket", "ok-b", "--addressing-style", "vhost"}, {}),
                      Catch::Contains("--addressing-style"));
    CHECK_THROWS_WITH(parse_args({"--bucket", "ok-b", "--no-such-flag", "1"}, {}), Catch::Contains("no-such-flag"));
    CHECK_THROWS_WITH(parse_args({"backwards"}, {}), Catch::Contains("unknown command"));
    CHECK_THROWS_AS(parse_args({"--bucket", "ok-b", "--retry-min", "10m", "--retry-max", "1m"}, {}), usage_error);
}

TEST_CASE("The help lists every setting with its variable and the version is printed", "[unit][config]") {
    auto h = parse_args({"--help"}, {});
    CHECK(h.exit_now);
    for (const char* name : {"MONITOR_FILE_PATH", "BACKUP_DIRECTORY", "S3_BUCKET_NAME", "S3_BACKUP_PREFIX", "AWS_REGION",
                             "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "S3_ADDRESSING_STYLE", "--reconcile-interval",
                             "--shutdown-timeout", "--env-file", "--log-level"})
        CHECK_THAT(h.text, Catch::Contains(name));
    auto v = parse_args({"--version"}, {});
    CHECK(v.text == "scb-backup " SCB_VERSION "\n");
}

TEST_CASE("Durations and sizes parse with units", "[unit][config]") {
    CHECK(parse_duration("250ms") == 250ms);
    CHECK(parse_duration("90") == 90s);
    CHECK(parse_duration("1.5s") == 1500ms);
    CHECK(parse_duration("5m") == 5min);
    CHECK(parse_duration("2h") == 2h);
    CHECK_THROWS(parse_duration("5 weeks"));
    CHECK_THROWS(parse_duration("-1s"));
    CHECK(parse_size("64MiB") == 64u << 20);
    CHECK(parse_size("512KiB") == 512u << 10);
    CHECK(parse_size("100") == 100);
    CHECK_THROWS(parse_size("-5"));
    CHECK_THROWS(parse_size("lots"));
}

TEST_CASE("Env files parse like systemd's EnvironmentFile", "[unit][config]") {
    auto vars = parse_env_file("# comment\n; also comment\n\nS3_BUCKET_NAME=my-bucket\n S3_BACKUP_PREFIX = node1/ \n"
                               "QUOTED=\"a \\\"b\\\" c\"\nSINGLE='x y'\nINLINE=value # note\nEMPTY=\n",
                               "f.env")
                    .vars;
    CHECK(vars.at("S3_BUCKET_NAME") == "my-bucket");
    CHECK(vars.at("S3_BACKUP_PREFIX") == "node1/");
    CHECK(vars.at("QUOTED") == "a \"b\" c");
    CHECK(vars.at("SINGLE") == "x y");
    CHECK(vars.at("INLINE") == "value # note");  // systemd has no inline comments
    CHECK(vars.at("EMPTY").empty());
    CHECK_THROWS_WITH(parse_env_file("A=1\nno equals SECRET\n", "f.env"),
                      Catch::Contains("f.env line 2") && !Catch::Contains("SECRET"));
    CHECK_THROWS_WITH(parse_env_file("1BAD=x\n", "f.env"), Catch::Contains("not a valid variable name"));
    CHECK_THROWS_WITH(parse_env_file("A=\"open\n", "f.env"), Catch::Contains("unterminated"));
}

TEST_CASE("The env file is read under the real environment and the flags", "[unit][config]") {
    auto path = std::filesystem::temp_directory_path() / ("scb-env-" + std::to_string(::getpid()));
    std::ofstream(path) << "S3_BUCKET_NAME=file-bucket\nS3_BACKUP_PREFIX=file/\nAWS_REGION=ap-south-1\n";
    auto r = parse_args({"--env-file", path.string(), "--prefix", "flag/"}, {{"AWS_REGION", "us-west-1"}});
    CHECK(r.values.bucket == "file-bucket");
    CHECK(r.values.prefix == "flag/");
    CHECK(r.values.endpoint.region == "us-west-1");
    CHECK(layered_env(fake_env({}), r.values.env_file_vars)("S3_BUCKET_NAME") == "file-bucket");
    std::filesystem::remove(path);
    CHECK_THROWS_WITH(parse_args({"--env-file", path.string()}, {}), Catch::Contains("--env-file"));
}

TEST_CASE("durations are shown as a person writes them in a setting", "[config]") {
    using scb::format_duration;
    using namespace std::chrono_literals;
    CHECK(format_duration(5min) == "5m");
    CHECK(format_duration(1s) == "1s");
    CHECK(format_duration(250ms) == "250ms");
    CHECK(format_duration(1500ms) == "1500ms");
    CHECK(format_duration(2h) == "2h");
    CHECK(format_duration(90s) == "90s");
    CHECK(format_duration(0ms) == "0s");
    for (std::chrono::milliseconds d : {std::chrono::milliseconds(5min), 250ms, 1500ms, std::chrono::milliseconds(2h), std::chrono::milliseconds(90s)})
        CHECK(scb::config::parse_duration(format_duration(d)) == d);
}
