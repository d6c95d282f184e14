// The heartbeat URL is a secret (for healthchecks.io the UUID in its path is the whole credential):
// even at debug level the daemon's log shows its host, never its path or query.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

using namespace scb::test;
using namespace std::chrono_literals;

TEST_CASE("At debug level the heartbeat logs the host, never the URL's path or query", "[integration][heartbeat]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(1));
    // The S3 front plays the ping service: it answers 403 to an unsigned GET, which is enough to
    // make the daemon send (and log) the request.
    const std::string url = f.s3.http_url() + "/ping-uuid-0f1e2d3c?create=secret-query";
    auto d = f.start({"run", "--log-level", "debug", "--heartbeat-url", url, "--heartbeat-interval", "300ms",
                      "--listen", "127.0.0.1:0"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(1)));
    REQUIRE(d->wait_for_stderr("answered HTTP 403", 20s));  // the heartbeat was sent
    const auto log = d->stderr_text();
    CHECK_THAT(log, !Catch::Contains("ping-uuid-0f1e2d3c") && !Catch::Contains("secret-query"));
    CHECK_THAT(log, Catch::Contains("127.0.0.1"));
}
