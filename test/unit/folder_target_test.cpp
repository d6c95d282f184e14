// The local-folder destination: the blocking building blocks against real temp folders (atomic
// write with mode 0600, a folder that is never created, what list shows, the read cap, the error
// mapping), then the async target on an io_context, its cancellation included.
#include "destination/folder_target.hpp"

#include "common/atomic_file.hpp"
#include "s3/error.hpp"
#include "temp_dir.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>
#include <regex>

#include <sys/stat.h>
#include <unistd.h>

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace folder_io = scb::destination::folder_io;
using scb::destination::folder_target;
using scb::s3::errc;
using scb::unit::temp_dir;

namespace scb::destination {
struct folder_target_testing {
    static asio::thread_pool& pool(folder_target& t) { return t.io_; }
};
}  // namespace scb::destination

namespace {

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spew(const fs::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary);
    out << text;
}

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::vector<std::string> names_in(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

const std::regex iso_millis(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");

/// Runs `aw` to its end on a fresh io_context.
template <class T>
T run(asio::io_context& ioc, asio::awaitable<T> aw) {
    std::optional<T> out;
    asio::co_spawn(ioc, std::move(aw), [&](std::exception_ptr e, T v) {
        if (e) std::rethrow_exception(e);
        out = std::move(v);
    });
    ioc.restart();
    ioc.run_for(std::chrono::seconds(10));
    REQUIRE(out.has_value());
    return std::move(*out);
}

}  // namespace

TEST_CASE("A folder write, list and read round trip", "[unit][folder]") {
    temp_dir dir;
    REQUIRE_FALSE(folder_io::write(dir.path, "channel-b.backup", "second"));
    REQUIRE_FALSE(folder_io::write(dir.path, "channel-a.backup", "first!"));
    // Replacing is allowed (put replaces what was there).
    REQUIRE_FALSE(folder_io::write(dir.path, "channel-a.backup", "first"));

    std::vector<scb::s3::object_info> objects;
    REQUIRE_FALSE(folder_io::list(dir.path, objects));
    REQUIRE(objects.size() == 2);
    CHECK(objects[0].key == "channel-a.backup");
    CHECK(objects[0].size == 5);
    CHECK(objects[1].key == "channel-b.backup");
    CHECK(objects[1].size == 6);
    for (const auto& o : objects) {
        CHECK(std::regex_match(o.last_modified, iso_millis));
        CHECK(o.etag.empty());
    }

    std::string text;
    REQUIRE_FALSE(folder_io::read(dir.path, "channel-a.backup", text, 1024));
    CHECK(text == "first");
    CHECK(names_in(dir.path) == std::vector<std::string>{"channel-a.backup", "channel-b.backup"});
}

TEST_CASE("A folder write gives mode 0600 whatever the umask and the old file's mode", "[unit][folder]") {
    temp_dir dir;
    spew(dir.path / "old.backup", "old");
    ::chmod((dir.path / "old.backup").c_str(), 0644);
    const mode_t saved = ::umask(0);
    const auto e1 = folder_io::write(dir.path, "new.backup", "data");
    const auto e2 = folder_io::write(dir.path, "old.backup", "data");
    ::umask(saved);
    REQUIRE_FALSE(e1);
    REQUIRE_FALSE(e2);
    CHECK(mode_of(dir.path / "new.backup") == 0600);
    CHECK(mode_of(dir.path / "old.backup") == 0600);
}

TEST_CASE("A folder write takes plain file names only", "[unit][folder]") {
    temp_dir dir;
    fs::create_directory(dir.path / "sub");
    for (const std::string bad : {"", ".", "..", "sub/x.backup", "../x.backup", "/tmp/x.backup"}) {
        CAPTURE(bad);
        CHECK(folder_io::write(dir.path, bad, "data") == std::errc::invalid_argument);
        std::string out;
        CHECK(folder_io::read(dir.path, bad, out, 1024) == std::errc::invalid_argument);
    }
    CHECK(names_in(dir.path) == std::vector<std::string>{"sub"});
    CHECK(fs::is_empty(dir.path / "sub"));
}

TEST_CASE("A missing folder is never created", "[unit][folder]") {
    temp_dir dir;
    const fs::path usb = dir.path / "usb";
    const fs::path folder = usb / "scb";
    CHECK(folder_io::write(folder, "x.backup", "data") == std::errc::no_such_file_or_directory);
    CHECK_FALSE(fs::exists(usb));
    // A mount point that is there but empty (the disk unplugged): its subfolder is not created either.
    fs::create_directory(usb);
    CHECK(folder_io::write(folder, "x.backup", "data") == std::errc::no_such_file_or_directory);
    CHECK_FALSE(fs::exists(folder));
    CHECK(fs::is_empty(usb));

    std::vector<scb::s3::object_info> objects;
    CHECK(folder_io::list(folder, objects) == std::errc::no_such_file_or_directory);
    std::string out;
    CHECK(folder_io::read(folder, "x.backup", out, 1024) == std::errc::no_such_file_or_directory);
    CHECK_FALSE(fs::exists(folder));
}

TEST_CASE("A folder that is a file gives ENOTDIR", "[unit][folder]") {
    temp_dir dir;
    const fs::path file = dir.path / "not-a-folder";
    spew(file, "x");
    CHECK(folder_io::write(file, "x.backup", "data") == std::errc::not_a_directory);
    std::vector<scb::s3::object_info> objects;
    CHECK(folder_io::list(file, objects) == std::errc::not_a_directory);
    CHECK(slurp(file) == "x");
    CHECK(names_in(dir.path) == std::vector<std::string>{"not-a-folder"});
}

TEST_CASE("A read-only folder gives EACCES and keeps no temporary file", "[unit][folder]") {
    if (::geteuid() == 0) {
        WARN("skipped: root ignores file modes");
        return;
    }
    temp_dir dir;
    spew(dir.path / "kept.backup", "old");
    REQUIRE(::chmod(dir.path.c_str(), 0500) == 0);
    CHECK(folder_io::write(dir.path, "kept.backup", "new") == std::errc::permission_denied);
    CHECK(folder_io::write(dir.path, "other.backup", "new") == std::errc::permission_denied);
    REQUIRE(::chmod(dir.path.c_str(), 0700) == 0);
    CHECK(slurp(dir.path / "kept.backup") == "old");
    CHECK(names_in(dir.path) == std::vector<std::string>{"kept.backup"});
}

TEST_CASE("A folder list shows our regular .backup files only", "[unit][folder]") {
    temp_dir dir;
    REQUIRE_FALSE(folder_io::write(dir.path, "real.backup", "data"));
    spew(dir.path / scb::atomic_temp_name("half.backup"), "half");  // a write cut by a crash
    spew(dir.path / "notes.txt", "mine");
    spew(dir.path / ".backup", "no name");
    fs::create_directory(dir.path / "folder.backup");
    fs::create_symlink(dir.path / "real.backup", dir.path / "link.backup");
    REQUIRE(::mkfifo((dir.path / "fifo.backup").c_str(), 0600) == 0);

    std::vector<scb::s3::object_info> objects;
    REQUIRE_FALSE(folder_io::list(dir.path, objects));
    REQUIRE(objects.size() == 1);
    CHECK(objects[0].key == "real.backup");

    // What list does not show is not read either.
    std::string out;
    CHECK(folder_io::read(dir.path, "link.backup", out, 1024));
    CHECK(folder_io::read(dir.path, "fifo.backup", out, 1024) == std::errc::invalid_argument);
    CHECK(folder_io::read(dir.path, "folder.backup", out, 1024) == std::errc::is_a_directory);
}

TEST_CASE("A folder read stops at the cap", "[unit][folder]") {
    temp_dir dir;
    REQUIRE_FALSE(folder_io::write(dir.path, "x.backup", std::string(100, 'x')));
    std::string out;
    CHECK_FALSE(folder_io::read(dir.path, "x.backup", out, 100));
    CHECK(out.size() == 100);
    CHECK(folder_io::read(dir.path, "x.backup", out, 99) == std::errc::file_too_large);
    CHECK(out.empty());
    CHECK(folder_io::read(dir.path, "absent.backup", out, 100) == std::errc::no_such_file_or_directory);
}

TEST_CASE("Folder errors map to S3's vocabulary and say what to do", "[unit][folder]") {
    const fs::path folder = "/mnt/usb/scb/";
    auto err = [&](int e, const std::string& what, bool folder_level) {
        return folder_io::to_error(std::error_code(e, std::generic_category()), folder, what, folder_level);
    };
    CHECK_FALSE(folder_io::to_error({}, folder, "PUT x.backup", true));

    const auto missing = err(ENOENT, "PUT x.backup", true);
    CHECK(missing.code == errc::no_such_bucket);
    CHECK(missing.operation == "PUT x.backup");
    CHECK_THAT(missing.message, Catch::Contains("/mnt/usb/scb does not exist") &&
                                    Catch::Contains("is the disk mounted?") &&
                                    Catch::Contains("create the folder to use it") &&
                                    Catch::Contains("No such file or directory"));
    CHECK_THAT(missing.describe(), Catch::Contains("PUT x.backup") && Catch::Contains("/mnt/usb/scb"));
    // S3's hints (S3_BUCKET_NAME, s3:PutObject) would mislead about a folder.
    CHECK_THAT(missing.describe(), !Catch::Contains("S3_BUCKET_NAME"));
    CHECK_THAT(err(EACCES, "PUT x.backup", false).describe(), !Catch::Contains("s3:PutObject"));

    const auto not_dir = err(ENOTDIR, "LIST", true);
    CHECK(not_dir.code == errc::no_such_bucket);
    CHECK_THAT(not_dir.message, Catch::Contains("/mnt/usb/scb is not a folder"));

    const auto no_key = err(ENOENT, "GET x.backup", false);
    CHECK(no_key.code == errc::no_such_key);
    CHECK_THAT(no_key.message, Catch::Contains("/mnt/usb/scb/x.backup") && Catch::Contains("No such file"));

    for (const int e : {EACCES, EPERM, EROFS}) {
        CAPTURE(e);
        const auto denied = err(e, "PUT x.backup", true);
        CHECK(denied.code == errc::access_denied);
        CHECK_THAT(denied.message, Catch::Contains("/mnt/usb/scb/x.backup") && Catch::Contains(std::strerror(e)));
        CHECK_FALSE(scb::s3::is_retryable(denied.code));
    }
    CHECK_THAT(err(EACCES, "PUT x.backup", true).message, Catch::Contains("access to /mnt/usb/scb"));
    CHECK_THAT(err(EROFS, "PUT x.backup", true).message, Catch::Contains("read-write"));

    for (const int e : {ENOSPC, EIO, EDQUOT, ESTALE}) {
        CAPTURE(e);
        const auto server = err(e, "PUT x.backup", true);
        CHECK(server.code == errc::server_error);
        CHECK(scb::s3::is_retryable(server.code));
        CHECK_THAT(server.message, Catch::Contains("/mnt/usb/scb/x.backup") && Catch::Contains(std::strerror(e)));
    }
    // Asking again the same way cannot help: a bad name, over the cap, not a regular file.
    for (const int e : {EINVAL, EFBIG, EISDIR, ELOOP}) {
        CAPTURE(e);
        CHECK(err(e, "GET x.backup", false).code == errc::client_error);
    }
}

TEST_CASE("The folder target puts, lists, heads and gets on an io_context", "[unit][folder]") {
    temp_dir dir;
    asio::io_context ioc;
    folder_target t(ioc.get_executor(), "usb", dir.path.string() + "/", 1024);
    CHECK(t.name() == "usb");
    CHECK(t.prefix().empty());
    CHECK(t.where() == "file://" + dir.path.string() + "/");

    const auto data = std::make_shared<const std::string>("the backup");
    CHECK_FALSE(run(ioc, t.put("channel-1.backup", data, {})));
    CHECK_FALSE(run(ioc, t.put("other-1.backup", std::make_shared<const std::string>("x"), {})));
    CHECK(mode_of(dir.path / "channel-1.backup") == 0600);

    auto all = run(ioc, t.list(""));
    REQUIRE(all);
    REQUIRE(all.value.size() == 2);
    auto some = run(ioc, t.list("channel-"));
    REQUIRE(some);
    REQUIRE(some.value.size() == 1);
    CHECK(some.value[0].key == "channel-1.backup");
    CHECK(some.value[0].size == data->size());

    auto head = run(ioc, t.head("channel-1.backup"));
    REQUIRE(head);
    CHECK(head.value.size == data->size());
    CHECK(std::regex_match(head.value.last_modified, iso_millis));
    CHECK(head.value.last_modified == some.value[0].last_modified);

    auto got = run(ioc, t.get("channel-1.backup"));
    REQUIRE(got);
    CHECK(got.value == *data);

    CHECK(run(ioc, t.head("absent.backup")).err.code == errc::no_such_key);
    CHECK(run(ioc, t.get("absent.backup")).err.code == errc::no_such_key);
    CHECK(run(ioc, t.put("a/b.backup", data, {})).code == errc::client_error);

    // Over the target's object cap.
    REQUIRE_FALSE(folder_io::write(dir.path, "big.backup", std::string(1025, 'x')));
    CHECK(run(ioc, t.get("big.backup")).err.code == errc::client_error);
}

TEST_CASE("The folder target reports a missing folder as NoSuchBucket and never creates it", "[unit][folder]") {
    temp_dir dir;
    const fs::path folder = dir.path / "unplugged";
    asio::io_context ioc;
    folder_target t(ioc.get_executor(), "usb", folder, 1024);
    const auto data = std::make_shared<const std::string>("x");

    const auto put = run(ioc, t.put("x.backup", data, {}));
    CHECK(put.code == errc::no_such_bucket);
    CHECK_THAT(put.message, Catch::Contains(folder.string()) && Catch::Contains("is the disk mounted?"));
    CHECK(run(ioc, t.list("")).err.code == errc::no_such_bucket);
    CHECK(run(ioc, t.head("x.backup")).err.code == errc::no_such_bucket);
    CHECK(run(ioc, t.get("x.backup")).err.code == errc::no_such_bucket);
    CHECK_FALSE(fs::exists(folder));
}

TEST_CASE("A cancelled wait for a stuck folder ends at once with aborted", "[unit][folder]") {
    temp_dir dir;
    asio::io_context ioc;
    std::promise<void> release;
    std::optional<scb::s3::error> result;
    {
        folder_target t(ioc.get_executor(), "nfs", dir.path, 1024);
        // The pool's one thread is stuck (a hung NFS write) until `release`.
        asio::post(scb::destination::folder_target_testing::pool(t),
                   [f = release.get_future().share()] { f.wait(); });

        asio::cancellation_signal cancel;
        asio::co_spawn(ioc, t.put("x.backup", std::make_shared<const std::string>("late"), {}),
                       asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, scb::s3::error r) {
                           if (e) std::rethrow_exception(e);
                           result = std::move(r);
                       }));
        asio::steady_timer later(ioc, std::chrono::milliseconds(50));
        later.async_wait([&](auto) { cancel.emit(asio::cancellation_type::terminal); });

        const auto start = std::chrono::steady_clock::now();
        ioc.run_for(std::chrono::seconds(5));
        const auto waited = std::chrono::steady_clock::now() - start;
        REQUIRE(result.has_value());
        CHECK(result->code == errc::aborted);
        CHECK(result->operation == "PUT x.backup");
        // run_for returned early: nothing was left waiting on the io_context.
        CHECK(waited < std::chrono::seconds(2));
        CHECK_FALSE(fs::exists(dir.path / "x.backup"));

        // The write itself still happens once the folder answers (the destructor waits for it).
        release.set_value();
    }
    CHECK(slurp(dir.path / "x.backup") == "late");
    CHECK(names_in(dir.path) == std::vector<std::string>{"x.backup"});
    // The job's answer, posted to the io_context after the wait was abandoned, is harmless.
    ioc.restart();
    ioc.poll();
}

TEST_CASE("A folder call from a coroutine cancelled already does no work", "[unit][folder]") {
    temp_dir dir;
    asio::io_context ioc;
    folder_target t(ioc.get_executor(), "usb", dir.path, 1024);
    std::optional<scb::s3::error> result;
    asio::cancellation_signal cancel;
    auto caller = [&]() -> asio::awaitable<scb::s3::error> {
        co_await asio::this_coro::throw_if_cancelled(false);  // as the uploader does
        asio::steady_timer backoff(ioc, std::chrono::hours(1));
        (void)co_await backoff.async_wait(asio::as_tuple(asio::use_awaitable));  // cancelled here
        // Built before co_await: g++ 12 double-destroys by-value temporaries inside one.
        auto call = t.put("x.backup", std::make_shared<const std::string>("data"), {});
        co_return co_await std::move(call);
    };
    asio::co_spawn(ioc, caller(), asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, scb::s3::error r) {
                       if (e) std::rethrow_exception(e);
                       result = std::move(r);
                   }));
    asio::post(ioc, [&] { cancel.emit(asio::cancellation_type::terminal); });
    ioc.run_for(std::chrono::seconds(5));
    REQUIRE(result.has_value());
    CHECK(result->code == errc::aborted);
    CHECK_FALSE(fs::exists(dir.path / "x.backup"));
}

TEST_CASE("A cancellation that comes after the folder answered does not lose the answer", "[unit][folder]") {
    temp_dir dir;
    asio::io_context ioc;
    folder_target t(ioc.get_executor(), "usb", dir.path, 1024);
    std::optional<scb::s3::error> result;
    asio::cancellation_signal cancel;
    asio::co_spawn(ioc, t.put("x.backup", std::make_shared<const std::string>("data"), {}),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, scb::s3::error r) {
                       if (e) std::rethrow_exception(e);
                       result = std::move(r);
                   }));
    ioc.run_for(std::chrono::seconds(5));
    REQUIRE(result.has_value());
    CHECK_FALSE(*result);
    cancel.emit(asio::cancellation_type::terminal);  // nothing is listening any more
    CHECK(slurp(dir.path / "x.backup") == "data");
}
