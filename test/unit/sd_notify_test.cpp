// The sd_notify client against a real unix datagram socket standing in for systemd.
#include "notify/sd_notify.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>

using scb::notify::notifier;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using scb::unit::temp_dir;

/// What systemd does: a bound datagram socket; recv() returns one message or "" after a short wait.
struct fake_systemd {
    int fd = -1;
    explicit fake_systemd(const std::string& name) {
        fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        socklen_t len;
        if (name[0] == '@') {
            std::memcpy(sa.sun_path + 1, name.data() + 1, name.size() - 1);
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
        } else {
            std::memcpy(sa.sun_path, name.data(), name.size());
            len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
        }
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sa), len) == 0);
        timeval tv{1, 0};
        REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    }
    ~fake_systemd() { ::close(fd); }
    fake_systemd(const fake_systemd&) = delete;
    fake_systemd& operator=(const fake_systemd&) = delete;

    std::string recv() {
        char buf[4096];
        auto n = ::recv(fd, buf, sizeof buf, 0);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }
};

scb::notify::env_lookup env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        if (auto it = vars.find(name); it != vars.end()) return it->second;
        return std::nullopt;
    };
}

}  // namespace

TEST_CASE("notifier sends the exact sd_notify messages to a socket path", "[unit][notify]") {
    temp_dir dir;
    const auto path = (dir.path / "notify.sock").string();
    fake_systemd systemd(path);

    notifier n(path);
    REQUIRE(n.enabled());
    n.ready();
    CHECK(systemd.recv() == "READY=1");
    n.status("uploading channel-x.backup");
    CHECK(systemd.recv() == "STATUS=uploading channel-x.backup");
    n.status("two\nlines");
    CHECK(systemd.recv() == "STATUS=two lines");
    n.watchdog();
    CHECK(systemd.recv() == "WATCHDOG=1");
    n.stopping();
    CHECK(systemd.recv() == "STOPPING=1");
}

TEST_CASE("notifier reaches an abstract socket name", "[unit][notify]") {
    std::random_device rd;
    const std::string name = "@scb-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
    fake_systemd systemd(name);

    auto n = notifier::from_environment(env_of({{"NOTIFY_SOCKET", name}}), ::getpid());
    REQUIRE(n.enabled());
    n.ready();
    CHECK(systemd.recv() == "READY=1");
    CHECK_FALSE(n.watchdog_interval());
}

TEST_CASE("notifier survives a moved-from state and a listener that went away", "[unit][notify]") {
    temp_dir dir;
    const auto path = (dir.path / "notify.sock").string();
    std::optional<fake_systemd> systemd(std::in_place, path);
    notifier a(path);
    notifier b(std::move(a));
    CHECK_FALSE(a.enabled());
    a.ready();  // no-op
    b.ready();
    CHECK(systemd->recv() == "READY=1");
    systemd.reset();
    fs::remove(path);
    // Sending now fails (ENOENT or ECONNREFUSED): logged once, never thrown.
    CHECK_NOTHROW(b.watchdog());
    CHECK_NOTHROW(b.watchdog());
}

TEST_CASE("without NOTIFY_SOCKET the notifier is a no-op", "[unit][notify]") {
    auto n = notifier::from_environment(env_of({{"WATCHDOG_USEC", "30000000"}}), ::getpid());
    CHECK_FALSE(n.enabled());
    CHECK_FALSE(n.watchdog_interval());
    CHECK_NOTHROW(n.ready());
    CHECK_NOTHROW(n.status("x"));
    CHECK_NOTHROW(n.stopping());
    CHECK_NOTHROW(n.watchdog());

    CHECK_FALSE(notifier::from_environment(env_of({{"NOTIFY_SOCKET", ""}}), 1).enabled());
    // Neither absolute nor abstract, or too long for sun_path: disabled with a warning.
    CHECK_FALSE(notifier("relative/notify.sock").enabled());
    CHECK_FALSE(notifier("/" + std::string(200, 'x')).enabled());

    // The process environment (ctest does not run us under systemd's notify socket).
    if (!std::getenv("NOTIFY_SOCKET")) CHECK_FALSE(notifier::from_environment().enabled());
}

TEST_CASE("WATCHDOG_USEC and WATCHDOG_PID", "[unit][notify]") {
    using scb::notify::parse_watchdog;
    CHECK(parse_watchdog(std::string("60000000"), std::nullopt, 42) == std::chrono::microseconds(60'000'000));
    CHECK(parse_watchdog(std::string("60000000"), std::string("42"), 42) == std::chrono::microseconds(60'000'000));
    CHECK_FALSE(parse_watchdog(std::string("60000000"), std::string("43"), 42));  // meant for another process
    CHECK_FALSE(parse_watchdog(std::string("60000000"), std::string("x"), 42));
    CHECK_FALSE(parse_watchdog(std::nullopt, std::string("42"), 42));
    CHECK_FALSE(parse_watchdog(std::string("0"), std::nullopt, 42));
    CHECK_FALSE(parse_watchdog(std::string(""), std::nullopt, 42));
    CHECK_FALSE(parse_watchdog(std::string("-5"), std::nullopt, 42));
    CHECK_FALSE(parse_watchdog(std::string("12s"), std::nullopt, 42));

    temp_dir dir;
    const auto path = (dir.path / "notify.sock").string();
    auto n = notifier::from_environment(
        env_of({{"NOTIFY_SOCKET", path}, {"WATCHDOG_USEC", "2000000"}, {"WATCHDOG_PID", "77"}}), 77);
    CHECK(n.watchdog_interval() == std::chrono::microseconds(2'000'000));
}

TEST_CASE("run_watchdog pings at half the interval until cancelled", "[unit][notify]") {
    temp_dir dir;
    const auto path = (dir.path / "notify.sock").string();
    fake_systemd systemd(path);
    notifier n(path, std::chrono::microseconds(100'000));  // pings every 50 ms

    boost::asio::io_context ioc;
    boost::asio::co_spawn(ioc, n.run_watchdog(ioc.get_executor()), boost::asio::detached);
    ioc.run_for(180ms);
    // At 0, 50, 100 and 150 ms: at least three are already queued.
    for (int i = 0; i < 3; ++i) CHECK(systemd.recv() == "WATCHDOG=1");
    ioc.stop();

    notifier off;
    boost::asio::io_context ioc2;
    bool done = false;
    boost::asio::co_spawn(ioc2, off.run_watchdog(ioc2.get_executor()), [&](std::exception_ptr) { done = true; });
    ioc2.run_for(1s);
    CHECK(done);
}
