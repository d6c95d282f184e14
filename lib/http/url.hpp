#pragma once
// The one parser for the http(s) URLs a person gives us (S3 endpoint, metadata endpoints, heartbeat),
// and the one way to show such a URL without its user:password.
#include <cstdint>
#include <string>
#include <string_view>

namespace scb::http {

/// Which schemes parse_url() takes.
enum class url_kind {
    web,    // http:// and https:// (S3 endpoints, metadata endpoints, the heartbeat)
    proxy,  // http:// (CONNECT), socks5:// and socks5h://; the port is required
};

/// An http or https URL split into what a connection and a request need.
struct url {
    std::string scheme;        // lower case: "http", "https", "socks5", "socks5h"
    bool tls = false;          // https
    std::string host;          // as written (percent-encoded), IPv6 without brackets
    bool ipv6 = false;         // host is an IPv6 literal: Host header and origin need brackets
    std::uint16_t port = 0;    // the URL's port, else 443 (https) or 80 (http)
    std::string path;          // percent-encoded path as written, "" when none
    std::string target;        // path and query as sent in a request line, "/" when the path is empty
    bool has_query = false;    // a '?', even with nothing after it
    bool has_fragment = false;
    bool has_userinfo = false;  // "user:password@" before the host (callers refuse it)
    std::string user, password;  // percent-decoded userinfo (url_kind::proxy only: a proxy's credentials)

    /// The port as text ("443").
    [[nodiscard]] std::string port_text() const { return std::to_string(port); }
    /// The Host header: brackets around IPv6, ":port" only when not the scheme's default.
    [[nodiscard]] std::string host_header() const;
    /// "https://host[:port]": no userinfo, path or query, so safe for any log line.
    [[nodiscard]] std::string origin() const;
};

/// What parse_url found: the URL, or one line saying what is wrong with it.
struct url_result {
    url value;
    /// Empty when parsed. Else a predicate to put after the URL's name, e.g. "has port 70000,
    /// outside 1-65535"; it never quotes the URL itself (callers show http::redacted(text)).
    std::string problem;
    explicit operator bool() const noexcept { return problem.empty(); }
};

/// Parses an absolute http:// or https:// URL (scheme in any case; a #fragment is allowed and ignored) with Boost.URL. Refuses other
/// schemes, a missing host, and ports outside 1-65535. A user:password part is reported in
/// has_userinfo, not refused: each caller says why it cannot use one.
url_result parse_url(std::string_view text, url_kind kind = url_kind::web);

/// `text` for showing: any user:password@ becomes "***@". Exact for a URL that parses; for text
/// that does not (or whose query or fragment holds an '@': maybe a password with an unencoded '?'
/// or '#'), everything between "://" (or the start) and the last '@' is hidden. Never throws.
std::string redacted(std::string_view text);

}  // namespace scb::http
