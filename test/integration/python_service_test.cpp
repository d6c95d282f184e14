// Switching from the original Python service: its objects (PREFIX + channel-YYYYMMDD-HHMMSS-<sha6>.backup)
// are listed, restored and verified as backups, checked against their suffix; the copies it left in
// BACKUP_DIRECTORY are uploaded at the first start under their own names, then removed.
#include "daemon_fixture.hpp"
#include "direct_put.hpp"
#include "read_commands.hpp"
#include "naming/object_name.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <set>

using namespace scb;
using namespace scb::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// The key the Python service gave `content` at time `t`.
std::string python_key(const daemon_fixture& f, const std::string& content, std::chrono::system_clock::time_point t) {
    return f.prefix + naming::legacy_object_name(t, crypto::sha256_hex(content));
}

}  // namespace

TEST_CASE("python service: its objects are listed, restored and verified, checked against their suffix",
          "[integration][restore][python]") {
    daemon_fixture f;
    const auto old_content = lnd_simulator::content(1);
    const auto key = python_key(f, old_content, std::chrono::system_clock::now() - 1h);
    put_raw(f, key, old_content);

    auto listed = command(f, {"list"});
    INFO(listed.out << listed.err);
    REQUIRE(listed.exit_code == 0);
    CHECK_THAT(listed.out, Catch::Contains(key) && Catch::Contains(crypto::sha256_hex(old_content).substr(58)));
    CHECK(listed.err.find("not backup") == std::string::npos);  // not set apart as a foreign key

    const std::string out = f.dir.path() + "/restored/channel.backup";
    auto restored = command(f, {"restore", "--output", out});
    INFO(restored.err);
    CHECK(restored.exit_code == 0);
    CHECK(slurp(out) == old_content);
    // --key with and without the prefix.
    auto by_key = command(f, {"restore", "--key", key.substr(f.prefix.size()), "--output", out, "--force"});
    INFO(by_key.err);
    CHECK(by_key.exit_code == 0);

    f.lnd.swap(old_content);
    auto verified = command(f, {"verify"});
    INFO(verified.out << verified.err);
    CHECK(verified.exit_code == 0);

    // A newer Python object whose bytes do not match its suffix: refused as corrupt, nothing written.
    const auto bad_key = python_key(f, "something else entirely", std::chrono::system_clock::now());
    put_raw(f, bad_key, lnd_simulator::content(2));
    const std::string out2 = f.dir.path() + "/restored/second.backup";
    auto refused = command(f, {"restore", "--output", out2});
    INFO(refused.err);
    CHECK(refused.exit_code == 65);
    CHECK_THAT(refused.err, Catch::Contains(bad_key));
    CHECK_FALSE(fs::exists(out2));
}

TEST_CASE("python service: the copies it left in BACKUP_DIRECTORY are uploaded at the first start, then removed",
          "[integration][python]") {
    daemon_fixture f;
    const auto left1 = lnd_simulator::content(1), left2 = lnd_simulator::content(2), current = lnd_simulator::content(3);
    fs::create_directories(f.spool);
    fs::permissions(f.spool, fs::perms::owner_all);
    const auto now = std::chrono::system_clock::now();
    const std::string name1 = naming::legacy_object_name(now - 2h, crypto::sha256_hex(left1));
    const std::string name2 = naming::legacy_object_name(now - 1h, crypto::sha256_hex(left2));
    std::ofstream(f.spool + "/" + name1) << left1;
    std::ofstream(f.spool + "/" + name2) << left2;
    f.lnd.swap(current);

    auto d = f.start();
    REQUIRE(f.wait_for_content(current));
    REQUIRE(eventually([&] { return f.count_with_sha(left1) == 1 && f.count_with_sha(left2) == 1; }));
    // Under the names the Python service would have used: its history and ours side by side.
    std::set<std::string> keys;
    for (auto& o : f.objects()) keys.insert(o["key"].get<std::string>());
    CHECK(keys.count(f.prefix + name1) == 1);
    CHECK(keys.count(f.prefix + name2) == 1);
    CHECK(eventually([&] { return f.spooled_versions() == 0; }));
    d->signal(SIGTERM);
    REQUIRE(d->wait(std::chrono::seconds(20)).value_or(-1) == 0);
    INFO(d->stderr_text());
    CHECK_THAT(d->stderr_text(), Catch::Contains("2 version(s) left in the spool"));

    // `list` shows the three, newest first by S3's LastModified: the current file, uploaded last.
    auto listed = command(f, {"list", "--json"});
    REQUIRE(listed.exit_code == 0);
    const auto rows = nlohmann::json::parse(listed.out);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0]["sha256_suffix"] == crypto::sha256_hex(current).substr(58));
}
