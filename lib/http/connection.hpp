#pragma once
// One kept-alive HTTP or HTTPS connection to an endpoint, with connect, request and idle timeouts:
// the transport of S3, the credential endpoints and the heartbeat.
#include "http/proxy.hpp"
#include "http/transport_error.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/span.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace scb::http {

namespace detail {
class dns_lookup;
}

namespace bhttp = boost::beast::http;
using request = bhttp::request<bhttp::span_body<const char>>;
using response = bhttp::response<bhttp::string_body>;
// What callers name in requests and answers, without spelling out Beast.
using bhttp::field;
using bhttp::status;
using bhttp::verb;

struct timeouts {
    std::chrono::milliseconds connect{10'000};  // resolve + TCP + TLS handshake
    std::chrono::milliseconds request{60'000};  // write the request and read the whole response
    // Drop a kept-alive connection idle longer than this before reuse: servers close theirs
    // (s3rver after 5 s, S3 after about 20 s) and a request on a closing socket would fail.
    std::chrono::milliseconds idle{4'000};
};

/// The most bytes of body read from an answer that is not an object's content: every error answer
/// (S3's XML <Error> is a few hundred bytes), a PUT's or a HEAD's answer, a credentials document.
inline constexpr std::size_t small_body_limit = 64 * 1024;

/// "64 KiB", "256 MiB", "1000 bytes": a byte limit as a person reads it.
std::string describe_size(std::size_t bytes);

/// A failed TLS handshake's certificate verification result (SSL_get_verify_result) in words an
/// operator can act on: an expired certificate, one for another host name, one from an unknown CA,
/// each with OpenSSL's X509_verify_cert_error_string; empty for X509_V_OK (no certificate problem).
std::string describe_verify_failure(long verify_result, std::string_view host);

/// A TLS client context: system trust store (or `ca_bundle`), peer verification on, TLS 1.2 minimum.
/// Throws std::runtime_error naming the file when the bundle cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& ca_bundle);

// The implicit move cannot throw, which clang-tidy cannot tell.
struct exchange_result {  // NOLINT(bugprone-exception-escape)
    transport_error err;
    http::response response;
    std::size_t body_limit_hit = 0;  // the limit an answer's body went over (err is protocol_error), else 0
};

class connection {
public:
    /// `tls` null means plain HTTP. With `via`, every connection goes through that proxy: a tunnel
    /// (HTTP CONNECT or SOCKS5) to host:port, then TLS end to end with the server, whose certificate
    /// is checked against `host` (never the proxy's).
    connection(boost::asio::any_io_executor ex, std::string host, std::string port,
               std::shared_ptr<boost::asio::ssl::context> tls, timeouts t, std::optional<proxy> via = std::nullopt);

    /// Sends one request and reads the response, connecting first when needed. A body longer than
    /// `body_limit` (for an answer with status >= 300: than min(body_limit, small_body_limit)) ends
    /// the reading at once with failure::protocol_error and drops the connection. If a reused connection turns out closed before any byte of the answer
    /// came back, it reconnects and sends once more (S3 requests here are idempotent).
    /// A cancellation of the calling coroutine (terminal, e.g. through co_spawn with
    /// bind_cancellation_slot) ends it at once with failure::aborted: no reconnect, no exception.
    boost::asio::awaitable<exchange_result> send(request& req, std::size_t body_limit);

    ~connection() { close(); }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void close() noexcept;
    /// Keeps the connection but stops watching it: the socket leaves the io_context's epoll set, so
    /// the server closing it wakes nobody (an idle daemon sleeps without wake-ups). The next send()
    /// takes it back if it is still open and younger than the idle timeout, else connects anew.
    void park();
    /// A request is coming: take a parked connection back now (the check and epoll_ctl cost tens of
    /// microseconds), off the request's own path. Nothing happens when it is not parked.
    void take_back() noexcept {
        if (parked_fd_ >= 0) unpark();
    }
    /// How many TCP connections were opened so far (tests and metrics: proves reuse).
    [[nodiscard]] std::uint64_t connects() const noexcept { return connects_; }

private:
    boost::asio::awaitable<transport_error> connect();
    boost::asio::awaitable<transport_error> resolve(const std::string& host, const std::string& port,
                                                    std::vector<boost::asio::ip::tcp::endpoint>& out);
    /// The proxy's handshake on the connected TCP stream, up to an open tunnel to host:port.
    boost::asio::awaitable<transport_error> open_tunnel();
    boost::asio::awaitable<transport_error> open_socks5_tunnel();
    boost::asio::awaitable<transport_error> open_connect_tunnel();
    boost::asio::awaitable<exchange_result> exchange(request& req, std::size_t body_limit, bool& got_bytes);
    boost::beast::tcp_stream& tcp() noexcept;
    void unpark() noexcept;

    boost::asio::any_io_executor ex_;
    std::string host_, port_;
    std::optional<boost::asio::ip::address> ip_literal_;  // host_ when it is an IP address (no SNI, no resolver)
    std::shared_ptr<boost::asio::ssl::context> tls_ctx_;
    timeouts timeouts_;
    std::optional<proxy> via_;
    std::optional<boost::beast::tcp_stream> plain_;
    std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> secure_;
    boost::beast::flat_buffer buffer_;
    bool open_ = false;
    int parked_fd_ = -1;  // the socket while park()ed: owned here, unknown to the reactor
    boost::asio::ip::tcp parked_protocol_ = boost::asio::ip::tcp::v4();
    std::chrono::steady_clock::time_point last_used_{};
    // A getaddrinfo that outlived the last connect attempt's timeout: the next attempt waits for it
    // rather than starting another (a DNS server that never answers costs one thread, not one per try).
    std::shared_ptr<detail::dns_lookup> lookup_;
    std::string lookup_host_;  // what lookup_ resolves (the server's name, or the proxy's)
    std::uint64_t connects_ = 0;
};

}  // namespace scb::http
