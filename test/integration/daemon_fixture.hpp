#pragma once
// Test support for driving the real scb-backup binary: a local S3, an lnd-like folder, a spool.
#include "child_process.hpp"
#include "crypto/hash.hpp"
#include "lnd_simulator.hpp"
#include "s3_environment.hpp"
#include "spool/spool.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace scb::test {

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns its last value.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
}

/// The whole content of a file ("" when it cannot be read).
inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// The binary under test: this build's, or SCB_TEST_BINARY (to show that a new test fails on an
/// older build: `SCB_TEST_BINARY=/old/build/app/scb-backup integration_tests "[trust]"`).
inline std::string backup_executable() {
    const char* other = std::getenv("SCB_TEST_BINARY");
    return other && *other ? other : SCB_BACKUP_EXECUTABLE;
}

/// faketime(1) from PATH, or empty with `why_not` set when a test cannot run under it: not installed
/// (deploy/setup.sh installs it), or a sanitizer build (libfaketime is an LD_PRELOAD library and the
/// sanitizer runtimes refuse to start behind one; the Release suite runs those tests).
inline std::string faketime_program(std::string& why_not) {
#ifdef SCB_SANITIZED
    why_not = "a sanitizer build cannot run under faketime (LD_PRELOAD): test skipped; the Release suite runs it";
    return {};
#else
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        const std::filesystem::path p = std::filesystem::path(dir) / "faketime";
        if (!dir.empty() && ::access(p.c_str(), X_OK) == 0) return p.string();
    }
    why_not = "faketime is not installed (apt-get install faketime, or deploy/setup.sh): test skipped";
    return {};
#endif
}

/// Variables of the machine's own environment that must not leak into the binary under test.
inline std::vector<std::string> foreign_variables() {
    return {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_REGION",
            "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE",
            "AWS_SHARED_CREDENTIALS_FILE", "S3_BUCKET_NAME", "S3_BACKUP_PREFIX", "MONITOR_FILE_PATH",
            "BACKUP_DIRECTORY", "S3_ADDRESSING_STYLE", "JOURNAL_STREAM", "NOTIFY_SOCKET", "STATE_DIRECTORY",
            "SCB_TEST_BINARY", "SCB_PROXY", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
            "no_proxy"};
}

struct daemon_fixture {
    explicit daemon_fixture(bool tls = false) : s3(tls), lnd(dir.path() + "/lnd/data/chain/bitcoin/regtest") {}

    s3_environment s3;
    temp_dir dir;
    lnd_simulator lnd;
    std::string spool = dir.path() + "/spool";
    std::string prefix = "node1/";

    /// The binary's environment: the local S3, this fixture's file and spool, fast retries.
    std::vector<std::string> env(bool use_tls = false) const {
        auto e = s3.daemon_env(use_tls);
        e.push_back("MONITOR_FILE_PATH=" + lnd.file().string());
        e.push_back("BACKUP_DIRECTORY=" + spool);
        e.push_back("S3_BACKUP_PREFIX=" + prefix);
        e.push_back("SCB_RETRY_MIN=100ms");
        e.push_back("SCB_RETRY_MAX=400ms");
        e.push_back("SCB_CONNECT_TIMEOUT=2s");
        e.push_back("SCB_REQUEST_TIMEOUT=5s");
        return e;
    }

    std::unique_ptr<child_process> start(std::vector<std::string> args = {"run"}, std::vector<std::string> extra_env = {},
                                         bool use_tls = false) const {
        std::vector<std::string> argv{backup_executable()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto e = env(use_tls);
        e.insert(e.end(), extra_env.begin(), extra_env.end());
        return std::make_unique<child_process>(argv, e, foreign_variables());
    }

    run_result run_once(std::vector<std::string> args = {"once"}, std::vector<std::string> extra_env = {}) const {
        std::vector<std::string> argv{backup_executable()};
        argv.insert(argv.end(), args.begin(), args.end());
        auto e = env();
        e.insert(e.end(), extra_env.begin(), extra_env.end());
        return run(argv, e, std::chrono::seconds(60), foreign_variables());
    }

    /// Objects under the prefix: [{key,size,sha256}].
    nlohmann::json objects() {
        nlohmann::json out = nlohmann::json::array();
        for (auto& o : s3.objects())
            if (o["key"].get<std::string>().rfind(prefix, 0) == 0) out.push_back(o);
        return out;
    }

    std::size_t count_with_sha(const std::string& content) {
        const auto sha = crypto::sha256_hex(content);
        std::size_t n = 0;
        for (auto& o : objects()) n += o["sha256"] == sha;
        return n;
    }

    /// Waits until an object with exactly this content is in the bucket.
    bool wait_for_content(const std::string& content, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            if (count_with_sha(content) > 0) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }

    /// Complete spooled versions (channel-*.backup, no temporary files).
    std::size_t spooled_versions() const {
        std::size_t n = 0;
        std::error_code ec;
        for (auto it = std::filesystem::directory_iterator(spool, ec); !ec && it != std::filesystem::directory_iterator();
             it.increment(ec))
            n += it->path().extension() == ".backup";
        return n;
    }

    /// Makes the front fail the next `count` PUTs of versions (keys with "/channel-") as `kind`.
    void arm_fault(const std::string& kind, int count) {
        nlohmann::json spec{{"count", count}, {"kind", kind}, {"match", "/channel-"}};
        s3.control("POST", "/faults", spec.dump());
    }

    /// True once the front has applied a fault of `kind` to a request (e.g. holds a stalled PUT).
    bool front_applied(const std::string& kind) {
        for (auto& r : s3.requests())
            if (r["fault"] == kind) return true;
        return false;
    }

    /// Every file in the spool folder but its lock file (temporary files count).
    std::size_t spool_files() const {
        std::size_t n = 0;
        std::error_code ec;
        for (auto it = std::filesystem::directory_iterator(spool, ec); !ec && it != std::filesystem::directory_iterator();
             it.increment(ec))
            n += it->path().filename() != scb::spool::lock_file_name;
        return n;
    }
};

/// Runs the binary with the node's clock `offset` ("+365d") from the real one; S3's stays right.
inline run_result run_with_clock(const daemon_fixture& f, const std::string& faketime, const std::string& offset,
                          std::vector<std::string> args) {
    std::vector<std::string> argv{faketime, "-m", "-f", offset, backup_executable()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto env = f.env();
    env.push_back("DONT_FAKE_MONOTONIC=1");  // only the wall clock is wrong, as on a real node
    return run(argv, env, std::chrono::seconds(60), foreign_variables());
}

}  // namespace scb::test
