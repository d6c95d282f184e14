// A node whose clock is wrong: versions are named with S3's time, and `list`, `restore` and `verify`
// order backups by S3's LastModified (then the name), warning when names and LastModified disagree.
// The real binary against the real local S3 (s3rver, whose LastModified is the real clock).
#include "daemon_fixture.hpp"
#include "direct_put.hpp"
#include "read_commands.hpp"
#include "naming/object_name.hpp"
#include "run_coroutine.hpp"
#include "s3/client.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

using namespace scb;
using namespace scb::test;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr auto year = std::chrono::hours(24 * 365);

/// PUTs `content` under the name a node whose clock was `node_clock_error` off would have given it
/// (what scb-backup did before it named versions with S3's time). Returns the key.
std::string put_named_by_wrong_clock(const daemon_fixture& f, const std::string& content,
                                     std::chrono::system_clock::duration node_clock_error) {
    const auto key = f.prefix + naming::object_name(std::chrono::system_clock::now() + node_clock_error,
                                                    crypto::sha256_hex(content));
    put_raw(f, key, content);
    return key;
}

/// The key of the object holding exactly `content`; empty when there is none.
std::string key_of(daemon_fixture& f, const std::string& content) {
    const auto sha = crypto::sha256_hex(content);
    for (auto& o : f.objects())
        if (o["sha256"] == sha) return o["key"].get<std::string>();
    return {};
}

/// Uploads `content` as lnd and the daemon do, with the right clock (lnd-style swap, then `once`).
std::string upload_version(daemon_fixture& f, const std::string& content) {
    f.lnd.swap(content);
    auto r = f.run_once();
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto key = key_of(f, content);
    REQUIRE_FALSE(key.empty());
    return key;
}

/// Waits until the real clock is in a later second: S3's LastModified has whole seconds, so the next
/// upload is then stored strictly later than everything before it.
void next_second() {
    const auto now = [] { return std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()); };
    const auto start = now();
    REQUIRE(eventually([&] { return now() > start; }, 5s));
}

}  // namespace

TEST_CASE("clock: `once` on a node whose clock is a year ahead names the version with S3's time",
          "[integration][clock]") {
    std::string why_not;
    const auto faketime = faketime_program(why_not);
    if (faketime.empty()) {
        WARN(why_not);
        return;
    }
    daemon_fixture f;
    const auto v = lnd_simulator::content(1);
    f.lnd.swap(v);
    auto r = run_with_clock(f, faketime, "+365d", {"once"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("ahead of S3's") && Catch::Contains("NTP"));
    const auto key = key_of(f, v);
    REQUIRE_FALSE(key.empty());
    const auto name = naming::parse_object_name(key);
    REQUIRE(name);
    CAPTURE(key);
    // S3's time (the real one here), not the node's a year ahead.
    CHECK(std::chrono::abs(name->time - std::chrono::system_clock::now()) < 1h);
}

TEST_CASE("clock: restore, verify and list follow S3's LastModified, not a name from a clock a year ahead",
          "[integration][clock]") {
    daemon_fixture f;
    // Uploaded first, but named a year ahead: by its name it outranks everything for a year.
    const auto old_key = put_named_by_wrong_clock(f, lnd_simulator::content(1), year);
    next_second();
    const auto new_key = upload_version(f, lnd_simulator::content(2));
    CAPTURE(old_key, new_key);

    const fs::path out = f.dir.path() + "/restored.backup";
    auto r = command(f, {"restore", "--output", out.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(slurp(out) == lnd_simulator::content(2));
    CHECK_THAT(r.out, Catch::Contains(new_key));

    auto v = command(f, {"verify"});  // the local file is the newer content
    INFO(v.err);
    CHECK(v.exit_code == 0);
    CHECK_THAT(v.out, Catch::StartsWith("in sync: ") && Catch::Contains(new_key));

    auto l = command(f, {"list"});
    INFO(l.err);
    REQUIRE(l.exit_code == 0);
    CHECK_THAT(l.out, Catch::Contains("\n" + new_key + " "));
    CHECK(l.out.find(new_key) < l.out.find(old_key));
    CHECK_THAT(l.err, Catch::Contains("clock") && Catch::Contains("ahead") && Catch::Contains(old_key) &&
                          Catch::Contains("LastModified"));

    auto j = command(f, {"list", "--json"});
    REQUIRE(j.exit_code == 0);
    auto arr = nlohmann::json::parse(j.out);
    REQUIRE(arr.size() == 2);
    CHECK(arr[0]["key"] == new_key);
    CHECK(arr[1]["key"] == old_key);
}

TEST_CASE("clock: a newer version named by a clock a year behind (no RTC, before NTP) is still the newest",
          "[integration][clock]") {
    daemon_fixture f;
    const auto old_key = upload_version(f, lnd_simulator::content(3));
    next_second();
    const auto new_key = put_named_by_wrong_clock(f, lnd_simulator::content(4), -year);
    CAPTURE(old_key, new_key);

    const fs::path out = f.dir.path() + "/restored.backup";
    auto r = command(f, {"restore", "--output", out.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(slurp(out) == lnd_simulator::content(4));
    CHECK_THAT(r.err, Catch::Contains("behind") && Catch::Contains(new_key) && Catch::Contains("LastModified"));
}

TEST_CASE("clock: a right clock gives no clock warning", "[integration][clock]") {
    daemon_fixture f;
    upload_version(f, lnd_simulator::content(5));
    auto l = command(f, {"list"});
    REQUIRE(l.exit_code == 0);
    CHECK_THAT(l.err, !Catch::Contains("clock"));
}
