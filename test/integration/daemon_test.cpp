// The real scb-backup binary against a real local S3 (behind the SigV4-verifying front), with
// channel.backup replaced the way lnd replaces it.
#include "daemon_fixture.hpp"
#include "naming/object_name.hpp"

#include <catch2/catch.hpp>

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <set>

using namespace scb::test;
using namespace std::chrono_literals;

namespace {

void write_plain(const std::filesystem::path& p, const std::string& content) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;  // open, write, close: IN_CLOSE_WRITE
}

std::string sha(const std::string& content) { return scb::crypto::sha256_hex(content); }

/// "-a1b2c3.backup": the tail of every key and spool name of this content.
std::string name_tail(const std::string& content) { return "-" + sha(content).substr(58) + ".backup"; }

/// SHA-256 of every complete version in the spool.
std::multiset<std::string> spooled_contents(const daemon_fixture& f) {
    std::multiset<std::string> out;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator(f.spool, ec); !ec && it != std::filesystem::directory_iterator();
         it.increment(ec)) {
        if (it->path().extension() != ".backup") continue;
        std::ifstream in(it->path(), std::ios::binary);
        if (in) out.insert(sha({std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()}));
    }
    return out;
}

/// Every name created in, or renamed into, a folder since construction, as inotify reports them:
/// unlike a listing, it misses no file that came and went between two looks.
class created_names {
public:
    explicit created_names(const std::string& dir) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
        REQUIRE(fd_ >= 0);
        REQUIRE(::inotify_add_watch(fd_, dir.c_str(), IN_CREATE | IN_MOVED_TO) >= 0);
    }
    ~created_names() { ::close(fd_); }
    created_names(const created_names&) = delete;
    created_names& operator=(const created_names&) = delete;

    const std::vector<std::string>& names() {
        alignas(inotify_event) char buf[16384];
        for (ssize_t n; (n = ::read(fd_, buf, sizeof buf)) > 0;) {
            for (char* p = buf; p < buf + n;) {
                const auto* e = reinterpret_cast<const inotify_event*>(p);
                CHECK((e->mask & IN_Q_OVERFLOW) == 0);  // an overflow would hide names
                if (e->len > 0) names_.emplace_back(e->name);
                p += sizeof(inotify_event) + e->len;
            }
        }
        return names_;
    }
    bool seen_ending(const std::string& tail) {
        for (const auto& n : names())
            if (n.ends_with(tail)) return true;
        return false;
    }

private:
    int fd_;
    std::vector<std::string> names_;
};

/// Whether the front holds a PUT of this key tail without an answer yet (a `stall` fault).
bool put_pending(daemon_fixture& f, const std::string& tail) {
    for (auto& r : f.s3.requests())
        if (r["method"] == "PUT" && r["path"].get<std::string>().ends_with(tail) && r["status"].is_null()) return true;
    return false;
}

}  // namespace

TEST_CASE("The daemon uploads the file at start and after an lnd-style swap", "[integration][daemon]") {
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    auto d = f.start();
    REQUIRE(f.wait_for_content(v0));
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    REQUIRE(f.wait_for_content(v1));

    auto objs = f.objects();
    REQUIRE(objs.size() == 2);
    for (auto& o : objs) {
        const auto key = o["key"].get<std::string>();
        // node1/channel-20261125T054233.123Z-a1b2c3.backup: prefix, UTC time with ms, last 6 hex of SHA-256
        CHECK(key.size() == std::string("node1/channel-20261125T054233.123Z-a1b2c3.backup").size());
        CHECK(key.substr(key.size() - 13, 6) == o["sha256"].get<std::string>().substr(58));
    }
    CHECK(d->running());
    // lnd rewrites the file as it starts, right after scb-backup under systemd: the log says so.
    CHECK(eventually([&] { return d->stderr_text().find("most likely lnd's start-up rewrite") != std::string::npos; }));
    const auto v2 = lnd_simulator::content(2);
    f.lnd.swap(v2);  // the next change is a change, whatever the time
    REQUIRE(f.wait_for_content(v2));
    CHECK(eventually([&] { return d->stderr_text().find("new version (moved_to): ") != std::string::npos; }));
    CHECK(eventually([&] { return f.spool_files() == 0; }));
    struct stat st{};
    REQUIRE(::stat(f.spool.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
}

TEST_CASE("lnd's temp file is read and its PUT signed before the rename, another file renamed in is read anew",
          "[integration][daemon]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start({"run", "--log-level", "debug"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));

    // lnd's sequence with a pause before the rename, so that the daemon sees the close on its own.
    const auto v1 = lnd_simulator::content(1);
    f.lnd.write_temp(v1);
    REQUIRE(d->wait_for_stderr("read ahead of its rename", 10s));
    f.lnd.rename_temp();
    REQUIRE(f.wait_for_content(v1));
    CHECK(d->wait_for_stderr("was signed ahead", 5s));

    // The temp file is read, then something else is renamed over channel.backup: what gets uploaded
    // is what the file holds, not what was read ahead.
    const auto staged = lnd_simulator::content(2);
    f.lnd.write_temp(staged);
    REQUIRE(eventually([&] {
        const auto log = d->stderr_text();
        return log.find("read ahead of its rename") != log.rfind("read ahead of its rename");  // twice
    }));
    const auto other = lnd_simulator::content(3);
    const auto other_temp = f.lnd.folder() / "restored.tmp";
    write_plain(other_temp, other);
    std::filesystem::rename(other_temp, f.lnd.file());
    REQUIRE(f.wait_for_content(other));
    // Then the read-ahead file itself arrives: it is read again (its read-ahead was dropped) and uploaded.
    f.lnd.rename_temp();
    REQUIRE(f.wait_for_content(staged));
    CHECK(f.count_with_sha(other) == 1);
    CHECK(f.objects().size() == 4);
    CHECK(eventually([&] { return f.spool_files() == 0; }));
}

TEST_CASE("A version S3 confirms at once is never written to the spool, one it has not confirmed after a second "
          "or refuses is", "[integration][daemon]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    REQUIRE(eventually([&] { return f.spool_files() == 0; }));
    created_names spool_log(f.spool);
    for (int i = 1; i <= 5; ++i) {
        f.lnd.swap(lnd_simulator::content(i));
        REQUIRE(f.wait_for_content(lnd_simulator::content(i)));
    }
    // Version 6's PUT takes 2.5 s: the 1 s delay writes its copy. That delay is armed after those
    // of versions 1 to 5, and copies are written and deleted in order on one spool thread, so once
    // version 6 is confirmed and its copy deleted, a copy of any of versions 1 to 5 would have
    // appeared in the folder before.
    const auto v6 = lnd_simulator::content(6);
    f.s3.control("POST", "/faults", R"({"count":1,"kind":"slow","ms":2500,"match":"/channel-"})");
    f.lnd.swap(v6);
    CHECK(eventually([&] { return spool_log.seen_ending(name_tail(v6)); }, 10s));
    REQUIRE(f.wait_for_content(v6));
    REQUIRE(eventually([&] { return f.spool_files() == 0; }));
    for (const auto& name : spool_log.names()) {
        CAPTURE(name);
        CHECK((name.ends_with(name_tail(v6)) || name.ends_with(name_tail(v6) + ".tmp")));
    }

    // Refused: spooled once the attempt failed, kept until S3 takes it.
    const auto v7 = lnd_simulator::content(7);
    f.s3.control("POST", "/faults", R"({"count":3,"kind":"status500"})");
    f.lnd.swap(v7);
    REQUIRE(d->wait_for_stderr("upload failed (attempt 1)", 10s));
    CHECK(eventually([&] { return spooled_contents(f).count(sha(v7)) == 1; }, 5s));
    CHECK(f.wait_for_content(v7));
    CHECK(eventually([&] { return f.spool_files() == 0; }));
}

TEST_CASE("Swaps while each upload takes half a second: the spool ends empty, the newest version in S3",
          "[integration][daemon]") {
    // Uploads slower than swaps but faster than the 1 s spool delay: versions superseded (and
    // their spool copies deleted) at one confirmation must not be written when the delay runs out
    // during the next upload, or they stay in the spool for good.
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    f.s3.control("POST", "/faults", R"({"count":20,"kind":"slow","ms":500})");
    for (int i = 1; i <= 40; ++i) {
        f.lnd.swap(lnd_simulator::content(i));
        std::this_thread::sleep_for(50ms);
    }
    CHECK(f.wait_for_content(lnd_simulator::content(40), 30s));
    CHECK(eventually([&] { return f.spool_files() == 0; }, 15s));
    f.s3.control("DELETE", "/faults");
}

TEST_CASE("A file copied over channel.backup (close_write) is uploaded", "[integration][daemon]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    write_plain(f.lnd.file(), lnd_simulator::content(5));
    CHECK(f.wait_for_content(lnd_simulator::content(5)));
}

TEST_CASE("Bursts of 200 swaps with no pause: the last version is the newest in S3, superseded ones are skipped, "
          "the spool ends empty", "[integration][daemon]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    // Every PUT takes half a second, so the burst outruns the uploads however fast this disk's
    // fsync is: 51 uploads would need a burst of over 25 s. Newest-wins must skip the versions
    // superseded while a PUT was in flight.
    f.s3.control("POST", "/faults", R"({"count":1000,"kind":"slow","ms":500,"match":"/channel-"})");
    constexpr int versions = 200;
    for (int i = 1; i <= versions; ++i) f.lnd.swap(lnd_simulator::content(i, 16000));
    const auto last = lnd_simulator::content(versions, 16000);
    REQUIRE(f.wait_for_content(last, 60s));
    CHECK(eventually([&] { return f.spool_files() == 0; }, 20s));
    f.s3.control("DELETE", "/faults");
    CHECK(d->running());

    const auto objs = f.objects();  // sorted by key: by the time the daemon read each version
    INFO(objs.dump(1));
    REQUIRE(objs.size() >= 2);
    // Nothing older was uploaded after the last version: the newest key holds it, and only it.
    CHECK(objs.back()["sha256"] == sha(last));
    CHECK(f.count_with_sha(last) == 1);
    CHECK(objs.size() - 1 <= versions / 4);
    CHECK_THAT(d->stderr_text(), Catch::Contains("before its upload (it holds all channels)"));
}

TEST_CASE("Identical content is not uploaded twice in a row", "[integration][daemon]") {
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    auto d = f.start();
    REQUIRE(f.wait_for_content(v0));
    f.lnd.swap(v0);
    REQUIRE(d->wait_for_stderr("unchanged content", 10s));
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    REQUIRE(f.wait_for_content(v1));
    CHECK(f.count_with_sha(v0) == 1);
}

TEST_CASE("A file missing at start is uploaded once lnd creates it", "[integration][daemon]") {
    daemon_fixture f;
    auto d = f.start();
    REQUIRE(d->wait_for_stderr("does not exist (yet)", 10s));
    CHECK(d->running());
    const auto v = lnd_simulator::content(9);
    f.lnd.swap(v);
    CHECK(f.wait_for_content(v));
}

TEST_CASE("The folder removed and recreated is watched again", "[integration][daemon]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start({"run", "--log-level", "debug"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    auto inotify_reads = [&] {
        const auto log = d->stderr_text();
        std::size_t n = 0;
        for (auto at = log.find("inotify: read"); at != std::string::npos; at = log.find("inotify: read", at + 1)) ++n;
        return n;
    };
    const auto reads_before = inotify_reads();
    std::filesystem::remove_all(f.lnd.folder().parent_path());
    // The daemon has read the folder's deletion before lnd makes it again: the path back to a
    // watched folder is the one under test, not a deletion and a creation read in one go.
    REQUIRE(eventually([&] { return inotify_reads() > reads_before; }, 10s));
    lnd_simulator again(f.lnd.folder());
    again.swap(lnd_simulator::content(1));
    REQUIRE(f.wait_for_content(lnd_simulator::content(1)));
    again.swap(lnd_simulator::content(2));
    CHECK(f.wait_for_content(lnd_simulator::content(2)));
}

TEST_CASE("S3 down while swaps happen: the newest version arrives when it is back, the spool empties",
          "[integration][daemon]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    f.s3.control("POST", "/outage/start");
    for (int i = 1; i <= 5; ++i) {
        f.lnd.swap(lnd_simulator::content(i));
        std::this_thread::sleep_for(100ms);  // pacing: the daemon sees several versions, not only the last
    }
    REQUIRE(d->wait_for_stderr("retrying", 10s));
    // The newest unconfirmed version is on disk (at a failed attempt, or by the 1 s delay).
    CHECK(eventually([&] { return spooled_contents(f).count(sha(lnd_simulator::content(5))) == 1; }, 10s));
    f.s3.control("POST", "/outage/end");
    REQUIRE(f.wait_for_content(lnd_simulator::content(5)));
    CHECK(eventually([&] { return f.spool_files() == 0; }));
    CHECK(d->running());
}

TEST_CASE("Killed with SIGKILL and restarted: nothing is lost", "[integration][daemon]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    {
        auto d = f.start();
        REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
        f.s3.control("POST", "/outage/start");
        f.lnd.swap(lnd_simulator::content(1));
        REQUIRE(d->wait_for_stderr("retrying", 10s));
        // The spool copy is written beside the upload, not before it: kill once it is durable.
        REQUIRE(eventually([&] { return f.spooled_versions() == 1; }));
        d->signal(SIGKILL);
        REQUIRE(d->wait(5s).value_or(0) == 128 + SIGKILL);
    }
    REQUIRE(f.spool_files() == 1);  // the version S3 never confirmed, and no temporary file
    REQUIRE(spooled_contents(f) == std::multiset<std::string>{sha(lnd_simulator::content(1))});
    f.s3.control("POST", "/outage/end");
    f.lnd.swap(lnd_simulator::content(2));
    auto restarted = f.start();
    const bool resumed = restarted->wait_for_stderr("left in the spool by an earlier run", 10s);
    INFO(restarted->stderr_text());
    REQUIRE(resumed);
    CHECK(f.wait_for_content(lnd_simulator::content(1)));
    CHECK(f.wait_for_content(lnd_simulator::content(2)));
    CHECK(eventually([&] { return f.spool_files() == 0; }));
}

TEST_CASE("SIGTERM stops an idle daemon: exit 0, nothing left in the spool", "[integration][daemon]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    d->signal(SIGTERM);
    auto code = d->wait(20s);  // a bound for a hung daemon, not a measurement
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK_THAT(d->stderr_text(), Catch::Contains("received SIGTERM: stopping") &&
                                     Catch::Contains("stopped; 0 version(s) wait in the spool"));
    CHECK(f.spooled_versions() == 0);
}

TEST_CASE("SIGTERM during a stalled upload: the grace period aborts it, exit 0, the version stays spooled",
          "[integration][daemon]") {
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    // Only the PUTs: the daemon's other requests (its look at the bucket at start) go through.
    f.s3.control("POST", "/faults", R"({"count":5,"kind":"stall","match":"/channel-"})");
    auto d = f.start({"run", "--shutdown-timeout", "1s", "--request-timeout", "60s"});
    // The PUT is on the wire and unanswered, and the 1 s delay has spooled its version.
    const bool stalled = eventually([&] { return put_pending(f, name_tail(v0)); }, 10s);
    INFO(f.s3.requests().dump(1));
    REQUIRE(stalled);
    REQUIRE(eventually([&] { return spooled_contents(f).count(sha(v0)) == 1; }, 10s));
    d->signal(SIGTERM);
    // Only the grace period can end the stalled request before the 60 s request timeout.
    auto code = d->wait(30s);
    INFO(d->stderr_text());
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK_THAT(d->stderr_text(), Catch::Contains("received SIGTERM: stopping") &&
                                     Catch::Contains("grace period over: aborting the upload of " + f.prefix) &&
                                     Catch::Contains("stopped; 1 version(s) wait in the spool"));
    CHECK(spooled_contents(f) == std::multiset<std::string>{sha(v0)});
    CHECK(f.count_with_sha(v0) == 0);
    f.s3.control("POST", "/outage/start");  // end the stalled request on the server side
}

TEST_CASE("SIGTERM: a version written while the upload in flight finishes gets the rest of the grace period",
          "[integration][daemon]") {
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    const auto v1 = lnd_simulator::content(1);
    const auto shutdown_version = lnd_simulator::content(2);
    f.lnd.swap(v0);
    auto d = f.start({"run", "--shutdown-timeout", "20s"});
    REQUIRE(f.wait_for_content(v0));
    // v1's PUT takes 2 s; meanwhile lnd writes its shutdown version, then the stop signal comes (as
    // systemd sends it once lnd, ordered after scb-backup, has exited).
    f.s3.control("POST", "/faults", R"({"count":1,"kind":"slow","ms":2000,"match":"/channel-"})");
    f.lnd.swap(v1);
    REQUIRE(eventually([&] { return put_pending(f, name_tail(v1)); }, 10s));
    f.lnd.swap(shutdown_version);
    REQUIRE(d->wait_for_stderr("sha256 " + scb::naming::short_sha256(sha(shutdown_version)), 10s));
    d->signal(SIGTERM);
    auto code = d->wait(30s);  // a bound for a hung daemon, not a measurement
    INFO(d->stderr_text());
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(f.count_with_sha(v1) == 1);
    CHECK(f.count_with_sha(shutdown_version) == 1);
    CHECK(f.spooled_versions() == 0);
    CHECK_THAT(d->stderr_text(), Catch::Contains("stopped; 0 version(s) wait in the spool"));
}

TEST_CASE("SIGTERM: a version whose event is still unread at the stop is uploaded before the exit",
          "[integration][daemon]") {
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    const auto shutdown_version = lnd_simulator::content(5);
    f.lnd.swap(v0);
    auto d = f.start();
    REQUIRE(f.wait_for_content(v0));
    // Stopped, the daemon cannot read the rename's event before the signal is pending too; on
    // SIGCONT both are ready at once and the signal may be handled first.
    d->signal(SIGSTOP);
    f.lnd.swap(shutdown_version);
    d->signal(SIGTERM);
    d->signal(SIGCONT);
    auto code = d->wait(30s);
    INFO(d->stderr_text());
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(f.count_with_sha(shutdown_version) == 1);
    CHECK(f.spooled_versions() == 0);
}

TEST_CASE("once uploads the current file and exits 0", "[integration][daemon]") {
    daemon_fixture f;
    const auto v = lnd_simulator::content(3);
    f.lnd.swap(v);
    auto r = f.run_once();
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(f.count_with_sha(v) == 1);
    CHECK(f.spool_files() == 0);
}

TEST_CASE("once --if-changed uploads only when S3's newest backup lacks the file's content (cron)",
          "[integration][daemon]") {
    daemon_fixture f;
    const auto v = lnd_simulator::content(3);
    f.lnd.swap(v);
    auto first = f.run_once({"once", "--if-changed"});  // nothing in S3 yet
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    CHECK(f.count_with_sha(v) == 1);

    auto again = f.run_once({"once", "--if-changed"});  // the same content: no new object
    INFO(again.err);
    CHECK(again.exit_code == 0);
    CHECK(f.count_with_sha(v) == 1);
    CHECK_THAT(again.err, Catch::Contains("nothing uploaded"));

    // The same bytes swapped in again: still nothing.
    f.lnd.swap(v);
    CHECK(f.run_once({"once", "--if-changed"}).exit_code == 0);
    CHECK(f.count_with_sha(v) == 1);

    const auto v2 = lnd_simulator::content(4);
    f.lnd.swap(v2);
    auto changed = f.run_once({"once", "--if-changed"});
    INFO(changed.err);
    CHECK(changed.exit_code == 0);
    CHECK(f.count_with_sha(v2) == 1);

    CHECK(f.run_once({"list", "--if-changed"}).exit_code == 64);  // only once takes it
}

TEST_CASE("once reports each failure with its own exit code", "[integration][daemon]") {
    daemon_fixture f;
    auto missing = f.run_once();
    CHECK(missing.exit_code == 66);
    CHECK_THAT(missing.err, Catch::Contains("does not exist"));

    write_plain(f.lnd.file(), "too short");
    auto small = f.run_once();
    CHECK(small.exit_code == 65);
    CHECK_THAT(small.err, Catch::Contains("45 bytes"));

    f.lnd.swap(lnd_simulator::content(1));
    auto denied = f.run_once({"once"}, {"AWS_SECRET_ACCESS_KEY=not-the-secret-9f8e7d"});
    CHECK(denied.exit_code == 77);
    CHECK_THAT(denied.err, Catch::Contains("SignatureDoesNotMatch") && !Catch::Contains("not-the-secret-9f8e7d"));

    auto no_bucket = f.run_once({"once", "--bucket", "no-such-bucket"});
    CHECK(no_bucket.exit_code == 68);
    CHECK_THAT(no_bucket.err, Catch::Contains("NoSuchBucket"));

    f.s3.control("POST", "/outage/start");
    auto down = f.run_once({"once", "--retry-max", "100ms"});
    CHECK(down.exit_code == 69);
    CHECK_THAT(down.err, Catch::Contains("cannot connect"));
}

TEST_CASE("Each bad setting exits 64 with one line naming the variable and the flag", "[integration][daemon]") {
    daemon_fixture f;
    struct bad {
        std::vector<std::string> args;
        std::vector<std::string> env;
        std::string expect;
    };
    const std::vector<bad> cases = {
        {{"--bucket", "Not_A_Bucket"}, {}, "S3_BUCKET_NAME / --bucket"},
        {{"--endpoint", "127.0.0.1:9000"}, {}, "AWS_ENDPOINT_URL_S3 / --endpoint"},
        {{"--reconcile-interval", "often"}, {}, "SCB_RECONCILE_INTERVAL / --reconcile-interval"},
        {{"--log-level", "chatty"}, {}, "SCB_LOG_LEVEL / --log-level"},
        {{"--no-such-option"}, {}, "no-such-option"},
        {{"--env-file", "/nonexistent/scb.env"}, {}, "--env-file"},
        {{}, {"S3_BUCKET_NAME="}, "S3_BUCKET_NAME (or --bucket)"},
        {{}, {"AWS_SECRET_ACCESS_KEY="}, "AWS_SECRET_ACCESS_KEY is not set"},
        {{"--spool-dir", "/proc/scb-cannot-create"}, {}, "--spool-dir"},
    };
    for (const auto& c : cases) {
        std::vector<std::string> args{"run"};
        args.insert(args.end(), c.args.begin(), c.args.end());
        auto r = f.run_once(args, c.env);
        CAPTURE(c.expect, r.err);
        CHECK(r.exit_code == 64);
        CHECK_THAT(r.err, Catch::Contains(c.expect));
        CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    }
    auto help = f.run_once({"--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains("MONITOR_FILE_PATH") && Catch::Contains("--spool-dir"));
    auto version = f.run_once({"--version"});
    CHECK(version.exit_code == 0);
    CHECK_THAT(version.out, Catch::StartsWith("scb-backup "));
}

TEST_CASE("The secret key never appears in the output", "[integration][daemon]") {
    daemon_fixture f;
    const std::string token = "TOKEN-abc-123-secret";
    f.lnd.swap(lnd_simulator::content(0));
    // The daemon with a session token, at debug level, with the metrics endpoint.
    auto d = f.start({"run", "--log-level", "debug", "--listen", "127.0.0.1:0"}, {"AWS_SESSION_TOKEN=" + token});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    d->signal(SIGTERM);
    d->wait(5s);
    CHECK_THAT(d->stderr_text(), !Catch::Contains(token));
    // S3RVER is both the key id and the secret of the local server, so every other command runs
    // with a distinctive wrong secret: whatever it prints, the secret must not be in it.
    const std::string secret = "distinctive-secret-0xC0FFEE";
    const std::vector<std::vector<std::string>> commands = {
        {"once", "--log-level", "debug"}, {"--help"}, {"list"}, {"verify"},
        {"restore", "--output", f.dir.path() + "/restored.backup"}, {"run", "--bucket", "Bad_Bucket"}};
    for (const auto& args : commands) {
        auto r = f.run_once(args, {"AWS_SECRET_ACCESS_KEY=" + secret, "AWS_SESSION_TOKEN=" + token});
        CAPTURE(args[0], r.exit_code);
        CHECK_THAT(r.err + r.out, !Catch::Contains(secret) && !Catch::Contains(token));
    }
}

TEST_CASE("The daemon works over HTTPS with the CA bundle", "[integration][daemon][tls]") {
    daemon_fixture f(true);
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start({"run"}, {}, true);
    CHECK(f.wait_for_content(lnd_simulator::content(0)));
}
