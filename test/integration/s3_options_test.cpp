// Operator S3 options (integrity headers, SSE, storage class, Object Lock, latest key) are sent,
// signed and accepted; the heartbeat pings only while everything is in S3.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <thread>

using namespace scb::test;
using namespace std::chrono_literals;

namespace {

/// The last PUT of an object the front saw, with its headers.
nlohmann::json last_put(s3_environment& s3) {
    nlohmann::json found;
    for (auto& r : s3.requests())
        if (r["method"] == "PUT") found = r;
    return found;
}

std::string signed_headers(const nlohmann::json& request) {
    const auto auth = request["headers"]["authorization"].get<std::string>();
    const auto from = auth.find("SignedHeaders=") + 14;
    return auth.substr(from, auth.find(',', from) - from);
}

/// A loopback HTTP server that answers 200 to everything and counts the requests: the
/// dead man's switch service.
class ping_server {
public:
    ping_server() {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(fd_, 16);
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~ping_server() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    int port() const { return port_; }
    int count() const { return count_; }
    /// Time since the last ping (or since the server started, before the first).
    std::chrono::steady_clock::duration since_last() const {
        return std::chrono::steady_clock::now() - std::chrono::steady_clock::time_point(last_.load());
    }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0) continue;
            char buf[4096];
            std::string req;
            while (req.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = ::read(c, buf, sizeof buf);
                if (n <= 0) break;
                req.append(buf, static_cast<std::size_t>(n));
            }
            if (req.rfind("GET /ping-check-id", 0) == 0) {
                last_ = std::chrono::steady_clock::now().time_since_epoch();
                ++count_;
            }
            const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK";
            (void)!::write(c, answer, sizeof answer - 1);
            ::close(c);
        }
    }
    int fd_ = -1, port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> count_{0};
    std::atomic<std::chrono::steady_clock::duration> last_{std::chrono::steady_clock::now().time_since_epoch()};
    std::thread thread_;
};

}  // namespace

TEST_CASE("The checksum setting chooses the integrity headers of each PUT", "[integration][options]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(1));
    for (const std::string mode : {"both", "md5", "sha256", "none"}) {
        CAPTURE(mode);
        f.s3.control("DELETE", "/requests");
        auto r = f.run_once({"once", "--checksum", mode});
        REQUIRE(r.exit_code == 0);
        const auto put = last_put(f.s3);
        const bool md5 = put["headers"].contains("content-md5");
        const bool sha = put["headers"].contains("x-amz-checksum-sha256");
        CHECK(md5 == (mode == "both" || mode == "md5"));
        CHECK(sha == (mode == "both" || mode == "sha256"));
        if (md5) CHECK_THAT(signed_headers(put), Catch::Contains("content-md5"));
    }
}

TEST_CASE("SSE, storage class and Object Lock headers are signed and accepted", "[integration][options]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(2));
    f.s3.control("DELETE", "/requests");
    auto r = f.run_once({"once", "--sse", "AES256", "--storage-class", "STANDARD_IA", "--object-lock-mode",
                         "GOVERNANCE", "--object-lock-days", "30"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(f.count_with_sha(lnd_simulator::content(2)) == 1);
    const auto put = last_put(f.s3);
    const auto& h = put["headers"];
    CHECK(h["x-amz-server-side-encryption"] == "AES256");
    CHECK(h["x-amz-storage-class"] == "STANDARD_IA");
    CHECK(h["x-amz-object-lock-mode"] == "GOVERNANCE");
    CHECK(h["x-amz-object-lock-retain-until-date"].get<std::string>().size() == 20);  // 2026-12-25T07:00:00Z
    const auto sh = signed_headers(put);
    for (const char* name : {"x-amz-server-side-encryption", "x-amz-storage-class", "x-amz-object-lock-mode",
                             "x-amz-object-lock-retain-until-date"})
        CHECK_THAT(sh, Catch::Contains(name));

    auto kms = f.run_once({"once", "--sse", "aws:kms", "--sse-kms-key-id", "alias/scb"});
    CHECK(kms.exit_code == 0);
    CHECK(last_put(f.s3)["headers"]["x-amz-server-side-encryption-aws-kms-key-id"] == "alias/scb");
}

TEST_CASE("Bad S3 option combinations exit 64 naming the flags", "[integration][options]") {
    daemon_fixture f;
    CHECK_THAT(f.run_once({"once", "--sse", "rot13"}).err, Catch::Contains("--sse"));
    CHECK(f.run_once({"once", "--object-lock-mode", "GOVERNANCE"}).exit_code == 64);
    CHECK_THAT(f.run_once({"once", "--object-lock-mode", "COMPLIANCE", "--object-lock-days", "3", "--checksum", "none"}).err,
               Catch::Contains("--checksum"));
    CHECK_THAT(f.run_once({"once", "--sse-kms-key-id", "k"}).err, Catch::Contains("--sse aws:kms"));
    CHECK_THAT(f.run_once({"once", "--heartbeat-url", "ftp://x"}).err, Catch::Contains("--heartbeat-url"));
}

TEST_CASE("A latest key also keeps the newest version under one stable key", "[integration][options]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(1));
    auto d = f.start({"run", "--latest-key", "latest/channel.backup"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(1)));
    f.lnd.swap(lnd_simulator::content(2));
    REQUIRE(f.wait_for_content(lnd_simulator::content(2)));
    REQUIRE(d->wait_for_stderr("updated node1/latest/channel.backup to channel-", 10s));
    const auto sha2 = scb::crypto::sha256_hex(lnd_simulator::content(2));
    // The stable key holds the newest content, not the first.
    CHECK(eventually([&] {
        for (const auto& o : f.s3.objects())
            if (o["key"] == "node1/latest/channel.backup" && o["sha256"] == sha2) return true;
        return false;
    }, 5s));
}

TEST_CASE("once with a latest key also writes the stable key (cron users have no daemon to do it)",
          "[integration][options]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(7));
    auto r = f.run_once({"once", "--latest-key", "latest/channel.backup"});
    REQUIRE(r.exit_code == 0);
    const auto sha = scb::crypto::sha256_hex(lnd_simulator::content(7));
    bool stable = false;
    for (const auto& o : f.s3.objects())
        if (o["key"] == "node1/latest/channel.backup" && o["sha256"] == sha) stable = true;
    CHECK(stable);
    CHECK(r.err.find("updated node1/latest/channel.backup to channel-") != std::string::npos);
}

TEST_CASE("The heartbeat is sent while healthy, stops once the newest version has not reached S3 for "
          "--stale-after, and resumes when it has", "[integration][options]") {
    daemon_fixture f;
    ping_server pings;
    f.lnd.swap(lnd_simulator::content(1));
    // Pings every 300 ms; unhealthy once the newest version has waited 3 s for S3 (ten intervals).
    auto d = f.start({"run", "--heartbeat-url", "http://127.0.0.1:" + std::to_string(pings.port()) + "/ping-check-id",
                      "--heartbeat-interval", "300ms", "--stale-after", "3s", "--listen", "127.0.0.1:0"});
    const std::string marker = "health endpoint listening on http://127.0.0.1:";
    REQUIRE(d->wait_for_stderr(marker, 10s));
    const auto log = d->stderr_text();
    const int health_port = std::atoi(log.c_str() + log.find(marker) + marker.size());
    REQUIRE(health_port > 0);
    auto healthz = [&] { return http_call(health_port, "GET", "/healthz").status; };

    REQUIRE(f.wait_for_content(lnd_simulator::content(1)));
    CHECK(eventually([&] { return pings.count() >= 2; }, 10s));

    // S3 down and a new version: the attempts fail at once, but the version is not stale yet, so
    // the pings go on until it is (the rule is staleness, not the first failure).
    f.s3.control("POST", "/outage/start");
    f.lnd.swap(lnd_simulator::content(2));
    REQUIRE(d->wait_for_stderr("upload failed (attempt 1)", 10s));
    const int at_failure = pings.count();
    REQUIRE(eventually([&] { return pings.count() > at_failure || healthz() == 503; }));
    CHECK(pings.count() > at_failure);  // a ping came before the version went stale

    // Stale: /healthz fails, and the pings stop (no ping for five intervals), the silence that
    // alerts the operator. At most one ping already decided when health turned.
    REQUIRE(eventually([&] { return healthz() == 503; }, 20s));
    const int at_stale = pings.count();
    CHECK(eventually([&] { return pings.since_last() >= 1500ms; }, 20s));
    CHECK(pings.count() <= at_stale + 1);
    CHECK(healthz() == 503);

    // S3 back: the version arrives and the pings resume.
    const int before_recovery = pings.count();
    f.s3.control("POST", "/outage/end");
    REQUIRE(f.wait_for_content(lnd_simulator::content(2)));
    CHECK(eventually([&] { return pings.count() > before_recovery; }, 10s));
    CHECK(healthz() == 200);
    CHECK_THAT(d->stderr_text(), !Catch::Contains("ping-check-id"));  // the check's URL is a secret
}
