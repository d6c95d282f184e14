// restore/catalog: which listed keys are our backups, newest first, and how `list` prints them.
#include "restore/catalog.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace scb;
using namespace scb::restore;

namespace {
s3::object_info obj(std::string key, std::uint64_t size = 100,
                    std::string last_modified = "2026-11-25T05:42:34.000Z") {
    s3::object_info o;
    o.key = std::move(key);
    o.size = size;
    o.last_modified = std::move(last_modified);
    o.etag = "0123456789abcdef0123456789abcdef";
    return o;
}

std::vector<std::string> keys(const std::vector<backup_entry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) out.push_back(e.object.key);
    return out;
}
}  // namespace

TEST_CASE("restore: a backup key is exactly PREFIX + a name object_name() makes", "[unit][restore]") {
    const std::string name = "channel-20261125T054233.123Z-a1b2c3.backup";
    auto p = parse_backup_key("node1/" + name, "node1/");
    REQUIRE(p);
    CHECK(p->sha256_suffix == "a1b2c3");
    CHECK(parse_backup_key(name, ""));
    CHECK_FALSE(parse_backup_key("node1/old/" + name, "node1/"));     // a sub-folder
    CHECK_FALSE(parse_backup_key("node10/" + name, "node1"));         // another node's prefix
    CHECK_FALSE(parse_backup_key("node1/x" + name, "node1/"));        // something before "channel-"
    CHECK_FALSE(parse_backup_key("node2/" + name, "node1/"));
    CHECK_FALSE(parse_backup_key("node1/channel-20261125T054233.123Z-A1B2C3.backup", "node1/"));  // upper case
    CHECK_FALSE(parse_backup_key("node1/channel-20261325T054233.123Z-a1b2c3.backup", "node1/"));  // month 13
    CHECK_FALSE(parse_backup_key("node1/" + name + ".tmp", "node1/"));
    CHECK_FALSE(parse_backup_key("node1/notes.txt", "node1/"));
}

TEST_CASE("restore: the catalog puts backups newest first, then other keys", "[unit][restore]") {
    auto entries = catalog({obj("node1/README"), obj("node1/channel-20261125T054233.123Z-aaaaaa.backup"),
                            obj("node1/channel-20261125T054233.124Z-bbbbbb.backup"),
                            obj("node1/channel-20251231T235959.999Z-cccccc.backup"), obj("node1/a-note"),
                            obj("node1/channel-20261125T054233.123Z-dddddd.backup"),
                            obj("node1/sub/channel-20991231T235959.999Z-eeeeee.backup")},
                           "node1/");
    CHECK(keys(entries) == std::vector<std::string>{
                               "node1/channel-20261125T054233.124Z-bbbbbb.backup",
                               "node1/channel-20261125T054233.123Z-dddddd.backup",  // same ms: key descending
                               "node1/channel-20261125T054233.123Z-aaaaaa.backup",
                               "node1/channel-20251231T235959.999Z-cccccc.backup",
                               "node1/README",
                               "node1/a-note",
                               "node1/sub/channel-20991231T235959.999Z-eeeeee.backup",  // not ours: never "newest"
                           });
    REQUIRE(newest(entries));
    CHECK(newest(entries)->object.key == "node1/channel-20261125T054233.124Z-bbbbbb.backup");
    CHECK(newest(entries)->name->sha256_suffix == "bbbbbb");
}

TEST_CASE("restore: the catalog orders backups by S3's LastModified, not by a name from a wrong clock",
          "[unit][restore][clock]") {
    // Named while the node's clock was a year ahead, but stored by S3 before the others.
    const std::string ahead = "n/channel-20271125T054233.123Z-aaaaaa.backup";
    // Named while the node's clock was a year behind (a Raspberry Pi before NTP), stored last.
    const std::string behind = "n/channel-20251125T060000.000Z-bbbbbb.backup";
    const std::string right = "n/channel-20261125T055000.000Z-cccccc.backup";
    auto entries = catalog({obj(ahead, 100, "2026-11-25T05:42:34.000Z"), obj(right, 100, "2026-11-25T05:50:00.000Z"),
                            obj(behind, 100, "2026-11-25T06:00:00.500Z")},
                           "n/");
    CHECK(keys(entries) == std::vector<std::string>{behind, right, ahead});
    REQUIRE(newest(entries));
    CHECK(newest(entries)->object.key == behind);
}

TEST_CASE("restore: backups with the same LastModified second are ordered by name", "[unit][restore][clock]") {
    // S3 gives LastModified in whole seconds: two versions uploaded within one second tie.
    const std::string a = "n/channel-20261125T054233.100Z-aaaaaa.backup";
    const std::string b = "n/channel-20261125T054233.900Z-bbbbbb.backup";
    auto entries = catalog({obj(b, 1, "2026-11-25T05:42:33.000Z"), obj(a, 1, "2026-11-25T05:42:33.000Z")}, "n/");
    CHECK(keys(entries) == std::vector<std::string>{b, a});
}

TEST_CASE("restore: without a readable LastModified a backup is placed by the time in its name",
          "[unit][restore][clock]") {
    const std::string a = "n/channel-20261125T054233.100Z-aaaaaa.backup";
    const std::string b = "n/channel-20261125T060000.000Z-bbbbbb.backup";
    const std::string c = "n/channel-20261125T070000.000Z-cccccc.backup";
    auto entries = catalog({obj(a, 1, ""), obj(c, 1, "not a time"), obj(b, 1, "2026-11-25T06:00:00.000Z")}, "n/");
    CHECK(keys(entries) == std::vector<std::string>{c, b, a});
}

TEST_CASE("restore: a name more than 5 minutes from S3's LastModified is a clock problem", "[unit][restore][clock]") {
    const std::string name = "n/channel-20261125T054233.123Z-aaaaaa.backup";
    SECTION("within 5 minutes either way: nothing to say") {
        CHECK_FALSE(clock_mismatch(catalog({obj(name, 1, "2026-11-25T05:47:33.000Z")}, "n/")));
        CHECK_FALSE(clock_mismatch(catalog({obj(name, 1, "2026-11-25T05:37:34.000Z")}, "n/")));
        CHECK_FALSE(clock_mismatch(catalog({obj("n/README", 1, "2030-01-01T00:00:00Z")}, "n/")));  // not a backup
        CHECK_FALSE(clock_mismatch(catalog({obj(name, 1, "")}, "n/")));  // no LastModified to compare
        CHECK_FALSE(clock_mismatch({}));
    }
    SECTION("the name a year ahead of S3") {
        const std::string ahead = "n/channel-20271125T054233.123Z-bbbbbb.backup";
        auto entries = catalog({obj(name, 1, "2026-11-25T05:42:34.000Z"), obj(ahead, 1, "2026-11-25T05:43:00.000Z")},
                               "n/");
        auto m = clock_mismatch(entries);
        REQUIRE(m);
        CHECK(m->count == 1);
        REQUIRE(m->worst);
        CHECK(m->worst->object.key == ahead);
        CHECK(m->name_ahead_by > std::chrono::hours(24 * 364));
        const std::string line = describe(*m);
        CAPTURE(line);
        CHECK(line.find('\n') == std::string::npos);
        CHECK_THAT(line, Catch::Contains(ahead) && Catch::Contains("clock") && Catch::Contains("ahead") &&
                             Catch::Contains("LastModified"));
    }
    SECTION("names behind S3 by more than 5 minutes") {
        auto entries = catalog({obj(name, 1, "2026-11-25T05:47:34.000Z"),
                                obj("n/channel-20251125T054233.123Z-bbbbbb.backup", 1, "2026-11-25T06:00:00Z")},
                               "n/");
        auto m = clock_mismatch(entries);  // points into entries
        REQUIRE(m);
        CHECK(m->count == 2);
        CHECK(m->worst->object.key == "n/channel-20251125T054233.123Z-bbbbbb.backup");
        CHECK(m->name_ahead_by < -std::chrono::hours(24 * 364));
        CHECK_THAT(describe(*m), Catch::Contains("behind") && Catch::Contains("LastModified"));
    }
}

TEST_CASE("restore: no newest backup in an empty listing or one without backups", "[unit][restore]") {
    CHECK(newest(catalog({}, "node1/")) == nullptr);
    CHECK(newest(catalog({obj("node1/README")}, "node1/")) == nullptr);
}

TEST_CASE("restore: list rows: aligned table with time and suffix, '-' for foreign keys", "[unit][restore]") {
    auto entries = catalog({obj("n/channel-20261125T054233.123Z-a1b2c3.backup", 4567),
                            obj("n/channel-20260102T030405.007Z-00ff00.backup", 45), obj("n/x", 7)},
                           "n/");
    CHECK(format_time(*entries[0].name) == "2026-11-25T05:42:33.123Z");
    CHECK(format_time(*entries[1].name) == "2026-01-02T03:04:05.007Z");
    CHECK(format_table(entries) ==
          "KEY                                           SIZE  TIME (UTC)                SHA256\n"
          "n/channel-20261125T054233.123Z-a1b2c3.backup  4567  2026-11-25T05:42:33.123Z  a1b2c3\n"
          "n/channel-20260102T030405.007Z-00ff00.backup    45  2026-01-02T03:04:05.007Z  00ff00\n"
          "n/x                                              7  -                         -\n");
    CHECK(format_table({}) == "KEY  SIZE  TIME (UTC)  SHA256\n");
}

TEST_CASE("restore: list --json gives one array in catalog order, null for foreign keys", "[unit][restore]") {
    auto entries = catalog({obj("n/x", 7), obj("n/channel-20261125T054233.123Z-a1b2c3.backup", 4567)}, "n/");
    entries[0].object.etag = "\"" + entries[0].object.etag + "\"";  // as ListObjectsV2 gives it
    const std::string text = format_json(entries);
    CHECK(text.back() == '\n');
    auto j = nlohmann::json::parse(text);
    REQUIRE(j.size() == 2);
    CHECK(j[0]["key"] == "n/channel-20261125T054233.123Z-a1b2c3.backup");
    CHECK(j[0]["size"] == 4567);
    CHECK(j[0]["time"] == "2026-11-25T05:42:33.123Z");
    CHECK(j[0]["sha256_suffix"] == "a1b2c3");
    CHECK(j[0]["last_modified"] == "2026-11-25T05:42:34.000Z");
    CHECK(j[0]["etag"] == "0123456789abcdef0123456789abcdef");
    CHECK(j[1]["key"] == "n/x");
    CHECK(j[1]["time"].is_null());
    CHECK(j[1]["sha256_suffix"].is_null());
    CHECK(format_json({}) == "[]\n");
}

TEST_CASE("restore: the original Python service's keys are backups too, ordered with ours", "[unit][restore]") {
    const std::string legacy = "node1/channel-20261125-054233-a1b2c3.backup";
    auto p = parse_backup_key(legacy, "node1/");
    REQUIRE(p);
    CHECK(p->legacy);
    CHECK(p->sha256_suffix == "a1b2c3");
    CHECK_FALSE(parse_backup_key("node1/old/channel-20261125-054233-a1b2c3.backup", "node1/"));
    CHECK_FALSE(parse_backup_key("node10/channel-20261125-054233-a1b2c3.backup", "node1"));
    // Without LastModified, by the time in the name: the legacy one of 23:00 is newer than ours of 01:00
    // the same day, though it sorts before it as text.
    auto entries = catalog({obj("node1/channel-20261125T010000.000Z-aaaaaa.backup", 100, ""),
                            obj("node1/channel-20261125-230000-bbbbbb.backup", 100, "")},
                           "node1/");
    CHECK(keys(entries) ==
          std::vector<std::string>{"node1/channel-20261125-230000-bbbbbb.backup", "node1/channel-20261125T010000.000Z-aaaaaa.backup"});
    CHECK(entries[0].is_backup());
}
