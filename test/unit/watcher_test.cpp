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

    // A burst queued before the read is one change; nothing is left behind it.
    lnd_swap(file, v3);
    lnd_swap(file, v1);
    lnd_swap(file, v2);
    CHECK(run(ioc, w.next_change()) == change_reason::moved_to);
    CHECK(run(ioc, change_within(&w, 200ms)) == std::nullopt);
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
    CHECK(run(ioc, change_within(&w, 300ms)) == std::nullopt);

    // Still listening after being cancelled by the timer. The swap's close may be read apart from
    // its rename, or in the same read (then only the change is reported).
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
    co_await sleep_for(100ms);
    *lost_seen = !w->watching_folder();
    fs::create_directory(folder);
}

asio::awaitable<void> make_later(fs::path folder) {
    co_await sleep_for(50ms);
    fs::create_directories(folder);
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
        fs::rename(folder, t.path / "mainnet.old");
        CHECK(run(ioc, change_within(&w, 200ms)) == std::nullopt);
        CHECK_FALSE(w.watching_folder());
        lnd_swap(t.path / "mainnet.old" / "channel.backup", v2);  // no longer our file
        CHECK(run(ioc, change_within(&w, 200ms)) == std::nullopt);
        fs::create_directory(folder);
        CHECK(run(ioc, w.next_change()) == change_reason::folder_recreated);
    }
    CHECK(w.watching_folder());
    // Reported once per reappearance, then the new folder is watched.
    CHECK(run(ioc, change_within(&w, 200ms)) == std::nullopt);
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
        watcher w(ioc.get_executor(), folder / "channel.backup");
        fs::create_directories(t.path / "data" / "testnet");
        CHECK(run(ioc, change_within(&w, 200ms)) == std::nullopt);
        CHECK_FALSE(w.watching_folder());
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
        asio::co_spawn(ioc, w->next_change(), asio::detached);
        ioc.run_for(50ms);
        w.reset();  // closes the descriptor; the pending read ends with operation_aborted
        ioc.restart();
        ioc.run_for(50ms);
        SUCCEED("no crash, no leak (ASan checks the leak)");
    }
}
