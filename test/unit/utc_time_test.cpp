#include "common/utc_time.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono;
using scb::utc::layout;

TEST_CASE("one UTC formatter writes every layout the project uses", "[utc_time]") {
    const auto t = sys_days{year{2026} / December / 2} + hours{7} + minutes{5} + seconds{9} + milliseconds{42};
    CHECK(scb::utc::format(t, layout::extended) == "2026-12-02T07:05:09Z");
    CHECK(scb::utc::format(t, layout::extended_millis) == "2026-12-02T07:05:09.042Z");
    CHECK(scb::utc::format(t, layout::basic) == "20261202T070509Z");
    CHECK(scb::utc::format(t, layout::basic_millis) == "20261202T070509.042Z");
}

TEST_CASE("UTC formatting rounds towards the past, before 1970 too", "[utc_time]") {
    const auto before_epoch = sys_days{year{1970} / January / 1} - milliseconds{1};
    CHECK(scb::utc::format(before_epoch, layout::basic_millis) == "19691231T235959.999Z");
    CHECK(scb::utc::format(sys_days{year{2026} / 1 / 1} + microseconds{999999}, layout::extended) ==
          "2026-01-01T00:00:00Z");
}

TEST_CASE("ISO 8601 times (credential expirations, LastModified) parse to UTC, with fractions and offsets", "[utc_time]") {
    const auto base = sys_days(year(2024) / May / 1) + hours(17) + minutes(30);
    CHECK(scb::utc::parse_iso8601("2024-05-01T17:30:00Z") == base);
    CHECK(scb::utc::parse_iso8601("2024-05-01T17:30:00.123456Z") == base);
    CHECK(scb::utc::parse_iso8601("2024-05-01t17:30:00z") == base);
    CHECK(scb::utc::parse_iso8601("2024-05-01T19:30:00+02:00") == base);
    CHECK(scb::utc::parse_iso8601("2024-05-01T16:30:00-0100") == base);
    CHECK(scb::utc::parse_iso8601("2024-02-29T00:00:00Z"));
    for (const char* bad : {"", "2024-05-01", "2024-05-01T17:30:00", "2024-05-01 17:30:00Z", "2023-02-29T00:00:00Z",
                            "2024-13-01T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T17:30:00.Z",
                            "2024-05-01T17:30:00Zjunk", "tomorrow", "1714584600"})
        CHECK_FALSE(scb::utc::parse_iso8601(bad));
}
