#pragma once
// Uploads through a proxy: which proxy a request takes (SCB_PROXY, else HTTPS_PROXY / HTTP_PROXY,
// minus NO_PROXY), and the bytes of the tunnel's handshake (HTTP CONNECT; SOCKS5, RFC 1928 and
// RFC 1929). Pure: connection.cpp does the I/O.
#include "common/secret.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace scb::http {

enum class proxy_kind {
    http_connect,  // http://: CONNECT host:port, then TLS (or plain HTTP) end to end with the server
    socks5,        // socks5://: the name is resolved here, the proxy gets an address
    socks5h,       // socks5h://: the proxy resolves the name (no DNS query leaves the node: Tor)
};

struct proxy {
    proxy_kind kind = proxy_kind::http_connect;
    std::string host;  // IPv6 without brackets
    std::string port;
    std::string user;  // credentials from the URL (user:password@): secrets, never shown
    scb::secret password;
    /// "socks5h://127.0.0.1:9050": for logs, without the credentials.
    [[nodiscard]] std::string shown() const;
};

/// A proxy setting that cannot be used; what() is one line naming the setting, never the password.
struct proxy_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Parses a proxy URL: http://, socks5:// or socks5h://, with a port and optional user:password@.
/// Throws proxy_error naming `setting` (e.g. "SCB_PROXY / --proxy").
proxy parse_proxy(std::string_view text, const std::string& setting);

/// Whether NO_PROXY's list (comma- or blank-separated: "*", host names matching themselves and
/// their subdomains, with or without a leading dot, IP addresses; a ":port" is ignored) covers `host`.
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

/// The proxy settings in force, read once at start.
struct proxy_rules {
    std::optional<proxy> always;  // SCB_PROXY / --proxy: for every target
    std::optional<proxy> https;   // https_proxy / HTTPS_PROXY
    std::optional<proxy> http;    // http_proxy / HTTP_PROXY
    std::string no_proxy;         // no_proxy / NO_PROXY

    /// The proxy for a request to `host` (over TLS or not); nullopt for a direct connection.
    [[nodiscard]] std::optional<proxy> for_target(bool tls, std::string_view host) const;
};

/// SCB_PROXY (`explicit_url`, may be empty) and the environment's proxy variables, lower-case
/// names first as curl reads them. Throws proxy_error for a URL that cannot be used.
proxy_rules make_proxy_rules(const std::string& explicit_url,
                             const std::function<std::optional<std::string>(const std::string&)>& env);

// ---- SOCKS5 messages (RFC 1928, RFC 1929) ----

/// The client's greeting: version 5 and the methods offered (no authentication; also
/// username/password when the proxy URL has credentials).
std::string socks5_greeting(bool offer_password);
/// The username/password request (RFC 1929). Throws proxy_error when either is over 255 bytes.
std::string socks5_password_request(std::string_view user, std::string_view password);
/// CONNECT to `host` (a name, sent as a domain: socks5h) or to an IPv4/IPv6 address, and `port`.
/// Throws proxy_error for a name over 255 bytes.
std::string socks5_connect_request(std::string_view host, std::uint16_t port, bool host_is_address);

/// What a 2-byte answer to the greeting says: the method chosen, or a problem ("" when usable).
struct socks5_method_answer {
    bool password = false;  // the proxy wants username/password
    std::string problem;
};
socks5_method_answer read_socks5_method(std::span<const std::uint8_t, 2> answer, bool offered_password);
/// The problem a 2-byte answer to the username/password request shows ("" when accepted).
std::string read_socks5_password_answer(std::span<const std::uint8_t, 2> answer);
/// The first 5 bytes of the CONNECT reply: the problem it shows ("" when the proxy connected), and
/// how many bytes of the reply follow (the bound address and port).
struct socks5_reply_head {
    std::string problem;
    std::size_t rest = 0;
};
socks5_reply_head read_socks5_reply_head(std::span<const std::uint8_t, 5> head);

/// The CONNECT request of an HTTP proxy for `host_port` ("s3.amazonaws.com:443"), with a
/// Proxy-Authorization: Basic header when the proxy has credentials.
std::string http_connect_request(const std::string& host_port, const proxy& via);

}  // namespace scb::http
