#include "spool/spool.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>

using scb::spool::spool;
using scb::spool::spool_error;
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
    // Opening it again is fine.
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
    CHECK(names_in(s.dir()) == std::vector<std::string>{n1});
    CHECK(s.read(n2, out) == std::errc::no_such_file_or_directory);
}

TEST_CASE("spool refuses names that are not plain file names", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    std::string out;
    for (std::string bad : {"", ".", "..", "../escape.backup", "a/b", "x.tmp"}) {
        CAPTURE(bad);
        CHECK(s.write(bad, "data") == std::errc::invalid_argument);
        CHECK(s.read(bad, out) == std::errc::invalid_argument);
        CHECK(s.remove(bad) == std::errc::invalid_argument);
    }
    CHECK(names_in(s.dir()).empty());
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

TEST_CASE("spool::open removes leftover temp files", "[unit][spool]") {
    temp_dir t;
    auto dir = t.path / "spool";
    {
        auto s = spool::open(dir);
        REQUIRE_FALSE(s.write(n1, "kept"));
    }
    touch(dir / (n2 + ".tmp"), "half written");
    touch(dir / "other.tmp");
    auto s = spool::open(dir);
    CHECK(names_in(dir) == std::vector<std::string>{n1});
    // A temp file left for the very name being written does not block the write.
    touch(dir / (n2 + ".tmp"), "stale");
    REQUIRE_FALSE(s.write(n2, "fresh"));
    CHECK(names_in(dir) == std::vector<std::string>{n1, n2});
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
        CHECK(names_in(s.dir()).empty());
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
        CHECK(names_in(s.dir()).empty());
    }
    SECTION("the folder was removed") {
        fs::remove_all(s.dir());
        CHECK(s.write(n1, "data") == std::errc::no_such_file_or_directory);
        CHECK_FALSE(fs::exists(s.dir()));
        std::error_code ec;
        CHECK(s.pending(ec).empty());
        CHECK(ec);
        CHECK_THROWS_AS(s.pending(), spool_error);
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
    CHECK(names_in(s.dir()) == std::vector<std::string>{n2, n3});
    CHECK(s.trim(0) == std::vector<std::string>{n2});
    CHECK(names_in(s.dir()) == std::vector<std::string>{n3});
    CHECK(s.trim(0).empty());
    CHECK(names_in(s.dir()) == std::vector<std::string>{n3});
}

TEST_CASE("remove() deletes a file and accepts a missing one", "[unit][spool]") {
    temp_dir t;
    auto s = spool::open(t.path / "spool");
    REQUIRE_FALSE(s.write(n1, "1"));
    CHECK_FALSE(s.remove(n1));
    CHECK(names_in(s.dir()).empty());
    CHECK_FALSE(s.remove(n1));
    CHECK_FALSE(s.remove(n2));
}
