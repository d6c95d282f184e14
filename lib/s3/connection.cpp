#include "s3/connection.hpp"

#include "logging/logger.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl.hpp>

#include <openssl/ssl.h>
#include <poll.h>
#include <unistd.h>

#include <charconv>
#include <stdexcept>
#include <utility>
#include <vector>

namespace scb::s3 {

namespace asio = boost::asio;
namespace beast = boost::beast;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::shared_ptr<asio::ssl::context> make_tls_context(const std::string& ca_bundle) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_verify_mode(asio::ssl::verify_peer);
    boost::system::error_code ec;
    if (ca_bundle.empty())
        ctx->set_default_verify_paths(ec);
    else
        ctx->load_verify_file(ca_bundle, ec);
    if (ec)
        throw std::runtime_error("cannot load CA bundle " + (ca_bundle.empty() ? std::string("(system store)") : ca_bundle) +
                                 ": " + ec.message() + " (AWS_CA_BUNDLE / --ca-bundle)");
    return ctx;
}

namespace {

std::optional<asio::ip::address> ip_literal(const std::string& host) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return address;
}

/// Transport failures in our terms; the message says what happened, not how Beast calls it.
error transport_error(errc code, const std::string& what, const boost::system::error_code& ec) {
    error e;
    e.code = code;
    e.message = what + ": " + ec.message();
    return e;
}

errc classify_io(const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) return errc::timeout;
    if (ec.category() == asio::error::get_ssl_category() || ec.category() == asio::ssl::error::get_stream_category())
        return ec == asio::ssl::error::stream_truncated ? errc::connection_lost : errc::tls_failed;
    if (ec.category() == beast::http::make_error_code(beast::http::error::need_more).category() && ec != beast::http::error::end_of_stream &&
        ec != beast::http::error::partial_message)
        return errc::protocol_error;
    return errc::connection_lost;
}

}  // namespace

connection::connection(asio::any_io_executor ex, std::string host, std::string port,
                       std::shared_ptr<asio::ssl::context> tls, timeouts t)
    : ex_(std::move(ex)),
      host_(std::move(host)),
      port_(std::move(port)),
      ip_literal_(ip_literal(host_)),
      tls_ctx_(std::move(tls)),
      timeouts_(t) {}

beast::tcp_stream& connection::tcp() noexcept { return secure_ ? secure_->next_layer() : *plain_; }

void connection::close() noexcept {
    if (parked_fd_ >= 0) ::close(parked_fd_);
    parked_fd_ = -1;
    boost::system::error_code ignored;
    if (secure_) secure_->next_layer().socket().close(ignored);
    if (plain_) plain_->socket().close(ignored);
    secure_.reset();
    plain_.reset();
    buffer_.clear();
    open_ = false;
}

void connection::park() {
    if (!open_ || parked_fd_ >= 0) return;
    boost::system::error_code ec;
    auto& socket = tcp().socket();
    const auto peer = socket.remote_endpoint(ec);
    if (!ec) {
        parked_protocol_ = peer.protocol();
        parked_fd_ = socket.release(ec);  // epoll_ctl(DEL); the descriptor stays open
    }
    if (ec) close();
}

void connection::unpark() noexcept {
    const int fd = std::exchange(parked_fd_, -1);
    // An idle HTTP connection has nothing to read: readable means the server closed it (EOF, RST).
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    boost::system::error_code ec;
    if (::poll(&p, 1, 0) == 0) {
        tcp().socket().assign(parked_protocol_, fd, ec);  // epoll_ctl(ADD)
        // Asio forgets that the descriptor is non-blocking and would ask (ioctl) on the first send.
        if (!ec) tcp().socket().non_blocking(true, ec);
    } else {
        ec = asio::error::connection_reset;
    }
    if (ec) {
        ::close(fd);
        close();
        logging::debug("http: the parked connection to ", host_, " was closed by the server");
    }
}

asio::awaitable<error> connection::connect() {
    close();
    std::vector<asio::ip::tcp::endpoint> endpoints;
    std::uint16_t port = 0;
    if (ip_literal_ && std::from_chars(port_.data(), port_.data() + port_.size(), port).ec == std::errc{}) {
        // An IP address needs no resolver (whose thread would cost a round trip per connection).
        endpoints.emplace_back(*ip_literal_, port);
    } else {
        asio::ip::tcp::resolver resolver(ex_);
        asio::steady_timer deadline(ex_, timeouts_.connect);
        // A resolver has no timeout of its own: race it against the deadline.
        auto raced = co_await (resolver.async_resolve(host_, port_, use_tuple) || deadline.async_wait(use_tuple));
        if (raced.index() == 1) co_return error{errc::timeout, 0, {}, "resolving " + host_ + " timed out", {}, {}};
        auto [rec, resolved] = std::get<0>(raced);
        if (rec) co_return transport_error(errc::resolve_failed, "cannot resolve " + host_, rec);
        for (const auto& entry : resolved) endpoints.push_back(entry.endpoint());
    }

    if (tls_ctx_)
        secure_.emplace(ex_, *tls_ctx_);
    else
        plain_.emplace(ex_);
    ++connects_;
    tcp().expires_after(timeouts_.connect);
    auto [cec, ep] = co_await tcp().async_connect(endpoints, use_tuple);
    if (cec) {
        close();
        co_return transport_error(cec == beast::error::timeout ? errc::timeout : errc::connect_failed,
                                  "cannot connect to " + host_ + ":" + port_, cec);
    }
    tcp().socket().set_option(asio::ip::tcp::no_delay(true));
    if (secure_) {
        // SNI only for names (RFC 6066 forbids IP literals); the certificate must match the host either way.
        if (!ip_literal_ && !SSL_set_tlsext_host_name(secure_->native_handle(), host_.c_str())) {
            close();
            co_return error{errc::tls_failed, 0, {}, "cannot set TLS server name " + host_, {}, {}};
        }
        secure_->set_verify_callback(asio::ssl::host_name_verification(host_));
        auto [hec] = co_await secure_->async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (hec) {
            close();
            auto e = transport_error(hec == beast::error::timeout ? errc::timeout : errc::tls_failed,
                                     "TLS handshake with " + host_ + ":" + port_ + " failed", hec);
            if (e.code == errc::tls_failed) e.message += " (is the certificate valid for this host? AWS_CA_BUNDLE / --ca-bundle)";
            co_return e;
        }
    }
    open_ = true;
    co_return error{};
}

asio::awaitable<exchange_result> connection::exchange(http_request& req, std::size_t body_limit, bool& got_bytes) {
    exchange_result out;
    got_bytes = false;
    tcp().expires_after(timeouts_.request);
    boost::system::error_code wec;
    if (secure_)
        std::tie(wec, std::ignore) = co_await http::async_write(*secure_, req, use_tuple);
    else
        std::tie(wec, std::ignore) = co_await http::async_write(*plain_, req, use_tuple);
    if (wec) {
        out.err = transport_error(classify_io(wec), "sending the request to " + host_ + " failed", wec);
        co_return out;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(64 * 1024);
    if (req.method() == http::verb::head) parser.skip(true);
    boost::system::error_code rec;
    if (secure_)
        std::tie(rec, std::ignore) = co_await http::async_read(*secure_, buffer_, parser, use_tuple);
    else
        std::tie(rec, std::ignore) = co_await http::async_read(*plain_, buffer_, parser, use_tuple);
    got_bytes = parser.got_some();
    if (rec) {
        out.err = transport_error(classify_io(rec), "reading the response from " + host_ + " failed", rec);
        co_return out;
    }
    out.response = parser.release();
    co_return out;
}

asio::awaitable<exchange_result> connection::send(http_request& req, std::size_t body_limit) {
    if (open_ && std::chrono::steady_clock::now() - last_used_ > timeouts_.idle) close();
    take_back();
    const bool reused = open_;
    if (!open_) {
        if (auto e = co_await connect()) co_return exchange_result{std::move(e), {}};
    }
    bool got_bytes = false;
    logging::debug("http: ", req.method_string(), " ", req.target(), " on ", reused ? "kept-alive" : "new", " connection");
    auto result = co_await exchange(req, body_limit, got_bytes);
    logging::debug("http: answer ", result.err ? result.err.message : std::to_string(result.response.result_int()));
    if (result.err && reused && !got_bytes && result.err.code == errc::connection_lost) {
        // The server closed the kept-alive connection under us: one fresh attempt.
        if (auto e = co_await connect()) co_return exchange_result{std::move(e), {}};
        result = co_await exchange(req, body_limit, got_bytes);
    }
    if (result.err || !result.response.keep_alive())
        close();
    else
        last_used_ = std::chrono::steady_clock::now();
    co_return result;
}

}  // namespace scb::s3
