// http::parse_url and http::redacted: every URL a person configures. A URL that parses has a host,
// a port in 1..65535 and a target starting with '/'; redacted() never shows the userinfo.
#include "http/url.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto r = scb::http::parse_url(text);
    if (r) {
        if (r.value.host.empty() || r.value.port == 0 || r.value.target.empty() || r.value.target[0] != '/')
            __builtin_trap();
        (void)r.value.origin();
        (void)r.value.host_header();
    } else if (r.problem.empty() || r.problem.find('\n') != std::string::npos) {
        __builtin_trap();
    }
    // Whatever stands between "://" and an '@' before the first '/', '?' or '#' is userinfo: it is
    // replaced by "***", whether the text parses or not.
    const auto shown = scb::http::redacted(text);
    const auto scheme = text.find("://");
    if (scheme != std::string::npos) {
        const auto begin = scheme + 3;
        const auto end = text.find_first_of("/?#", begin);
        const auto at = text.substr(0, end).rfind('@');
        if (at != std::string::npos && at >= begin && shown.compare(0, begin + 3, text.substr(0, begin) + "***") != 0)
            __builtin_trap();
    }
    return 0;
}
