// Several destinations through the real binary: `once`, `list`, `restore` and `verify` with the
// fixture's S3 (the primary, S3_BUCKET_NAME), a second real S3 (its own s3rver + SigV4 front, keys
// from a profile of the shared credentials file) and a local folder (SCB_DESTINATIONS).
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace scb;
using namespace scb::test;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

/// Lines logged at level error (warnings, e.g. about SCB_TEST_BINARY, do not count).
std::size_t error_lines(const std::string& err) {
    std::size_t n = 0;
    for (const auto& l : lines(err)) n += l.find(" error ") != std::string::npos;
    return n;
}

unsigned mode_of(const fs::path& p) {
    struct stat st{};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return st.st_mode & 07777;
}

/// The primary (fixture) S3, "second" (another S3, profile=second) and the folder "usb".
struct three_destinations {
    daemon_fixture f;
    s3_environment second{false};
    std::string usb = f.dir.path() + "/usb";
    std::string credentials = f.dir.path() + "/credentials";
    std::string primary_name = f.s3.bucket;  // the primary is named after its bucket

    three_destinations() {
        fs::create_directory(usb);
        std::ofstream(credentials) << "[second]\naws_access_key_id = " << second.access_key
                                   << "\naws_secret_access_key = " << second.secret_key << "\n";
        fs::permissions(credentials, fs::perms::owner_read | fs::perms::owner_write);
    }

    [[nodiscard]] std::string second_url() const {
        return "s3://" + second.bucket + "/node1/?endpoint=" + second.http_url() + "&region=" + second.region +
               "&profile=second&name=second";
    }
    [[nodiscard]] std::string usb_url() const { return "file://" + usb + "/"; }

    [[nodiscard]] std::vector<std::string> env(std::vector<std::string> extra = {}) const {
        std::vector<std::string> e{"SCB_DESTINATIONS=" + second_url() + " " + usb_url(),
                                   "AWS_SHARED_CREDENTIALS_FILE=" + credentials};
        e.insert(e.end(), extra.begin(), extra.end());
        return e;
    }

    /// `once` for the current file with the three destinations (args after "once").
    run_result once(std::vector<std::string> args = {}, std::vector<std::string> extra_env = {}) const {
        args.insert(args.begin(), "once");
        return f.run_once(args, env(std::move(extra_env)));
    }

    /// `once` with the folder as the only destination (no S3_BUCKET_NAME, --destination replaces the rest).
    run_result once_to_folder_only() const { return f.run_once({"once", "--destination", usb_url()}, env({"S3_BUCKET_NAME="})); }

    /// list / restore / verify: must never create the spool.
    run_result command(std::vector<std::string> args) const {
        return f.run_once(std::move(args), env({"BACKUP_DIRECTORY=" + f.dir.path() + "/never-created"}));
    }

    /// Writes a new channel.backup as lnd does.
    void lnd_writes(const std::string& content) const { f.lnd.swap(content); }

    bool in_primary(const std::string& content) { return f.count_with_sha(content) > 0; }
    bool in_second(const std::string& content) {
        const auto sha = crypto::sha256_hex(content);
        for (auto& o : second.objects())
            if (o["key"].get<std::string>().starts_with("node1/channel-") && o["sha256"] == sha) return true;
        return false;
    }
    /// The folder's file holding exactly `content` ("" when none).
    fs::path in_folder(const std::string& content) const {
        std::error_code ec;
        for (const auto& e : fs::directory_iterator(usb, ec))
            if (e.path().filename().string().starts_with("channel-") && slurp(e.path()) == content) return e.path();
        return {};
    }
};

}  // namespace

TEST_CASE("destinations: once stores the version in both buckets and the folder", "[integration][destinations]") {
    three_destinations d;
    const auto v1 = lnd_simulator::content(1);
    d.lnd_writes(v1);
    auto r = d.once();
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(d.in_primary(v1));
    CHECK(d.in_second(v1));
    const auto file = d.in_folder(v1);
    REQUIRE_FALSE(file.empty());
    CHECK(mode_of(file) == 0600);
    CHECK(slurp(file) == v1);
    CHECK(d.f.spooled_versions() == 0);  // confirmed everywhere: nothing left to send
    // The same version has the same name everywhere.
    bool same_name = false;
    for (auto& o : d.f.objects())
        same_name = same_name || o["key"] == d.f.prefix + file.filename().string();
    CHECK(same_name);
}

TEST_CASE("destinations: once with one S3 down exits 3 (partial) and names it", "[integration][destinations]") {
    three_destinations d;
    const auto v1 = lnd_simulator::content(1);
    d.lnd_writes(v1);
    d.second.stop();
    auto r = d.once();
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, Catch::Contains("partial success") && Catch::Contains("failed: second ("));
    CHECK(d.in_primary(v1));
    CHECK_FALSE(d.in_folder(v1).empty());
    CHECK(d.f.spooled_versions() == 1);  // kept for "second"
    d.second.restart();
    CHECK_FALSE(d.in_second(v1));
}

TEST_CASE("destinations: once with a profile whose keys are wrong fails that destination only",
          "[integration][destinations]") {
    three_destinations d;
    // The global AWS_ACCESS_KEY_ID would be right: the profile must win for "second".
    std::ofstream(d.credentials) << "[second]\naws_access_key_id = AKIDWRONGWRONGWRONG1\naws_secret_access_key = "
                                 << std::string(40, 'x') << "\n";
    const auto v1 = lnd_simulator::content(1);
    d.lnd_writes(v1);
    auto r = d.once();
    INFO(r.err);
    CHECK(r.exit_code == 3);
    CHECK_THAT(r.err, Catch::Contains("failed: second ("));
    CHECK_FALSE(d.in_second(v1));
    CHECK(d.in_primary(v1));
}

TEST_CASE("destinations: once with every destination failing exits with the first failure's code",
          "[integration][destinations]") {
    three_destinations d;
    d.lnd_writes(lnd_simulator::content(1));
    d.f.s3.stop();
    d.second.stop();
    fs::remove(d.usb);
    auto r = d.once();
    INFO(r.err);
    // The primary (first destination) is unreachable: 69, not 0 and not 3 (partial).
    CHECK(r.exit_code == 69);
    CHECK_THAT(r.err, !Catch::Contains("partial success"));
    CHECK_THAT(r.err, Catch::Contains(d.primary_name + ": upload of") && Catch::Contains("second: upload of") &&
                          Catch::Contains("usb: upload of"));
    CHECK(d.f.spooled_versions() == 1);  // the version waits in the spool
}

TEST_CASE("destinations: list shows each destination under a heading, in one JSON array, or one alone",
          "[integration][destinations]") {
    three_destinations d;
    const auto v1 = lnd_simulator::content(1);
    d.lnd_writes(v1);
    REQUIRE(d.once().exit_code == 0);
    const auto key_name = d.in_folder(v1).filename().string();
    REQUIRE_FALSE(key_name.empty());
    const auto suffix = crypto::sha256_hex(v1).substr(58);

    auto r = d.command({"list"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto rows = lines(r.out);
    const std::vector<std::string> headings{"== " + d.primary_name + " (s3://" + d.f.s3.bucket + "/node1/)",
                                            "== second (s3://" + d.second.bucket + "/node1/)",
                                            "== usb (" + d.usb_url() + ")"};
    CAPTURE(r.out);
    // Per destination: heading, column header, the one version, a blank line.
    REQUIRE(rows.size() == 12);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(rows[4 * i] == headings[i]);
        CHECK(rows[4 * i + 1].starts_with("KEY"));
        CHECK(rows[4 * i + 2].starts_with((i < 2 ? "node1/" : "") + key_name + " "));
        CHECK(rows[4 * i + 2].ends_with(suffix));
        CHECK(rows[4 * i + 3].empty());
    }

    auto j = d.command({"list", "--json"});
    INFO(j.err);
    REQUIRE(j.exit_code == 0);
    const auto arr = nlohmann::json::parse(j.out);
    REQUIRE(arr.is_array());
    REQUIRE(arr.size() == 3);
    CHECK(arr[0]["destination"] == d.primary_name);
    CHECK(arr[1]["destination"] == "second");
    CHECK(arr[2]["destination"] == "usb");
    for (const auto& row : arr) CHECK(row["sha256_suffix"] == suffix);

    auto one = d.command({"list", "--destination", "second"});
    INFO(one.err);
    REQUIRE(one.exit_code == 0);
    const auto one_rows = lines(one.out);
    REQUIRE(one_rows.size() == 2);  // as with one destination: no heading
    CHECK(one_rows[0].starts_with("KEY"));
    CHECK(one_rows[1].starts_with("node1/" + key_name + " "));
    CHECK_FALSE(fs::exists(d.f.dir.path() + "/never-created"));

    // One destination down: the others are still listed, the exit code is its failure's.
    d.second.stop();
    auto partial = d.command({"list"});
    CAPTURE(partial.out, partial.err);
    CHECK(partial.exit_code == 69);
    CHECK_THAT(partial.out, Catch::Contains(headings[0]) && Catch::Contains(headings[2]) && !Catch::Contains("== second"));
    CHECK_THAT(partial.err, Catch::Contains("second: "));
}

TEST_CASE("destinations: restore takes the newest of all destinations, and goes on without one",
          "[integration][destinations]") {
    three_destinations d;
    const auto v1 = lnd_simulator::content(1), v2 = lnd_simulator::content(2);
    d.lnd_writes(v1);
    REQUIRE(d.once().exit_code == 0);
    d.lnd_writes(v2);
    {
        auto r = d.once_to_folder_only();
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
    }
    REQUIRE_FALSE(d.in_folder(v2).empty());
    REQUIRE_FALSE(d.in_primary(v2));

    const auto out = d.f.dir.path() + "/restored.backup";
    auto r = d.command({"restore", "--output", out});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(slurp(out) == v2);
    CHECK(mode_of(out) == 0600);
    CHECK_THAT(r.out, Catch::Contains("(destination usb)"));

    auto picked = d.command({"restore", "--output", out, "--force", "--destination", "second"});
    INFO(picked.err);
    REQUIRE(picked.exit_code == 0);
    CHECK(slurp(out) == v1);

    d.f.s3.stop();
    auto without_primary = d.command({"restore", "--output", out, "--force"});
    INFO(without_primary.err);
    REQUIRE(without_primary.exit_code == 0);
    CHECK(slurp(out) == v2);
    CHECK_THAT(without_primary.out, Catch::Contains("(destination usb)"));
    CHECK_THAT(without_primary.err, Catch::Contains(d.primary_name + ": "));

    // The only reachable copy of the newest: the folder gone too, the second S3 gives the older one.
    fs::remove_all(d.usb);
    auto from_second = d.command({"restore", "--output", out, "--force"});
    INFO(from_second.err);
    REQUIRE(from_second.exit_code == 0);
    CHECK(slurp(out) == v1);
    CHECK_THAT(from_second.out, Catch::Contains("(destination second)"));
}

TEST_CASE("destinations: restore --key finds the key as list shows it, in the first destination that has it",
          "[integration][destinations]") {
    three_destinations d;
    const auto v1 = lnd_simulator::content(1);
    d.lnd_writes(v1);
    REQUIRE(d.once().exit_code == 0);
    const auto name = d.in_folder(v1).filename().string();
    REQUIRE_FALSE(name.empty());
    const auto out = d.f.dir.path() + "/restored.backup";

    // The key as `list` shows it for an S3 destination, with the primary down.
    d.f.s3.stop();
    auto s3_key = d.command({"restore", "--output", out, "--key", d.f.prefix + name});
    INFO(s3_key.err);
    CHECK(s3_key.exit_code == 0);
    CHECK(slurp(out) == v1);
    CHECK_THAT(s3_key.out, Catch::Contains("(destination second)"));

    // The key as `list` shows it for the folder (no prefix), with both S3 down.
    d.second.stop();
    auto folder_key = d.command({"restore", "--output", out, "--force", "--key", name});
    INFO(folder_key.err);
    CHECK(folder_key.exit_code == 0);
    CHECK(slurp(out) == v1);
    CHECK_THAT(folder_key.out, Catch::Contains("(destination usb)"));

    // The S3 form of the key names the same version in the folder, with both S3 down.
    auto same_version = d.command({"restore", "--output", out, "--force", "--key", d.f.prefix + name});
    INFO(same_version.err);
    CHECK(same_version.exit_code == 0);
    CHECK(slurp(out) == v1);
    CHECK_THAT(same_version.out, Catch::Contains("(destination usb)"));
}

TEST_CASE("destinations: verify says in sync or OUT OF SYNC for each destination", "[integration][destinations]") {
    three_destinations d;
    const auto v1 = lnd_simulator::content(1), v2 = lnd_simulator::content(2);
    d.lnd_writes(v1);
    REQUIRE(d.once().exit_code == 0);

    auto synced = d.command({"verify"});
    INFO(synced.err);
    CHECK(synced.exit_code == 0);
    auto rows = lines(synced.out);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].starts_with(d.primary_name + ": in sync: "));
    CHECK(rows[1].starts_with("second: in sync: "));
    CHECK(rows[2].starts_with("usb: in sync: "));

    // v2 reaches the primary and the folder (--destination replaces SCB_DESTINATIONS), not "second".
    d.lnd_writes(v2);
    {
        auto r = d.f.run_once({"once", "--destination", d.usb_url()}, d.env());
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
    }
    auto behind = d.command({"verify"});
    INFO(behind.err);
    CHECK(behind.exit_code == 1);
    rows = lines(behind.out);
    REQUIRE(rows.size() == 3);
    CHECK(rows[0].starts_with(d.primary_name + ": in sync: "));
    CHECK(rows[1].starts_with("second: OUT OF SYNC: "));
    CHECK(rows[2].starts_with("usb: in sync: "));

    auto only_usb = d.command({"verify", "--destination", "usb"});
    CHECK(only_usb.exit_code == 0);
    CHECK_THAT(only_usb.out, Catch::StartsWith("in sync: "));

    // One destination unreachable: the others are still checked; the exit code is its failure's.
    d.second.stop();
    auto down = d.command({"verify"});
    CAPTURE(down.out, down.err);
    CHECK(down.exit_code == 69);
    rows = lines(down.out);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].starts_with(d.primary_name + ": in sync: "));
    CHECK(rows[1].starts_with("usb: in sync: "));
    CHECK_THAT(down.err, Catch::Contains("second: "));
}

TEST_CASE("destinations: a bad URL or parameter, or an unknown NAME, exits 64 with one line",
          "[integration][destinations]") {
    three_destinations d;
    d.lnd_writes(lnd_simulator::content(1));
    struct bad {
        std::string url, names;
    };
    for (const auto& [url, names] : {bad{"s3://b-bucket/?checksum=crc", "checksum"}, bad{"file://relative", "host"},
                                     bad{"s3://b-bucket/?colour=red", "colour"}, bad{"file:///x/?name=a/b", "name"}}) {
        auto r = d.f.run_once({"once"}, d.env({"SCB_DESTINATIONS=" + url}));
        CAPTURE(url, r.err);
        CHECK(r.exit_code == 64);
        CHECK(error_lines(r.err) == 1);
        CHECK_THAT(r.err, Catch::Contains("SCB_DESTINATIONS #1") && Catch::Contains(names));
    }
    auto flag = d.f.run_once({"once", "--destination", "s3://b-bucket/?checksum=crc"}, d.env());
    CHECK(flag.exit_code == 64);
    CHECK_THAT(flag.err, Catch::Contains("--destination #1") && Catch::Contains("checksum"));

    auto unknown = d.command({"list", "--destination", "nosuch"});
    CAPTURE(unknown.err);
    CHECK(unknown.exit_code == 64);
    CHECK(unknown.out.empty());
    CHECK_THAT(unknown.err, Catch::Contains("nosuch") && Catch::Contains("known: " + d.primary_name + ", second, usb"));
}
