// The watcher against the real kernel: a temp folder, real renames, real inotify.
#include "watch/watcher.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <filesystem>
#include <optional>
#include <string>

using scb::watch::change_reason;
using scb::watch::watcher;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

namespace {

using scb::unit::temp_dir;

void write_fd(const fs::path& p, int flags, const std::string& data) {
    int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC | flags, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()));
    REQUIRE(::fsync(fd) == 0);
    REQUIRE(::close(fd) == 0);
}

// What lnd does: temp file in the same folder, fsync, rename over channel.backup.
void lnd_swap(const fs::path& file, const std::string& data) {
    auto tmp = file.parent_path() / "temp-dont-use.backup";
    write_fd(tmp, O_CREAT | O_TRUNC, data);
    REQUIRE(::rename(tmp.c_str(), file.c_str()) == 0);
}

// Runs `aw` on `ioc` with a deadline, as Redis's run_coroutine_test does; fails if it did not finish.
template <class T>
T run(asio::io_context& ioc, asio::awaitable<T> aw, std::chrono::milliseconds limit = 5s) {
    bool done = false;
    std::exception_ptr error;
    T value{};
    asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T v) {
        done = true;
        error = e;
        value = std::move(v);
    });
    ioc.restart();
    ioc.run_for(limit);
    REQUIRE(done);
    if (error) std::rethrow_exception(error);
    return value;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

// The next change, or nullopt if none came within `limit` (next_change() is then cancelled).
asio::awaitable<std::optional<change_reason>> change_within(watcher* w, std::chrono::milliseconds limit) {
    auto v = co_await (w->next_change() || sleep_for(limit));
    if (v.index() == 1) co_return std::nullopt;
    co_return std::get<0>(v);
}

// Polls `done` every 5 ms until it holds or `limit` passes; returns its last value.
asio::awaitable<bool> wait_until(std::function<bool()> done, std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) co_await sleep_for(5ms);
    co_return done();
}

// Starts `script` (file-system actions on timers) and waits for the next change meanwhile.
asio::awaitable<change_reason> change_during(watcher* w, asio::awaitable<void> script) {
    asio::co_spawn(co_await asio::this_coro::executor, std::move(script), asio::detached);
    co_return co_await w->next_change();
}

const std::string v1(100, '1');
const std::string v2(100, '2');
const std::string v3(100, '3');

}  // namespace

TEST_CASE("watcher reports lnd's temp-file-and-rename swap", "[unit][watch]") {
    temp_dir t;
    auto file = t.path / "channel.backup";
    write_fd(file, O_CREAT, v1);
    asio::io_context ioc;
    watcher w(ioc.get_executor(), file);
    CHECK(w.watching_folder());
    CHECK(w.folder() == t.path);

    lnd_swap(file, v2);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);

    // A burst queued before the read is one change; nothing is left behind it: the next change is
    // the marker below (lnd's temp file written, never renamed), not a leftover moved_to.
    lnd_swap(file, v3);
    lnd_swap(file, v1);
    lnd_swap(file, v2);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    write_fd(w.temp_path(), O_CREAT | O_TRUNC, v3);
    CHECK(run(ioc, w.next_change()) == change_reason::temp_written);
}

TEST_CASE("watcher reports lnd's temp file closed, apart from changes, and ignores other names and reads",
          "[unit][watch]") {
    temp_dir t;
    auto file = t.path / "channel.backup";
    write_fd(file, O_CREAT, v1);
    asio::io_context ioc;
    watcher w(ioc.get_executor(), file);
    CHECK(w.temp_path() == t.path / "temp-dont-use.backup");

    write_fd(t.path / "temp-dont-use.backup", O_CREAT | O_TRUNC, v2);  // written, never renamed
    CHECK(run(ioc, change_within(&w, 3000ms)) == change_reason::temp_written);
    fs::create_directory(t.path / "chan-backup-archives");
    write_fd(t.path / "chan-backup-archives" / "channel-old.backup", O_CREAT, v1);
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);  // a reader (us): IN_CLOSE_NOWRITE
    REQUIRE(fd >= 0);
    ::close(fd);
    // None of that is reported: the next change is the marker (the temp file written again). Had
    // any of it counted as a write of channel.backup, close_write would come first.
    write_fd(t.path / "temp-dont-use.backup", O_CREAT | O_TRUNC, v3);
    CHECK(run(ioc, change_within(&w, 3000ms)) == change_reason::temp_written);

    // The swap's close may be read apart from its rename, or in the same read (then only the
    // change is reported).
    lnd_swap(file, v2);
    auto next = run(ioc, change_within(&w, 3000ms));
    if (next == change_reason::temp_written) next = run(ioc, change_within(&w, 3000ms));
    CHECK(next == change_reason::moved_to);
}

TEST_CASE("watcher reports a cp-style write of channel.backup", "[unit][watch]") {
    temp_dir t;
    auto file = t.path / "channel.backup";
    asio::io_context ioc;
    watcher w(ioc.get_executor(), file);
    write_fd(file, O_CREAT | O_TRUNC, v1);  // a new file: IN_CREATE then IN_CLOSE_WRITE
    CHECK(run(ioc, w.next_change()) == change_reason::close_write);
    write_fd(file, O_TRUNC, v2);  // rewritten in place
    CHECK(run(ioc, w.next_change()) == change_reason::close_write);
}

namespace {
asio::awaitable<void> remove_then_recreate(fs::path folder, watcher* w, bool* lost_seen) {
    co_await sleep_for(50ms);
    fs::remove_all(folder);
    *lost_seen = co_await wait_until([w] { return !w->watching_folder(); });
    fs::create_directory(folder);
}

// Moves the folder away, swaps the file in the moved folder (no longer ours), then makes a new
// folder once the watcher has noticed. `recreated` says when the new folder was made.
asio::awaitable<void> move_away_then_recreate(fs::path folder, watcher* w, bool* lost_seen, bool* recreated) {
    co_await sleep_for(50ms);
    fs::rename(folder, folder.string() + ".old");
    *lost_seen = co_await wait_until([w] { return !w->watching_folder(); });
    lnd_swap(folder.string() + ".old/channel.backup", v2);
    co_await sleep_for(50ms);  // a chance for a wrong report to come before the folder is back
    fs::create_directory(folder);
    *recreated = true;
}

asio::awaitable<void> make_later(fs::path folder) {
    co_await sleep_for(50ms);
    fs::create_directories(folder);
}

asio::awaitable<void> make_two_later(fs::path other, fs::path folder) {
    co_await sleep_for(30ms);
    fs::create_directory(other);
    co_await sleep_for(50ms);  // a chance for a wrong report to come first
    fs::create_directory(folder);
}

asio::awaitable<void> make_step_by_step(fs::path base, fs::path rest) {
    fs::path p = base;
    for (const auto& part : rest) {
        co_await sleep_for(30ms);
        p /= part;
        fs::create_directory(p);
    }
}
}  // namespace

TEST_CASE("watcher follows the folder being removed and recreated", "[unit][watch]") {
    temp_dir t;
    auto folder = t.path / "mainnet";
    auto file = folder / "channel.backup";
    fs::create_directory(folder);
    write_fd(file, O_CREAT, v1);
    asio::io_context ioc;
    watcher w(ioc.get_executor(), file);

    SECTION("while the watcher waits") {
        bool lost_seen = false;
        CHECK(run(ioc, change_during(&w, remove_then_recreate(folder, &w, &lost_seen))) ==
              change_reason::folder_recreated);
        CHECK(lost_seen);
    }
    SECTION("before the watcher reads its events (the folder is already back)") {
        fs::remove_all(folder);
        fs::create_directory(folder);
        CHECK(run(ioc, w.next_change()) == change_reason::folder_recreated);
    }
    SECTION("moved away, then a new one made") {
        bool lost_seen = false;
        bool recreated = false;
        // Neither the move nor the swap in the moved folder is reported: the first report is the new folder.
        CHECK(run(ioc, change_during(&w, move_away_then_recreate(folder, &w, &lost_seen, &recreated))) ==
              change_reason::folder_recreated);
        CHECK(lost_seen);
        CHECK(recreated);
    }
    CHECK(w.watching_folder());
    // Reported once per reappearance (a second folder_recreated would come before this moved_to),
    // then the new folder is watched.
    lnd_swap(file, v3);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
}

TEST_CASE("watcher waits for a folder missing at start", "[unit][watch]") {
    temp_dir t;
    asio::io_context ioc;

    SECTION("its parent exists") {
        auto folder = t.path / "mainnet";
        watcher w(ioc.get_executor(), folder / "channel.backup");
        CHECK_FALSE(w.watching_folder());
        CHECK(run(ioc, change_during(&w, make_later(folder))) == change_reason::folder_recreated);
        CHECK(w.watching_folder());
        lnd_swap(folder / "channel.backup", v1);
        CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    }
    SECTION("its grandparents are missing too, created by mkdir -p") {
        auto folder = t.path / "data" / "chain" / "bitcoin" / "mainnet";
        watcher w(ioc.get_executor(), folder / "channel.backup");
        CHECK_FALSE(w.watching_folder());
        CHECK(run(ioc, change_during(&w, make_later(folder))) == change_reason::folder_recreated);
        lnd_swap(folder / "channel.backup", v1);
        CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    }
    SECTION("its grandparents are created one at a time") {
        auto folder = t.path / "data" / "chain" / "bitcoin" / "mainnet";
        watcher w(ioc.get_executor(), folder / "channel.backup");
        CHECK(run(ioc, change_during(&w, make_step_by_step(t.path, "data/chain/bitcoin/mainnet"))) ==
              change_reason::folder_recreated);
        CHECK(w.watching_folder());
        lnd_swap(folder / "channel.backup", v1);
        CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    }
    SECTION("other folders appearing on the way are not reported") {
        auto folder = t.path / "data" / "mainnet";
        fs::create_directory(t.path / "data");
        watcher w(ioc.get_executor(), folder / "channel.backup");
        CHECK(run(ioc, change_during(&w, make_two_later(t.path / "data" / "testnet", folder))) ==
              change_reason::folder_recreated);
        CHECK(fs::exists(folder));  // reported for mainnet, not for testnet made 50 ms before it
        CHECK(w.watching_folder());
    }
    SECTION("a file stands where the folder should be, then is replaced by the folder") {
        auto folder = t.path / "mainnet";
        write_fd(folder, O_CREAT, v1);
        watcher w(ioc.get_executor(), folder / "channel.backup");
        CHECK_FALSE(w.watching_folder());
        fs::remove(folder);
        fs::create_directory(folder);
        CHECK(run(ioc, w.next_change()) == change_reason::folder_recreated);
    }
}

namespace {
struct group_outcome {
    std::size_t first = 99;
    bool watcher_aborted = false;
};

asio::awaitable<group_outcome> race_with_timer(watcher* w) {
    auto ex = co_await asio::this_coro::executor;
    asio::steady_timer timer(ex, 100ms);
    auto [order, watch_ex, reason, timer_ec] =
        co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, w->next_change(), asio::deferred),
                                                         timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)reason;
    (void)timer_ec;
    group_outcome out;
    out.first = order[0];
    try {
        if (watch_ex) std::rethrow_exception(watch_ex);
    } catch (const boost::system::system_error& e) {
        out.watcher_aborted = e.code() == asio::error::operation_aborted;
    }
    co_return out;
}
}  // namespace

TEST_CASE("next_change is cancelled cleanly by a parallel group", "[unit][watch]") {
    temp_dir t;
    auto file = t.path / "channel.backup";
    asio::io_context ioc;

    SECTION("while watching the folder") {
        write_fd(file, O_CREAT, v1);
        watcher w(ioc.get_executor(), file);
        auto out = run(ioc, race_with_timer(&w));
        CHECK(out.first == 1);
        CHECK(out.watcher_aborted);
        lnd_swap(file, v2);  // still usable afterwards
        CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    }
    SECTION("while waiting for the folder") {
        watcher w(ioc.get_executor(), t.path / "missing" / "channel.backup");
        auto out = run(ioc, race_with_timer(&w));
        CHECK(out.first == 1);
        CHECK(out.watcher_aborted);
    }
    SECTION("the watcher is destroyed with a read pending") {
        auto w = std::make_unique<watcher>(ioc.get_executor(), file);
        bool done = false;
        bool aborted = false;
        asio::co_spawn(ioc, w->next_change(), [&](std::exception_ptr e, change_reason) {
            done = true;
            try {
                if (e) std::rethrow_exception(e);
            } catch (const boost::system::system_error& err) {
                aborted = err.code() == asio::error::operation_aborted;
            }
        });
        ioc.poll();  // runs the coroutine up to its pending read
        REQUIRE_FALSE(done);
        w.reset();  // closes the descriptor; the pending read ends with operation_aborted
        ioc.restart();
        ioc.run_for(5s);  // returns as soon as the coroutine has ended (no work left)
        CHECK(done);
        CHECK(aborted);  // and without touching the destroyed watcher (ASan checks that, and leaks)
    }
}

namespace {
// ln -sfn: a new symlink at a temporary name, renamed over the old one (one atomic step).
void repoint(const fs::path& link, const fs::path& target) {
    auto tmp = link.string() + ".tmp";
    fs::create_symlink(target, tmp);
    REQUIRE(::rename(tmp.c_str(), link.c_str()) == 0);
}
}  // namespace

TEST_CASE("watcher follows a symlinked channel.backup to its target's folder", "[unit][watch][symlink]") {
    temp_dir t;
    fs::create_directories(t.path / "hdd" / "lnd");
    fs::create_directories(t.path / "backup");
    auto target = t.path / "hdd" / "lnd" / "channel.backup";
    write_fd(target, O_CREAT, v1);
    auto file = t.path / "backup" / "channel.backup";
    fs::create_symlink("../hdd/lnd/channel.backup", file);  // relative, as ln -sr makes it
    asio::io_context ioc;
    watcher w(ioc.get_executor(), file);
    CHECK(w.watching_folder());
    CHECK(w.folder() == t.path / "hdd" / "lnd");
    CHECK(w.temp_path() == t.path / "hdd" / "lnd" / "temp-dont-use.backup");

    // lnd writes its temp file next to the target and renames it over the target.
    lnd_swap(target, v2);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    lnd_swap(target, v3);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);

    SECTION("the link re-pointed to a file in another folder") {
        fs::create_directories(t.path / "ssd");
        auto other = t.path / "ssd" / "channel.backup";
        write_fd(other, O_CREAT, v1);
        repoint(file, other);
        // The path now leads to other content: a change (re-read), whatever its name.
        auto next = run(ioc, w.next_change());
        CHECK(next != change_reason::temp_written);
        CHECK(w.folder() == t.path / "ssd");
        lnd_swap(other, v2);
        CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
        // The old target is no longer ours: its swap is not reported before the marker.
        lnd_swap(target, v1);
        write_fd(w.temp_path(), O_CREAT | O_TRUNC, v3);
        CHECK(run(ioc, w.next_change()) == change_reason::temp_written);
    }
    SECTION("lnd itself renames over the link, which becomes a plain file") {
        lnd_swap(file, v1);
        auto next = run(ioc, w.next_change());
        CHECK(next != change_reason::temp_written);
        CHECK(w.folder() == t.path / "backup");
        lnd_swap(file, v2);
        CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    }
}

TEST_CASE("watcher follows a symlinked folder when it is re-pointed", "[unit][watch][symlink]") {
    temp_dir t;
    for (auto d : {"data1", "data2"}) {
        fs::create_directories(t.path / d / "mainnet");
        write_fd(t.path / d / "mainnet" / "channel.backup", O_CREAT, v1);
    }
    fs::create_symlink("data1", t.path / "lnd");  // ~/.lnd -> /mnt/hdd/lnd
    auto file = t.path / "lnd" / "mainnet" / "channel.backup";
    asio::io_context ioc;
    watcher w(ioc.get_executor(), file);
    lnd_swap(t.path / "data1" / "mainnet" / "channel.backup", v2);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);

    repoint(t.path / "lnd", "data2");
    // Seen by the watcher itself (it watches the folder holding the link): the path leads elsewhere.
    auto next = run(ioc, w.next_change());
    CHECK(next != change_reason::temp_written);
    CHECK(w.folder() == t.path / "data2" / "mainnet");
    lnd_swap(t.path / "data2" / "mainnet" / "channel.backup", v3);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    // Nothing more to re-arm: the daemon's periodic recheck() finds the watch in place.
    CHECK_FALSE(w.recheck());

    SECTION("re-pointed back while nobody reads, then found by recheck() as the daemon calls it") {
        repoint(t.path / "lnd", "data1");
        CHECK(w.recheck());
        CHECK(w.folder() == t.path / "data1" / "mainnet");
        lnd_swap(t.path / "data1" / "mainnet" / "channel.backup", v1);
        // The link's own event, read after recheck() already re-armed, is no second change.
        CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    }
    SECTION("pointed at a folder that does not exist yet") {
        repoint(t.path / "lnd", "data3");
        fs::create_directories(t.path / "data3" / "mainnet");
        auto again = run(ioc, w.next_change());
        CHECK(again != change_reason::temp_written);
        CHECK(w.watching_folder());
        lnd_swap(t.path / "data3" / "mainnet" / "channel.backup", v1);
        CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    }
}

TEST_CASE("recheck() re-arms when a folder above the file's was replaced (no event reaches the watch)",
          "[unit][watch]") {
    temp_dir t;
    auto folder = t.path / "lnd" / "mainnet";
    fs::create_directories(folder);
    write_fd(folder / "channel.backup", O_CREAT, v1);
    asio::io_context ioc;
    watcher w(ioc.get_executor(), folder / "channel.backup");
    CHECK_FALSE(w.recheck());  // nothing changed: nothing re-armed

    fs::rename(t.path / "lnd", t.path / "lnd.old");
    fs::create_directories(folder);
    CHECK(w.recheck());
    CHECK_FALSE(w.recheck());
    lnd_swap(folder / "channel.backup", v2);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
}
