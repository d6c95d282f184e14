// `scb-backup check`: the real binary against the real local S3 (behind the SigV4 front), with
// setups that work and setups that do not.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

using namespace scb;
using namespace scb::test;
namespace fs = std::filesystem;

namespace {

/// The first line of `text` that contains `needle` ("" when none does).
std::string line_with(const std::string& text, const std::string& needle) {
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (l.find(needle) != std::string::npos) return l;
    return {};
}

std::size_t occurrences(const std::string& text, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
    return n;
}

run_result run_check(const daemon_fixture& f, std::vector<std::string> args = {}, std::vector<std::string> extra_env = {}) {
    args.insert(args.begin(), "check");
    return f.run_once(args, std::move(extra_env));
}

}  // namespace

TEST_CASE("check: a working setup shows every setting's origin with secrets masked, uploads and reads back", "[integration][check]") {
    daemon_fixture f;
    const auto content = lnd_simulator::content(1);
    f.lnd.swap(content);
    const std::string env_file = f.dir.path() + "/scb.env";
    std::ofstream(env_file) << "SCB_STALE_AFTER=7m\nSCB_LOG_LEVEL=warn\n";
    const std::string secret_path = "f2a9c3d1-ping-secret";
    auto r = run_check(f, {"--env-file", env_file, "--retry-max", "2s"},
                       {"SCB_HEARTBEAT_URL=https://hc-ping.example/" + secret_path, "SCB_LOG_LEVEL=info"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    // Where each value came from: flag, environment (which wins over the env file), env file, default.
    CHECK(line_with(r.out, "SCB_RETRY_MAX=2s").find("(--retry-max)") != std::string::npos);
    CHECK(line_with(r.out, "MONITOR_FILE_PATH=" + f.lnd.file().string()).find("(environment)") != std::string::npos);
    CHECK(line_with(r.out, "SCB_LOG_LEVEL=info").find("(environment)") != std::string::npos);
    CHECK(line_with(r.out, "SCB_STALE_AFTER=7m").find("(env file " + env_file + ")") != std::string::npos);
    CHECK(line_with(r.out, "SCB_RECONCILE_INTERVAL=5m").find("(default)") != std::string::npos);
    // Secrets: the heartbeat URL's path, the secret key; the key id shows its last 4 characters only.
    CHECK(r.out.find(secret_path) == std::string::npos);
    CHECK(line_with(r.out, "SCB_HEARTBEAT_URL=https://hc-ping.example").find("hidden") != std::string::npos);
    CHECK(r.out.find(f.s3.secret_key) == std::string::npos);
    CHECK(r.err.find(f.s3.secret_key) == std::string::npos);
    CHECK(line_with(r.out, "AWS_SECRET_ACCESS_KEY=****").find("(environment)") != std::string::npos);
    CHECK(r.out.find(f.s3.access_key) == std::string::npos);
    // The checks, then a real upload of this content that was read back.
    CHECK(line_with(r.out, "ok       file: " + f.lnd.file().string()) != "");
    CHECK(line_with(r.out, "ok       watch:") != "");
    CHECK(line_with(r.out, "ok       spool:") != "");
    CHECK(line_with(r.out, "clock agrees") != "");
    CHECK(line_with(r.out, "back: the same SHA-256") != "");
    CHECK(f.count_with_sha(content) == 1);
    CHECK(line_with(r.out, "All well") != "");
}

TEST_CASE("check --no-upload: checks everything but leaves S3 untouched", "[integration][check]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(1));
    auto r = run_check(f, {"--no-upload"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(line_with(r.out, "skipped (--no-upload)").find("note") != std::string::npos);
    CHECK(f.objects().empty());
}

TEST_CASE("check: each problem gets one line with its fix, and exit 1", "[integration][check]") {
    daemon_fixture f;
    SECTION("no file yet") {
        auto r = run_check(f);
        INFO(r.out << r.err);
        CHECK(r.exit_code == 1);
        CHECK(line_with(r.out, "PROBLEM  file:") != "");
        CHECK(line_with(r.out, "1 problem(s) to fix") != "");
        CHECK(line_with(r.out, "- file:").find("-> start lnd once") != std::string::npos);
        CHECK(line_with(r.out, "upload skipped").find("note") != std::string::npos);
        CHECK(f.objects().empty());
    }
    SECTION("a wrong secret key") {
        f.lnd.swap(lnd_simulator::content(1));
        auto r = run_check(f, {}, {"AWS_SECRET_ACCESS_KEY=wrong-secret-key-0123456789"});
        INFO(r.out << r.err);
        CHECK(r.exit_code == 1);
        CHECK(line_with(r.out, "- scb-test").find("SignatureDoesNotMatch") != std::string::npos);
        CHECK(line_with(r.out, "- scb-test").find("docs/iam.md") != std::string::npos);
        CHECK(r.out.find("wrong-secret-key") == std::string::npos);
        CHECK(f.objects().empty());
    }
    SECTION("no answer from S3") {
        f.lnd.swap(lnd_simulator::content(1));
        auto r = run_check(f, {}, {"AWS_ENDPOINT_URL_S3=http://127.0.0.1:1"});
        INFO(r.out << r.err);
        CHECK(r.exit_code == 1);
        CHECK(line_with(r.out, "- scb-test").find("upload failed") != std::string::npos);
        CHECK(line_with(r.out, "- scb-test").find("check the endpoint") != std::string::npos);
    }
}

TEST_CASE("check: credentials that may upload but not read give a note, not a problem", "[integration][check]") {
    daemon_fixture f;
    const auto content = lnd_simulator::content(1);
    f.lnd.swap(content);
    nlohmann::json spec{{"count", 1}, {"kind", "denied"}, {"match", "/channel-"}, {"method", "GET"}};
    f.s3.control("POST", "/faults", spec.dump());
    auto r = run_check(f);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(line_with(r.out, "cannot read the upload back").find("note") != std::string::npos);
    CHECK(f.count_with_sha(content) == 1);
}

TEST_CASE("check and run as a user who may not read lnd's folder: the permission named once, with the fix", "[integration][check]") {
    if (::geteuid() != 0) {
        WARN("skipped: needs root to run the binary as another user");
        return;
    }
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(1));
    fs::permissions(f.lnd.file().parent_path(), fs::perms::owner_all);  // lnd's 0700 folder
    const fs::path spool = f.dir.path() + "/nobody-spool";
    fs::create_directory(spool);
    REQUIRE(::chown(spool.c_str(), 65534, 65534) == 0);
    fs::permissions(spool, fs::perms::owner_all);
    fs::permissions(f.dir.path(), fs::perms::owner_all | fs::perms::others_exec | fs::perms::group_exec);
    auto as_nobody = [&](std::vector<std::string> args) {
        std::vector<std::string> argv{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", backup_executable()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto env = f.env();
        env.push_back("BACKUP_DIRECTORY=" + spool.string());
        return run(argv, env, std::chrono::seconds(60), foreign_variables());
    };

    auto r = as_nobody({"check"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    const auto file_line = line_with(r.out, "PROBLEM  file:");
    CHECK(file_line != "");
    const auto watch_line = line_with(r.out, "PROBLEM  watch:");
    CHECK(occurrences(watch_line, "Permission denied") == 1);
    CHECK(watch_line.find("Letting the service read lnd's file") != std::string::npos);
    CHECK(line_with(r.out, "ok       spool:") != "");

    // The daemon: exit 71 with the same one line (it once said "Permission denied" twice).
    auto d = as_nobody({"run"});
    INFO(d.err);
    CHECK(d.exit_code == 71);
    const auto error_line = line_with(d.err, "cannot watch");
    CHECK(occurrences(error_line, "Permission denied") == 1);
    CHECK(occurrences(error_line, "cannot watch") == 1);
}

TEST_CASE("check: a clock minutes off is a problem, though the upload still works", "[integration][check]") {
    std::string why_not;
    const auto faketime = faketime_program(why_not);
    if (faketime.empty()) {
        WARN(why_not);
        return;
    }
    daemon_fixture f;
    const auto content = lnd_simulator::content(1);
    f.lnd.swap(content);
    auto r = run_with_clock(f, faketime, "+10m", {"check"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    CHECK(line_with(r.out, "- scb-test: this machine's clock is ").find(" min ") != std::string::npos);
    CHECK(line_with(r.out, "- scb-test: this machine's clock is ").find("ahead of") != std::string::npos);
    CHECK(line_with(r.out, "- scb-test").find("timedatectl set-ntp true") != std::string::npos);
    CHECK(f.count_with_sha(content) == 1);  // signed and named by S3's clock
}
