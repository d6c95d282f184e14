#include "health/http_server.hpp"

#include "logging/logger.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <algorithm>
#include <charconv>
#include <map>

namespace scb::health {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct http_server::shared {
    shared(asio::any_io_executor ex, const state& h, std::chrono::seconds stale, server_limits l)
        : health(&h), stale_after(stale), limits(l), acceptor(ex) {}

    struct connection {
        std::shared_ptr<beast::tcp_stream> stream;  // shared with its coroutine, which may outlive this entry
        asio::ip::address peer;
        bool waiting = true;  // for (the rest of) a request: may be closed to make room
    };

    const state* health;
    std::chrono::seconds stale_after;
    server_limits limits;
    tcp::acceptor acceptor;
    std::map<std::uint64_t, connection> open;  // by accept order, so the first is the oldest
    std::uint64_t next_id = 0;
    bool closed = false;

    /// Closes the oldest connection (from `peer`, or from anyone when null) that is waiting for a
    /// request; false when there is none.
    bool evict_oldest_waiting(const asio::ip::address* peer) {
        for (auto it = open.begin(); it != open.end(); ++it) {
            if (!it->second.waiting || (peer && it->second.peer != *peer)) continue;
            it->second.stream->close();  // its read ends with operation_aborted; no blocking here
            open.erase(it);
            return true;
        }
        return false;
    }

    /// Makes room for a new connection from `peer`: false if it must be refused.
    ///
    /// Why evict rather than refuse: a client that sends its whole request at once (the healthcheck,
    /// a scraper) is only ever "waiting" for one round trip, while a slow one waits for up to
    /// header_timeout. Closing the oldest waiting connection therefore always hits a slow one first,
    /// and a fresh client is served unless `cap` newer connections arrive before its request does.
    /// Refusing the newcomer instead would hand the listener to whoever connected first.
    bool make_room(const asio::ip::address& peer) {
        const auto same = static_cast<std::size_t>(
            std::count_if(open.begin(), open.end(), [&](const auto& c) { return c.second.peer == peer; }));
        if (same >= limits.max_connections_per_client && !evict_oldest_waiting(&peer)) return false;
        return open.size() < limits.max_connections || evict_oldest_waiting(nullptr);
    }

    void set_waiting(std::uint64_t id, bool waiting) {
        if (auto it = open.find(id); it != open.end()) it->second.waiting = waiting;
    }
};

namespace {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

response make_response(http::status status, unsigned version, std::string body,
                       std::string_view content_type = "text/plain; charset=utf-8") {
    response res(status, version);
    res.set(http::field::server, "scb-backup");
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-store");
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

response respond(const request& req, const http_server::shared& sh) {
    std::string_view target = req.target();
    target = target.substr(0, target.find('?'));  // a scraper may add parameters; none is used
    const bool known = target == "/healthz" || target == "/metrics";
    if (!known) return make_response(http::status::not_found, req.version(), "not found\n");
    if (req.method() != http::verb::get) {
        auto res = make_response(http::status::method_not_allowed, req.version(), "method not allowed\n");
        res.set(http::field::allow, "GET");
        return res;
    }
    const auto now = wall_clock::now();
    if (target == "/metrics")
        return make_response(http::status::ok, req.version(), sh.health->render_prometheus(now),
                             "text/plain; version=0.0.4; charset=utf-8");
    auto [healthy, reason] = sh.health->health(now, sh.stale_after);
    if (healthy) return make_response(http::status::ok, req.version(), "ok\n");
    return make_response(http::status::service_unavailable, req.version(), reason + "\n");
}

/// Errors that simply end a connection: the client left, went quiet, or the server is closing.
bool is_quiet_end(const boost::system::error_code& ec) {
    return ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
           ec == asio::error::connection_reset || ec == asio::error::eof || ec == asio::error::bad_descriptor ||
           ec == http::error::partial_message;
}

/// Closing a socket with unread input makes the kernel send a reset, which can destroy the answer
/// before the client reads it (e.g. a 431 while the rest of the oversized headers is in flight). So
/// we close our side first and discard what still comes, for a second at most, as nginx does.
asio::awaitable<void> linger(beast::tcp_stream* stream) {
    boost::system::error_code ec;
    stream->socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) co_return;
    char sink[4096];
    std::size_t discarded = 0;
    stream->expires_after(std::chrono::seconds(1));
    while (discarded < 64 * 1024) {
        auto [read_ec, n] = co_await stream->async_read_some(asio::buffer(sink), use_tuple);
        if (read_ec) break;
        discarded += n;
    }
}

/// One connection, from accept to close. `deadline` is the first request's: accept + header_timeout.
asio::awaitable<void> serve(std::shared_ptr<http_server::shared> sh, std::uint64_t id,
                            std::shared_ptr<beast::tcp_stream> stream_ptr,
                            std::chrono::steady_clock::time_point deadline) {
    auto& stream = *stream_ptr;
    struct unregister {
        http_server::shared* sh;
        std::uint64_t id;
        ~unregister() { sh->open.erase(id); }  // a no-op if it was evicted (ids are never reused)
    } guard{sh.get(), id};

    const auto& limits = sh->limits;
    // The buffer's cap backs the parser's limits: a client cannot make us hold more than this.
    beast::flat_buffer buffer(limits.header_limit + limits.body_limit + 1024);
    for (unsigned served = 0; !sh->closed;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(limits.header_limit);
        parser.body_limit(limits.body_limit);
        // One deadline for the whole request: Beast's timer is absolute, not restarted per read.
        if (served == 0)
            stream.expires_at(deadline);
        else
            stream.expires_after(limits.header_timeout);
        sh->set_waiting(id, true);
        auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        (void)read_n;
        if (sh->closed) break;
        sh->set_waiting(id, false);  // answering: not to be evicted mid-answer

        response res;
        bool last = false;
        if (read_ec) {
            if (is_quiet_end(read_ec)) break;
            // A malformed or oversized request: say so once, then hang up.
            auto status = http::status::bad_request;
            if (read_ec == http::error::header_limit || read_ec == http::error::buffer_overflow)
                status = http::status::request_header_fields_too_large;
            else if (read_ec == http::error::body_limit)
                status = http::status::payload_too_large;
            logging::debug("health http: bad request: ", read_ec.message());
            res = make_response(status, 11, std::string(http::obsolete_reason(status)) + "\n");
            last = true;
        } else {
            const auto& req = parser.get();
            res = respond(req, *sh);
            logging::debug("health http: ", req.method_string(), " ", req.target(), " ", res.result_int());
            last = !req.keep_alive() || ++served >= limits.max_requests_per_connection;
        }
        res.keep_alive(!last);
        stream.expires_after(limits.write_timeout);
        auto [write_ec, write_n] = co_await http::async_write(stream, res, use_tuple);
        (void)write_n;
        if (write_ec) break;
        if (last) {
            sh->set_waiting(id, true);  // done with it: evictable while it lingers
            co_await linger(&stream);
            break;
        }
    }
    stream.close();
}

}  // namespace

http_server::http_server(asio::any_io_executor ex, tcp::endpoint listen, const state& health,
                         std::chrono::seconds stale_after, server_limits limits)
    : ex_(ex), shared_(std::make_shared<shared>(ex, health, stale_after, limits)) {
    auto& acceptor = shared_->acceptor;
    acceptor.open(listen.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    // "[::]:port" serves IPv6 only; ":port" is the IPv4 wildcard. No dual-stack surprises.
    if (listen.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true));
    acceptor.bind(listen);
    acceptor.listen(asio::socket_base::max_listen_connections);
    local_ = acceptor.local_endpoint();
    port_ = local_.port();
}

http_server::~http_server() { close(); }

void http_server::close() {
    if (shared_->closed) return;
    shared_->closed = true;
    boost::system::error_code ignored;
    shared_->acceptor.close(ignored);
    // Closing completes each read with operation_aborted later, never inside this loop; the streams
    // stay alive in their coroutines, so the entries can go now.
    for (auto& [id, c] : shared_->open) c.stream->close();
    shared_->open.clear();
}

asio::awaitable<void> http_server::run() {
    auto sh = shared_;
    // However run() ends (cancelled, closed, an exception), the listener and its connections go too.
    struct closer {
        http_server* server;
        ~closer() { server->close(); }
    } on_exit{this};

    logging::info("health endpoint listening on http://", local_, " (/healthz, /metrics)");
    asio::steady_timer pause(ex_);
    while (!sh->closed) {
        auto [ec, socket] = co_await sh->acceptor.async_accept(use_tuple);
        if (sh->closed || ec == asio::error::operation_aborted) break;
        if (ec) {
            // Out of file descriptors and the like: wait a little instead of spinning on the error.
            logging::warn("health endpoint: accept failed: ", ec.message());
            pause.expires_after(std::chrono::milliseconds(100));
            auto [pause_ec] = co_await pause.async_wait(use_tuple);
            if (pause_ec) break;
            continue;
        }
        boost::system::error_code peer_ec;
        const auto peer = socket.remote_endpoint(peer_ec);
        if (peer_ec || !sh->make_room(peer.address())) {
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
        }
        // Registered here, not in the coroutine (which starts later): the next accept must count it.
        const auto id = sh->next_id++;
        const auto deadline = std::chrono::steady_clock::now() + sh->limits.header_timeout;
        auto stream = std::make_shared<beast::tcp_stream>(std::move(socket));
        sh->open.emplace(id, shared::connection{stream, peer.address()});
        asio::co_spawn(ex_, serve(sh, id, std::move(stream), deadline), asio::detached);
    }
}

}  // namespace scb::health
