// s3 client clock: what a response's Date teaches about the local clock (S3's time names versions).
#include "s3/client.hpp"

#include <catch2/catch.hpp>

using namespace scb;
using namespace std::chrono_literals;

TEST_CASE("s3: an HTTP Date header is read as UTC; anything else is refused", "[unit][clock]") {
    const auto t = s3::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT");
    REQUIRE(t);
    CHECK(std::chrono::system_clock::to_time_t(*t) == 784111777);
    CHECK_FALSE(s3::parse_http_date(""));
    CHECK_FALSE(s3::parse_http_date("1994-11-06T08:49:37Z"));
    CHECK_FALSE(s3::parse_http_date("Sun, 06 Nov 1994 08:49:37"));        // no zone
    CHECK_FALSE(s3::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT junk"));
}

TEST_CASE("s3: the clock offset ignores Date's rounding and follows a real error", "[unit][clock]") {
    using s3::next_clock_offset;
    // A clock in sync: Date's whole seconds and the round trip are noise, the offset stays 0.
    CHECK(next_clock_offset(0s, 0s) == 0s);
    CHECK(next_clock_offset(0s, 1s) == 0s);
    CHECK(next_clock_offset(0s, -1s) == 0s);
    // A wrong clock: S3's time is used, to the second.
    CHECK(next_clock_offset(0s, 2s) == 2s);
    CHECK(next_clock_offset(0s, -31'536'000s) == -31'536'000s);  // the node a year ahead
    CHECK(next_clock_offset(0s, 31'536'000s) == 31'536'000s);    // a Raspberry Pi before NTP
    // Once learned, a reading one second off does not move it (no churn, no re-signing).
    CHECK(next_clock_offset(-3600s, -3601s) == -3600s);
    CHECK(next_clock_offset(-3600s, -3599s) == -3600s);
    CHECK(next_clock_offset(-3600s, -3500s) == -3500s);
    // The local clock fixed (NTP): back to 0, not to a leftover second.
    CHECK(next_clock_offset(-3600s, 1s) == 0s);
    CHECK(next_clock_offset(-3600s, 0s) == 0s);
}
