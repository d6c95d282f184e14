#include "config/listen_address.hpp"

#include <charconv>

namespace scb::config {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::optional<tcp::endpoint> parse_listen(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
        if (host.empty()) return std::nullopt;
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
    }
    unsigned value = 0;
    if (port.empty() || port.size() > 5) return std::nullopt;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value > 65535) return std::nullopt;

    boost::system::error_code bad;
    asio::ip::address address;
    if (host.empty()) address = asio::ip::address_v4::any();
    else if (text.front() == '[') address = asio::ip::make_address_v6(std::string(host), bad);
    else address = asio::ip::make_address_v4(std::string(host), bad);
    if (bad) return std::nullopt;
    return tcp::endpoint(address, static_cast<unsigned short>(value));
}

}  // namespace scb::config
