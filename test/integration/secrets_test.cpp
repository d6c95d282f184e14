// Secrets in the process: what another local user can read of the daemon (issue #13, "Secrets").
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sys/stat.h>

using namespace scb::test;

namespace {

/// The real uid of a process, from /proc (nullopt when it is gone).
std::optional<uid_t> process_uid(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("Uid:", 0) == 0) return static_cast<uid_t>(std::stoul(line.substr(4)));
    return std::nullopt;
}

}  // namespace

TEST_CASE("the daemon is not dumpable: its environment (which holds the AWS secret) is root's only", "[secrets]") {
    if (::geteuid() != 0) {
        WARN("skipped: needs root to start the daemon as another user");
        return;
    }
    temp_dir dir;
    std::filesystem::permissions(dir.path(), std::filesystem::perms::all);  // the other user makes its spool here
    constexpr uid_t nobody = 65534;
    // A daemon that keeps running: no S3 answers on port 1, so it retries until it is stopped.
    child_process daemon({"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", backup_executable(), "run"},
                         {"MONITOR_FILE_PATH=" + dir.path() + "/channel.backup", "BACKUP_DIRECTORY=" + dir.path() + "/spool",
                          "S3_BUCKET_NAME=scb-test", "AWS_ENDPOINT_URL_S3=http://127.0.0.1:1", "AWS_REGION=us-east-1",
                          "AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
                         foreign_variables());
    // setpriv has exec'd the daemon once the process runs as the other user and its log began.
    REQUIRE(eventually([&] { return process_uid(daemon.pid()) == nobody && !daemon.stderr_text().empty(); }));
    REQUIRE(daemon.running());
    struct stat st {};
    REQUIRE(::stat(("/proc/" + std::to_string(daemon.pid()) + "/environ").c_str(), &st) == 0);
    // A dumpable process's /proc files belong to its own user, who can read the secret from them
    // (and from a core dump); PR_SET_DUMPABLE 0 gives them to root.
    CHECK(st.st_uid == 0);
    daemon.signal(SIGTERM);
    const bool ended = daemon.wait(std::chrono::seconds(20)).has_value();
    INFO(daemon.stderr_text());
    CHECK(ended);  // a SIGTERM during the start-up HEAD was once lost here (consumed by a cancelled wait)
}
