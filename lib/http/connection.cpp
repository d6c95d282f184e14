#include "http/connection.hpp"

#include "logging/escape.hpp"
#include "logging/logger.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/this_coro.hpp>

#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace scb::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
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

std::string describe_size(std::size_t bytes) {
    constexpr std::size_t kib = 1024, mib = 1024 * 1024;
    if (bytes >= mib && bytes % mib == 0) return std::to_string(bytes / mib) + " MiB";
    if (bytes >= kib && bytes % kib == 0) return std::to_string(bytes / kib) + " KiB";
    return std::to_string(bytes) + " bytes";
}

std::string describe_verify_failure(long verify_result, std::string_view host) {
    std::string out;
    switch (verify_result) {
    case X509_V_OK: return out;
    case X509_V_ERR_CERT_HAS_EXPIRED:
        out = "the server's certificate has expired (renew it on the server, or check the local clock)";
        break;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        out = "the server's certificate is not valid yet (check the local clock)";
        break;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        out = "the server's certificate is not valid for " + std::string(host) +
              " (wrong host name: check the endpoint URL and S3_ADDRESSING_STYLE)";
        break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        out = "the server's certificate is signed by an unknown CA (name the CA that signed it with AWS_CA_BUNDLE / "
              "--ca-bundle)";
        break;
    default: out = "the server's certificate was refused"; break;
    }
    return out + " [OpenSSL: " + X509_verify_cert_error_string(verify_result) + "]";
}

namespace detail {

/// One getaddrinfo() on a detached thread of its own, which the connection can stop waiting for.
/// Asio's resolver cannot be given up on: getaddrinfo ignores cancellation, io_context::run()
/// counts the pending lookup as work (so a daemon told to stop kept running until it returned)
/// and ~io_context joins the resolver's thread. Here the thread shares only this object, and
/// posts to a waiter's executor only while that waiter is registered: one that gave up (timeout,
/// cancellation, its io_context destroyed) unregisters first, under the mutex, and is never touched.
class dns_lookup {
public:
    static std::shared_ptr<dns_lookup> start(const std::string& host, const std::string& port) {
        auto self = std::make_shared<dns_lookup>();
        try {
            std::thread(run, self, host, port).detach();
        } catch (const std::system_error& e) {  // out of threads: this lookup's failure, not the daemon's
            self->finished_ = true;
            self->problem_ = std::string("cannot start a thread for getaddrinfo: ") + e.what();
        }
        return self;
    }

    /// While alive, `timer` is cancelled (on its own executor) when the answer arrives.
    class watch {
    public:
        watch(std::shared_ptr<dns_lookup> lookup, asio::steady_timer& timer) : lookup_(std::move(lookup)) {
            const std::lock_guard lock(lookup_->mutex_);
            lookup_->waiter_ = &timer;
            lookup_->waiter_ex_ = timer.get_executor();
        }
        ~watch() {
            const std::lock_guard lock(lookup_->mutex_);
            lookup_->waiter_ = nullptr;
            lookup_->waiter_ex_ = {};
        }
        watch(const watch&) = delete;
        watch& operator=(const watch&) = delete;

    private:
        std::shared_ptr<dns_lookup> lookup_;
    };

    [[nodiscard]] bool finished() {
        const std::lock_guard lock(mutex_);
        return finished_;
    }
    /// Once finished(): the addresses, or getaddrinfo's reason for having none.
    [[nodiscard]] std::vector<asio::ip::tcp::endpoint> endpoints(std::string& problem) {
        const std::lock_guard lock(mutex_);
        problem = problem_;
        return endpoints_;
    }

private:
    static void run(const std::shared_ptr<dns_lookup>& self, const std::string& host, const std::string& port) {
        addrinfo hints{};  // as Asio's resolver asks: any family, TCP, no flags
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_protocol = IPPROTO_TCP;
        addrinfo* list = nullptr;
        const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &list);
        const int sys_errno = errno;
        std::vector<asio::ip::tcp::endpoint> found;
        for (const addrinfo* a = list; rc == 0 && a; a = a->ai_next) {
            if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || a->ai_addrlen > sizeof(sockaddr_in6)) continue;
            asio::ip::tcp::endpoint ep;
            std::memcpy(ep.data(), a->ai_addr, a->ai_addrlen);
            ep.resize(a->ai_addrlen);
            found.push_back(ep);
        }
        if (list) ::freeaddrinfo(list);

        const std::lock_guard lock(self->mutex_);
        self->endpoints_ = std::move(found);
        if (rc != 0) self->problem_ = rc == EAI_SYSTEM ? std::strerror(sys_errno) : ::gai_strerror(rc);
        else if (self->endpoints_.empty()) self->problem_ = "no IPv4 or IPv6 address";
        self->finished_ = true;
        // Under the mutex: a registered waiter's io_context is still alive (see watch).
        if (self->waiter_) asio::post(self->waiter_ex_, [self] { self->wake(); });
    }

    void wake() {
        const std::lock_guard lock(mutex_);
        if (waiter_) waiter_->cancel();
    }

    std::mutex mutex_;
    bool finished_ = false;
    std::vector<asio::ip::tcp::endpoint> endpoints_;
    std::string problem_;
    asio::steady_timer* waiter_ = nullptr;
    asio::any_io_executor waiter_ex_;
};

}  // namespace detail

namespace {

std::optional<asio::ip::address> ip_literal(const std::string& host) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(host, ec);
    if (ec) return std::nullopt;
    return address;
}

/// Transport failures in our terms; the message says what happened, not how Beast calls it.
transport_error io_failure(failure kind, const std::string& what, const boost::system::error_code& ec) {
    return transport_error{kind, 0, what + ": " + ec.message()};
}

failure classify_io(const boost::system::error_code& ec) {
    if (ec == beast::error::timeout) return failure::timeout;
    // Beast's own timeouts say `timeout`: an abort is the caller cancelling (or close()), and
    // never a reason to reconnect.
    if (ec == asio::error::operation_aborted) return failure::aborted;
    if (ec.category() == asio::error::get_ssl_category() || ec.category() == asio::ssl::error::get_stream_category())
        return ec == asio::ssl::error::stream_truncated ? failure::connection_lost : failure::tls_failed;
    if (ec.category() == beast::http::make_error_code(beast::http::error::need_more).category() && ec != beast::http::error::end_of_stream &&
        ec != beast::http::error::partial_message)
        return failure::protocol_error;
    return failure::connection_lost;
}

/// Whether the calling coroutine was cancelled. With co_spawn's default filter only a terminal
/// cancellation gets this far; it also cancelled the operation we were awaiting. Asio throws at
/// the coroutine's next co_await of an operation, so we must return before any.
bool cancelled(const asio::cancellation_state& state) noexcept {
    return state.cancelled() != asio::cancellation_type::none;
}

transport_error aborted_error(const std::string& what) { return transport_error{failure::aborted, 0, what + " was cancelled"}; }

}  // namespace

connection::connection(asio::any_io_executor ex, std::string host, std::string port,
                       std::shared_ptr<asio::ssl::context> tls, timeouts t, std::optional<proxy> via)
    : ex_(std::move(ex)),
      host_(std::move(host)),
      port_(std::move(port)),
      ip_literal_(ip_literal(host_)),
      tls_ctx_(std::move(tls)),
      timeouts_(t),
      via_(std::move(via)) {}

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

asio::awaitable<transport_error> connection::resolve(const std::string& host, const std::string& port,
                                                     std::vector<asio::ip::tcp::endpoint>& out) {
    // A lookup still running from an attempt that gave up on it is waited for, not repeated.
    if (!lookup_ || lookup_->finished() || lookup_host_ != host + ":" + port) {
        lookup_ = detail::dns_lookup::start(host, port);
        lookup_host_ = host + ":" + port;
    }
    const auto lookup = lookup_;
    asio::steady_timer wake(ex_, timeouts_.connect);
    const detail::dns_lookup::watch watching(lookup, wake);
    // The timer is cancelled when the answer comes; it expires at the deadline.
    while (!lookup->finished()) {
        auto [ec] = co_await wake.async_wait(use_tuple);
        if (cancelled(co_await asio::this_coro::cancellation_state)) co_return aborted_error("resolving " + host);
        if (!ec && !lookup->finished())
            co_return transport_error{failure::timeout, 0, "DNS resolution of " + host + " timed out after " + std::to_string(timeouts_.connect.count()) +
                                " ms (check the name servers in /etc/resolv.conf, or raise --connect-timeout)"};
    }
    std::string problem;
    out = lookup->endpoints(problem);
    lookup_.reset();
    if (!problem.empty()) co_return transport_error{failure::resolve_failed, 0, "cannot resolve " + host + ": " + problem};
    co_return transport_error{};
}

asio::awaitable<transport_error> connection::connect() {
    close();
    // Through a proxy, TCP goes to the proxy; the tunnel then leads to host_:port_.
    const std::string& tcp_host = via_ ? via_->host : host_;
    const std::string& tcp_port = via_ ? via_->port : port_;
    const auto tcp_literal = via_ ? ip_literal(via_->host) : ip_literal_;
    const std::string peer = via_ ? "proxy " + via_->shown() : host_ + ":" + port_;
    std::vector<asio::ip::tcp::endpoint> endpoints;
    std::uint16_t port = 0;
    if (tcp_literal && std::from_chars(tcp_port.data(), tcp_port.data() + tcp_port.size(), port).ec == std::errc{}) {
        // An IP address needs no resolver (whose thread would cost a round trip per connection).
        endpoints.emplace_back(*tcp_literal, port);
    } else if (auto e = co_await resolve(tcp_host, tcp_port, endpoints)) {
        if (via_) e.message += " (the proxy, " + via_->shown() + ")";
        co_return e;
    }

    if (tls_ctx_)
        secure_.emplace(ex_, *tls_ctx_);
    else
        plain_.emplace(ex_);
    ++connects_;
    tcp().expires_after(timeouts_.connect);
    auto [cec, ep] = co_await tcp().async_connect(endpoints, use_tuple);
    if (cancelled(co_await asio::this_coro::cancellation_state)) {
        close();
        co_return aborted_error("connecting to " + host_ + ":" + port_);
    }
    if (cec) {
        close();
        co_return io_failure(cec == beast::error::timeout ? failure::timeout : failure::connect_failed,
                                  "cannot connect to " + peer, cec);
    }
    tcp().socket().set_option(asio::ip::tcp::no_delay(true));
    if (via_) {
        if (auto e = co_await open_tunnel()) {
            close();
            co_return e;
        }
    }
    if (secure_) {
        // SNI only for names (RFC 6066 forbids IP literals); the certificate must match the host either way.
        if (!ip_literal_ && !SSL_set_tlsext_host_name(secure_->native_handle(), host_.c_str())) {
            close();
            co_return transport_error{failure::tls_failed, 0, "cannot set TLS server name " + host_};
        }
        // OpenSSL's own host check rather than Asio's verify callback: a mismatch is then the
        // verification result, and the failed handshake can say "wrong host name".
        SSL* ssl = secure_->native_handle();
        if ((ip_literal_ ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host_.c_str())
                         : SSL_set1_host(ssl, host_.c_str())) != 1) {
            close();
            co_return transport_error{failure::tls_failed, 0, "cannot set the TLS host name to verify: " + host_};
        }
        auto [hec] = co_await secure_->async_handshake(asio::ssl::stream_base::client, use_tuple);
        if (cancelled(co_await asio::this_coro::cancellation_state)) {
            close();
            co_return aborted_error("the TLS handshake with " + host_ + ":" + port_);
        }
        if (hec) {
            // Read before close(), which frees the SSL object.
            const auto certificate = describe_verify_failure(SSL_get_verify_result(ssl), host_);
            close();
            auto e = io_failure(hec == beast::error::timeout ? failure::timeout : failure::tls_failed,
                                     "TLS handshake with " + host_ + ":" + port_ + " failed", hec);
            if (e.kind == failure::tls_failed && !certificate.empty())
                e.message = "TLS handshake with " + host_ + ":" + port_ + " failed: " + certificate;
            else if (e.kind == failure::tls_failed)
                e.message += " (is the certificate valid for this host? AWS_CA_BUNDLE / --ca-bundle)";
            co_return e;
        }
    }
    open_ = true;
    co_return transport_error{};
}

asio::awaitable<transport_error> connection::open_tunnel() {
    transport_error e;
    if (via_->kind == proxy_kind::http_connect)
        e = co_await open_connect_tunnel();
    else
        e = co_await open_socks5_tunnel();
    // A proxy that refuses, or dies, is an outage like a server that does: retried (connect_failed).
    if (e && e.kind != failure::aborted && e.kind != failure::timeout && e.kind != failure::resolve_failed)
        e.kind = failure::connect_failed;
    co_return e;
}

asio::awaitable<transport_error> connection::open_connect_tunnel() {
    const std::string target = (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + port_;
    const std::string who = "proxy " + via_->shown();
    const std::string connect_line = http_connect_request(target, *via_);
    auto [wec, written] = co_await asio::async_write(tcp(), asio::buffer(connect_line), use_tuple);
    (void)written;
    if (cancelled(co_await asio::this_coro::cancellation_state)) co_return aborted_error("connecting through " + who);
    if (wec) co_return io_failure(classify_io(wec), who + ": sending CONNECT failed", wec);
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.skip(true);  // a 2xx answer to CONNECT has no body; the tunnel starts after the header
    parser.header_limit(16 * 1024);
    auto [rec, read] = co_await bhttp::async_read_header(tcp(), buffer, parser, use_tuple);
    (void)read;
    if (cancelled(co_await asio::this_coro::cancellation_state)) co_return aborted_error("connecting through " + who);
    if (rec) co_return io_failure(classify_io(rec), who + ": no answer to CONNECT " + target, rec);
    const auto status = parser.get().result_int();
    if (status == 407)
        co_return transport_error{failure::connect_failed, 0,
                                  who + " wants credentials (407): put user:password@ in the proxy URL"};
    if (status < 200 || status > 299)
        co_return transport_error{failure::connect_failed, 0,
                                  who + " refused CONNECT " + target + ": " + std::to_string(status) + " " +
                                      logging::printable(std::string(parser.get().reason().substr(0, 100)))};
    if (buffer.size() != 0)
        co_return transport_error{failure::protocol_error, 0, who + " sent bytes before the tunnel was used"};
    co_return transport_error{};
}

asio::awaitable<transport_error> connection::open_socks5_tunnel() {
    const std::string who = "proxy " + via_->shown();
    auto refused = [&](const std::string& problem) { return transport_error{failure::connect_failed, 0, who + " " + problem}; };
    std::array<std::uint8_t, 257> answer{};
    // Each step: one message out, then exactly `expect` bytes of answer in. (Named, not temporary:
    // g++ 12 destroys a temporary inside a co_await expression twice.)
    std::string message;
    std::size_t expect = 0;
    auto step = [&]() -> asio::awaitable<transport_error> {
        if (!message.empty()) {
            auto [ec, n] = co_await asio::async_write(tcp(), asio::buffer(message), use_tuple);
            (void)n;
            if (cancelled(co_await asio::this_coro::cancellation_state)) co_return aborted_error("connecting through " + who);
            if (ec) co_return io_failure(classify_io(ec), who + " closed the connection during the SOCKS5 handshake", ec);
        }
        auto [ec, got] = co_await asio::async_read(tcp(), asio::buffer(answer.data(), expect), use_tuple);
        (void)got;
        if (cancelled(co_await asio::this_coro::cancellation_state)) co_return aborted_error("connecting through " + who);
        if (ec) co_return io_failure(classify_io(ec), who + " closed the connection during the SOCKS5 handshake", ec);
        co_return transport_error{};
    };
    const auto two = [&] { return std::span<const std::uint8_t, 2>(answer.data(), 2); };

    const bool offer_password = !via_->user.empty() || !via_->password.empty();
    message = socks5_greeting(offer_password);
    expect = 2;
    if (auto e = co_await step()) co_return e;
    const auto method = read_socks5_method(two(), offer_password);
    if (!method.problem.empty()) co_return refused(method.problem);
    if (method.password) {
        try {
            message = socks5_password_request(via_->user, via_->password.reveal());
        } catch (const proxy_error& ex) {
            co_return refused(ex.what());
        }
        if (auto e = co_await step()) co_return e;
        if (auto problem = read_socks5_password_answer(two()); !problem.empty()) co_return refused(problem);
    }

    // socks5h: the proxy resolves the name (no DNS query from here). socks5: resolved here.
    std::string host = host_;
    bool is_address = ip_literal_.has_value();
    if (via_->kind == proxy_kind::socks5 && !is_address) {
        std::vector<asio::ip::tcp::endpoint> endpoints;
        if (auto e = co_await resolve(host_, port_, endpoints)) co_return e;
        if (endpoints.empty()) co_return transport_error{failure::resolve_failed, 0, "cannot resolve " + host_};
        host = endpoints.front().address().to_string();
        is_address = true;
    }
    std::uint16_t port = 0;
    std::from_chars(port_.data(), port_.data() + port_.size(), port);
    try {
        message = socks5_connect_request(host, port, is_address);
    } catch (const proxy_error& ex) {
        co_return refused(ex.what());
    }
    expect = 5;
    if (auto e = co_await step()) co_return e;
    const auto reply = read_socks5_reply_head(std::span<const std::uint8_t, 5>(answer.data(), 5));
    if (!reply.problem.empty()) co_return refused(reply.problem + " (CONNECT " + host_ + ":" + port_ + ")");
    message.clear();  // the bound address and port that end the reply: read and dropped
    expect = reply.rest;
    if (auto e = co_await step()) co_return e;
    co_return transport_error{};
}

asio::awaitable<exchange_result> connection::exchange(request& req, std::size_t body_limit, bool& got_bytes) {
    exchange_result out;
    got_bytes = false;
    tcp().expires_after(timeouts_.request);
    boost::system::error_code wec;
    if (secure_)
        std::tie(wec, std::ignore) = co_await bhttp::async_write(*secure_, req, use_tuple);
    else
        std::tie(wec, std::ignore) = co_await bhttp::async_write(*plain_, req, use_tuple);
    if (cancelled(co_await asio::this_coro::cancellation_state)) {
        out.err = aborted_error("the request to " + host_);
        co_return out;
    }
    if (wec) {
        out.err = io_failure(classify_io(wec), "sending the request to " + host_ + " failed", wec);
        co_return out;
    }
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(64 * 1024);
    if (req.method() == bhttp::verb::head) parser.skip(true);
    boost::system::error_code rec;
    // The header first: its status decides how much body to accept.
    if (secure_)
        std::tie(rec, std::ignore) = co_await bhttp::async_read_header(*secure_, buffer_, parser, use_tuple);
    else
        std::tie(rec, std::ignore) = co_await bhttp::async_read_header(*plain_, buffer_, parser, use_tuple);
    // A cancellation that came with the header: return before the next co_await, which would throw.
    if (!rec && cancelled(co_await asio::this_coro::cancellation_state)) rec = asio::error::operation_aborted;
    std::size_t limit = body_limit;
    if (!rec && !parser.is_done()) {
        // An error answer is a short XML document, whatever the request: one that goes on is not
        // S3's, and must not cost the memory a GET of an object may take.
        if (parser.get().result_int() >= 300) limit = std::min(limit, small_body_limit);
        // (A Content-Length over the caller's own limit was refused by the parser already.)
        if (parser.content_length() && *parser.content_length() > limit) {
            rec = bhttp::error::body_limit;
        } else {
            parser.body_limit(limit);
            if (secure_)
                std::tie(rec, std::ignore) = co_await bhttp::async_read(*secure_, buffer_, parser, use_tuple);
            else
                std::tie(rec, std::ignore) = co_await bhttp::async_read(*plain_, buffer_, parser, use_tuple);
        }
    }
    got_bytes = parser.got_some();
    // An answer that came whole is kept even when the cancellation arrived meanwhile.
    if (rec && cancelled(co_await asio::this_coro::cancellation_state)) {
        out.err = aborted_error("the request to " + host_);
        co_return out;
    }
    if (rec == bhttp::error::body_limit) {
        // Retryable (protocol_error), and the connection is dropped (send() closes it on any error):
        // the rest of the body is never read.
        out.body_limit_hit = limit;
        out.err = transport_error{failure::protocol_error, parser.get().result_int(), "the answer from " + host_ + " was larger than " + describe_size(limit) +
                            "; the connection was dropped"};
        co_return out;
    }
    if (rec) {
        out.err = io_failure(classify_io(rec), "reading the response from " + host_ + " failed", rec);
        co_return out;
    }
    out.response = parser.release();
    co_return out;
}

asio::awaitable<exchange_result> connection::send(request& req, std::size_t body_limit) {
    if (cancelled(co_await asio::this_coro::cancellation_state))
        co_return exchange_result{aborted_error("the request to " + host_), {}};
    if (open_ && std::chrono::steady_clock::now() - last_used_ > timeouts_.idle) close();
    take_back();
    const bool reused = open_;
    if (!open_) {
        if (auto e = co_await connect()) co_return exchange_result{std::move(e), {}};
    }
    bool got_bytes = false;
    // The host, not the target: a heartbeat URL's path is its secret (healthchecks.io's UUID).
    logging::debug("http: ", req.method_string(), " to ", host_, " on ", reused ? "kept-alive" : "new", " connection");
    auto result = co_await exchange(req, body_limit, got_bytes);
    logging::debug("http: answer ", result.err ? result.err.message : std::to_string(result.response.result_int()));
    // (exchange() and connect() return failure::aborted when cancelled: no second try then.)
    if (result.err && reused && !got_bytes && result.err.kind == failure::connection_lost) {
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

}  // namespace scb::http
