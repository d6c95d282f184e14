// The real binary killed at random moments, and channel.backup or the spool in states lnd never
// leaves them in: the daemon must not crash, must say what is wrong, and must never upload or spool
// a half-read or half-written version.
#include "daemon_fixture.hpp"
#include "spool/spool.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>

using namespace scb::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// Checks every file in the spool: complete versions whose content hashes to the 6 hex digits in
/// their name, plus (only when `temps` is given) temporary files, which it collects. Returns the
/// versions, name -> SHA-256 of the content. `ignore` is a file the test itself put there; the
/// spool's lock file is not a version either.
std::map<std::string, std::string> check_spool(const std::string& dir, std::set<std::string>* temps = nullptr,
                                               const std::string& ignore = "") {
    std::map<std::string, std::string> versions;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        CAPTURE(name);
        if (name == ignore || name == scb::spool::lock_file_name) continue;
        if (name.ends_with(".tmp")) {
            CHECK(temps != nullptr);  // no temporary file where none may be
            if (temps) temps->insert(name);
            continue;
        }
        // channel-20261125T054233.123Z-a1b2c3.backup
        REQUIRE(name.starts_with("channel-"));
        REQUIRE(name.ends_with(".backup"));
        std::ifstream in(it->path(), std::ios::binary);
        if (!in) {
            CHECK(!fs::exists(it->path()));  // deleted since listed (confirmed by S3): fine
            continue;
        }
        const std::string content{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        CHECK(content.size() >= 45);
        const auto sha = scb::crypto::sha256_hex(content);
        CHECK(sha.substr(58) == name.substr(name.size() - 13, 6));
        versions.emplace(name, sha);
    }
    return versions;
}

/// Whether the front saw S3 accept (200) a PUT whose body has this SHA-256 (x-amz-content-sha256,
/// which the front checks against the body), since its request log was last cleared.
bool put_accepted(daemon_fixture& f, const std::string& sha) {
    for (auto& r : f.s3.requests())
        if (r["method"] == "PUT" && r["status"] == 200 && r["headers"].value("x-amz-content-sha256", "") == sha)
            return true;
    return false;
}

std::size_t objects_with_sha(daemon_fixture& f, const std::string& sha) {
    std::size_t n = 0;
    for (auto& o : f.objects()) n += o["sha256"] == sha;
    return n;
}

void write_plain(const fs::path& p, const std::string& content) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

/// Puts `make(temp)`'s result in place of channel.backup with one rename (IN_MOVED_TO, as lnd does).
void replace_with(daemon_fixture& f, const std::function<void(const fs::path&)>& make) {
    const auto temp = f.lnd.folder() / "replacement.tmp";
    fs::remove_all(temp);
    make(temp);
    std::error_code ec;
    if (fs::is_directory(fs::symlink_status(temp)) && !fs::is_directory(fs::symlink_status(f.lnd.file())))
        fs::remove(f.lnd.file(), ec);  // rename() cannot put a folder over a file
    else if (!fs::is_directory(fs::symlink_status(temp)) && fs::is_directory(fs::symlink_status(f.lnd.file())))
        fs::remove_all(f.lnd.file(), ec);
    fs::rename(temp, f.lnd.file());
}

const std::vector<std::string> fast_retries{"run", "--retry-min", "100ms", "--retry-max", "400ms"};

}  // namespace

TEST_CASE("SIGKILL at random moments during bursts of swaps, 20 times: no torn spool file, nothing lost",
          "[integration][crash]") {
    // Rounds alternate: S3 up (even), S3 down (odd). After a kill in a down round, what the daemon
    // must not lose is the newest state it left behind: the file lnd holds, or (every other time,
    // when the test removes the file as if lnd's disk had lost it) the newest spooled copy. The next
    // round has S3 up and lnd writes nothing until S3 accepted a PUT of exactly that content. A
    // newer version cannot stand in for it (none exists yet), so a daemon that skipped its
    // start-up upload, or dropped or misordered its leftovers, fails here. After a kill in an up
    // round S3 is down at the restart: nothing is confirmed then, so no spooled content may vanish
    // before the next kill; its versions are superseded by the newer ones of that round.
    daemon_fixture f;
    const auto seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    int version = 0;
    f.lnd.swap(lnd_simulator::content(version));
    std::map<std::string, std::string> spool_at_kill;  // name -> SHA-256, after the last kill
    std::string owed;                                   // SHA-256 the next restart (S3 up) must upload
    std::string owed_what;                              // where it was: for the failure message
    std::set<std::string> temps_left;                   // temporary files the last kill left
    int temps_total = 0, from_spool = 0;

    // The check after a restart with S3 up: S3 accepts a PUT of exactly the content the kill left,
    // and then every spooled copy (all older or the same) is deleted.
    auto expect_owed_uploaded = [&](child_process& d) {
        CAPTURE(owed_what);
        const bool uploaded = eventually([&] { return put_accepted(f, owed); }, 30s);
        INFO(d.stderr_text());
        REQUIRE(uploaded);
        CHECK(objects_with_sha(f, owed) >= 1);
        CHECK(eventually([&] { return f.spooled_versions() == 0; }, 20s));
    };

    for (int round = 0; round < 20; ++round) {
        CAPTURE(round);
        // Every other round S3 is down, so versions pile up in the spool and the kill hits retries.
        const bool outage = round % 2 == 1;
        f.s3.control("POST", outage ? "/outage/start" : "/outage/end");
        f.s3.control("DELETE", "/requests");
        auto d = f.start(fast_retries);
        // spool::open() at start removes what an earlier kill left half-written.
        REQUIRE(d->wait_for_stderr("starting", 10s));
        // The running daemon writes temporary files of its own (new names: they carry the time),
        // but none that the kill left survives the start.
        std::set<std::string> temps_now;
        check_spool(f.spool, &temps_now);
        for (const auto& t : temps_left) {
            CAPTURE(t);
            CHECK(!fs::exists(fs::path(f.spool) / t));
        }
        if (!owed.empty()) expect_owed_uploaded(*d);
        owed.clear();

        std::atomic<bool> stop{false};
        std::thread lnd([&, burst_seed = rng()] {
            std::mt19937 local(burst_seed);
            while (!stop) {
                f.lnd.swap(lnd_simulator::content(++version, 600 + local() % 3000));
                std::this_thread::sleep_for(std::chrono::microseconds(local() % 20'000));
            }
        });
        // Pacing only: where the kill lands is random on purpose; nothing below depends on it.
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 700));
        d->signal(SIGKILL);
        stop = true;
        lnd.join();
        REQUIRE(d->wait(5s).value_or(0) == 128 + SIGKILL);
        temps_left.clear();
        const auto spooled = check_spool(f.spool, &temps_left);
        temps_total += static_cast<int>(temps_left.size());

        if (outage) {
            // S3 confirmed nothing in this round: every content spooled before it is still spooled
            // (the spool cap aside, which warns).
            std::set<std::string> kept;
            for (const auto& [name, sha] : spooled) kept.insert(sha);
            if (d->stderr_text().find("--spool-max-files): dropped") == std::string::npos) {
                for (const auto& [name, sha] : spool_at_kill) {
                    CAPTURE(name);
                    CHECK(kept.count(sha) == 1);
                }
            }
            // What the kill left for the next restart, S3 up, to upload. lnd stopped with the burst,
            // so the file holds the newest version there is: the one at the kill or one written
            // just after it. (It can be missing: removed after an earlier kill, and the kill of
            // the round since came before lnd's first swap.)
            const bool file_there = fs::exists(f.lnd.file());
            if ((round % 4 == 3 || !file_there) && !spooled.empty()) {
                fs::remove(f.lnd.file());  // only the spool has it now
                owed = spooled.rbegin()->second;
                owed_what = "the newest spooled copy " + spooled.rbegin()->first + " (channel.backup removed)";
                ++from_spool;
            } else if (file_there) {
                owed = scb::crypto::sha256_hex(slurp(f.lnd.file()));
                owed_what = "channel.backup as lnd left it at the kill, version " + std::to_string(version);
            }
        }
        spool_at_kill = spooled;
    }
    INFO(temps_total << " temporary files found after the kills; " << from_spool
                     << " restarts had only the spool to upload from");
    CHECK(from_spool >= 1);  // the spool-only path was exercised

    f.s3.control("POST", "/outage/end");
    f.s3.control("DELETE", "/requests");
    auto d = f.start(fast_retries);
    expect_owed_uploaded(*d);
    const auto last = lnd_simulator::content(++version);
    f.lnd.swap(last);
    REQUIRE(f.wait_for_content(last, 30s));
    REQUIRE(eventually([&] { return f.spool_files() == 0; }, 20s));
    CHECK(f.count_with_sha(last) == 1);
    CHECK(d->running());
}

TEST_CASE("channel.backup unreadable: a clear log line, no crash, uploads resume", "[integration][crash]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start(fast_retries);
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    if (::geteuid() == 0) {
        WARN("running as root, which reads a chmod 000 file anyway: a UNIX socket stands in for the "
             "unreadable file (open() fails with ENXIO)");
        replace_with(f, [](const fs::path& p) {
            int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
            REQUIRE(s >= 0);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            REQUIRE(p.string().size() < sizeof addr.sun_path);
            std::strcpy(addr.sun_path, p.c_str());
            REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
            ::close(s);
        });
    } else {
        replace_with(f, [](const fs::path& p) {
            write_plain(p, lnd_simulator::content(1));
            fs::permissions(p, fs::perms::none);
        });
    }
    CHECK(d->wait_for_stderr("cannot be read", 10s));
    CHECK(d->running());
    fs::remove(f.lnd.file());
    f.lnd.swap(lnd_simulator::content(2));
    CHECK(f.wait_for_content(lnd_simulator::content(2)));
    CHECK(f.objects().size() == 2);
}

TEST_CASE("channel.backup replaced by a folder, a symlink, an empty file, a 100 MiB file", "[integration][crash]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start(fast_retries);
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    std::size_t expected_objects = 1;

    SECTION("a folder") {
        replace_with(f, [](const fs::path& p) { fs::create_directory(p); });
        CHECK(d->wait_for_stderr("is a folder, not a file", 10s));
    }
    SECTION("a symlink to a valid file: uploaded") {
        const auto target = f.dir.path() + "/elsewhere.backup";
        write_plain(target, lnd_simulator::content(7));
        replace_with(f, [&](const fs::path& p) { fs::create_symlink(target, p); });
        CHECK(f.wait_for_content(lnd_simulator::content(7)));
        ++expected_objects;
    }
    SECTION("a symlink to nothing") {
        replace_with(f, [&](const fs::path& p) { fs::create_symlink(f.dir.path() + "/nowhere.backup", p); });
        CHECK(d->wait_for_stderr("symbolic link to " + f.dir.path() + "/nowhere.backup", 10s));
    }
    SECTION("an empty file") {
        replace_with(f, [](const fs::path& p) { write_plain(p, ""); });
        CHECK(d->wait_for_stderr("is 0 bytes, smaller than", 10s));
    }
    SECTION("a 100 MiB file, over --max-size") {
        replace_with(f, [](const fs::path& p) {
            write_plain(p, "");
            fs::resize_file(p, 100ull << 20);  // sparse: the size is what is checked, before any read
        });
        CHECK(d->wait_for_stderr("is 104857600 bytes, larger than the 67108864 bytes allowed", 10s));
    }
    CHECK(d->running());
    CHECK(f.objects().size() == expected_objects);
    CHECK(f.spooled_versions() == 0);
    // A valid version afterwards is uploaded as usual.
    std::error_code ec;
    fs::remove_all(f.lnd.file(), ec);
    f.lnd.swap(lnd_simulator::content(3));
    CHECK(f.wait_for_content(lnd_simulator::content(3)));
    CHECK(f.objects().size() == expected_objects + 1);
    CHECK(d->running());
}

namespace {

/// A small tmpfs mounted on a folder for the length of a test; `ok` is false (and `why` says why)
/// where this process may not mount (not root, no CAP_SYS_ADMIN, a locked-down container).
struct tmpfs_mount {
    explicit tmpfs_mount(const std::string& dir, const std::string& options) : path(dir) {
        fs::create_directories(dir);
        if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0)
            ok = true;
        else
            why = std::string("mount -t tmpfs -o ") + options + " " + dir + ": " + std::strerror(errno);
    }
    ~tmpfs_mount() {
        if (ok) ::umount2(path.c_str(), MNT_DETACH);
    }
    void remount(const std::string& options) const {
        REQUIRE(::mount("tmpfs", path.c_str(), "tmpfs", MS_REMOUNT, options.c_str()) == 0);
    }
    void remount_ro(const std::string& options) const {
        REQUIRE(::mount("tmpfs", path.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, options.c_str()) == 0);
    }
    tmpfs_mount(const tmpfs_mount&) = delete;
    tmpfs_mount& operator=(const tmpfs_mount&) = delete;
    std::string path, why;
    bool ok = false;
};

/// Fills the filesystem of `dir` until writes fail; returns the filler's path.
fs::path fill(const std::string& dir) {
    const fs::path filler = dir + "/filler";
    std::ofstream out(filler, std::ios::binary);
    const std::string block(1024, 'x');
    for (int i = 0; i < 1024 && out; ++i) out.write(block.data(), static_cast<std::streamsize>(block.size())).flush();
    return filler;
}

}  // namespace

TEST_CASE("Spool full, then read-only: a clear error, the upload still happens from memory, recovery",
          "[integration][crash]") {
    daemon_fixture f;
    const std::string options = "size=64k,mode=0700";
    tmpfs_mount spool_fs(f.spool, options);
    if (!spool_fs.ok) {
        WARN("skipped: cannot mount a small tmpfs for the spool (" << spool_fs.why << ")");
        return;
    }
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start(fast_retries);
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    REQUIRE(eventually([&] { return f.spooled_versions() == 0; }));

    // Full: the spool write fails with ENOSPC, the upload goes on from memory. (A version is
    // spooled only when S3 does not confirm it at once: the first attempt of each fails here.)
    const auto filler = fill(f.spool);
    const auto v1 = lnd_simulator::content(1, 8000);
    f.s3.control("POST", "/faults", R"({"count":1,"kind":"status500"})");
    f.lnd.swap(v1);
    CHECK(d->wait_for_stderr("No space left on device", 10s));
    CHECK_THAT(d->stderr_text(), Catch::Contains("spool: cannot write " + f.spool + "/channel-") &&
                                     Catch::Contains("the upload goes on from memory"));
    CHECK(f.wait_for_content(v1));
    check_spool(f.spool, nullptr, "filler");  // no half-written version, no temp file left

    // Read-only: the same.
    fs::remove(filler);
    spool_fs.remount_ro(options);
    const auto v2 = lnd_simulator::content(2);
    f.s3.control("POST", "/faults", R"({"count":1,"kind":"status500"})");
    f.lnd.swap(v2);
    CHECK(d->wait_for_stderr("Read-only file system", 10s));
    CHECK(f.wait_for_content(v2));

    // Space returns: a version S3 cannot take now is spooled again, then uploaded.
    spool_fs.remount(options);
    f.s3.control("POST", "/outage/start");
    const auto v3 = lnd_simulator::content(3);
    f.lnd.swap(v3);
    CHECK(eventually([&] { return f.spooled_versions() == 1; }, 10s));
    check_spool(f.spool);
    f.s3.control("POST", "/outage/end");
    CHECK(f.wait_for_content(v3, 30s));
    CHECK(eventually([&] { return f.spool_files() == 0; }));
    CHECK(d->running());
}

TEST_CASE("The spool cap drops the oldest unconfirmed versions, never the newest", "[integration][crash]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start({"run", "--retry-min", "100ms", "--retry-max", "400ms", "--spool-max-files", "3"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    f.s3.control("POST", "/outage/start");
    // Only the newest unconfirmed version is spooled (at a failed attempt or after the 1 s delay):
    // each version gets its copy before lnd writes the next, so that 8 copies are made.
    for (int i = 1; i <= 8; ++i) {
        CAPTURE(i);
        const auto sha = scb::crypto::sha256_hex(lnd_simulator::content(i));
        f.lnd.swap(lnd_simulator::content(i));
        REQUIRE(eventually([&] {
            std::set<std::string> temps;  // the daemon is writing: its own temporary files may be there
            for (const auto& [name, content_sha] : check_spool(f.spool, &temps))
                if (content_sha == sha) return true;
            return false;
        }, 10s));
    }
    INFO(d->stderr_text());
    REQUIRE(d->wait_for_stderr("--spool-max-files): dropped", 10s));
    // The newest version's copy is one of the 3 kept.
    const auto newest_tail = scb::crypto::sha256_hex(lnd_simulator::content(8)).substr(58) + ".backup";
    REQUIRE(eventually([&] {
        std::set<std::string> temps;  // the daemon is writing: its own temporary files may be there
        auto versions = check_spool(f.spool, &temps);
        return versions.size() <= 3 && !versions.empty() && versions.rbegin()->first.ends_with(newest_tail);
    }, 10s));
    f.s3.control("POST", "/outage/end");
    CHECK(f.wait_for_content(lnd_simulator::content(8), 30s));
    CHECK(eventually([&] { return f.spool_files() == 0; }));
    CHECK(d->running());
}
