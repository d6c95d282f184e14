#include "s3/endpoint.hpp"

#include "http/url.hpp"
#include "sigv4/signer.hpp"

#include <algorithm>
#include <cctype>

namespace scb::s3 {

std::optional<addressing_style> parse_addressing_style(std::string_view text) {
    if (text == "auto") return addressing_style::automatic;
    if (text == "path") return addressing_style::path;
    if (text == "virtual") return addressing_style::virtual_hosted;
    return std::nullopt;
}

std::optional<std::string> bucket_name_problem(std::string_view b) {
    if (b.empty()) return "the bucket name is empty";
    if (b.size() < 3 || b.size() > 63) return "a bucket name has 3 to 63 characters";
    for (char c : b)
        if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
              c == '.' || c == '-'))
            return "a bucket name holds only lower-case letters, digits, '.' and '-'";
    auto alnum = [](char c) { return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)); };
    if (!alnum(b.front()) || !alnum(b.back())) return "a bucket name starts and ends with a letter or digit";
    if (b.find("..") != std::string_view::npos) return "a bucket name has no two adjacent dots";
    if (std::all_of(b.begin(), b.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)) || c == '.'; }))
        return "a bucket name is not formatted like an IP address";
    return std::nullopt;
}

namespace {

bool is_ipv4_literal(std::string_view host) {
    return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c)) || c == '.';
    });
}

std::string strip_trailing_slash(std::string s) {
    while (!s.empty() && s.back() == '/') s.pop_back();
    return s;
}

}  // namespace

endpoint resolve_endpoint(const endpoint_config& cfg, std::string_view bucket) {
    if (auto why = bucket_name_problem(bucket)) throw endpoint_error("bucket name '" + std::string(bucket) + "': " + *why);
    endpoint ep;
    ep.bucket = bucket;
    ep.region = cfg.region;
    const bool dotted = bucket.find('.') != std::string_view::npos;

    if (cfg.url.empty()) {
        ep.tls = true;
        ep.port = "443";
        const std::string service_host = "s3." + cfg.region + ".amazonaws.com";
        // Dots in a bucket name break the *.s3 wildcard certificate, so such buckets go path style.
        ep.path_style = cfg.style == addressing_style::path || (cfg.style == addressing_style::automatic && dotted);
        ep.host = ep.path_style ? service_host : std::string(bucket) + "." + service_host;
        ep.host_header = ep.host;
        return ep;
    }

    // The URL may hold a password (refused below, but quoted in every message): show it redacted.
    const std::string shown = "endpoint URL '" + scb::http::redacted(cfg.url) + "'";
    auto parsed = scb::http::parse_url(cfg.url);
    if (!parsed) throw endpoint_error(shown + " " + parsed.problem);
    const auto& u = parsed.value;
    if (u.has_userinfo) throw endpoint_error(shown + " must not hold user:password; use AWS_ACCESS_KEY_ID");
    if (u.has_query || u.has_fragment) throw endpoint_error(shown + " must not have a query or fragment");

    ep.tls = u.tls;
    ep.host = u.host;
    ep.port = u.port_text();
    ep.base_path = strip_trailing_slash(u.path);
    // Custom stores (MinIO, s3rver, Ceph) rarely have wildcard DNS: path style unless asked.
    // An IP address has no subdomains: always path style.
    ep.path_style = cfg.style != addressing_style::virtual_hosted || u.ipv6 || is_ipv4_literal(ep.host);
    if (ep.path_style) {
        ep.host_header = u.host_header();  // brackets around IPv6, the port when not the default
    } else {
        ep.host = std::string(bucket) + "." + ep.host;
        const bool default_port = u.port == (u.tls ? 443 : 80);
        ep.host_header = default_port ? ep.host : ep.host + ":" + ep.port;
    }
    return ep;
}

std::string endpoint::bucket_path() const {
    return base_path + (path_style ? "/" + bucket + "/" : "/");
}

std::string endpoint::object_path(std::string_view key) const {
    return base_path + (path_style ? "/" + bucket + "/" : "/") + sigv4::uri_encode(key, false);
}

std::string endpoint::origin() const {
    return (tls ? "https://" : "http://") + host_header;
}

}  // namespace scb::s3
