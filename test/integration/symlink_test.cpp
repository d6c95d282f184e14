// The real binary watching a MONITOR_FILE_PATH that is, or goes through, a symlink: node distributions
// link channel.backup into another volume, or ~/.lnd to /mnt/hdd/lnd. The periodic reconcile is set to
// an hour, so only the watch can find these versions within the test's time.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>

using namespace scb::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> no_reconcile{"SCB_RECONCILE_INTERVAL=1h"};

// ln -sfn: a new symlink at a temporary name, renamed over the old one (one atomic step).
void repoint(const fs::path& link, const fs::path& target) {
    const auto tmp = link.string() + ".tmp";
    fs::create_symlink(target, tmp);
    REQUIRE(std::rename(tmp.c_str(), link.c_str()) == 0);
}

}  // namespace

TEST_CASE("A symlinked MONITOR_FILE_PATH: lnd's swap of the target is uploaded by the watch",
          "[integration][daemon][symlink]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    const fs::path link = f.dir.path() + "/monitored/channel.backup";
    fs::create_directories(link.parent_path());
    fs::create_symlink(f.lnd.file(), link);
    auto d = f.start({"run"}, {"MONITOR_FILE_PATH=" + link.string(), no_reconcile[0]});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));

    // lnd writes temp-dont-use.backup next to ITS file, fsyncs it and renames it over the target.
    f.lnd.swap(lnd_simulator::content(1));
    CHECK(f.wait_for_content(lnd_simulator::content(1)));
    f.lnd.swap(lnd_simulator::content(2));
    CHECK(f.wait_for_content(lnd_simulator::content(2)));
    CHECK(d->running());
}

TEST_CASE("A symlinked lnd folder re-pointed to another volume: lnd's swaps there are uploaded by the watch",
          "[integration][daemon][symlink]") {
    daemon_fixture f;  // its lnd writes <dir>/lnd/data/chain/bitcoin/regtest
    const fs::path hdd2 = f.dir.path() + "/hdd2/lnd";
    lnd_simulator moved(hdd2 / "data/chain/bitcoin/regtest");
    moved.swap(lnd_simulator::content(10));
    f.lnd.swap(lnd_simulator::content(0));
    const fs::path dot_lnd = f.dir.path() + "/dot-lnd";  // ~/.lnd -> <dir>/lnd
    fs::create_symlink(f.dir.path() + "/lnd", dot_lnd);
    const auto file = dot_lnd / "data/chain/bitcoin/regtest/channel.backup";
    auto d = f.start({"run"}, {"MONITOR_FILE_PATH=" + file.string(), no_reconcile[0]});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    f.lnd.swap(lnd_simulator::content(1));
    REQUIRE(f.wait_for_content(lnd_simulator::content(1)));

    // The node's data moved to another disk: ~/.lnd now points there. The path holds other content
    // at once, and lnd's next swaps happen there.
    repoint(dot_lnd, hdd2);
    CHECK(f.wait_for_content(lnd_simulator::content(10)));
    moved.swap(lnd_simulator::content(11));
    CHECK(f.wait_for_content(lnd_simulator::content(11)));
    CHECK(d->running());
}
