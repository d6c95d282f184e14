// The proxy's parsers: SCB_PROXY / HTTPS_PROXY / HTTP_PROXY URLs, NO_PROXY lists (the operator's
// input), and the SOCKS5 proxy's answers (the network's). The first byte picks which.
#include "http/proxy.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace {

bool one_line(const std::string& s) { return !s.empty() && s.find('\n') == std::string::npos; }

void socks5_answers(const std::uint8_t* p, std::size_t n) {
    if (n < 5) return;
    const auto method = scb::http::read_socks5_method(std::span<const std::uint8_t, 2>(p, 2), (p[2] & 1) != 0);
    if (!method.problem.empty() && !one_line(method.problem)) __builtin_trap();
    if (method.password && (p[2] & 1) == 0) __builtin_trap();  // a method we did not offer is refused
    const auto password = scb::http::read_socks5_password_answer(std::span<const std::uint8_t, 2>(p, 2));
    if (!password.empty() && !one_line(password)) __builtin_trap();
    const auto head = scb::http::read_socks5_reply_head(std::span<const std::uint8_t, 5>(p, 5));
    if (!head.problem.empty() && !one_line(head.problem)) __builtin_trap();
    // What is read after the head: at most a 255-byte name and the port.
    if (head.rest > 257 || (head.problem.empty() && head.rest == 0)) __builtin_trap();
}

void proxy_url(const std::string& text) {
    try {
        const auto p = scb::http::parse_proxy(text, "SCB_PROXY");
        if (p.host.empty() || p.port.empty()) __builtin_trap();
        // shown() is for logs: never the credentials.
        if (p.shown().find('@') != std::string::npos) __builtin_trap();
        (void)scb::http::http_connect_request("s3.amazonaws.com:443", p);
    } catch (const scb::http::proxy_error& e) {
        const std::string what = e.what();
        if (!one_line(what)) __builtin_trap();
        // Never quoted: a URL with an '@' may hold a password. (Without one, the text may match
        // the example URLs the message gives.)
        if (text.find('@') != std::string::npos && what.find(text) != std::string::npos) __builtin_trap();
    }
}

void no_proxy(const std::string& all) {
    const auto nl = all.find('\n');
    const std::string list = nl == std::string::npos ? all : all.substr(0, nl);
    const std::string host = nl == std::string::npos ? "s3.amazonaws.com" : all.substr(nl + 1);
    const bool matches = scb::http::no_proxy_matches(list, host);
    if (!scb::http::no_proxy_matches("*", host)) __builtin_trap();
    if (list == "*" && !matches) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 3) {
    case 0: socks5_answers(data + 1, size - 1); break;
    case 1: proxy_url(rest); break;
    default: no_proxy(rest); break;
    }
    return 0;
}
