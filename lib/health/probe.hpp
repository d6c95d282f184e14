#pragma once
// The client side of the health endpoint, for `scb-backup healthcheck` (Docker HEALTHCHECK without a
// shell or curl in the image): GET /healthz on the daemon's own listener.
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <string>

namespace scb::health {

struct probe_result {
    bool healthy = false;  // 200
    unsigned status = 0;   // 0 when there was no HTTP answer
    std::string text;      // the body ("ok", or why not), or the connection error
};

/// GETs http://<target>/healthz with one overall deadline, on its own io_context (blocking). A
/// wildcard listen address (0.0.0.0, ::) is probed on loopback. Never throws for network failures.
probe_result probe(boost::asio::ip::tcp::endpoint target, std::chrono::milliseconds timeout);

}  // namespace scb::health
