// `list`, `restore` and `verify`: the real binary against the real local S3 (behind the SigV4 front).
#include "daemon_fixture.hpp"
#include "direct_put.hpp"
#include "read_commands.hpp"
#include "naming/object_name.hpp"
#include "run_coroutine.hpp"
#include "s3/client.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace scb;
using namespace scb::test;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// Uploads `content` as the daemon does (lnd-style swap, then `once`); returns its key.
std::string upload_version(daemon_fixture& f, const std::string& content) {
    f.lnd.swap(content);
    auto r = f.run_once();
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto sha = crypto::sha256_hex(content);
    for (auto& o : f.objects())
        if (o["sha256"] == sha) return o["key"].get<std::string>();
    FAIL("uploaded version not found in the bucket");
    return {};
}

unsigned mode_of(const fs::path& p) {
    struct stat st{};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

std::size_t files_in(const fs::path& dir) {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

}  // namespace

TEST_CASE("restore: list shows the uploaded versions newest first, foreign keys last", "[integration][restore]") {
    daemon_fixture f;
    std::vector<std::string> keys;
    for (int i = 0; i < 3; ++i) {
        keys.push_back(upload_version(f, lnd_simulator::content(i)));
        std::this_thread::sleep_for(5ms);  // distinct millisecond times in the names
    }
    put_raw(f, f.prefix + "notes.txt", "not a backup");
    put_raw(f, "node10/" + naming::object_name(std::chrono::system_clock::now(), std::string(64, 'a')), "other node");

    auto r = command(f, {"list"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto rows = lines(r.out);
    REQUIRE(rows.size() == 5);  // header, three versions, the foreign key
    CHECK(rows[0].starts_with("KEY"));
    CHECK_THAT(rows[0], Catch::Contains("SIZE") && Catch::Contains("TIME (UTC)") && Catch::Contains("SHA256"));
    for (int i = 0; i < 3; ++i) {
        const auto& row = rows[static_cast<std::size_t>(1 + i)];
        const auto& key = keys[static_cast<std::size_t>(2 - i)];
        CAPTURE(row, key);
        CHECK(row.starts_with(key + " "));
        CHECK(row.ends_with(crypto::sha256_hex(lnd_simulator::content(2 - i)).substr(58)));
        CHECK_THAT(row, Catch::Contains(std::to_string(lnd_simulator::content(2 - i).size())));
    }
    CHECK(rows[4].starts_with(f.prefix + "notes.txt "));
    CHECK(rows[4].ends_with("-"));
    CHECK_THAT(r.out, !Catch::Contains("node10/"));
    CHECK_THAT(r.err, Catch::Contains("not backup names"));

    auto j = command(f, {"list", "--json"});
    REQUIRE(j.exit_code == 0);
    auto arr = nlohmann::json::parse(j.out);
    REQUIRE(arr.size() == 4);
    CHECK(arr[0]["key"] == keys[2]);
    CHECK(arr[0]["sha256_suffix"] == crypto::sha256_hex(lnd_simulator::content(2)).substr(58));
    CHECK(arr[0]["size"] == lnd_simulator::content(2).size());
    CHECK(arr[2]["key"] == keys[0]);
    CHECK(arr[3]["time"].is_null());
    CHECK_FALSE(fs::exists(f.dir.path() + "/never-created"));
}

TEST_CASE("restore: writes the newest or the named version, 0600, and overwrites only with --force",
          "[integration][restore]") {
    daemon_fixture f;
    const auto old_key = upload_version(f, lnd_simulator::content(1));
    std::this_thread::sleep_for(5ms);  // distinct millisecond times in the names
    upload_version(f, lnd_simulator::content(2));
    const fs::path out = f.dir.path() + "/restored.backup";

    auto r = command(f, {"restore", "--output", out.string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(slurp(out) == lnd_simulator::content(2));
    CHECK(mode_of(out) == 0600);
    CHECK_THAT(r.out, Catch::Contains("lncli restorechanbackup --multi_file " + out.string()) &&
                          Catch::Contains("lncli create --multi_file " + out.string()) &&
                          Catch::Contains("must stay off") && Catch::Contains("checked: SHA-256 ") &&
                          Catch::Contains("ETag (MD5)"));  // s3rver stores no SHA-256: the MD5 ETag is checked
    CHECK_FALSE(fs::exists(f.dir.path() + "/never-created"));

    auto again = command(f, {"restore", "--output", out.string(), "--key", old_key});
    CHECK(again.exit_code == 73);
    CHECK_THAT(again.err, Catch::Contains("already exists") && Catch::Contains("--force"));
    CHECK(slurp(out) == lnd_simulator::content(2));

    auto forced = command(f, {"restore", "--output", out.string(), "--key", old_key, "--force"});
    INFO(forced.err);
    REQUIRE(forced.exit_code == 0);
    CHECK(slurp(out) == lnd_simulator::content(1));
    CHECK(mode_of(out) == 0600);
    CHECK_THAT(forced.out, Catch::Contains(old_key));
    // Nothing else beside the output: no temporary file left.
    for (const auto& e : fs::directory_iterator(f.dir.path())) CHECK_FALSE(e.path().filename().string().starts_with("."));
}

TEST_CASE("restore forgives: a missing folder is made 0700, --output - pipes the bytes, --key without the prefix",
          "[integration][restore]") {
    daemon_fixture f;
    const auto key = upload_version(f, lnd_simulator::content(3));
    const fs::path deep = f.dir.path() + "/new/deeper";
    const fs::path out = deep / "channel.backup";

    auto made = command(f, {"restore", "--output", out.string()});
    INFO(made.err);
    REQUIRE(made.exit_code == 0);
    CHECK(slurp(out) == lnd_simulator::content(3));
    CHECK(mode_of(deep) == 0700);
    CHECK(mode_of(deep.parent_path()) == 0700);
    CHECK_THAT(made.err, Catch::Contains("created the folder"));

    // The bytes alone on stdout (for a pipe), the report on stderr.
    auto piped = command(f, {"restore", "--output", "-"});
    INFO(piped.err);
    REQUIRE(piped.exit_code == 0);
    CHECK(piped.out == lnd_simulator::content(3));
    CHECK_THAT(piped.err, Catch::Contains("restored ") && Catch::Contains("to standard output") &&
                              Catch::Contains("lncli restorechanbackup"));
    CHECK_FALSE(fs::exists(f.dir.path() + "/-"));

    // The name as it appears after the prefix.
    const std::string bare = key.substr(f.prefix.size());
    REQUIRE(bare.find('/') == std::string::npos);
    const fs::path named = f.dir.path() + "/named.backup";
    auto by_name = command(f, {"restore", "--output", named.string(), "--key", bare});
    INFO(by_name.err);
    REQUIRE(by_name.exit_code == 0);
    CHECK(slurp(named) == lnd_simulator::content(3));
    CHECK_THAT(by_name.out, Catch::Contains(key));
}

TEST_CASE("restore --output - refuses a terminal", "[integration][restore]") {
    daemon_fixture f;
    upload_version(f, lnd_simulator::content(4));
    // script(1) gives the command a pseudo-terminal as its stdout.
    std::string cmd;
    for (const auto& a : {std::string(backup_executable()), std::string("restore"), std::string("--output"), std::string("-")})
        cmd += "'" + a + "' ";
    auto env = f.env();
    env.push_back("BACKUP_DIRECTORY=" + f.dir.path() + "/never-created");
    auto r = run({"script", "-qec", cmd, "/dev/null"}, env, 60s, foreign_variables());
    CHECK(r.exit_code == 64);
    CHECK_THAT(r.out, Catch::Contains("is a terminal here") && Catch::Contains("redirect it"));
}

TEST_CASE("restore: a corrupted object is refused, exit 65, nothing written", "[integration][restore]") {
    daemon_fixture f;
    upload_version(f, lnd_simulator::content(1));
    // A newer key whose suffix is not the SHA-256 of its body: the newest, and corrupt.
    const std::string body = lnd_simulator::content(7);
    std::string wrong = crypto::sha256_hex(body);
    wrong.back() = wrong.back() == '0' ? '1' : '0';
    const auto bad_key = f.prefix + naming::object_name(std::chrono::system_clock::now() + 1h, wrong);
    put_raw(f, bad_key, body);

    const fs::path out_dir = f.dir.path() + "/out";
    fs::create_directory(out_dir);
    const fs::path out = out_dir / "restored.backup";
    for (const auto& args : {std::vector<std::string>{"restore", "--output", out.string()},
                             std::vector<std::string>{"restore", "--output", out.string(), "--key", bad_key}}) {
        auto r = command(f, args);
        CAPTURE(r.err);
        CHECK(r.exit_code == 65);
        CHECK_THAT(r.err, Catch::Contains("corrupt") && Catch::Contains(bad_key) && Catch::Contains("nothing was written"));
        CHECK(r.out.empty());
        CHECK_FALSE(fs::exists(out));
        CHECK(files_in(out_dir) == 0);
    }
}

TEST_CASE("restore: no backup, no such key, a key that is not a backup name", "[integration][restore]") {
    daemon_fixture f;
    const fs::path out = f.dir.path() + "/restored.backup";
    auto empty = command(f, {"restore", "--output", out.string()});
    CHECK(empty.exit_code == 66);
    CHECK_THAT(empty.err, Catch::Contains("no backup under s3://" + f.s3.bucket + "/" + f.prefix));

    auto missing = command(f, {"restore", "--output", out.string(), "--key",
                               f.prefix + "channel-20261125T054233.123Z-a1b2c3.backup"});
    CHECK(missing.exit_code == 66);
    CHECK_THAT(missing.err, Catch::Contains("no such backup"));

    auto foreign = command(f, {"restore", "--output", out.string(), "--key", f.prefix + "notes.txt"});
    CHECK(foreign.exit_code == 64);
    CHECK_FALSE(fs::exists(out));
}

TEST_CASE("restore: verify exits 0 in sync, 1 when S3 is behind or empty", "[integration][restore]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(1));
    auto empty = command(f, {"verify"});
    CHECK(empty.exit_code == 1);
    CHECK(lines(empty.out).size() == 1);
    CHECK_THAT(empty.out, Catch::StartsWith("OUT OF SYNC: no backup under"));

    const auto key = upload_version(f, lnd_simulator::content(1));
    auto synced = command(f, {"verify"});
    INFO(synced.err);
    CHECK(synced.exit_code == 0);
    CHECK(lines(synced.out).size() == 1);
    CHECK_THAT(synced.out, Catch::StartsWith("in sync: ") && Catch::Contains(key) &&
                               Catch::Contains(crypto::sha256_hex(lnd_simulator::content(1))));

    f.lnd.swap(lnd_simulator::content(2));  // lnd wrote a new version that nobody uploaded
    auto behind = command(f, {"verify"});
    CHECK(behind.exit_code == 1);
    CHECK(lines(behind.out).size() == 1);
    CHECK_THAT(behind.out, Catch::StartsWith("OUT OF SYNC: the newest backup") && Catch::Contains(key));

    fs::remove(f.lnd.file());
    auto no_file = command(f, {"verify"});
    CHECK(no_file.exit_code == 66);
    CHECK_FALSE(fs::exists(f.dir.path() + "/never-created"));
}

TEST_CASE("restore: verify compares whole contents, not only the suffix", "[integration][restore]") {
    daemon_fixture f;
    const std::string local = lnd_simulator::content(3);
    f.lnd.swap(local);
    // Same 6-hex suffix as the local file, other bytes: only a full hash tells them apart.
    const auto key = f.prefix + naming::object_name(std::chrono::system_clock::now(), crypto::sha256_hex(local));
    put_raw(f, key, lnd_simulator::content(4));
    auto r = command(f, {"verify"});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.out, Catch::StartsWith("OUT OF SYNC: ") && Catch::Contains("has sha256 " +
                                                                             crypto::sha256_hex(lnd_simulator::content(4))));
}
