#include "heartbeat/pinger.hpp"

#include "logging/logger.hpp"

#include <stdexcept>

namespace scb::heartbeat {

namespace {
/// The URL parsed, or a one-line error that names the setting but not the URL (its path is the secret).
http::url parse(const std::string& text) {
    auto parsed = http::parse_url(text);
    if (!parsed) throw std::runtime_error("the heartbeat URL " + parsed.problem);
    // We would not send it (no Basic auth here), and a password has no business in a log line.
    if (parsed.value.has_userinfo) throw std::runtime_error("the heartbeat URL must not hold a user:password");
    return parsed.value;
}
}  // namespace

pinger::pinger(boost::asio::any_io_executor ex, const std::string& url, const std::string& ca_bundle,
               const http::proxy_rules& proxies)
    : pinger(std::move(ex), parse(url), ca_bundle, proxies) {}

pinger::pinger(boost::asio::any_io_executor ex, const http::url& u, const std::string& ca_bundle,
               const http::proxy_rules& proxies)
    : host_header_(u.host_header()),
      target_(u.target),
      conn_(std::move(ex), u.host, u.port_text(), u.tls ? http::make_tls_context(ca_bundle) : nullptr,
            http::timeouts{std::chrono::seconds(10), std::chrono::seconds(10), std::chrono::seconds(4)},
            proxies.for_target(u.tls, u.host)) {}

boost::asio::awaitable<bool> pinger::ping() {
    http::request req{http::verb::get, target_, 11};
    req.set(http::field::host, host_header_);
    req.set(http::field::user_agent, "scb-backup/" SCB_VERSION);
    auto r = co_await conn_.send(req, 64 * 1024);
    // Only the host in these lines: the path and query are the check's secret.
    if (r.err) {
        logging::warn("heartbeat to ", host_header_, " failed: ", r.err.message);
        co_return false;
    }
    if (r.response.result_int() / 100 != 2) {
        logging::warn("heartbeat to ", host_header_, " answered HTTP ", r.response.result_int());
        co_return false;
    }
    logging::debug("heartbeat sent to ", host_header_);
    co_return true;
}

}  // namespace scb::heartbeat
