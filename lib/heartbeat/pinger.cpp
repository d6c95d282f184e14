#include "heartbeat/pinger.hpp"

#include "logging/logger.hpp"

#include <boost/url/parse.hpp>

#include <stdexcept>

namespace scb::heartbeat {

namespace {
detail::parsed_url parse(const std::string& url) {
    auto u = boost::urls::parse_absolute_uri(url);
    if (!u || (u->scheme() != "http" && u->scheme() != "https") || u->encoded_host().empty())
        throw std::runtime_error("heartbeat URL must be http:// or https:// with a host");
    detail::parsed_url p;
    p.tls = u->scheme() == "https";
    p.host = std::string(u->encoded_host_address());
    if (!p.host.empty() && p.host.front() == '[') p.host = p.host.substr(1, p.host.size() - 2);
    p.port = u->has_port() ? std::string(u->port()) : (p.tls ? "443" : "80");
    p.host_header = std::string(u->encoded_host_and_port());
    p.target = std::string(u->encoded_path().empty() ? "/" : u->encoded_path());
    if (u->has_query()) p.target += "?" + std::string(u->encoded_query());
    return p;
}
}  // namespace

pinger::pinger(boost::asio::any_io_executor ex, const std::string& url, const std::string& ca_bundle)
    : pinger(std::move(ex), parse(url), ca_bundle) {}

pinger::pinger(boost::asio::any_io_executor ex, detail::parsed_url p, const std::string& ca_bundle)
    : host_header_(p.host_header),
      target_(p.target),
      conn_(std::move(ex), p.host, p.port, p.tls ? s3::make_tls_context(ca_bundle) : nullptr,
            s3::timeouts{std::chrono::seconds(10), std::chrono::seconds(10), std::chrono::seconds(4)}) {}

boost::asio::awaitable<bool> pinger::ping() {
    s3::http_request req{s3::http::verb::get, target_, 11};
    req.set(s3::http::field::host, host_header_);
    req.set(s3::http::field::user_agent, "scb-backup/" SCB_VERSION);
    auto r = co_await conn_.send(req, 64 * 1024);
    if (r.err) {
        logging::warn("heartbeat failed: ", r.err.message);
        co_return false;
    }
    if (r.response.result_int() / 100 != 2) {
        logging::warn("heartbeat answered HTTP ", r.response.result_int());
        co_return false;
    }
    logging::debug("heartbeat sent");
    co_return true;
}

}  // namespace scb::heartbeat
