// `list` prints keys that anyone with write access to the bucket chose: one printable line each.
#include "restore/catalog.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

using namespace scb;
using namespace scb::restore;

namespace {
std::vector<backup_entry> listed(std::vector<std::string> keys) {
    std::vector<s3::object_info> objects;
    for (auto& k : keys) {
        s3::object_info o;
        o.key = std::move(k);
        o.size = 7;
        o.last_modified = "2026-11-25T05:42:34.000Z";
        objects.push_back(std::move(o));
    }
    return catalog(std::move(objects), "node1/");
}
}  // namespace

TEST_CASE("list: foreign keys are escaped and capped in the table", "[unit][restore]") {
    const auto entries = listed({"node1/\x1b]0;pwned\x07\x1b[2Jevil\nkey", "node1/" + std::string(3000, 'k')});
    const auto table = format_table(entries);
    CHECK(table.find('\x1b') == std::string::npos);
    CHECK(table.find('\x07') == std::string::npos);
    CHECK(table.find("node1/\\x1b]0;pwned\\x07\\x1b[2Jevil\\x0akey") != std::string::npos);
    // One line per key plus the header: the line break in a key does not make a row of its own.
    CHECK(std::count(table.begin(), table.end(), '\n') == 3);
    // The 3006-byte key is cut at 512 bytes; so is the table's width.
    CHECK(table.find(std::string(3000, 'k')) == std::string::npos);
    CHECK(table.find(std::string(500, 'k') + "...") != std::string::npos);
}

TEST_CASE("list --json: keys stay exact and a key that is not UTF-8 does not end the listing", "[unit][restore]") {
    const auto entries = listed({"node1/\x1b[2Jevil", "node1/bad-\xff-utf8"});
    std::string json;
    REQUIRE_NOTHROW(json = format_json(entries));
    const auto parsed = nlohmann::json::parse(json);
    REQUIRE(parsed.size() == 2);
    CHECK(parsed[0]["key"] == "node1/\x1b[2Jevil");  // JSON escapes it (\u001b); scripts get the exact key
    CHECK(json.find('\x1b') == std::string::npos);
    CHECK(parsed[1]["key"].get<std::string>().starts_with("node1/bad-"));
}
