#pragma once
// The address of the health listener (SCB_LISTEN / --listen), parsed once for the settings, the
// server and `scb-backup healthcheck`.
#include <boost/asio/ip/tcp.hpp>

#include <optional>
#include <string_view>

namespace scb::config {

/// Parses SCB_LISTEN / --listen: "127.0.0.1:9580", "[::1]:9580", or ":9580" (every IPv4 address,
/// 0.0.0.0). Literal addresses only (no host names); nothing when the text is not one of these.
std::optional<boost::asio::ip::tcp::endpoint> parse_listen(std::string_view text);

}  // namespace scb::config
