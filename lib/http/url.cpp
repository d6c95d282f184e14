#include "http/url.hpp"

#include "common/text.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace scb::http {

namespace {

constexpr std::uint16_t default_port(bool tls) { return tls ? 443 : 80; }

}  // namespace

std::string url::host_header() const {
    std::string out = ipv6 ? "[" + host + "]" : host;
    if (port != default_port(tls)) out += ":" + port_text();
    return out;
}

std::string url::origin() const { return (tls ? "https://" : "http://") + host_header(); }

url_result parse_url(std::string_view text, url_kind kind) {
    url_result out;
    const bool proxy = kind == url_kind::proxy;
    auto parsed = boost::urls::parse_uri(boost::urls::string_view(text.data(), text.size()));
    if (!parsed) {
        out.problem = proxy ? "is not a proxy URL like socks5h://127.0.0.1:9050 or http://proxy:3128"
                            : "is not an absolute URL like https://host:port/path";
        return out;
    }
    const auto& u = *parsed;
    url& r = out.value;
    // Schemes are case-insensitive (RFC 3986 3.1): HTTPS://host is https.
    for (const char* known : {"http", "https", "socks5", "socks5h"})
        if (iequals(u.scheme(), known)) r.scheme = known;
    r.tls = r.scheme == "https";
    if (proxy && r.scheme == "https") {
        out.problem = "is an https:// proxy, which is not supported: use http:// (CONNECT keeps TLS end to end with S3)";
        return out;
    }
    if (proxy ? r.scheme.empty() : r.scheme != "http" && r.scheme != "https") {
        out.problem = proxy ? "must start with http://, socks5:// or socks5h://" : "must start with http:// or https://";
        return out;
    }
    if (!u.has_authority() || u.encoded_host().empty()) {
        out.problem = "has no host";
        return out;
    }
    if (u.host_type() == boost::urls::host_type::ipvfuture) {
        out.problem = "has a host that is neither a name nor an IP address";
        return out;
    }
    r.ipv6 = u.host_type() == boost::urls::host_type::ipv6;
    r.host = std::string(u.encoded_host_address());
    if (r.host.size() >= 2 && r.host.front() == '[') r.host = r.host.substr(1, r.host.size() - 2);

    r.port = default_port(r.tls);
    if (proxy && (!u.has_port() || u.port().empty())) {
        out.problem = "has no port: write it, e.g. socks5h://127.0.0.1:9050 (Tor) or http://proxy:3128";
        return out;
    }
    // An empty port ("host:") means the default (RFC 3986 3.2.3); the grammar allows only digits.
    if (u.has_port() && !u.port().empty()) {
        const std::string_view digits(u.port().data(), u.port().size());
        unsigned long value = 0;
        for (char c : digits) {
            value = value * 10 + static_cast<unsigned long>(c - '0');
            if (value > 65535) break;  // stop before any overflow
        }
        if (value == 0 || value > 65535) {
            out.problem = "has port " + std::string(digits.substr(0, 12)) + (digits.size() > 12 ? "..." : "") +
                          ", outside 1-65535";
            return out;
        }
        r.port = static_cast<std::uint16_t>(value);
    }
    r.path = std::string(u.encoded_path());
    // After the authority only "/..." may follow; Boost.URL 1.81 takes "user:pw@h1@h2/x" as host h1
    // and path "@h2/x" (found by fuzzing): a second '@' means an unencoded '@' in the password.
    if (!r.path.empty() && r.path[0] != '/') {
        out.problem = "is not a valid URL (an unencoded '@' in the user:password? write it as %40)";
        return out;
    }
    r.target = r.path.empty() ? "/" : r.path;
    r.has_query = u.has_query();
    if (r.has_query) r.target += "?" + std::string(u.encoded_query());
    r.has_fragment = u.has_fragment();
    r.has_userinfo = u.has_userinfo();
    if (proxy && r.has_userinfo) {
        r.user = std::string(u.user());
        r.password = std::string(u.password());
    }
    return out;
}

std::string redacted(std::string_view text) {
    const std::size_t sep = text.find("://");
    const std::size_t begin = sep == std::string_view::npos ? 0 : sep + 3;
    auto hide_to = [&](std::size_t at) { return std::string(text.substr(0, begin)) + "***" + std::string(text.substr(at)); };
    auto parsed = boost::urls::parse_uri(boost::urls::string_view(text.data(), text.size()));
    if (parsed && parsed->has_authority() && sep != std::string_view::npos) {
        // A well-formed authority ends at the first '/', '?' or '#', and its userinfo at its '@'.
        const std::size_t end = text.find_first_of("/?#", begin);
        const std::size_t at = text.substr(0, end).rfind('@');
        if (at != std::string_view::npos && at >= begin) return hide_to(at);
        // An '@' in the path is just a path ("/a@b"). One after '?' or '#' may end a password that
        // holds an unencoded '?' or '#' ("user:pa#ss@host"): hide it as for text that does not parse.
        const std::size_t rest = end == std::string_view::npos ? end : text.find_first_of("?#", end);
        if (rest == std::string_view::npos || text.find('@', rest) == std::string_view::npos) return std::string(text);
    }
    // Best effort: everything up to the last '@'. Hiding too much beats showing part of a password.
    const std::size_t at = text.rfind('@');
    return at == std::string_view::npos || at < begin ? std::string(text) : hide_to(at);
}

}  // namespace scb::http
