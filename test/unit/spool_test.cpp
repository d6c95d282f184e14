#include "spool/spool.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <type_traits>

using scb::spool::spool;
using scb::spool::spool_error;
using scb::spool::spool_locked;
using spool_errc = scb::spool::errc;
namespace fs = std::filesystem;

namespace {

using scb::unit::temp_dir;

// Sets the umask for one test and restores it.
struct umask_guard {
    mode_t old;
    explicit umask_guard(mode_t m) : old(::umask(m)) {}
    ~umask_guard() { ::umask(old); }
    umask_guard(const umask_guard&) = delete;
    umask_guard& operator=(const umask_guard&) = delete;
};

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::lstat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

void touch(const fs::path& p, const std::string& data = "x") {
    std::ofstream out(p, std::ios::binary);
    out << data;
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

// The files of the spool itself, without its lock file.
std::vector<std::string> versions_in(const fs::path& dir) {
    auto out = names_in(dir);
    std::erase(out, std::string(scb::spool::lock_file_name));
    return out;
}

const std::string n1 = "channel-20261125T054233.123Z-aaaaaa.backup";
const std::string n2 = "channel-20261125T054233.124Z-bbbbbb.backup";
const std::string n3 = "channel-20261126T000000.000Z-cccccc.backup";

}  // namespace

TEST_CASE("spool::open creates the folder and its parents 0700 under umask 000", "[unit][spool]") {
    temp_dir t;
    umask_guard u(0);
    auto s = spool::open(t.path / "a" / "b" / "spool");
    CHECK(s.dir() == t.path / "a" / "b" / "spool");
    CHECK(mode_of(t.path / "a" / "b" / "spool") == 0700);
    CHECK(mode_of(t.path / "a") == 0700);
    CHECK(mode_of(t.path / "a" / "b") == 0700);
    CHECK(s.pending().empty());
    // Its lock file too, and pending() does not list it.
    CHECK(mode_of(s.dir() / ".lock") == 0600);
    CHECK(names_in(s.dir()) == std::vector<std::string>{".lock"});
    // Opening it again (once this object let it go) is fine.
    s = spool::open(t.path / "x");
    CHECK(spool::open(t.path / "a" / "b" / "spool/").dir() == t.path / "a" / "b" / "spool");
}

TEST_CASE("spool::open refuses a folder writable by group or others", "[unit][spool]") {
    temp_dir t;
    auto dir = t.path / "spool";
    fs::create_directory(dir);
    for (auto mode : {0777, 0770, 0702}) {
        CAPTURE(mode);
        REQUIRE(::chmod(dir.c_str(), static_cast<mode_t>(mode)) == 0);
        try {
            (void)spool::open(dir);
            FAIL("open() accepted a folder with mode " << mode);
        } catch (const spool_error& e) {
            std::string what = e.what();
            CHECK(what.find(dir.string()) != std::string::npos);
            CHECK(what.find("writable by group or others") != std::string::npos);
            CHECK(what.find("chmod 700") != std::string::npos);
            CHECK(what.find('\n') == std::string::npos);
        }
    }
    // Readable by others is allowed (lnd's backup is encrypted); only writers could tamper.
    REQUIRE(::chmod(dir.c_str(), 0755) == 0);
    CHECK_NOTHROW(spool::open(dir));
}

TEST_CASE("the fix for a shared spool folder is a folder of its own, never a chmod of /tmp or a link's target",
          "[unit][spool]") {
    temp_dir t;
    auto shared = t.path / "tmp-like";
    fs::create_directory(shared);
    REQUIRE(::chmod(shared.c_str(), 01777) == 0);  // what /tmp and /var/tmp are
    auto target = t.path / "elsewhere";
    fs::create_directory(target);
    REQUIRE(::chmod(target.c_str(), 0777) == 0);
    auto link = t.path / "spool-link";
    fs::create_directory_symlink(target, link);
    for (const auto& dir : {shared, link}) {
        CAPTURE(dir);
        try {
            (void)spool::open(dir);
            FAIL("open() accepted a folder writable by others");
        } catch (const spool_error& e) {
            const std::string what = e.what();
            CHECK(what.find("chmod") == std::string::npos);
            CHECK(what.find("a folder of its own") != std::string::npos);
        }
    }
}

TEST_CASE("spool::open refuses a file and a folder it cannot create", "[unit][spool]") {
    temp_dir t;
    touch(t.path / "file");
    CHECK_THROWS_WITH(spool::open(t.path / "file"), Catch::Contains("is not a folder") && Catch::Contains("file"));
    CHECK_THROWS_WITH(spool::open(t.path / "file" / "sub"), Catch::Contains("cannot be created") &&
                                                                 Catch::Contains("Not a directory"));
}

TEST_CASE("spool files are 0600 under umask 000 and read back", "[unit][spool]") {
    temp_dir t;
    umask_guard u(0);
    auto s = spool::open(t.path / "spool");
    REQUIRE_FALSE(s.write(n1, "hello"));
    CHECK(mode_of(s.dir() / n1) == 0600);
    std::string out;
    REQUIRE_FALSE(s.read(n1, out));
    CHECK(out == "hello");
    // Rewriting a name replaces it.
    REQUIRE_FALSE(s.write(n1, std::string(100000, 'z')));
    REQUIRE_FALSE(s.read(n1, out));
    CHECK(out == std::string(100000, 'z'));
    CHECK(versions_in(s.dir()) == std::vector<std::string>{n1});
    CHECK(s.read(n2, out) == std::errc::no_such_file_or_directory);
}

TEST_CASE("spool refuses names that are not plain file names", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    std::string out;
    // Only version names: write() must make no temp name that open() would not clean up.
    const std::vector<std::string> bad_names{"",           ".",          "..",        "../escape.backup",
                                             "a/b",        "x.tmp",      "foo.backup", "channel-.backup",
                                             "channel-x/../../escape.backup", n1 + ".tmp", ".lock"};
    for (const auto& bad : bad_names) {
        CAPTURE(bad);
        CHECK(s.write(bad, "data") == std::errc::invalid_argument);
        CHECK(s.read(bad, out) == std::errc::invalid_argument);
        CHECK(s.remove(bad) == std::errc::invalid_argument);
    }
    CHECK(versions_in(s.dir()).empty());
    CHECK_FALSE(fs::exists(t.path / "escape.backup"));
}

TEST_CASE("pending() lists channel-*.backup oldest first and ignores the rest", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    REQUIRE_FALSE(s.write(n3, "three"));
    REQUIRE_FALSE(s.write(n1, "1"));
    REQUIRE_FALSE(s.write(n2, "22"));
    touch(s.dir() / "channel.backup");
    touch(s.dir() / "notes.txt");
    touch(s.dir() / "channel-.backup");
    fs::create_directory(s.dir() / "channel-20200101T000000.000Z-dddddd.backup");
    fs::create_symlink(s.dir() / n1, s.dir() / "channel-20200101T000000.000Z-eeeeee.backup");
    auto p = s.pending();
    REQUIRE(p.size() == 3);
    CHECK(p[0].name == n1);
    CHECK(p[0].path == s.dir() / n1);
    CHECK(p[0].size == 1);
    CHECK(p[1].name == n2);
    CHECK(p[1].size == 2);
    CHECK(p[2].name == n3);
    CHECK(p[2].size == 5);
}

TEST_CASE("spool::open removes leftover temp files of its own names", "[unit][spool]") {
    temp_dir t;
    auto dir = t.path / "spool";
    {
        auto s = spool::open(dir);
        REQUIRE_FALSE(s.write(n1, "kept"));
    }
    touch(dir / (n2 + ".tmp"), "half written");
    auto s = spool::open(dir);
    CHECK(versions_in(dir) == std::vector<std::string>{n1});
    // A temp file left for the very name being written does not block the write.
    touch(dir / (n2 + ".tmp"), "stale");
    REQUIRE_FALSE(s.write(n2, "fresh"));
    CHECK(versions_in(dir) == std::vector<std::string>{n1, n2});
}

TEST_CASE("a failed write returns the error and leaves no temp file", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");

    SECTION("the disk refuses the data (file size limit: EFBIG, which binds root too)") {
        // RLIMIT_FSIZE makes write() fail after the temp file exists, like ENOSPC would.
        rlimit old{};
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
        auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
        rlimit small = old;
        small.rlim_cur = 1000;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
        auto ec = s.write(n1, std::string(5000, 'x'));
        ::setrlimit(RLIMIT_FSIZE, &old);
        std::signal(SIGXFSZ, old_handler);
        CHECK(ec == std::errc::file_too_large);
        CHECK(versions_in(s.dir()).empty());
    }
    SECTION("the folder is read-only (permissions)") {
        if (::geteuid() == 0) {
            WARN("running as root, which ignores the folder's mode: EACCES is not tested here "
                 "(the EFBIG section covers the failure-and-cleanup path)");
            return;
        }
        REQUIRE(::chmod(s.dir().c_str(), 0500) == 0);
        CHECK(s.write(n1, "data") == std::errc::permission_denied);
        REQUIRE(::chmod(s.dir().c_str(), 0700) == 0);
        CHECK(versions_in(s.dir()).empty());
    }
    SECTION("the folder was made again writable by others (refused as open() does)") {
        fs::remove_all(s.dir());
        REQUIRE(fs::create_directory(s.dir()));
        REQUIRE(::chmod(s.dir().c_str(), 0777) == 0);
        CHECK(s.write(n1, "data") == spool_errc::unsafe_folder);
        CHECK(s.check() == spool_errc::unsafe_folder);
        CHECK(names_in(s.dir()).empty());  // not even a lock file
    }
}

TEST_CASE("trim() drops the oldest beyond the cap, never the newest", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    REQUIRE_FALSE(s.write(n2, "2"));
    REQUIRE_FALSE(s.write(n3, "3"));
    REQUIRE_FALSE(s.write(n1, "1"));
    CHECK(s.trim(5).empty());
    CHECK(s.trim(3).empty());
    CHECK(s.trim(2) == std::vector<std::string>{n1});
    CHECK(versions_in(s.dir()) == std::vector<std::string>{n2, n3});
    CHECK(s.trim(0) == std::vector<std::string>{n2});
    CHECK(versions_in(s.dir()) == std::vector<std::string>{n3});
    CHECK(s.trim(0).empty());
    CHECK(versions_in(s.dir()) == std::vector<std::string>{n3});
}

TEST_CASE("remove() deletes a file and accepts a missing one", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    REQUIRE_FALSE(s.write(n1, "1"));
    CHECK_FALSE(s.remove(n1));
    CHECK(versions_in(s.dir()).empty());
    CHECK_FALSE(s.remove(n1));
    CHECK_FALSE(s.remove(n2));
}

// ---- The folder vanishes under a running daemon (rm -rf): no throw, and the next write makes it again.

TEST_CASE("pending(ec) and check() report a removed folder without throwing", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    REQUIRE_FALSE(s.write(n1, "1"));
    CHECK_FALSE(s.check());
    fs::remove_all(s.dir());
    std::error_code ec;
    std::vector<scb::spool::entry> left;
    CHECK_NOTHROW(left = s.pending(ec));
    CHECK(left.empty());
    CHECK(ec == std::errc::no_such_file_or_directory);
    CHECK(s.check() == std::errc::no_such_file_or_directory);
    CHECK_NOTHROW(s.trim(0));
    CHECK_FALSE(s.remove(n1));  // already gone with the folder
    // The throwing form is for start-up only.
    CHECK_THROWS_AS(s.pending(), spool_error);
}

TEST_CASE("write() makes a removed spool folder again 0700, with its lock", "[unit][spool]") {
    temp_dir t;
    umask_guard u(0);
    auto s = spool::open(t.path / "a" / "spool");
    fs::remove_all(t.path / "a");
    REQUIRE_FALSE(s.write(n1, "data"));
    CHECK(mode_of(t.path / "a") == 0700);
    CHECK(mode_of(s.dir()) == 0700);
    CHECK(mode_of(s.dir() / n1) == 0600);
    CHECK(mode_of(s.dir() / ".lock") == 0600);
    CHECK(names_in(s.dir()) == std::vector<std::string>{".lock", n1});
    std::string out;
    REQUIRE_FALSE(s.read(n1, out));
    CHECK(out == "data");
    std::error_code ec;
    CHECK(s.pending(ec).size() == 1);
    CHECK_FALSE(ec);
    CHECK_FALSE(s.check());
    // The new lock file is held: a second owner is refused.
    CHECK_THROWS_AS(spool::open(s.dir()), spool_locked);
}

TEST_CASE("check() and ensure_ready() notice a removed lock file and take it again", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    REQUIRE(fs::remove(s.dir() / ".lock"));
    CHECK(s.check() == spool_errc::lock_lost);
    // Until it is taken again, the folder is free for another process: the lock was on the old file.
    { auto other = spool::open(s.dir()); }
    CHECK_FALSE(s.ensure_ready());
    CHECK_FALSE(s.check());
    CHECK_THROWS_AS(spool::open(s.dir()), spool_locked);
}

TEST_CASE("write() into a folder made again and owned by another process is refused", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    fs::remove_all(s.dir());
    {
        auto other = spool::open(s.dir());  // e.g. a `once` started meanwhile: the folder is its now
        CHECK(s.write(n1, "data") == spool_errc::locked);
        CHECK(s.check() == spool_errc::lock_lost);
        CHECK(versions_in(s.dir()).empty());
    }
    // Once the other one is gone, the next write takes the folder back.
    REQUIRE_FALSE(s.write(n1, "data"));
    CHECK(versions_in(s.dir()) == std::vector<std::string>{n1});
    CHECK_FALSE(s.check());
}

// ---- Start-up removes only the temporary names write() makes.

TEST_CASE("spool::open leaves temporary files that are not its own alone", "[unit][spool]") {
    temp_dir t;
    auto dir = t.path / "shared";
    REQUIRE(fs::create_directory(dir));
    REQUIRE(::chmod(dir.c_str(), 0700) == 0);
    touch(dir / "notes.tmp");
    touch(dir / "foo.backup.tmp");
    touch(dir / "channel-.backup.tmp");
    touch(dir / "channel-20261125T054233.123Z-a1b2c3.backup.tmp");
    auto s = spool::open(dir);
    CHECK(fs::exists(dir / "notes.tmp"));
    CHECK(fs::exists(dir / "foo.backup.tmp"));
    CHECK(fs::exists(dir / "channel-.backup.tmp"));
    CHECK_FALSE(fs::exists(dir / "channel-20261125T054233.123Z-a1b2c3.backup.tmp"));
}

// ---- One owner per spool folder: the lock.

TEST_CASE("flock() conflicts between two open file descriptions of one process", "[unit][spool]") {
    // What the lock tests below rely on: flock locks belong to the open file description, not to
    // the process (unlike fcntl locks), so two spool objects in one test behave like two processes.
    temp_dir t;
    auto path = t.path / "f";
    touch(path);
    int a = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    int b = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(a >= 0);
    REQUIRE(b >= 0);
    CHECK(::flock(a, LOCK_EX | LOCK_NB) == 0);
    CHECK(::flock(b, LOCK_EX | LOCK_NB) == -1);
    CHECK(errno == EWOULDBLOCK);
    ::close(a);
    CHECK(::flock(b, LOCK_EX | LOCK_NB) == 0);
    ::close(b);
}

TEST_CASE("a second open() of an owned spool reports spool_locked and removes nothing", "[unit][spool]") {
    temp_dir t;
    auto dir = t.path / "spool";
    std::optional<spool> first(spool::open(dir));
    REQUIRE_FALSE(first->write(n1, "kept"));
    touch(dir / (n2 + ".tmp"), "being written by the owner");
    try {
        (void)spool::open(dir);
        FAIL("open() took a spool that another object owns");
    } catch (const spool_locked& e) {
        std::string what = e.what();
        CHECK(what.find(dir.string()) != std::string::npos);
        CHECK(what.find("owned by another scb-backup process") != std::string::npos);
        CHECK(what.find("(pid " + std::to_string(::getpid()) + ")") != std::string::npos);
        CHECK(what.find('\n') == std::string::npos);
        CHECK(e.owner_pid() == ::getpid());
    }
    // A spool_locked is a spool_error too, for callers that do not tell them apart.
    CHECK_THROWS_AS(spool::open(dir), spool_error);
    CHECK(fs::exists(dir / (n2 + ".tmp")));
    CHECK_FALSE(first->check());  // the owner still holds it

    // Moving the owner keeps the lock; destroying it releases it.
    static_assert(!std::is_copy_constructible_v<spool> && std::is_nothrow_move_constructible_v<spool>);
    spool moved = std::move(*first);
    first.reset();
    CHECK_THROWS_AS(spool::open(dir), spool_locked);
    { spool gone = std::move(moved); }
    auto next = spool::open(dir);
    CHECK_FALSE(fs::exists(dir / (n2 + ".tmp")));  // a leftover now that nobody owns it
    CHECK(versions_in(dir) == std::vector<std::string>{n1});
    CHECK(next.pending().size() == 1);
}

TEST_CASE("spool::open refuses a lock file that is not a plain file", "[unit][spool]") {
    temp_dir t;
    auto dir = t.path / "spool";
    REQUIRE(fs::create_directory(dir));
    REQUIRE(::chmod(dir.c_str(), 0700) == 0);
    fs::create_symlink(t.path / "elsewhere", dir / ".lock");
    CHECK_THROWS_WITH(spool::open(dir), Catch::Contains("cannot be locked") && Catch::Contains(".lock"));
    CHECK_FALSE(fs::exists(t.path / "elsewhere"));
}

TEST_CASE("a spool taken over from the original Python service lists its copies and ours by time", "[unit][spool]") {
    temp_dir t;
    const auto dir = t.path / "spool";
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all);
    // The Python service's copies (its BACKUP_DIRECTORY), then ours, interleaved in time; as text
    // "…-230000-…" sorts before "…T010000…" of the same day.
    const std::string py_late = "channel-20261125-230000-bbbbbb.backup";
    const std::string py_early = "channel-20261124-120000-cccccc.backup";
    const std::string ours = "channel-20261125T010000.000Z-aaaaaa.backup";
    for (const auto& n : {py_late, py_early}) std::ofstream(dir / n) << "python copy";
    auto s = spool::open(dir);
    REQUIRE_FALSE(s.write(ours, "ours"));
    std::vector<std::string> names;
    for (const auto& e : s.pending()) names.push_back(e.name);
    CHECK(names == std::vector<std::string>{py_early, ours, py_late});
}
