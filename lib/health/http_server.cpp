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

#include <charconv>
#include <set>
#include <vector>

namespace scb::health {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct http_server::shared {
    shared(asio::any_io_executor ex, const state& h, std::chrono::seconds stale, server_limits l)
        : health(&h), stale_after(stale), limits(l), acceptor(ex) {}

    const state* health;
    std::chrono::seconds stale_after;
    server_limits limits;
    tcp::acceptor acceptor;
    std::set<beast::tcp_stream*> open;  // connections alive now, to close them with the server
    bool closed = false;
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

asio::awaitable<void> serve(std::shared_ptr<http_server::shared> sh, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    sh->open.insert(&stream);
    struct unregister {
        http_server::shared* sh;
        beast::tcp_stream* stream;
        ~unregister() { sh->open.erase(stream); }
    } guard{sh.get(), &stream};

    const auto& limits = sh->limits;
    // The buffer's cap backs the parser's limits: a client cannot make us hold more than this.
    beast::flat_buffer buffer(limits.header_limit + limits.body_limit + 1024);
    for (unsigned served = 0; !sh->closed;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(limits.header_limit);
        parser.body_limit(limits.body_limit);
        stream.expires_after(limits.read_timeout);
        auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, use_tuple);
        (void)read_n;
        if (sh->closed) break;

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
    // Copy first: closing completes each read with operation_aborted later, never inside this loop,
    // but the set must not be walked while it could change.
    std::vector<beast::tcp_stream*> open(shared_->open.begin(), shared_->open.end());
    for (auto* stream : open) stream->close();
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
        if (sh->open.size() >= sh->limits.max_connections) {
            boost::system::error_code ignored;
            socket.close(ignored);
            continue;
        }
        auto connection = serve(sh, std::move(socket));
        asio::co_spawn(ex_, std::move(connection), asio::detached);
    }
}

}  // namespace scb::health
