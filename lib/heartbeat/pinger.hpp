#pragma once
// Dead man's switch: a GET to a healthchecks.io-style URL, so the operator hears when backups stop.
#include "http/url.hpp"
#include "http/connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <string>

namespace scb::heartbeat {

class pinger {
public:
    /// Throws std::runtime_error for a URL that is not http(s)://host[:port]/path (see
    /// http::parse_url) or that holds a user:password. The message never shows the URL: its path
    /// is usually the check's secret id.
    pinger(boost::asio::any_io_executor ex, const std::string& url, const std::string& ca_bundle,
           const http::proxy_rules& proxies = {});

    /// Sends the GET; true on a 2xx answer. Failures are logged as warnings naming the host only.
    boost::asio::awaitable<bool> ping();

private:
    pinger(boost::asio::any_io_executor ex, const http::url& u, const std::string& ca_bundle, const http::proxy_rules& proxies);
    std::string host_header_, target_;
    http::connection conn_;
};

}  // namespace scb::heartbeat
