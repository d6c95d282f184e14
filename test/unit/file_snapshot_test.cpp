#include "snapshot/file_snapshot.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

using namespace scb::snapshot;
namespace fs = std::filesystem;

namespace {

using scb::unit::temp_dir;

void write_file(const fs::path& p, const std::string& data) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << data;
    REQUIRE(out.good());
}

// What lnd does: write a temp file in the same folder, fsync it, rename it over the target.
void lnd_swap(const fs::path& file, const std::string& data) {
    auto tmp = file.parent_path() / "temp-dont-use.backup";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    REQUIRE(::fsync(fd) == 0);
    REQUIRE(::close(fd) == 0);
    REQUIRE(::rename(tmp.c_str(), file.c_str()) == 0);
}

const std::string backup(100, 'x');

}  // namespace

TEST_CASE("take() reads a normal file with its hash and identity", "[unit][snapshot]") {
    temp_dir dir;
    auto file = dir.path / "channel.backup";
    write_file(file, backup);
    auto r = take(file, min_backup_size, 1 << 20);
    REQUIRE(r.what == problem::none);
    CHECK(r.reason.empty());
    CHECK(r.snap.data == backup);
    CHECK(r.snap.sha256 == scb::crypto::sha256(backup));
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK(r.snap.id.ino == st.st_ino);
    CHECK(r.snap.id.dev == st.st_dev);
    CHECK(r.snap.id.size == 100);
    auto id = stat_identity(file);
    REQUIRE(id);
    CHECK(*id == r.snap.id);
}

TEST_CASE("take() follows a symlink", "[unit][snapshot]") {
    temp_dir dir;
    write_file(dir.path / "real.backup", backup);
    fs::create_symlink(dir.path / "real.backup", dir.path / "channel.backup");
    auto r = take(dir.path / "channel.backup", min_backup_size, 1 << 20);
    REQUIRE(r.what == problem::none);
    CHECK(r.snap.data == backup);
}

TEST_CASE("take() reports a missing file", "[unit][snapshot]") {
    temp_dir dir;
    auto r = take(dir.path / "channel.backup", min_backup_size, 1 << 20);
    CHECK(r.what == problem::missing);
    CHECK(r.reason.find("channel.backup") != std::string::npos);
    CHECK(r.reason.find('\n') == std::string::npos);
    CHECK_FALSE(stat_identity(dir.path / "channel.backup"));
    // A path through a missing folder is missing too.
    CHECK(take(dir.path / "nope" / "channel.backup", min_backup_size, 1 << 20).what == problem::missing);
}

TEST_CASE("take() refuses a directory", "[unit][snapshot]") {
    temp_dir dir;
    fs::create_directory(dir.path / "channel.backup");
    auto r = take(dir.path / "channel.backup", min_backup_size, 1 << 20);
    CHECK(r.what == problem::not_regular);
    CHECK(r.reason.find("is a folder, not a file") != std::string::npos);
    CHECK(r.reason.find("MONITOR_FILE_PATH") != std::string::npos);
}

TEST_CASE("take() refuses a FIFO without blocking", "[unit][snapshot]") {
    temp_dir dir;
    auto fifo = dir.path / "channel.backup";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // If take() opened the FIFO in blocking mode, this test would hang here (no writer).
    auto r = take(fifo, min_backup_size, 1 << 20);
    CHECK(r.what == problem::not_regular);
    CHECK(r.reason.find("FIFO") != std::string::npos);
}

TEST_CASE("take() enforces the size limits", "[unit][snapshot]") {
    temp_dir dir;
    auto file = dir.path / "channel.backup";
    write_file(file, std::string(10, 'x'));
    auto small = take(file, min_backup_size, 1 << 20);
    CHECK(small.what == problem::too_small);
    CHECK(small.reason.find("is 10 bytes, smaller than the 45 bytes") != std::string::npos);
    CHECK(small.snap.data.empty());

    write_file(file, std::string(45, 'x'));
    CHECK(take(file, min_backup_size, 1 << 20).what == problem::none);  // the bound itself is fine

    write_file(file, std::string(1001, 'x'));
    CHECK(take(file, min_backup_size, 1000).what == problem::too_large);
    CHECK(take(file, min_backup_size, 1001).what == problem::none);
}

TEST_CASE("take() reports a file it cannot read", "[unit][snapshot]") {
    if (::geteuid() == 0) {
        WARN("running as root, which reads any file whatever its mode: the permission case is not tested");
        return;
    }
    temp_dir dir;
    auto file = dir.path / "channel.backup";
    write_file(file, backup);
    fs::permissions(file, fs::perms::none);
    auto r = take(file, min_backup_size, 1 << 20);
    CHECK(r.what == problem::unreadable);
    CHECK(r.reason.find("Permission denied (give the scb-backup user read access") != std::string::npos);
}

TEST_CASE("identity changes after an lnd-style swap", "[unit][snapshot]") {
    temp_dir dir;
    auto file = dir.path / "channel.backup";
    write_file(file, backup);
    auto first = take(file, min_backup_size, 1 << 20);
    REQUIRE(first.what == problem::none);

    // Same size and content: only the inode tells the versions apart.
    lnd_swap(file, backup);
    auto second = take(file, min_backup_size, 1 << 20);
    REQUIRE(second.what == problem::none);
    CHECK(second.snap.id.ino != first.snap.id.ino);
    CHECK_FALSE(second.snap.id == first.snap.id);
    CHECK(second.snap.sha256 == first.snap.sha256);
    auto id = stat_identity(file);
    REQUIRE(id);
    CHECK(*id == second.snap.id);
}
