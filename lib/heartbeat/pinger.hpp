#pragma once
// Dead man's switch: a GET to a healthchecks.io-style URL, so the operator hears when backups stop.
#include "s3/connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <string>

namespace scb::heartbeat {

namespace detail {
struct parsed_url {
    bool tls = false;
    std::string host, port, host_header, target;
};
}  // namespace detail

class pinger {
public:
    /// Throws std::runtime_error for a URL that is not http(s)://host[:port]/path.
    pinger(boost::asio::any_io_executor ex, const std::string& url, const std::string& ca_bundle);

    /// Sends the GET; true on a 2xx answer. Failures are logged as warnings (the URL is not: it
    /// usually holds the check's secret id).
    boost::asio::awaitable<bool> ping();

private:
    pinger(boost::asio::any_io_executor ex, detail::parsed_url p, const std::string& ca_bundle);
    std::string host_header_, target_;
    s3::connection conn_;
};

}  // namespace scb::heartbeat
