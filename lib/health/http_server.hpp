#pragma once
// An optional HTTP listener on the daemon's own io_context: GET /healthz for load balancers and
// container health checks, GET /metrics for Prometheus. Plain HTTP, meant for loopback or a private
// network: it serves no secret and accepts no input beyond the request line.
#include "health/metrics.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace scb::health {

/// Bounds on what one client may cost. The listener runs on the daemon's own io_context, so a slow
/// or hostile client must never hold a slot for long, nor keep a fresh client from being served.
struct server_limits {
    // The whole request (header and its tiny body) must arrive within this, counted from accept for
    // the first request and from the previous answer for the next ones (idle keep-alive included).
    // One deadline per request, not per read: a byte every few seconds does not extend it.
    std::chrono::milliseconds header_timeout{std::chrono::seconds(2)};
    std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
    std::uint32_t header_limit = 8 * 1024;
    std::uint64_t body_limit = 1024;         // GET has no body; a small one is read and ignored
    unsigned max_requests_per_connection = 100;
    // Slots. When a new connection would exceed either cap, the oldest connection (of that address,
    // or of anyone) still waiting for its request is closed to make room; the new one is refused
    // only when every candidate is busy being answered. 4 per address: a healthcheck, a scraper and
    // a person with curl fit, and one address cannot take more than 4 of the 32 slots.
    unsigned max_connections = 32;
    unsigned max_connections_per_client = 4;  // per remote IP address
};

class http_server {
public:
    /// Opens, binds and listens at once, so port() is known (port 0 picks a free one) and a bad
    /// address fails at start-up. Throws boost::system::system_error (address in use, not local…).
    /// `health` must outlive the server and every connection (the daemon owns both).
    http_server(boost::asio::any_io_executor ex, boost::asio::ip::tcp::endpoint listen, const state& health,
                std::chrono::seconds stale_after, server_limits limits = {});
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    /// Accepts until cancelled (e.g. by a parallel group) or close(); each connection runs in its
    /// own detached coroutine. On the way out it closes the acceptor and every open connection, so
    /// the io_context runs out of work. `this` must outlive the coroutine.
    boost::asio::awaitable<void> run();
    /// Stops accepting and closes open connections (also done when run() ends).
    void close();

    [[nodiscard]] unsigned short port() const noexcept { return port_; }
    [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const { return local_; }

    struct shared;  // what connections share with the server; outlives it while they run

private:
    boost::asio::any_io_executor ex_;
    std::shared_ptr<shared> shared_;
    boost::asio::ip::tcp::endpoint local_;
    unsigned short port_ = 0;
};

}  // namespace scb::health
