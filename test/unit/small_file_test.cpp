#include "common/small_file.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sys/stat.h>

using scb::read_small_file;

TEST_CASE("read_small_file reads a regular file whole", "[small_file]") {
    scb::unit::temp_dir dir;
    const auto path = dir.path / "env";
    std::ofstream(path) << "A=1\nB=2\n";
    auto f = read_small_file(path.string());
    REQUIRE(f);
    CHECK(f.text == "A=1\nB=2\n");
}

TEST_CASE("read_small_file refuses a FIFO without blocking, a folder, a device and an oversized file", "[small_file]") {
    scb::unit::temp_dir dir;
    const auto fifo = dir.path / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto f = read_small_file(fifo.string());  // would block forever with std::ifstream
    CHECK_FALSE(f);
    CHECK(f.problem == "is a FIFO, not a regular file");

    auto d = read_small_file(dir.path.string());
    CHECK(d.problem == "is a folder, not a regular file");

    auto z = read_small_file("/dev/zero");
    CHECK(z.problem == "is a character device, not a regular file");

    const auto big = dir.path / "big";
    std::ofstream(big) << std::string(2048, 'x');
    auto b = read_small_file(big.string(), 1024);
    CHECK(b.problem == "is larger than 1 KiB");
    CHECK(b.text.empty());

    auto missing = read_small_file((dir.path / "none").string());
    CHECK(missing.problem == "No such file or directory");
}
