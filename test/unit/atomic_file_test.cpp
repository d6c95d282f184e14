// common/atomic_file: a whole file written atomically, 0600, never over a file by surprise.
#include "common/atomic_file.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

using namespace scb;
namespace fs = std::filesystem;

namespace {
struct temp_folder {
    fs::path path;
    temp_folder() {
        std::string tmpl = (fs::temp_directory_path() / "scb-restore-test-XXXXXX").string();
        REQUIRE(::mkdtemp(tmpl.data()));
        path = tmpl;
    }
    ~temp_folder() { fs::remove_all(path); }
    std::size_t entries() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {})); }
};

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

unsigned mode_of(const fs::path& p) {
    struct stat st{};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}
}  // namespace

TEST_CASE("atomic write: the output file is written with mode 0600 whatever the umask", "[unit][atomic_file]") {
    temp_folder dir;
    const auto target = dir.path / "channel.backup";
    const mode_t old = ::umask(0);
    auto err = write_file_atomically(target, "backup bytes", {.replace = false});
    ::umask(old);
    REQUIRE_FALSE(err);
    CHECK(slurp(target) == "backup bytes");
    CHECK(mode_of(target) == 0600);
    CHECK(dir.entries() == 1);  // no temporary file left
}

TEST_CASE("atomic write: an existing output is kept unless replacing is asked for", "[unit][atomic_file]") {
    temp_folder dir;
    const auto target = dir.path / "channel.backup";
    std::ofstream(target) << "precious";
    auto refused = write_file_atomically(target, "new", {.replace = false});
    CHECK(refused.ec == std::errc::file_exists);
    CHECK(slurp(target) == "precious");
    CHECK(dir.entries() == 1);

    auto replaced = write_file_atomically(target, "new", {.replace = true});
    REQUIRE_FALSE(replaced);
    CHECK(slurp(target) == "new");
    CHECK(mode_of(target) == 0600);
    CHECK(dir.entries() == 1);
}

TEST_CASE("atomic write: a missing folder is an error naming the step", "[unit][atomic_file]") {
    temp_folder dir;
    auto err = write_file_atomically(dir.path / "no-such-folder" / "channel.backup", "x", {.replace = false});
    CHECK(err.ec == std::errc::no_such_file_or_directory);
    CHECK_THAT(err.step, Catch::Contains("temporary file"));
}

TEST_CASE("atomic write: a bare file name is written in the current folder", "[unit][atomic_file]") {
    temp_folder dir;
    const auto cwd = fs::current_path();
    fs::current_path(dir.path);
    auto err = write_file_atomically("restored.backup", "abc", {.replace = false});
    fs::current_path(cwd);
    REQUIRE_FALSE(err);
    CHECK(slurp(dir.path / "restored.backup") == "abc");
}

TEST_CASE("atomic write: a file or link at the temporary name is never written through", "[unit][atomic_file]") {
    temp_folder dir;
    const auto target = dir.path / "channel.backup";
    const auto temp = dir.path / atomic_temp_name("channel.backup");
    const auto elsewhere = dir.path / "elsewhere";
    { std::ofstream(elsewhere) << "not yours"; }
    fs::create_symlink(elsewhere, temp);

    auto refused = write_file_atomically(target, "x", {.replace = true});  // somebody else's: refused
    CHECK(refused.ec == std::errc::file_exists);
    CHECK(fs::is_symlink(temp));

    auto reclaimed = write_file_atomically(target, "x", {.replace = true, .reclaim_temp = true});  // ours: removed
    REQUIRE_FALSE(reclaimed);
    CHECK(slurp(target) == "x");
    CHECK(slurp(elsewhere) == "not yours");
    CHECK_FALSE(fs::exists(fs::symlink_status(temp)));
}
