// The health endpoint on a real loopback port, queried by a real HTTP client (Beast) and raw sockets.
#include "config/listen_address.hpp"
#include "health/http_server.hpp"
#include "health/probe.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using scb::health::http_server;
using scb::config::parse_listen;
using scb::health::state;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct reply {
    unsigned status = 0;
    std::string body;
    std::string content_type;
    std::string allow;
    bool keep_alive = false;
};

asio::awaitable<reply> fetch(beast::tcp_stream* stream, beast::flat_buffer* buffer, http::verb method,
                             std::string target) {
    http::request<http::string_body> req(method, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::user_agent, "scb-backup-test");
    req.prepare_payload();
    stream->expires_after(5s);
    co_await http::async_write(*stream, req, asio::use_awaitable);
    http::response<http::string_body> res;
    co_await http::async_read(*stream, *buffer, res, asio::use_awaitable);
    reply r;
    r.status = res.result_int();
    r.body = res.body();
    r.content_type = std::string(res[http::field::content_type]);
    r.allow = std::string(res[http::field::allow]);
    r.keep_alive = res.keep_alive();
    co_return r;
}

/// Sends raw bytes, reads until the server closes; what it answered.
asio::awaitable<std::string> raw_exchange(unsigned short port, std::string bytes) {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket socket(ex);
    co_await socket.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), port), asio::use_awaitable);
    co_await asio::async_write(socket, asio::buffer(bytes), asio::use_awaitable);
    std::string answer;
    auto [ec, n] = co_await asio::async_read(socket, asio::dynamic_buffer(answer), use_tuple);
    (void)n;
    CHECK((ec == asio::error::eof || ec == asio::error::connection_reset));
    co_return answer;
}

struct scenario_result {
    bool finished = false;
};

asio::awaitable<void> scenario(unsigned short port, state* st, tcp::socket* idle, scenario_result* out) {
    auto ex = co_await asio::this_coro::executor;
    const tcp::endpoint server(asio::ip::address_v4::loopback(), port);
    beast::tcp_stream stream(ex);
    beast::flat_buffer buffer;
    co_await stream.async_connect(server, asio::use_awaitable);

    // Healthy at first; all these requests share one keep-alive connection.
    auto op1 = fetch(&stream, &buffer, http::verb::get, "/healthz");
    auto healthy = co_await std::move(op1);
    CHECK(healthy.status == 200);
    CHECK(healthy.body == "ok\n");
    CHECK(healthy.keep_alive);

    // A version waiting longer than stale_after (600 s) while uploads fail: 503 with the reason.
    st->version_seen(std::string(64, 'a'), scb::health::wall_clock::now() - 700s);
    st->upload_failed("timeout", "PUT channel-a.backup: timeout after 60000 ms");
    auto op2 = fetch(&stream, &buffer, http::verb::get, "/healthz");
    auto failing = co_await std::move(op2);
    CHECK(failing.status == 503);
    CHECK_THAT(failing.body, Catch::StartsWith("upload failing: PUT channel-a.backup: timeout after 60000 ms "
                                               "(not in S3 for 70") &&
                                 Catch::EndsWith(" s, stale after 600 s)\n"));

    auto op3 = fetch(&stream, &buffer, http::verb::get, "/metrics");
    auto metrics = co_await std::move(op3);
    CHECK(metrics.status == 200);
    CHECK(metrics.content_type == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(metrics.body.find("\nscb_backup_uploads_failed_total{code=\"timeout\"} 1\n") != std::string::npos);
    CHECK(metrics.body.find("\nscb_backup_upload_failing 1\n") != std::string::npos);

    auto op4 = fetch(&stream, &buffer, http::verb::get, "/metrics?name[]=x");
    auto with_query = co_await std::move(op4);  // never co_await inside a CHECK (g++ 12 temporaries)
    CHECK(with_query.status == 200);

    auto op5 = fetch(&stream, &buffer, http::verb::get, "/nope");
    auto missing = co_await std::move(op5);
    CHECK(missing.status == 404);

    auto op6 = fetch(&stream, &buffer, http::verb::post, "/healthz");
    auto post = co_await std::move(op6);
    CHECK(post.status == 405);
    CHECK(post.allow == "GET");

    st->upload_succeeded(std::string(64, 'a'), 100, 0.1s, scb::health::wall_clock::now());
    auto op7 = fetch(&stream, &buffer, http::verb::get, "/healthz");
    auto recovered = co_await std::move(op7);
    CHECK(recovered.status == 200);

    // HTTP/1.0 without keep-alive: one answer, then the server closes.
    auto op8 = raw_exchange(port, "GET /healthz HTTP/1.0\r\n\r\n");
    auto old = co_await std::move(op8);
    CHECK(old.rfind("HTTP/1.0 200 OK\r\n", 0) == 0);
    CHECK(old.size() >= 3);
    CHECK(old.substr(old.size() - 3) == "ok\n");

    // Headers past the 8 KiB limit: 431, then the server hangs up.
    auto op9 = raw_exchange(port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'b') + "\r\n\r\n");
    auto big = co_await std::move(op9);
    CHECK(big.rfind("HTTP/1.1 431 ", 0) == 0);

    // Garbage: 400 and close.
    auto op10 = raw_exchange(port, "NOT HTTP AT ALL\r\n\r\n");
    auto garbage = co_await std::move(op10);
    CHECK(garbage.rfind("HTTP/1.1 400 ", 0) == 0);

    // A keep-alive client that stays connected and idle after one answer: closing the server must
    // close it too.
    co_await idle->async_connect(server, asio::use_awaitable);
    std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    co_await asio::async_write(*idle, asio::buffer(request), asio::use_awaitable);
    std::string answer;
    co_await asio::async_read_until(*idle, asio::dynamic_buffer(answer), "\r\n\r\nok\n", asio::use_awaitable);
    CHECK(answer.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    out->finished = true;
}

}  // namespace

TEST_CASE("parse_listen accepts host:port, a bracketed IPv6 address with port, and :port", "[unit][health]") {
    auto a = parse_listen("127.0.0.1:9580");
    REQUIRE(a);
    CHECK(a->address().to_string() == "127.0.0.1");
    CHECK(a->port() == 9580);
    auto b = parse_listen("[::1]:9580");
    REQUIRE(b);
    CHECK(b->address().is_v6());
    CHECK(b->address().to_string() == "::1");
    auto c = parse_listen(":9580");
    REQUIRE(c);
    CHECK(c->address().to_string() == "0.0.0.0");
    auto d = parse_listen("0.0.0.0:0");
    REQUIRE(d);
    CHECK(d->port() == 0);
    auto e = parse_listen("[::]:65535");
    REQUIRE(e);
    CHECK(e->port() == 65535);

    for (const char* bad : {"", "9580", "localhost:9580", "::1:9580", "[::1]", "[::1]9580", "[]:9580",
                            "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x", "1.2.3:80",
                            "[127.0.0.1]:80", "127.0.0.1:000080"}) {
        CAPTURE(bad);
        CHECK_FALSE(parse_listen(bad));
    }
}

TEST_CASE("health endpoint serves /healthz and /metrics and stops cleanly", "[unit][health]") {
    asio::io_context ioc(1);
    state st;
    auto where = parse_listen("127.0.0.1:0");
    REQUIRE(where);
    http_server server(ioc.get_executor(), *where, st, 600s);
    REQUIRE(server.port() != 0);

    tcp::socket idle(ioc);
    scenario_result result;
    bool group_done = false;
    std::size_t first = 99;
    // The server and the client run together; when the client is done, the group cancels the server.
    asio::experimental::make_parallel_group(
        asio::co_spawn(ioc, server.run(), asio::deferred),
        asio::co_spawn(ioc, scenario(server.port(), &st, &idle, &result), asio::deferred))
        .async_wait(asio::experimental::wait_for_one(),
                    [&](std::array<std::size_t, 2> order, std::exception_ptr server_error, std::exception_ptr client_error) {
                        group_done = true;
                        first = order[0];
                        CHECK_FALSE(server_error);
                        if (client_error) std::rethrow_exception(client_error);
                    });
    const auto started = std::chrono::steady_clock::now();
    ioc.run_for(20s);
    // run_for returned early: no work left, so the idle connection was closed by the server as well.
    CHECK(std::chrono::steady_clock::now() - started < 10s);
    CHECK(ioc.stopped());
    REQUIRE(group_done);
    CHECK(first == 1);
    CHECK(result.finished);

    // The idle client sees the server's end of the connection closed.
    char byte;
    boost::system::error_code ec;
    idle.read_some(asio::buffer(&byte, 1), ec);
    CHECK((ec == asio::error::eof || ec == asio::error::connection_reset));

    // The listener is gone: nobody accepts on the port any more.
    tcp::socket late(ioc);
    late.connect(tcp::endpoint(asio::ip::address_v4::loopback(), server.port()), ec);
    CHECK(ec == asio::error::connection_refused);
}

TEST_CASE("health endpoint closes a connection that stays silent past the header timeout", "[unit][health]") {
    asio::io_context ioc(1);
    state st;
    scb::health::server_limits limits;
    limits.header_timeout = 200ms;
    http_server server(ioc.get_executor(), tcp::endpoint(asio::ip::address_v4::loopback(), 0), st, 600s, limits);
    asio::co_spawn(ioc, server.run(), asio::detached);

    tcp::socket silent(ioc);
    std::string answer;
    boost::system::error_code read_ec;
    bool done = false;
    silent.async_connect(tcp::endpoint(asio::ip::address_v4::loopback(), server.port()),
                         [&](boost::system::error_code ec) {
                             REQUIRE_FALSE(ec);
                             asio::async_read(silent, asio::dynamic_buffer(answer),
                                              [&](boost::system::error_code ec2, std::size_t) {
                                                  read_ec = ec2;
                                                  done = true;
                                                  server.close();
                                              });
                         });
    const auto started = std::chrono::steady_clock::now();
    ioc.run_for(5s);
    REQUIRE(done);
    CHECK(std::chrono::steady_clock::now() - started < 3s);
    CHECK((read_ec == asio::error::eof || read_ec == asio::error::connection_reset));
    CHECK(answer.empty());  // no answer to a request never sent
    CHECK(ioc.stopped());
}

TEST_CASE("health server refuses an address it cannot bind", "[unit][health]") {
    asio::io_context ioc(1);
    state st;
    http_server first(ioc.get_executor(), tcp::endpoint(asio::ip::address_v4::loopback(), 0), st, 600s);
    CHECK_THROWS_AS(http_server(ioc.get_executor(), tcp::endpoint(asio::ip::address_v4::loopback(), first.port()),
                                st, 600s),
                    boost::system::system_error);
}

TEST_CASE("probe() reports the health endpoint's verdict", "[unit][health]") {
    // The server runs on its own thread: probe() blocks on its own io_context, as the CLI will.
    asio::io_context ioc(1);
    state st;
    http_server server(ioc.get_executor(), *parse_listen("127.0.0.1:0"), st, 600s);
    asio::co_spawn(ioc, server.run(), asio::detached);
    std::thread runner([&] { ioc.run_for(10s); });
    const tcp::endpoint where(asio::ip::address_v4::any(), server.port());  // a wildcard probes loopback

    auto ok = scb::health::probe(where, 2s);
    CHECK(ok.healthy);
    CHECK(ok.status == 200);
    CHECK(ok.text == "ok");

    // A failed attempt alone is not unhealthy: the version has not waited past stale_after yet.
    st.version_seen(std::string(64, 'a'), scb::health::wall_clock::now());  // state is thread-safe
    st.upload_failed("access_denied", "PUT x: 403 AccessDenied");
    auto early = scb::health::probe(where, 2s);
    CHECK(early.healthy);
    CHECK(early.text == "ok");

    st.version_seen(std::string(64, 'b'), scb::health::wall_clock::now() - 700s);  // an older change is unbacked
    auto bad = scb::health::probe(where, 2s);
    CHECK_FALSE(bad.healthy);
    CHECK(bad.status == 503);
    CHECK_THAT(bad.text, Catch::StartsWith("upload failing: PUT x: 403 AccessDenied (not in S3 for 70"));

    asio::post(ioc, [&] { server.close(); });
    runner.join();
    CHECK(ioc.stopped());

    // Nobody listens any more.
    auto none = scb::health::probe(where, 2s);
    CHECK_FALSE(none.healthy);
    CHECK(none.status == 0);
    CHECK(none.text.find("no answer from http://127.0.0.1:") == 0);
}

// ---- Slow clients (issue #13): a header deadline from accept, and room made for fresh clients. ----

namespace {

const std::string partial_header = "GET /healthz HTTP/1.1\r\nHo";

/// The server on its own thread, as the daemon runs it beside the uploads; closed and joined at the end.
struct threaded_server {
    explicit threaded_server(scb::health::server_limits limits)
        : server(ioc.get_executor(), tcp::endpoint(asio::ip::address_v4::loopback(), 0), st, 600s, limits) {
        asio::co_spawn(ioc, server.run(), asio::detached);
        runner = std::thread([this] { ioc.run_for(60s); });
    }
    ~threaded_server() {
        asio::post(ioc, [this] { server.close(); });
        runner.join();
    }
    asio::io_context ioc{1};
    state st;
    http_server server;
    std::thread runner;
};

/// A blocking client connection from `from` (any 127.x.y.z is loopback on Linux) that sends `bytes`.
tcp::socket connect_and_send(asio::io_context& io, unsigned short port, const std::string& bytes,
                             const char* from = "127.0.0.1") {
    tcp::socket s(io, tcp::endpoint(asio::ip::make_address(from), 0));
    s.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    asio::write(s, asio::buffer(bytes));
    return s;
}

/// Reads until the server closes the connection, waiting at most `bound` (a liveness bound, not a
/// timing assertion); with `trickle`, sends one more header byte every 100 ms meanwhile. What the
/// server sent, or nullopt if the connection was still open at the bound.
std::optional<std::string> read_until_closed(tcp::socket& s, std::chrono::milliseconds bound, bool trickle = false) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    std::string got;
    s.non_blocking(true);
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{s.native_handle(), POLLIN, 0};
        ::poll(&p, 1, 100);  // wakes on data or close; the timeout only paces the trickle
        char buf[4096];
        boost::system::error_code ec;
        for (;;) {
            const auto n = s.read_some(asio::buffer(buf), ec);
            if (ec) break;
            got.append(buf, n);
        }
        if (ec == asio::error::eof || ec == asio::error::connection_reset) return got;
        if (ec != asio::error::would_block) FAIL("read: " << ec.message());
        if (trickle) {
            s.write_some(asio::buffer("x", 1), ec);  // "Hoxxx…": a header that never completes
            if (ec == asio::error::broken_pipe || ec == asio::error::connection_reset) return got;
        }
    }
    return std::nullopt;
}

}  // namespace

TEST_CASE("health endpoint closes a connection whose header is not complete within the header deadline",
          "[unit][health][slowloris]") {
    // The default limits, as the daemon uses them. A byte every 100 ms must not extend the deadline.
    const bool trickle = GENERATE(false, true);
    CAPTURE(trickle);
    threaded_server srv({});
    asio::io_context io;
    auto slow = connect_and_send(io, srv.server.port(), partial_header);
    auto answer = read_until_closed(slow, 5s, trickle);
    REQUIRE(answer);  // closed by the server well within 5 s (the deadline is 2 s from accept)
    CHECK(answer->empty());
}

namespace {

/// A complete request past a connection limit is answered, and `oldest` (a slow connection) is
/// closed without an answer to make room for it.
void check_newcomer_evicts(asio::io_context& io, unsigned short port, tcp::socket& oldest) {
    auto fresh = connect_and_send(io, port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto answer = read_until_closed(fresh, 5s);
    REQUIRE(answer);
    CHECK(answer->rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    auto closed = read_until_closed(oldest, 5s);
    REQUIRE(closed);
    CHECK(closed->empty());
}

}  // namespace

TEST_CASE("health endpoint makes room for a fresh client by closing the oldest unfinished connection",
          "[unit][health][slowloris]") {
    scb::health::server_limits limits;
    limits.header_timeout = 60s;  // so that only making room can close a slow connection here
    SECTION("all slots taken") { limits.max_connections = 3; }
    SECTION("the client's own cap reached") { limits.max_connections_per_client = 3; }
    threaded_server srv(limits);
    const auto port = srv.server.port();
    asio::io_context io;
    std::vector<tcp::socket> slow;
    for (int i = 0; i < 3; ++i) slow.push_back(connect_and_send(io, port, partial_header));

    // A fourth client, past the limit: it is answered, and the oldest slow one pays for it.
    check_newcomer_evicts(io, port, slow[0]);

    // The others were not touched: they can still finish their request and get an answer.
    const std::string rest = "st: x\r\nConnection: close\r\n\r\n";
    for (std::size_t i = 1; i < slow.size(); ++i) {
        CAPTURE(i);
        asio::write(slow[i], asio::buffer(rest));
        auto late = read_until_closed(slow[i], 5s);
        REQUIRE(late);
        CHECK(late->rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    }
}

TEST_CASE("health endpoint caps connections per client address, closing that client's oldest first",
          "[unit][health][slowloris]") {
    scb::health::server_limits limits;
    limits.header_timeout = 60s;
    threaded_server srv(limits);
    const auto port = srv.server.port();
    asio::io_context io;
    // The oldest connection of all comes from another address (any 127.x.y.z is loopback on Linux).
    auto other = connect_and_send(io, port, partial_header, "127.0.0.2");
    std::vector<tcp::socket> slow;
    for (unsigned i = 0; i < limits.max_connections_per_client; ++i)
        slow.push_back(connect_and_send(io, port, partial_header));

    // One more from 127.0.0.1, far below the 32 slots: 127.0.0.1's oldest goes, not 127.0.0.2's.
    check_newcomer_evicts(io, port, slow[0]);

    asio::write(other, asio::buffer(std::string("st: x\r\nConnection: close\r\n\r\n")));
    auto late = read_until_closed(other, 5s);
    REQUIRE(late);
    CHECK(late->rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
}
