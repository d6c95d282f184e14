// The HTTP connection under cancellation and a DNS server that never answers: the real client
// against the local S3 server, and against a name whose resolution hangs.
#include "daemon_fixture.hpp"
#include "run_coroutine.hpp"
#include "s3/client.hpp"
#include "s3_environment.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

using namespace scb;
using scb::test::run_coroutine;
namespace asio = boost::asio;

namespace {

test::s3_environment& env() {
    static test::s3_environment instance(false);
    return instance;
}

std::unique_ptr<s3::client> make_client(asio::io_context& ioc, const std::string& url, http::timeouts io) {
    s3::endpoint_config cfg;
    cfg.region = env().region;
    cfg.url = url;
    cfg.style = s3::addressing_style::path;
    auto ep = s3::resolve_endpoint(cfg, env().bucket);
    sigv4::credentials c;
    c.access_key_id = env().access_key;
    c.secret_access_key = scb::secret(env().secret_key);
    s3::client_options opts;
    opts.io = io;
    return std::make_unique<s3::client>(ioc.get_executor(), ep, std::make_shared<s3::static_credentials>(std::move(c)),
                                        opts);
}

/// A "DNS server" that never answers: a UDP socket bound to port 53 of a loopback address of its
/// own, which receives the queries and keeps silent (no answer, and no ICMP refusal either).
class silent_dns {
public:
    silent_dns() {
        fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        // Any 127.x.y.z works on Linux; pick one that is free (another test run may hold one).
        for (unsigned i = 0; fd_ >= 0 && i < 64 && address_.empty(); ++i) {
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_port = htons(53);
            a.sin_addr.s_addr = htonl(0x7f350000u | ((static_cast<unsigned>(::getpid()) + i * 7919u) & 0xffffu));
            if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
                char text[INET_ADDRSTRLEN] = {};
                ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
                address_ = text;
            }
        }
    }
    ~silent_dns() {
        if (fd_ >= 0) ::close(fd_);
    }
    silent_dns(const silent_dns&) = delete;
    silent_dns& operator=(const silent_dns&) = delete;

    [[nodiscard]] int fd() const noexcept { return fd_; }
    /// Empty when no port 53 could be bound (not root).
    [[nodiscard]] const std::string& address() const noexcept { return address_; }

private:
    int fd_ = -1;
    std::string address_;
};

/// Why the DNS tests cannot run here (they skip), or an empty string.
std::string cannot_fake_dns(const silent_dns& dns) {
    if (::geteuid() != 0) return "needs root (a private mount namespace and port 53)";
    if (dns.address().empty()) return "cannot bind a UDP socket to port 53 on 127.53.x.y";
    return {};
}

/// A resolv.conf naming only `dns`, with glibc's longest wait per query (30 s), once.
std::string resolv_conf(const silent_dns& dns, const test::temp_dir& dir) {
    const std::string conf = dir.path() + "/resolv.conf";
    std::ofstream(conf) << "nameserver " << dns.address() << "\noptions timeout:30 attempts:1\n";
    return conf;
}

/// Whether `dns` has received a query (left queued: it never answers).
bool query_arrived(const silent_dns& dns) {
    char byte = 0;
    return ::recv(dns.fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) >= 0;
}

/// Runs `work` on a thread of its own whose /etc/resolv.conf (in a private mount namespace, which
/// the threads it starts share) names only `dns`, with glibc's longest per-query wait (30 s) so a
/// resolver that waits for getaddrinfo cannot finish before the tests' deadlines. Returns why it
/// could not (to skip the test), or an empty string after `work` ran.
std::string with_private_resolver(const silent_dns& dns, const test::temp_dir& dir, const std::function<void()>& work) {
    if (auto why = cannot_fake_dns(dns); !why.empty()) return why;
    const std::string conf = resolv_conf(dns, dir);
    std::string why;
    std::thread runner([&] {
        // unshare(CLONE_NEWNS) moves only this thread (and the threads it starts) to the new namespace.
        if (::unshare(CLONE_NEWNS) != 0) {
            why = std::string("unshare(CLONE_NEWNS) failed: ") + std::strerror(errno);
        } else if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
                   ::mount(conf.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) {
            why = std::string("cannot bind-mount a private /etc/resolv.conf: ") + std::strerror(errno);
        } else {
            work();
        }
    });
    runner.join();
    return why;
}

/// What a cancelled call ended with, for the test's thread to check.
struct outcome {
    bool finished = false;
    std::string exception;  // what escaped the coroutine, if anything
    s3::error err;
};

/// Cancels `stop` (terminal, as uploader::abort() does) once `dns` has received a query.
asio::awaitable<void> cancel_at_first_query(asio::ip::udp::socket& dns, asio::cancellation_signal& stop) {
    auto [ec] = co_await dns.async_wait(asio::socket_base::wait_read, asio::as_tuple(asio::use_awaitable));
    if (!ec) stop.emit(asio::cancellation_type::terminal);
}

}  // namespace

TEST_CASE("A PUT cancelled while the server stalls it on a reused connection ends as aborted, at once and without reconnecting",
          "[integration][s3][connection]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), http::timeouts{std::chrono::seconds(5), std::chrono::seconds(60),
                                                             std::chrono::seconds(4)});
    REQUIRE_FALSE(run_coroutine(ioc, c->put_object("abort/first", "one")).err);
    REQUIRE(c->connects() == 1);

    env().control("POST", "/faults", R"({"count":1,"kind":"stall","match":"abort/second"})");
    asio::cancellation_signal stop;
    outcome second;
    // As uploader::upload_with_retries() runs its PUT: co_spawn bound to its abort signal.
    asio::co_spawn(ioc, c->put_object("abort/second", "two"),
                   asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e, s3::result<s3::put_result> r) {
                       second.finished = true;
                       second.err = r.err;
                       if (e) try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               second.exception = ex.what();
                           }
                   }));
    ioc.restart();
    std::thread io([&] { ioc.run_for(std::chrono::seconds(20)); });
    const bool stalled = test::eventually([&] {
        for (const auto& r : env().requests())
            if (r["path"].get<std::string>().find("abort/second") != std::string::npos && r["fault"] == "stall")
                return true;
        return false;
    });
    asio::post(ioc, [&] { stop.emit(asio::cancellation_type::terminal); });
    io.join();

    CHECK(stalled);
    REQUIRE(second.finished);
    CHECK(second.exception == "");
    CHECK(second.err.code == s3::errc::aborted);
    CAPTURE(second.err.describe());
    CHECK(c->connects() == 1);  // no reconnect, and so no second PUT either
    std::size_t seconds_sent = 0;
    for (const auto& r : env().requests())
        if (r["path"].get<std::string>().find("abort/second") != std::string::npos) ++seconds_sent;
    CHECK(seconds_sent == 1);
    env().control("DELETE", "/faults");
}

TEST_CASE("A DNS server that never answers costs the connect timeout, not getaddrinfo's own wait",
          "[integration][s3][connection][dns]") {
    (void)env();  // the S3 server starts here, outside the private mount namespace
    silent_dns dns;
    test::temp_dir dir;
    std::optional<s3::result<s3::put_result>> first, again;
    std::string escaped;
    const auto skipped = with_private_resolver(dns, dir, [&] {
        asio::io_context ioc;
        auto c = make_client(ioc, "http://s3.slow.test:" + std::to_string(env().http_port),
                             http::timeouts{std::chrono::milliseconds(500), std::chrono::seconds(5), std::chrono::seconds(4)});
        try {
            // Deadlines well under glibc's 30 s: a wait for getaddrinfo would miss them.
            first = run_coroutine(ioc, c->put_object("dns/x", "x"), std::chrono::seconds(15));
            // The next attempt waits for the same lookup (no second hung thread), and as briefly.
            again = run_coroutine(ioc, c->put_object("dns/x", "x"), std::chrono::seconds(10));
        } catch (const std::exception& e) {
            escaped = e.what();
        }
    });
    if (!skipped.empty()) {
        WARN("skipped: " << skipped);
        return;
    }
    CHECK(escaped == "");
    REQUIRE(first);
    REQUIRE(again);
    for (const auto* r : {&*first, &*again}) {
        CAPTURE(r->err.describe());
        CHECK(r->err.code == s3::errc::timeout);
        CHECK(r->err.message.find("DNS resolution of s3.slow.test") != std::string::npos);
    }
}

TEST_CASE("A terminal cancellation cuts a DNS resolution in progress short", "[integration][s3][connection][dns]") {
    (void)env();
    silent_dns dns;
    test::temp_dir dir;
    outcome put;
    bool query_seen = false;
    std::string escaped;
    const auto skipped = with_private_resolver(dns, dir, [&] {
        asio::io_context ioc;
        // A connect timeout far beyond the deadline: only the cancellation can end the call in time.
        auto c = make_client(ioc, "http://s3.slow.test:" + std::to_string(env().http_port),
                             http::timeouts{std::chrono::seconds(120), std::chrono::seconds(5), std::chrono::seconds(4)});
        asio::ip::udp::socket query(ioc);
        query.assign(asio::ip::udp::v4(), ::dup(dns.fd()));
        asio::cancellation_signal stop;
        asio::co_spawn(ioc, cancel_at_first_query(query, stop), asio::detached);
        asio::co_spawn(ioc, c->put_object("dns/cancelled", "x"),
                       asio::bind_cancellation_slot(stop.slot(), [&](std::exception_ptr e, s3::result<s3::put_result> r) {
                           put.finished = true;
                           put.err = r.err;
                           if (e) try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& ex) {
                                   put.exception = ex.what();
                               }
                       }));
        ioc.run_for(std::chrono::seconds(15));
        query_seen = query_arrived(dns);
    });
    if (!skipped.empty()) {
        WARN("skipped: " << skipped);
        return;
    }
    CHECK(query_seen);
    REQUIRE(put.finished);
    CHECK(put.exception == "");
    CAPTURE(put.err.describe());
    CHECK(put.err.code == s3::errc::aborted);
}

TEST_CASE("The daemon with a DNS server that never answers: attempts end at the connect timeout, SIGTERM exits 0",
          "[integration][daemon][connection][dns]") {
    silent_dns dns;
    if (auto why = cannot_fake_dns(dns); !why.empty()) {
        WARN("skipped: " << why);
        return;
    }
    if (test::run({"unshare", "-m", "true"}).exit_code != 0) {
        WARN("skipped: unshare -m does not work here");
        return;
    }
    test::daemon_fixture f;
    f.lnd.swap(test::lnd_simulator::content(0));
    const std::string conf = resolv_conf(dns, f.dir);
    auto env = f.env();
    env.push_back("AWS_ENDPOINT_URL_S3=http://s3.slow.test:" + std::to_string(f.s3.http_port));
    env.push_back("S3_ADDRESSING_STYLE=path");
    // unshare -m makes the mounts private; the bind mount is seen by this process alone.
    test::child_process d({"unshare", "-m", "sh", "-c", R"(mount --bind "$1" /etc/resolv.conf && shift && exec "$@")", "sh",
                           conf, SCB_BACKUP_EXECUTABLE, "run", "--connect-timeout", "1s", "--shutdown-timeout", "1s"},
                          env, test::foreign_variables());
    // Each request waits for DNS at most the connect timeout, so a failed attempt is logged well
    // before glibc's own 30 s (a resolver that waits for getaddrinfo logs nothing by then).
    CHECK(d.wait_for_stderr("DNS resolution of s3.slow.test timed out", std::chrono::seconds(20)));
    CHECK(query_arrived(dns));
    d.signal(SIGTERM);
    const auto code = d.wait(std::chrono::seconds(15));
    CAPTURE(d.stderr_text());
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(f.spool_files() == 1);  // the version waits in the spool for the next start
}
