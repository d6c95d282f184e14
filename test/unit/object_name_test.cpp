#include "naming/object_name.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace scb::naming;
namespace chr = std::chrono;

namespace {
const std::string hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

chr::system_clock::time_point at(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms) {
    return chr::sys_days{chr::year{y} / chr::month{mo} / chr::day{d}} + chr::hours{h} + chr::minutes{mi} +
           chr::seconds{s} + chr::milliseconds{ms};
}
}  // namespace

TEST_CASE("object_name formats UTC time with milliseconds and the last 6 hex digits", "[unit][naming]") {
    CHECK(object_name(at(2026, 11, 25, 5, 42, 33, 123), hash) == "channel-20261125T054233.123Z-52b855.backup");
    // Sub-millisecond parts are dropped, not rounded up.
    CHECK(object_name(at(2026, 11, 25, 5, 42, 33, 123) + chr::microseconds{999}, hash) ==
          "channel-20261125T054233.123Z-52b855.backup");
    CHECK(object_name(at(2026, 1, 2, 3, 4, 5, 7), "ABCDEF0123") == "channel-20260102T030405.007Z-ef0123.backup");
    CHECK(object_name(at(2026, 1, 2, 3, 4, 5, 0), hash) == "channel-20260102T030405.000Z-52b855.backup");
    // Before the epoch the time is floored, so the millisecond field never goes negative.
    CHECK(object_name(at(1969, 12, 31, 23, 59, 59, 999), hash) == "channel-19691231T235959.999Z-52b855.backup");
    CHECK(object_name(chr::system_clock::time_point{} - chr::microseconds{1}, hash) ==
          "channel-19691231T235959.999Z-52b855.backup");
    CHECK_THROWS_AS(object_name(at(2026, 1, 2, 3, 4, 5, 0), "abc"), std::invalid_argument);
    CHECK_THROWS_AS(object_name(at(2026, 1, 2, 3, 4, 5, 0), "zzzzzzzz"), std::invalid_argument);
}

TEST_CASE("object names sort by time as strings", "[unit][naming]") {
    std::vector<chr::system_clock::time_point> times = {
        at(2026, 11, 25, 5, 42, 33, 123), at(2026, 11, 25, 5, 42, 33, 9),  at(2026, 11, 25, 5, 42, 33, 10),
        at(2025, 12, 31, 23, 59, 59, 999), at(2026, 1, 1, 0, 0, 0, 0),     at(2026, 11, 25, 15, 0, 0, 0),
    };
    std::vector<std::string> names;
    for (auto t : times) names.push_back(object_name(t, hash));
    std::sort(times.begin(), times.end());
    std::sort(names.begin(), names.end());
    for (std::size_t i = 0; i < times.size(); ++i) CHECK(names[i] == object_name(times[i], hash));
}

TEST_CASE("parse_object_name round-trips and accepts a key prefix", "[unit][naming]") {
    auto t = at(2026, 11, 25, 5, 42, 33, 123);
    auto name = object_name(t, hash);
    auto p = parse_object_name(name);
    REQUIRE(p);
    CHECK(p->time == t);
    CHECK(p->sha256_suffix == "52b855");

    auto q = parse_object_name("backups/node-1/" + name);
    REQUIRE(q);
    CHECK(q->time == t);

    auto leap_day = at(2028, 2, 29, 23, 59, 59, 999);
    auto r = parse_object_name(object_name(leap_day, hash));
    REQUIRE(r);
    CHECK(r->time == leap_day);
}

TEST_CASE("parse_object_name rejects garbage", "[unit][naming]") {
    for (const char* bad : {
             "",
             "channel.backup",
             "channel-20261125T054233.123Z-52b855.backup.tmp",
             "channel-20261125T054233.123Z-52b855.backupx",
             "chanel-20261125T054233.123Z-52b855.backup",
             "channel-20261125T054233.123Z-52B855.backup",   // upper case hex: we never write it
             "channel-20261125T054233.123Z-52b85g.backup",
             "channel-20261125T054233.123Z_52b855.backup",
             "channel-20261125X054233.123Z-52b855.backup",
             "channel-20261125T054233,123Z-52b855.backup",
             "channel-20261125T054233.123-52b8555.backup",
             "channel-2026112aT054233.123Z-52b855.backup",
             "channel-20261325T054233.123Z-52b855.backup",   // month 13
             "channel-20260230T054233.123Z-52b855.backup",   // 30 February
             "channel-20261125T244233.123Z-52b855.backup",   // hour 24
             "channel-20261125T056033.123Z-52b855.backup",   // minute 60
             "channel-20261125T054260.123Z-52b855.backup",   // second 60
             "channel-20261125T054233.12Z-52b8551.backup",
             "channel-+0261125T054233.123Z-52b855.backup",
         }) {
        CAPTURE(bad);
        CHECK_FALSE(parse_object_name(bad));
    }
}

TEST_CASE("the original Python service's names are read with their time and suffix, and rendered back", "[unit][naming]") {
    const std::string legacy = "channel-20261125-054233-a1b2c3.backup";
    auto p = parse_object_name(legacy);
    REQUIRE(p);
    CHECK(p->legacy);
    CHECK(p->time == at(2026, 11, 25, 5, 42, 33, 0));
    CHECK(p->sha256_suffix == "a1b2c3");
    CHECK(name_of(*p) == legacy);
    CHECK(legacy_object_name(at(2026, 11, 25, 5, 42, 33, 999), hash) == "channel-20261125-054233-52b855.backup");
    auto with_prefix = parse_object_name("node1/" + legacy);
    REQUIRE(with_prefix);
    CHECK(with_prefix->legacy);
    // Ours are not legacy and render back as themselves.
    auto ours = parse_object_name("channel-20261125T054233.123Z-a1b2c3.backup");
    REQUIRE(ours);
    CHECK_FALSE(ours->legacy);
    CHECK(name_of(*ours) == "channel-20261125T054233.123Z-a1b2c3.backup");
    // As strict as ours: a real date and time, 6 lower-case hex digits, the exact layout.
    CHECK_FALSE(parse_object_name("channel-20261325-054233-a1b2c3.backup"));
    CHECK_FALSE(parse_object_name("channel-20261125-054260-a1b2c3.backup"));
    CHECK_FALSE(parse_object_name("channel-20261125-054233-A1B2C3.backup"));
    CHECK_FALSE(parse_object_name("channel-20261125-054233-a1b2c.backup"));
    CHECK_FALSE(parse_object_name("channel-20261125_054233-a1b2c3.backup"));
    CHECK_FALSE(parse_object_name("channel-20261125-054233-a1b2c3.backup.tmp"));
}
