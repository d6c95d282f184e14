// Several destinations on the real binary: two real S3 servers (each s3rver behind its verifying
// front) and a local folder. Every version reaches all three; one S3 down, refusing its
// credentials or killed with the daemon never delays the others; the spool keeps a version until
// every destination has it, and after a SIGKILL a leftover goes only where it is missing.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <sys/stat.h>

using namespace scb::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// The daemon's /healthz port, from its start-up line.
int health_port(child_process& d) {
    const std::string marker = "health endpoint listening on http://127.0.0.1:";
    REQUIRE(d.wait_for_stderr(marker, 10s));
    const auto log = d.stderr_text();
    return std::atoi(log.c_str() + log.find(marker) + marker.size());
}

/// The fixture's S3 (first destination, named after its bucket) plus a second S3 ("second") and a
/// folder ("usb") on a "mounted disk" folder of its own.
struct three_destinations {
    daemon_fixture f{false};
    s3_environment second{false};
    temp_dir disk;
    fs::path folder = fs::path(disk.path()) / "scb";
    std::string credentials_file = disk.path() + "/credentials";

    three_destinations() { fs::create_directory(folder); }

    /// SCB_DESTINATIONS for the second S3 (profile: its own keys, or wrong ones) and the folder.
    std::vector<std::string> env(const std::string& profile = "second", std::vector<std::string> more = {}) const {
        std::ofstream(credentials_file) << "[second]\naws_access_key_id = " << second.access_key
                                        << "\naws_secret_access_key = " << second.secret_key
                                        << "\n[wrong]\naws_access_key_id = " << second.access_key
                                        << "\naws_secret_access_key = not-the-secret\n";
        more.push_back("SCB_DESTINATIONS=s3://" + second.bucket + "/node1/?endpoint=" + second.http_url() +
                       "&region=" + second.region + "&profile=" + profile + "&name=second file://" + folder.string() +
                       "/?name=usb");
        more.push_back("AWS_SHARED_CREDENTIALS_FILE=" + credentials_file);
        return more;
    }

    bool in_second(const std::string& content) {
        const auto sha = scb::crypto::sha256_hex(content);
        for (auto& o : second.objects())
            if (o["sha256"] == sha && o["key"].get<std::string>().rfind("node1/", 0) == 0) return true;
        return false;
    }
    bool in_folder(const std::string& content) const {
        std::error_code ec;
        for (auto it = fs::directory_iterator(folder, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
            if (it->path().extension() == ".backup" && slurp(it->path()) == content) return true;
        return false;
    }
    /// lnd's file at version 1, then the daemon with /healthz (stale after 1 s); `port` is set.
    std::unique_ptr<child_process> start_with_health(const std::string& profile, int& port) const {
        f.lnd.swap(lnd_simulator::content(1));
        auto d = f.start({"run"}, env(profile, {"SCB_LISTEN=127.0.0.1:0", "SCB_STALE_AFTER=1s"}));
        port = health_port(*d);
        return d;
    }

    bool everywhere(const std::string& content) {
        return f.count_with_sha(content) > 0 && in_second(content) && in_folder(content);
    }
};

/// Polls until /healthz answers 503 naming `destination`; the last answer's body is kept.
bool unhealthy_naming(int port, const std::string& destination, std::string* body) {
    return eventually([&] {
        const auto h = http_call(port, "GET", "/healthz");
        *body = h.body;
        return h.status == 503 && h.body.find("destination " + destination) != std::string::npos;
    });
}

}  // namespace

TEST_CASE("Every version reaches both S3 servers and the folder; the spool empties", "[integration][destinations]") {
    three_destinations t;
    t.f.lnd.swap(lnd_simulator::content(1));
    auto d = t.f.start({"run"}, t.env());
    REQUIRE(eventually([&] { return t.everywhere(lnd_simulator::content(1)); }));
    for (int i = 2; i <= 4; ++i) {
        t.f.lnd.swap(lnd_simulator::content(i));
        REQUIRE(eventually([&] { return t.everywhere(lnd_simulator::content(i)); }));
    }
    CHECK(eventually([&] { return t.f.spooled_versions() == 0; }));
    // The folder's copies are private, like the spool's.
    for (const auto& e : fs::directory_iterator(t.folder)) {
        struct stat st {};
        REQUIRE(::stat(e.path().c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
    }
    const auto log = d->stderr_text();
    CHECK(log.find("second: uploaded node1/channel-") != std::string::npos);
    CHECK(log.find("usb: uploaded channel-") != std::string::npos);
    d->signal(SIGTERM);
    CHECK(d->wait(10s) == 0);
}

TEST_CASE("One S3 down: the others get each newest version at once, the spool holds what it lacks, health names "
          "it; back up, it gets the newest and the spool empties", "[integration][destinations]") {
    three_destinations t;
    int port = 0;
    auto d = t.start_with_health("second", port);
    REQUIRE(eventually([&] { return t.everywhere(lnd_simulator::content(1)); }));

    t.second.stop();
    for (int i = 2; i <= 4; ++i) {
        t.f.lnd.swap(lnd_simulator::content(i));
        // The healthy ones get it while the dead one is retried.
        REQUIRE(t.f.wait_for_content(lnd_simulator::content(i), 5s));
        REQUIRE(eventually([&] { return t.in_folder(lnd_simulator::content(i)); }, 5s));
    }
    REQUIRE(eventually([&] { return t.f.spooled_versions() >= 1; }));
    std::string health;
    REQUIRE(unhealthy_naming(port, "second", &health));
    CHECK(health.find("destination usb") == std::string::npos);

    t.second.restart();
    REQUIRE(eventually([&] { return t.in_second(lnd_simulator::content(4)); }, 30s));
    CHECK(eventually([&] { return t.f.spooled_versions() == 0; }));
    CHECK(eventually([&] { return http_call(port, "GET", "/healthz").status == 200; }));
    const auto metrics = http_call(port, "GET", "/metrics").body;
    CHECK(metrics.find("scb_backup_destination_current{destination=\"second\"} 1") != std::string::npos);
    d->signal(SIGTERM);
    CHECK(d->wait(10s) == 0);
}

TEST_CASE("Credentials refused by one destination do not hold back the others", "[integration][destinations]") {
    three_destinations t;
    int port = 0;
    auto d = t.start_with_health("wrong", port);
    REQUIRE(t.f.wait_for_content(lnd_simulator::content(1)));
    REQUIRE(eventually([&] { return t.in_folder(lnd_simulator::content(1)); }));
    t.f.lnd.swap(lnd_simulator::content(2));
    REQUIRE(t.f.wait_for_content(lnd_simulator::content(2)));
    REQUIRE(eventually([&] { return t.in_folder(lnd_simulator::content(2)); }));
    CHECK_FALSE(t.in_second(lnd_simulator::content(2)));
    CHECK(d->wait_for_stderr("second: upload failed", 10s));
    std::string health;
    CHECK(unhealthy_naming(port, "second", &health));
    CHECK(t.f.spooled_versions() >= 1);  // kept for the one that lacks it
    d->signal(SIGTERM);
    CHECK(d->wait(10s) == 0);
}

TEST_CASE("SIGKILL during one destination's outage: after the restart the leftover goes only where it is missing",
          "[integration][destinations]") {
    three_destinations t;
    t.f.lnd.swap(lnd_simulator::content(1));
    auto d = t.f.start({"run"}, t.env());
    REQUIRE(eventually([&] { return t.everywhere(lnd_simulator::content(1)); }));
    t.second.stop();
    t.f.lnd.swap(lnd_simulator::content(2));
    REQUIRE(t.f.wait_for_content(lnd_simulator::content(2)));
    REQUIRE(eventually([&] { return t.in_folder(lnd_simulator::content(2)); }));
    REQUIRE(eventually([&] { return t.f.spooled_versions() == 1; }));
    // The record says who has it (written before the copy could be needed after a crash).
    REQUIRE(eventually([&] { return fs::exists(fs::path(t.f.spool) / "confirmed.json"); }));
    std::string leftover;
    for (const auto& e : fs::directory_iterator(t.f.spool))
        if (e.path().extension() == ".backup") leftover = e.path().filename().string();
    REQUIRE(!leftover.empty());
    d->signal(SIGKILL);
    REQUIRE(d->wait(10s));

    t.second.restart();
    auto again = t.f.start({"run"}, t.env());
    REQUIRE(eventually([&] { return t.in_second(lnd_simulator::content(2)); }, 30s));
    REQUIRE(again->wait_for_stderr("second: uploaded node1/" + leftover, 20s));
    CHECK(eventually([&] { return t.f.spooled_versions() == 0; }));
    const auto log = again->stderr_text();
    CHECK(log.find("1 version(s) left in the spool by an earlier run for second") != std::string::npos);
    CHECK(log.find("usb: uploaded " + leftover) == std::string::npos);
    CHECK(log.find(t.f.s3.bucket + ": uploaded node1/" + leftover) == std::string::npos);
    // The primary saw exactly one PUT of that name: the one before the kill.
    int puts = 0;
    for (auto& r : t.f.s3.requests())
        puts += r["method"] == "PUT" && r["path"].get<std::string>().find(leftover) != std::string::npos;
    CHECK(puts == 1);
    again->signal(SIGTERM);
    CHECK(again->wait(10s) == 0);
}

TEST_CASE("A folder destination whose mount point vanished is not recreated; the others go on; it catches up "
          "when it is back", "[integration][destinations]") {
    three_destinations t;
    int port = 0;
    auto d = t.start_with_health("second", port);
    REQUIRE(eventually([&] { return t.everywhere(lnd_simulator::content(1)); }));

    fs::remove_all(t.folder);  // the disk is unplugged
    t.f.lnd.swap(lnd_simulator::content(2));
    REQUIRE(t.f.wait_for_content(lnd_simulator::content(2)));
    REQUIRE(eventually([&] { return t.in_second(lnd_simulator::content(2)); }));
    REQUIRE(d->wait_for_stderr("usb: upload failed", 10s));
    CHECK(d->stderr_text().find("is the disk mounted?") != std::string::npos);
    std::string health;
    CHECK(unhealthy_naming(port, "usb", &health));
    CHECK_FALSE(fs::exists(t.folder));  // never made again on the root file system

    fs::create_directory(t.folder);  // plugged in again
    CHECK(eventually([&] { return t.in_folder(lnd_simulator::content(2)); }, 30s));
    CHECK(eventually([&] { return t.f.spooled_versions() == 0; }));
    d->signal(SIGTERM);
    CHECK(d->wait(10s) == 0);
}

TEST_CASE("A stalled destination delays neither the start nor the other destinations (bench finding)",
          "[integration][destinations]") {
    three_destinations t;
    // The second S3 accepts every request and never answers: its clock probe too.
    t.second.control("POST", "/faults", nlohmann::json{{"count", 1000}, {"kind", "stall"}, {"match", "/"}}.dump());
    t.f.lnd.swap(lnd_simulator::content(1));
    // A request timeout far longer than the waits below: waiting for the stalled one would show.
    auto d = t.f.start({"run"}, t.env("second", {"SCB_REQUEST_TIMEOUT=120s"}));
    CHECK(t.f.wait_for_content(lnd_simulator::content(1), 15s));
    CHECK(eventually([&] { return t.in_folder(lnd_simulator::content(1)); }, 15s));
    t.f.lnd.swap(lnd_simulator::content(2));
    CHECK(t.f.wait_for_content(lnd_simulator::content(2), 15s));
    CHECK(eventually([&] { return t.in_folder(lnd_simulator::content(2)); }, 15s));
    d->signal(SIGTERM);
    CHECK(d->wait(30s));
}
