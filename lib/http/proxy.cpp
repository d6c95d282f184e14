#include "http/proxy.hpp"

#include "common/text.hpp"
#include "crypto/hash.hpp"
#include "http/url.hpp"

#include <boost/asio/ip/address.hpp>

namespace scb::http {

std::string proxy::shown() const {
    const char* scheme = kind == proxy_kind::socks5h ? "socks5h" : kind == proxy_kind::socks5 ? "socks5" : "http";
    const bool v6 = host.find(':') != std::string::npos;
    return std::string(scheme) + "://" + (v6 ? "[" + host + "]" : host) + ":" + port;
}

proxy parse_proxy(std::string_view text, const std::string& setting) {
    auto parsed = parse_url(text, url_kind::proxy);
    // Never quoted: the URL may hold the proxy's password.
    if (!parsed) throw proxy_error(setting + " " + parsed.problem);
    url& u = parsed.value;
    if (u.path.size() > 1 || u.has_query || u.has_fragment)
        throw proxy_error(setting + " has a path, query or fragment: a proxy URL is scheme://[user:password@]host:port");
    proxy p;
    p.kind = u.scheme == "socks5h" ? proxy_kind::socks5h : u.scheme == "socks5" ? proxy_kind::socks5 : proxy_kind::http_connect;
    p.host = u.host;
    p.port = u.port_text();
    p.user = std::move(u.user);
    p.password = scb::secret(std::move(u.password));
    return p;
}

namespace {

/// The host of a NO_PROXY entry: without a ":port", brackets or a leading dot; lower case.
std::string entry_host(std::string_view entry) {
    std::string e(entry);
    if (!e.empty() && e.front() == '[') {
        const auto end = e.find(']');
        e = e.substr(1, end == std::string::npos ? std::string::npos : end - 1);
    } else if (std::count(e.begin(), e.end(), ':') == 1) {
        e = e.substr(0, e.find(':'));  // host:port (an IPv6 address has several colons)
    }
    while (!e.empty() && e.front() == '.') e.erase(0, 1);
    for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return e;
}

}  // namespace

bool no_proxy_matches(std::string_view no_proxy, std::string_view host_in) {
    std::string host = entry_host(host_in);
    std::size_t at = 0;
    while (at < no_proxy.size()) {
        const std::size_t end = no_proxy.find_first_of(", \t", at);
        const std::string_view raw = no_proxy.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at);
        at = end == std::string_view::npos ? no_proxy.size() : end + 1;
        if (raw.empty()) continue;
        if (raw == "*") return true;
        const std::string e = entry_host(raw);
        if (e.empty()) continue;
        // The host itself, or a subdomain of it (as curl and the AWS SDKs match).
        if (host == e) return true;
        if (host.size() > e.size() && host.compare(host.size() - e.size(), e.size(), e) == 0 &&
            host[host.size() - e.size() - 1] == '.')
            return true;
    }
    return false;
}

std::optional<proxy> proxy_rules::for_target(bool tls, std::string_view host) const {
    if (!no_proxy.empty() && no_proxy_matches(no_proxy, host)) return std::nullopt;
    if (always) return always;
    return tls ? https : http;
}

proxy_rules make_proxy_rules(const std::string& explicit_url,
                             const std::function<std::optional<std::string>(const std::string&)>& env) {
    proxy_rules rules;
    if (!explicit_url.empty()) rules.always = parse_proxy(explicit_url, "SCB_PROXY / --proxy");
    // The first of the pair that is set and not empty; curl reads the lower-case names first.
    auto first = [&](const char* lower, const char* upper) -> std::optional<std::pair<std::string, std::string>> {
        for (const char* name : {lower, upper})
            if (auto v = env(name); v && !v->empty()) return std::make_pair(std::string(name), *v);
        return std::nullopt;
    };
    if (auto v = first("https_proxy", "HTTPS_PROXY")) rules.https = parse_proxy(v->second, v->first);
    if (auto v = first("http_proxy", "HTTP_PROXY")) rules.http = parse_proxy(v->second, v->first);
    if (auto v = first("no_proxy", "NO_PROXY")) rules.no_proxy = v->second;
    return rules;
}

std::string socks5_greeting(bool offer_password) {
    if (offer_password) return std::string("\x05\x02\x00\x02", 4);
    return std::string("\x05\x01\x00", 3);
}

std::string socks5_password_request(std::string_view user, std::string_view password) {
    if (user.size() > 255 || password.size() > 255)
        throw proxy_error("the SOCKS5 proxy's user name and password must be at most 255 bytes each");
    std::string out;
    out += '\x01';
    out += static_cast<char>(user.size());
    out += user;
    out += static_cast<char>(password.size());
    out += password;
    return out;
}

std::string socks5_connect_request(std::string_view host, std::uint16_t port, bool host_is_address) {
    std::string out("\x05\x01\x00", 3);
    boost::system::error_code ec;
    const auto address = host_is_address ? boost::asio::ip::make_address(std::string(host), ec) : boost::asio::ip::address{};
    if (host_is_address && !ec && address.is_v4()) {
        out += '\x01';
        const auto bytes = address.to_v4().to_bytes();
        out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    } else if (host_is_address && !ec) {
        out += '\x04';
        const auto bytes = address.to_v6().to_bytes();
        out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    } else {
        if (host.size() > 255) throw proxy_error("the host name is too long for SOCKS5 (over 255 bytes)");
        out += '\x03';
        out += static_cast<char>(host.size());
        out += host;
    }
    out += static_cast<char>(port >> 8);
    out += static_cast<char>(port & 0xff);
    return out;
}

socks5_method_answer read_socks5_method(std::span<const std::uint8_t, 2> answer, bool offered_password) {
    socks5_method_answer out;
    if (answer[0] != 0x05) {
        out.problem = "is not a SOCKS5 proxy (its greeting answer has version " + std::to_string(answer[0]) + ")";
    } else if (answer[1] == 0x00) {
        out.password = false;
    } else if (answer[1] == 0x02 && offered_password) {
        out.password = true;
    } else if (answer[1] == 0xff) {
        out.problem = offered_password ? "refused the user name and password method (check the proxy's settings)"
                                       : "requires authentication: put user:password@ in the proxy URL";
    } else {
        out.problem = "chose authentication method " + std::to_string(answer[1]) + ", which was not offered";
    }
    return out;
}

std::string read_socks5_password_answer(std::span<const std::uint8_t, 2> answer) {
    if (answer[1] == 0x00) return {};
    return "refused the user name and password (check the credentials in the proxy URL)";
}

socks5_reply_head read_socks5_reply_head(std::span<const std::uint8_t, 5> head) {
    socks5_reply_head out;
    if (head[0] != 0x05) {
        out.problem = "answered CONNECT with version " + std::to_string(head[0]) + " (not SOCKS5)";
        return out;
    }
    switch (head[1]) {
    case 0x00: break;
    case 0x01: out.problem = "failed (general SOCKS server failure)"; break;
    case 0x02: out.problem = "refused: its rules do not allow this connection"; break;
    case 0x03: out.problem = "could not reach the network of the server"; break;
    case 0x04: out.problem = "could not reach the server (host unreachable, or its name did not resolve)"; break;
    case 0x05: out.problem = "was refused by the server (connection refused)"; break;
    case 0x06: out.problem = "timed out (TTL expired)"; break;
    case 0x07: out.problem = "does not support CONNECT"; break;
    case 0x08: out.problem = "does not support this address type (try socks5h:// to send the name)"; break;
    default: out.problem = "failed with reply code " + std::to_string(head[1]); break;
    }
    if (!out.problem.empty()) return out;
    // The bound address: head[3] is its type; for a domain head[4] is its length, else its first byte.
    switch (head[3]) {
    case 0x01: out.rest = 4 - 1 + 2; break;
    case 0x04: out.rest = 16 - 1 + 2; break;
    case 0x03: out.rest = std::size_t{head[4]} + 2; break;
    default: out.problem = "answered CONNECT with address type " + std::to_string(head[3]); break;
    }
    return out;
}

std::string http_connect_request(const std::string& host_port, const proxy& via) {
    std::string out = "CONNECT " + host_port + " HTTP/1.1\r\nHost: " + host_port + "\r\n";
    if (!via.user.empty() || !via.password.empty()) {
        const std::string pair = via.user + ":" + std::string(via.password.reveal());
        out += "Proxy-Authorization: Basic " +
               crypto::base64({reinterpret_cast<const std::uint8_t*>(pair.data()), pair.size()}) + "\r\n";
    }
    out += "\r\n";
    return out;
}

}  // namespace scb::http
