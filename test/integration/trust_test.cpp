// The trust issue's defects, each through the real binary: a spool folder that vanishes, a PUT
// aborted on a reused connection, a reconcile that runs when it should (and never at shutdown),
// the shutdown count, SIGHUP and SIGPIPE, a spool shared by two processes, restarts in an outage.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fcntl.h>
#include <fstream>
#include <regex>
#include <sys/stat.h>
#include <unistd.h>

using namespace scb::test;
using namespace std::chrono_literals;

namespace {

/// Rewrites the file's bytes in place through a hard link in another folder: inotify on the file's
/// own folder reports nothing, so only the periodic check can find this version.
void write_unseen(const std::filesystem::path& link, const std::string& content) {
    int fd = ::open(link.c_str(), O_WRONLY | O_TRUNC);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    ::fsync(fd);
    ::close(fd);
}

/// "stopped; N version(s) wait in the spool" -> N.
int stopped_count(const std::string& log) {
    std::smatch m;
    static const std::regex re("stopped; ([0-9]+) version");
    return std::regex_search(log, m, re) ? std::stoi(m[1]) : -1;
}

}  // namespace

TEST_CASE("Trust: the spool folder vanishing during an outage does not end the process (defect 1)",
          "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start({"run", "--retry-min", "200ms", "--retry-max", "400ms"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));

    f.arm_fault("status500", 1000);  // S3 down
    std::filesystem::remove_all(f.spool);
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    REQUIRE(d->wait_for_stderr("upload failed (attempt 1)", 20s));
    // The copy is written once the folder is back: recreated private, with the version in it.
    REQUIRE(eventually([&] { return f.spooled_versions() == 1; }));
    struct stat st {};
    REQUIRE(::stat(f.spool.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(d->running());

    f.s3.control("DELETE", "/faults");
    REQUIRE(f.wait_for_content(v1));
    CHECK(eventually([&] { return f.spooled_versions() == 0; }));
    CHECK(d->running());
    INFO(d->stderr_text());
    CHECK_THAT(d->stderr_text(), !Catch::Contains("terminate called"));
}

namespace {

/// Once the front holds a stalled request: SIGTERM, which must end the daemon within `within` with
/// exit 0; then the server ends the stalled request. Returns the daemon's log.
std::string stop_while_stalled(daemon_fixture& f, child_process& d, std::chrono::milliseconds within) {
    REQUIRE(eventually([&] { return f.front_applied("stall"); }));
    d.signal(SIGTERM);
    auto code = d.wait(within);
    f.s3.control("POST", "/outage/start");  // end the stalled request on the server side
    REQUIRE(code);
    auto log = d.stderr_text();
    INFO(log);
    CHECK(*code == 0);
    return log;
}

}  // namespace

TEST_CASE("Trust: SIGTERM aborts a PUT stalled on a reused connection cleanly (defect 3)", "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start({"run", "--shutdown-timeout", "300ms", "--request-timeout", "60s"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));  // the connection now kept alive
    f.arm_fault("stall", 1);
    f.lnd.swap(lnd_simulator::content(1));  // its PUT goes out on the reused connection and stalls
    const auto log = stop_while_stalled(f, *d, 30s);
    INFO(log);
    CHECK_THAT(log, Catch::Contains("aborted at shutdown"));
    CHECK_THAT(log, !Catch::Contains("the uploader stopped") && !Catch::Contains("internal error"));
    CHECK(f.spooled_versions() == 1);
}

TEST_CASE("Trust: SIGTERM while the start-up clock HEAD hangs stops at once (not after its timeouts)",
          "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    f.s3.control("POST", "/faults", R"({"count":1,"kind":"stall","match":"clock-probe"})");  // the clock HEAD
    auto d = f.start({"run", "--connect-timeout", "60s", "--request-timeout", "60s"});
    const auto log = stop_while_stalled(f, *d, 15s);  // far below the 60 s the HEAD could otherwise hold the stop
    INFO(log);
    CHECK_THAT(log, Catch::Contains("stopped before the first upload"));
    CHECK(f.objects().empty());
}

TEST_CASE("Trust: the periodic check runs every interval however busy the watch is (defect 5)",
          "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    temp_dir other;
    const auto link = std::filesystem::path(other.path()) / "hard-link";
    std::filesystem::create_hard_link(f.lnd.file(), link);
    auto d = f.start({"run", "--reconcile-interval", "1s"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));

    const auto hidden = lnd_simulator::content(1);
    write_unseen(link, hidden);
    // lnd closing its temp file every 200 ms wakes the watch loop without a new version of the
    // file; a check re-armed at every wake-up would never run.
    bool found = false;
    for (int i = 0; i < 100 && !found; ++i) {
        f.lnd.write_temp(lnd_simulator::content(2));
        std::this_thread::sleep_for(200ms);
        found = f.count_with_sha(hidden) == 1;
    }
    INFO(d->stderr_text());
    CHECK(found);
    CHECK_THAT(d->stderr_text(), Catch::Contains("new version (reconcile)"));
}

TEST_CASE("Trust: stopping never runs a reconcile (defect 5)", "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    temp_dir other;
    const auto link = std::filesystem::path(other.path()) / "hard-link";
    std::filesystem::create_hard_link(f.lnd.file(), link);
    auto d = f.start({"run", "--reconcile-interval", "1h"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    write_unseen(link, lnd_simulator::content(1));  // a change only a reconcile would find
    d->signal(SIGTERM);
    auto code = d->wait(20s);
    REQUIRE(code);
    CHECK(*code == 0);
    INFO(d->stderr_text());
    CHECK_THAT(d->stderr_text(), !Catch::Contains("(reconcile)"));
}

TEST_CASE("Trust: the shutdown line counts the spool after its last write (defect 6)", "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    f.arm_fault("stall", 1);
    // Stopped while the first PUT stalls, before its copy was due: the copy is written at shutdown.
    auto d = f.start({"run", "--shutdown-timeout", "0s", "--request-timeout", "60s"});
    REQUIRE(eventually([&] { return f.front_applied("stall"); }));
    d->signal(SIGTERM);
    REQUIRE(d->wait(20s));
    f.s3.control("POST", "/outage/start");
    const auto log = d->stderr_text();
    INFO(log);
    CHECK(f.spooled_versions() == 1);
    CHECK(stopped_count(log) == 1);
}

TEST_CASE("Trust: SIGHUP is logged and the daemon goes on (defect 10)", "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    d->signal(SIGHUP);
    REQUIRE(d->wait_for_stderr("received SIGHUP", 10s));
    CHECK_THAT(d->stderr_text(), Catch::Contains("restart it to apply new settings"));
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    CHECK(f.wait_for_content(v1));
    CHECK(d->running());
}

TEST_CASE("Trust: a log reader that goes away does not kill the daemon (defect 10, SIGPIPE)", "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    // `scb-backup run 2>&1 | head -c 1`: the reader exits after one byte; every later log line
    // meets a closed pipe.
    const std::string cmd = "exec \"$0\" run 2>&1 | head -c 1 >/dev/null; sleep 60";
    std::vector<std::string> argv{"/bin/sh", "-c", cmd, backup_executable()};
    auto e = f.env();
    child_process sh(argv, e, foreign_variables());
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    for (int i = 1; i <= 3; ++i) {  // each version logs several lines into the closed pipe
        const auto v = lnd_simulator::content(i);
        f.lnd.swap(v);
        REQUIRE(f.wait_for_content(v));
    }
    CHECK(::system(("pkill -TERM -P " + std::to_string(sh.pid())).c_str()) == 0);  // the daemon was still there
}

TEST_CASE("Trust: one process owns the spool; once beside it uploads from memory (defect 12)", "[integration][trust]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));

    // A second daemon on the same spool refuses to start, with its own exit code.
    auto second = f.run_once({"run"});
    INFO(second.err);
    CHECK(second.exit_code == 75);
    CHECK_THAT(second.err, Catch::Contains("another scb-backup process"));

    // `once` (cron) beside it: uploads without the spool and leaves the folder to the daemon.
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    auto once = f.run_once();
    INFO(once.err);
    CHECK(once.exit_code == 0);
    CHECK_THAT(once.err, Catch::Contains("without a spool"));
    CHECK(f.wait_for_content(v1));
    CHECK(f.spool_files() == 0);  // nothing of once's in the daemon's folder
    CHECK(d->running());
}

TEST_CASE("Trust: restarts during an outage collapse copies of one content into one upload (defect 13)",
          "[integration][trust]") {
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    f.arm_fault("status500", 100000);
    for (int i = 0; i < 3; ++i) {
        auto d = f.start({"run", "--retry-min", "5s", "--retry-max", "5s"});
        REQUIRE(d->wait_for_stderr("upload failed (attempt 1)", 20s));
        d->signal(SIGTERM);
        REQUIRE(d->wait(20s));
    }
    REQUIRE(f.spooled_versions() >= 1);
    f.s3.control("DELETE", "/faults");
    auto d = f.start();
    REQUIRE(f.wait_for_content(v0));
    REQUIRE(eventually([&] { return f.spooled_versions() == 0; }));
    INFO(d->stderr_text());
    CHECK(f.count_with_sha(v0) == 1);
}
