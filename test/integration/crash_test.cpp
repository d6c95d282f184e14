// The real binary killed at random moments, and channel.backup or the spool in states lnd never
// leaves them in: the daemon must not crash, must say what is wrong, and must never upload or spool
// a half-read or half-written version.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <random>
#include <set>

using namespace scb::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// Checks every file in the spool: complete versions whose content hashes to the 6 hex digits in
/// their name, plus (only when `temps` is given) temporary files, which it collects. Returns the
/// version names. `ignore` is a file the test itself put there.
std::set<std::string> check_spool(const std::string& dir, std::set<std::string>* temps = nullptr,
                                  const std::string& ignore = "") {
    std::set<std::string> names;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        const auto name = it->path().filename().string();
        CAPTURE(name);
        if (name == ignore) continue;
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
        CHECK(scb::crypto::sha256_hex(content).substr(58) == name.substr(name.size() - 13, 6));
        names.insert(name);
    }
    return names;
}

std::set<std::string> keys_in_s3(daemon_fixture& f) {
    std::set<std::string> keys;
    for (auto& o : f.objects()) keys.insert(o["key"].get<std::string>().substr(f.prefix.size()));
    return keys;
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
    daemon_fixture f;
    const auto seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    int version = 0;
    f.lnd.swap(lnd_simulator::content(version));
    std::set<std::string> seen;        // every version name found in the spool after a kill
    std::set<std::string> temps_left;  // temporary files the last kill left
    int temps_total = 0;
    for (int round = 0; round < 20; ++round) {
        CAPTURE(round);
        // Every other round S3 is down, so versions pile up in the spool and the kill hits retries.
        const bool outage = round % 2 == 1;
        f.s3.control("POST", outage ? "/outage/start" : "/outage/end");
        auto d = f.start(fast_retries);
        // spool::open() at start removes what an earlier kill left half-written.
        REQUIRE(eventually([&] { return !d->stderr_text().empty(); }, 10s));
        REQUIRE(eventually([&] { return d->stderr_text().find("starting") != std::string::npos; }, 10s));
        // The running daemon writes temporary files of its own (new names: they carry the time),
        // but none that the kill left survives the start.
        std::set<std::string> temps_now;
        check_spool(f.spool, &temps_now);
        for (const auto& t : temps_left) {
            CAPTURE(t);
            CHECK(!fs::exists(fs::path(f.spool) / t));
        }

        std::atomic<bool> stop{false};
        std::thread lnd([&, burst_seed = rng()] {
            std::mt19937 local(burst_seed);
            while (!stop) {
                f.lnd.swap(lnd_simulator::content(++version, 600 + local() % 3000));
                std::this_thread::sleep_for(std::chrono::microseconds(local() % 20'000));
            }
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 700));
        d->signal(SIGKILL);
        stop = true;
        lnd.join();
        REQUIRE(d->wait(5s).value_or(0) == 128 + SIGKILL);
        temps_left.clear();
        for (auto& n : check_spool(f.spool, &temps_left)) seen.insert(n);
        temps_total += static_cast<int>(temps_left.size());
    }
    INFO(seen.size() << " versions and " << temps_total << " temporary files found after the kills");

    f.s3.control("POST", "/outage/end");
    const auto last = lnd_simulator::content(++version);
    f.lnd.swap(last);
    auto d = f.start(fast_retries);
    REQUIRE(f.wait_for_content(last, 30s));
    REQUIRE(eventually([&] { return f.spool_files() == 0; }, 20s));
    const auto keys = keys_in_s3(f);
    // Every version that was durably spooled reached S3, or a newer one that holds all of it did
    // (newest wins); the final one is there in any case.
    for (const auto& name : seen) {
        CAPTURE(name);
        CHECK((keys.count(name) == 1 || (!keys.empty() && *keys.rbegin() > name)));
    }
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
        CHECK(d->wait_for_stderr("is a directory, not a file", 10s));
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
    CHECK_THAT(d->stderr_text(), Catch::Contains("cannot write the spool copy") &&
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
    for (int i = 1; i <= 8; ++i) {
        f.lnd.swap(lnd_simulator::content(i));
        REQUIRE(eventually([&] { return d->stderr_text().find(scb::crypto::sha256_hex(lnd_simulator::content(i)).substr(0, 12)) != std::string::npos; }, 10s));
    }
    REQUIRE(d->wait_for_stderr("--spool-max-files): dropped", 10s));
    // The newest version's copy is one of the 3 kept.
    const auto newest_tail = scb::crypto::sha256_hex(lnd_simulator::content(8)).substr(58) + ".backup";
    REQUIRE(eventually([&] {
        std::set<std::string> temps;  // the daemon is writing: its own temporary files may be there
        auto names = check_spool(f.spool, &temps);
        return names.size() <= 3 && !names.empty() && names.rbegin()->ends_with(newest_tail);
    }, 10s));
    f.s3.control("POST", "/outage/end");
    CHECK(f.wait_for_content(lnd_simulator::content(8), 30s));
    CHECK(eventually([&] { return f.spool_files() == 0; }));
    CHECK(d->running());
}
