// The heartbeat pinger's URL handling: the shared parser's rules, and errors that never show the
// URL's path (for healthchecks.io the UUID in it is the whole secret) or a user:password.
#include "heartbeat/pinger.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <stdexcept>

using scb::heartbeat::pinger;

namespace {
std::string what_of(const std::string& url) {
    boost::asio::io_context ioc;
    try {
        pinger p(ioc.get_executor(), url, "");
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "(no error)";
}
}  // namespace

TEST_CASE("The heartbeat URL takes the scheme in any case", "[unit][heartbeat]") {
    CHECK(what_of("HTTP://127.0.0.1:9/ping-uuid") == "(no error)");
    CHECK(what_of("Https://hc-ping.com/ping-uuid") == "(no error)");
}

TEST_CASE("Heartbeat URL errors say what is wrong without the path or a password", "[unit][heartbeat]") {
    CHECK_THAT(what_of("http://127.0.0.1:70000/ping-uuid"),
               Catch::Contains("outside 1-65535") && !Catch::Contains("ping-uuid"));
    CHECK_THAT(what_of("ftp://hc-ping.com/ping-uuid"),
               Catch::Contains("http:// or https://") && !Catch::Contains("ping-uuid"));
    CHECK_THAT(what_of("https://user:hunter2@hc-ping.com/ping-uuid"),
               Catch::Contains("user:password") && !Catch::Contains("hunter2") && !Catch::Contains("ping-uuid"));
}
