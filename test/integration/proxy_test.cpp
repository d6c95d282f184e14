// Uploads through real proxies from Debian, started on free loopback ports by the tests: microsocks
// (SOCKS5) and tinyproxy (HTTP CONNECT); the real binary against the local S3.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <csignal>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>

using namespace scb;
using namespace scb::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// A loopback port nobody listens on right now (bound, read, released).
int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool accepts(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

std::string program(const std::string& name) {
    for (const char* dir : {"/usr/bin/", "/usr/sbin/", "/usr/local/bin/"})
        if (::access((std::string(dir) + name).c_str(), X_OK) == 0) return std::string(dir) + name;
    return {};
}

/// One proxy process on a free loopback port, stopped when this goes away.
struct proxy_server {
    int port = 0;
    std::unique_ptr<child_process> process;
    std::string log_file;  // where it logs, when not to stderr
    std::string log() { return !log_file.empty() ? slurp(log_file) : process ? process->stderr_text() : std::string(); }
};

/// microsocks (SOCKS5; with `user`, username/password required). It logs "connected to NAME:PORT"
/// with the name the client sent.
proxy_server start_microsocks(const std::string& user = "", const std::string& password = "") {
    proxy_server p;
    p.port = free_loopback_port();
    std::vector<std::string> argv{program("microsocks"), "-i", "127.0.0.1", "-p", std::to_string(p.port)};
    if (!user.empty()) argv.insert(argv.end(), {"-u", user, "-P", password});
    p.process = std::make_unique<child_process>(argv);
    REQUIRE(eventually([&] { return accepts(p.port); }, 10s));
    return p;
}

/// tinyproxy (HTTP CONNECT to any port) in the foreground with a config of its own.
proxy_server start_tinyproxy(const temp_dir& dir) {
    proxy_server p;
    p.port = free_loopback_port();
    const std::string conf = dir.path() + "/tinyproxy-" + std::to_string(p.port) + ".conf";
    p.log_file = dir.path() + "/tinyproxy-" + std::to_string(p.port) + ".log";
    std::ofstream(conf) << "Port " << p.port << "\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nLogLevel Connect\n"
                        << "MaxClients 20\nLogFile \"" << p.log_file << "\"\n";
    p.process = std::make_unique<child_process>(std::vector<std::string>{program("tinyproxy"), "-d", "-c", conf});
    REQUIRE(eventually([&] { return accepts(p.port); }, 10s));
    return p;
}

bool proxies_installed() {
    for (const char* name : {"microsocks", "tinyproxy"})
        if (program(name).empty()) {
            WARN("skipped: " << name << " is not installed (deploy/setup.sh installs microsocks and tinyproxy-bin)");
            return false;
        }
    return true;
}

/// The fixture's environment with the endpoint named `localhost` (not 127.0.0.1), so that what
/// the proxy receives (a name or an address) can be told apart.
std::vector<std::string> by_name(const daemon_fixture& f, bool tls) {
    const int port = tls ? f.s3.https_port : f.s3.http_port;
    return {"AWS_ENDPOINT_URL_S3=" + std::string(tls ? "https" : "http") + "://localhost:" + std::to_string(port),
            "AWS_CA_BUNDLE=" + (tls ? f.s3.ca_file : std::string())};
}

}  // namespace

TEST_CASE("proxy: socks5h sends the host name to the proxy (Tor), over HTTP and HTTPS", "[integration][proxy]") {
    if (!proxies_installed()) return;
    daemon_fixture f(true);
    auto socks = start_microsocks();
    for (const bool tls : {false, true}) {
        CAPTURE(tls);
        const auto content = lnd_simulator::content(tls ? 2 : 1);
        f.lnd.swap(content);
        auto env = by_name(f, tls);
        env.push_back("SCB_PROXY=socks5h://127.0.0.1:" + std::to_string(socks.port));
        auto r = f.run_once({"once"}, env);
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK(f.count_with_sha(content) == 1);
        CHECK_THAT(r.err, Catch::Contains("proxy=socks5h://127.0.0.1:" + std::to_string(socks.port)));
        const int s3_port = tls ? f.s3.https_port : f.s3.http_port;
        CHECK(eventually([&] { return socks.log().find("connected to localhost:" + std::to_string(s3_port)) != std::string::npos; }));
        CHECK(socks.log().find("connected to 127.0.0.1:" + std::to_string(s3_port)) == std::string::npos);
    }
}

TEST_CASE("proxy: socks5 resolves here and sends the address; credentials in the URL, never shown",
          "[integration][proxy]") {
    if (!proxies_installed()) return;
    daemon_fixture f;
    auto socks = start_microsocks("scbuser", "pr0xy-s3cret");
    const auto content = lnd_simulator::content(1);
    f.lnd.swap(content);
    auto env = by_name(f, false);
    env.push_back("SCB_PROXY=socks5://scbuser:pr0xy-s3cret@127.0.0.1:" + std::to_string(socks.port));
    auto r = f.run_once({"once"}, env);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(f.count_with_sha(content) == 1);
    CHECK(eventually([&] { return socks.log().find("connected to 127.0.0.1:" + std::to_string(f.s3.http_port)) != std::string::npos; }));
    CHECK(r.err.find("pr0xy-s3cret") == std::string::npos);

    // The wrong password: a clear line, retried (exit 69 after the attempts), never the password.
    f.lnd.swap(lnd_simulator::content(2));
    env.back() = "SCB_PROXY=socks5://scbuser:wrong-pass@127.0.0.1:" + std::to_string(socks.port);
    auto refused = f.run_once({"once"}, env);
    INFO(refused.err);
    CHECK(refused.exit_code == 69);
    CHECK_THAT(refused.err, Catch::Contains("refused the user name and password"));
    CHECK(refused.err.find("wrong-pass") == std::string::npos);
}

TEST_CASE("proxy: HTTP CONNECT through tinyproxy from HTTPS_PROXY and HTTP_PROXY, TLS end to end",
          "[integration][proxy]") {
    if (!proxies_installed()) return;
    daemon_fixture f(true);
    auto http_proxy = start_tinyproxy(f.dir);
    const std::string url = "http://127.0.0.1:" + std::to_string(http_proxy.port);
    for (const bool tls : {false, true}) {
        CAPTURE(tls);
        const auto content = lnd_simulator::content(tls ? 2 : 1);
        f.lnd.swap(content);
        auto env = by_name(f, tls);
        // Lower-case names are read first, as curl does; the other case is ignored when both are set.
        env.push_back(std::string(tls ? "https_proxy=" : "http_proxy=") + url);
        env.push_back(std::string(tls ? "HTTPS_PROXY=" : "HTTP_PROXY=") + "http://127.0.0.1:1");
        auto r = f.run_once({"once"}, env);
        INFO(r.err << http_proxy.log());
        CHECK(r.exit_code == 0);
        CHECK(f.count_with_sha(content) == 1);
        CHECK_THAT(r.err, Catch::Contains("proxy=" + url));
    }
    CHECK(eventually([&] { return http_proxy.log().find("CONNECT") != std::string::npos; }));
}

TEST_CASE("proxy: a proxy that is down gives a clear retryable error; NO_PROXY bypasses it", "[integration][proxy]") {
    if (!proxies_installed()) return;
    daemon_fixture f;
    const auto content = lnd_simulator::content(1);
    f.lnd.swap(content);
    const int dead = free_loopback_port();
    SECTION("down: retried, then exit 69 naming the proxy") {
        auto env = by_name(f, false);
        env.push_back("SCB_PROXY=socks5h://127.0.0.1:" + std::to_string(dead));
        auto r = f.run_once({"once"}, env);
        INFO(r.err);
        CHECK(r.exit_code == 69);
        CHECK_THAT(r.err, Catch::Contains("cannot connect to proxy socks5h://127.0.0.1:" + std::to_string(dead)));
        CHECK_THAT(r.err, Catch::Contains("retry"));
        CHECK(f.objects().empty());
    }
    SECTION("a proxy that dies between uploads: the daemon retries until it is back") {
        auto socks = start_microsocks();
        auto env = by_name(f, false);
        env.push_back("SCB_PROXY=socks5h://127.0.0.1:" + std::to_string(socks.port));
        auto d = f.start({"run"}, env);
        REQUIRE(f.wait_for_content(content));
        socks.process->signal(SIGKILL);
        REQUIRE(socks.process->wait(10s));
        const auto v2 = lnd_simulator::content(2);
        f.lnd.swap(v2);
        CHECK(eventually([&] { return d->stderr_text().find("cannot connect to proxy") != std::string::npos; }));
        // The same port again: the daemon's next retry goes through.
        socks.process = std::make_unique<child_process>(
            std::vector<std::string>{program("microsocks"), "-i", "127.0.0.1", "-p", std::to_string(socks.port)});
        REQUIRE(eventually([&] { return accepts(socks.port); }, 10s));
        CHECK(f.wait_for_content(v2, 30s));
        d->signal(SIGTERM);
        CHECK(d->wait(20s).value_or(-1) == 0);
    }
    SECTION("NO_PROXY names the endpoint: a direct connection") {
        auto env = by_name(f, false);
        env.push_back("HTTP_PROXY=http://127.0.0.1:" + std::to_string(dead));
        env.push_back("NO_PROXY=example.org,.localhost");
        auto r = f.run_once({"once"}, env);
        INFO(r.err);
        CHECK(r.exit_code == 0);
        CHECK(f.count_with_sha(content) == 1);
        CHECK(r.err.find("proxy=") == std::string::npos);
    }
}

TEST_CASE("proxy: the heartbeat goes through the proxy too", "[integration][proxy][heartbeat]") {
    if (!proxies_installed()) return;
    daemon_fixture f;
    auto socks = start_microsocks();
    f.lnd.swap(lnd_simulator::content(1));
    // S3 by address, the heartbeat by name: the proxy's log tells the two apart. The S3 front plays
    // the ping service (a 403 to an unsigned GET is enough to see the request made).
    const std::string ping = "http://localhost:" + std::to_string(f.s3.http_port) + "/ping-uuid";
    auto d = f.start({"run", "--heartbeat-url", ping, "--heartbeat-interval", "300ms", "--listen", "127.0.0.1:0"},
                     {"SCB_PROXY=socks5h://127.0.0.1:" + std::to_string(socks.port)});
    REQUIRE(f.wait_for_content(lnd_simulator::content(1)));
    CHECK(eventually([&] { return socks.log().find("connected to localhost:" + std::to_string(f.s3.http_port)) != std::string::npos; }));
    CHECK(socks.log().find("connected to 127.0.0.1:" + std::to_string(f.s3.http_port)) != std::string::npos);
    d->signal(SIGTERM);
    CHECK(d->wait(20s).value_or(-1) == 0);
}
