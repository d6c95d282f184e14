// The health state: the Prometheus text it renders, line for line, and when it turns unhealthy.
#include "health/metrics.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

using scb::health::file_condition;
using scb::health::state;
using scb::health::wall_clock;
using namespace std::chrono_literals;

namespace {

const wall_clock::time_point t0{std::chrono::seconds(1'700'000'000)};
const std::string sha_a = "0000000000000000000000000000000000000000000000000000000000aaaaaa";
const std::string sha_b = "0000000000000000000000000000000000000000000000000000000000bbbbbb";

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream is(text);
    for (std::string line; std::getline(is, line);) out.push_back(line);
    return out;
}

bool has_line(const std::string& text, const std::string& line) {
    for (const auto& l : lines(text))
        if (l == line) return true;
    return false;
}

}  // namespace

TEST_CASE("a fresh state renders every metric with its HELP and TYPE", "[unit][health]") {
    state s;
    const std::string expected =
        "# HELP scb_backup_build_info Always 1; the version label is the scb-backup release.\n"
        "# TYPE scb_backup_build_info gauge\n"
        "scb_backup_build_info{version=\"" SCB_VERSION "\"} 1\n"
        "# HELP scb_backup_versions_seen_total New versions of channel.backup read from disk.\n"
        "# TYPE scb_backup_versions_seen_total counter\n"
        "scb_backup_versions_seen_total 0\n"
        "# HELP scb_backup_uploads_succeeded_total Uploads confirmed by S3.\n"
        "# TYPE scb_backup_uploads_succeeded_total counter\n"
        "scb_backup_uploads_succeeded_total 0\n"
        "# HELP scb_backup_uploads_failed_total Failed upload attempts, by error class.\n"
        "# TYPE scb_backup_uploads_failed_total counter\n"
        "# HELP scb_backup_uploaded_bytes_total Bytes of uploads confirmed by S3.\n"
        "# TYPE scb_backup_uploaded_bytes_total counter\n"
        "scb_backup_uploaded_bytes_total 0\n"
        "# HELP scb_backup_upload_duration_seconds Duration of uploads confirmed by S3.\n"
        "# TYPE scb_backup_upload_duration_seconds histogram\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"0.005\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"0.01\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"0.025\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"0.05\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"0.1\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"0.25\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"0.5\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"1\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"2.5\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"5\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"10\"} 0\n"
        "scb_backup_upload_duration_seconds_bucket{le=\"+Inf\"} 0\n"
        "scb_backup_upload_duration_seconds_sum 0\n"
        "scb_backup_upload_duration_seconds_count 0\n"
        "# HELP scb_backup_pending_spool_files Versions in the local spool not yet confirmed by S3.\n"
        "# TYPE scb_backup_pending_spool_files gauge\n"
        "scb_backup_pending_spool_files 0\n"
        "# HELP scb_backup_last_success_timestamp_seconds Unix time of the last upload confirmed by S3 (0 before the first).\n"
        "# TYPE scb_backup_last_success_timestamp_seconds gauge\n"
        "scb_backup_last_success_timestamp_seconds 0\n"
        "# HELP scb_backup_oldest_unbacked_change_age_seconds Seconds since the oldest change of the file that S3 does not have yet (0 when S3 has its newest state).\n"
        "# TYPE scb_backup_oldest_unbacked_change_age_seconds gauge\n"
        "scb_backup_oldest_unbacked_change_age_seconds 0\n"
        "# HELP scb_backup_upload_failing 1 while the last upload attempt failed, else 0.\n"
        "# TYPE scb_backup_upload_failing gauge\n"
        "scb_backup_upload_failing 0\n"
        "# HELP scb_backup_file_state 1 for the watched file's current state, 0 for the others.\n"
        "# TYPE scb_backup_file_state gauge\n"
        "scb_backup_file_state{reason=\"ok\"} 1\n"
        "scb_backup_file_state{reason=\"missing\"} 0\n"
        "scb_backup_file_state{reason=\"unreadable\"} 0\n"
        "scb_backup_file_state{reason=\"refused\"} 0\n"
        "# HELP scb_backup_spool_ok 1 while the spool folder works, 0 while it is broken.\n"
        "# TYPE scb_backup_spool_ok gauge\n"
        "scb_backup_spool_ok 1\n";
    CHECK(s.render_prometheus(t0) == expected);
    CHECK(s.health(t0, 600s) == std::pair<bool, std::string>{true, "ok"});
}

TEST_CASE("counters, labels and a cumulative histogram", "[unit][health]") {
    state s;
    s.version_seen(sha_a, t0);
    s.upload_failed("timeout", "PUT channel-a.backup: timeout after 60000 ms");
    s.upload_failed("access_denied", "PUT channel-a.backup: 403 AccessDenied");
    s.upload_failed("timeout", "PUT channel-a.backup: timeout after 60000 ms");
    s.upload_succeeded(sha_a, 1000, 0.004s, t0 + 5s);   // le 0.005
    s.version_seen(sha_b, t0 + 10s);
    s.upload_succeeded(sha_b, 2000, 0.3s, t0 + 12s);    // le 0.5
    s.upload_succeeded(sha_b, 500, 0.5s, t0 + 13s);     // exactly on a bound: le 0.5
    s.upload_succeeded(sha_b, 500, 42s, t0 + 60s);      // only +Inf
    s.set_pending_spool_files(3);

    const auto text = s.render_prometheus(t0 + 61s);
    CAPTURE(text);
    CHECK(has_line(text, "scb_backup_versions_seen_total 2"));
    CHECK(has_line(text, "scb_backup_uploads_succeeded_total 4"));
    CHECK(has_line(text, "scb_backup_uploads_failed_total{code=\"access_denied\"} 1"));
    CHECK(has_line(text, "scb_backup_uploads_failed_total{code=\"timeout\"} 2"));
    CHECK(has_line(text, "scb_backup_uploaded_bytes_total 4000"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{le=\"0.005\"} 1"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{le=\"0.25\"} 1"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{le=\"0.5\"} 3"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{le=\"10\"} 3"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{le=\"+Inf\"} 4"));
    for (const auto& l : lines(text))
        if (l.rfind("scb_backup_upload_duration_seconds_sum ", 0) == 0)
            CHECK(std::stod(l.substr(l.rfind(' ') + 1)) == Approx(42.804));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_count 4"));
    CHECK(has_line(text, "scb_backup_pending_spool_files 3"));
    CHECK(has_line(text, "scb_backup_last_success_timestamp_seconds 1700000060"));
    CHECK(has_line(text, "scb_backup_oldest_unbacked_change_age_seconds 0"));
    CHECK(has_line(text, "scb_backup_upload_failing 0"));

    // Buckets never decrease, and every sample line belongs to a declared family.
    std::uint64_t previous = 0;
    for (const auto& l : lines(text)) {
        if (l.rfind("scb_backup_upload_duration_seconds_bucket", 0) == 0) {
            auto n = std::stoull(l.substr(l.rfind(' ') + 1));
            CHECK(n >= previous);
            previous = n;
        }
        if (l.empty() || l[0] == '#') continue;
        CHECK(l.rfind("scb_backup_", 0) == 0);
    }
}

TEST_CASE("label values are escaped", "[unit][health]") {
    state s;
    s.upload_failed("we\"ird\\code\n", "x");
    CHECK(has_line(s.render_prometheus(t0), "scb_backup_uploads_failed_total{code=\"we\\\"ird\\\\code\\n\"} 1"));
}

TEST_CASE("health: the age of the oldest change not in S3 decides, whatever the reason", "[unit][health]") {
    state s;
    using result = std::pair<bool, std::string>;
    const auto age = [&](wall_clock::time_point now) { return s.render_prometheus(now); };

    // Nothing seen yet (lnd has not written the file): nothing is missing.
    CHECK(s.health(t0, 600s) == result{true, "ok"});

    // A new version waits; it is fine until stale_after has passed.
    s.version_seen(sha_a, t0);
    CHECK(s.health(t0 + 600s, 600s) == result{true, "ok"});
    CHECK(has_line(age(t0 + 90s), "scb_backup_oldest_unbacked_change_age_seconds 90"));
    CHECK(s.health(t0 + 601s, 600s) ==
          result{false, "newest version (sha256 ...aaaaaa) not in S3 after 601 s (stale after 600 s)"});

    // The upload succeeds: healthy again, age 0.
    s.upload_succeeded(sha_a, 100, 0.2s, t0 + 700s);
    CHECK(s.health(t0 + 3600s, 600s) == result{true, "ok"});
    CHECK(has_line(age(t0 + 3600s), "scb_backup_oldest_unbacked_change_age_seconds 0"));

    // A newer version; a leftover of an older one is confirmed meanwhile: the newest still waits.
    s.version_seen(sha_b, t0 + 4000s);
    s.upload_succeeded(sha_a, 100, 0.2s, t0 + 4001s);
    CHECK(has_line(age(t0 + 4010s), "scb_backup_oldest_unbacked_change_age_seconds 10"));
    CHECK_FALSE(s.health(t0 + 4601s, 600s).first);
    s.upload_succeeded(sha_b, 100, 0.2s, t0 + 4700s);
    CHECK(s.health(t0 + 4701s, 600s) == result{true, "ok"});

    // The same content seen again (A, B, A) waits for its own upload.
    s.version_seen(sha_a, t0 + 5000s);
    CHECK(has_line(age(t0 + 5005s), "scb_backup_oldest_unbacked_change_age_seconds 5"));

    // A clock stepped back never gives a negative age.
    CHECK(has_line(age(t0), "scb_backup_oldest_unbacked_change_age_seconds 0"));
}

TEST_CASE("health: versions seen one after the other keep the age of the oldest one not in S3", "[unit][health]") {
    state s;
    s.version_seen(sha_a, t0);
    s.version_seen(sha_b, t0 + 500s);  // A never reached S3: S3 is behind since t0, not since t0 + 500 s
    CHECK(has_line(s.render_prometheus(t0 + 550s), "scb_backup_oldest_unbacked_change_age_seconds 550"));
    CHECK(s.health(t0 + 601s, 600s) ==
          std::pair<bool, std::string>{false, "newest version (sha256 ...bbbbbb) not in S3 after 601 s (stale after 600 s)"});
    s.upload_succeeded(sha_b, 100, 0.2s, t0 + 602s);
    CHECK(s.health(t0 + 602s, 600s) == std::pair<bool, std::string>{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 602s), "scb_backup_oldest_unbacked_change_age_seconds 0"));
}

TEST_CASE("health: a failing upload is unhealthy only once the version waited past stale_after", "[unit][health]") {
    state s;
    using result = std::pair<bool, std::string>;
    s.version_seen(sha_a, t0);
    s.upload_failed("server_error", "PUT channel-a.backup: 503 SlowDown");
    // One failed attempt is no alarm yet: retries may get it through within stale_after.
    CHECK(s.health(t0 + 1s, 600s) == result{true, "ok"});
    CHECK(s.health(t0 + 600s, 600s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 1s), "scb_backup_upload_failing 1"));
    CHECK(s.health(t0 + 601s, 600s) ==
          result{false, "upload failing: PUT channel-a.backup: 503 SlowDown (not in S3 for 601 s, stale after 600 s)"});

    // S3 takes it: healthy, and upload_failing back to 0.
    s.upload_succeeded(sha_a, 100, 0.2s, t0 + 650s);
    CHECK(s.health(t0 + 650s, 600s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 650s), "scb_backup_upload_failing 0"));

    // A failure while nothing waits (a leftover of an earlier run, say) never makes it unhealthy.
    s.upload_failed("timeout", "PUT channel-old.backup: timeout after 60000 ms");
    CHECK(s.health(t0 + 5000s, 600s) == result{true, "ok"});
}

TEST_CASE("health: an error line from outside is one printable line of bounded length", "[unit][health]") {
    state s;
    s.version_seen(sha_a, t0);
    s.upload_failed("server_error", "PUT x: 400 \x1b[31mred\nSecond line\r" + std::string(2000, 'z'));
    auto [ok, line] = s.health(t0 + 2s, 1s);
    CHECK_FALSE(ok);
    CAPTURE(line);
    CHECK(line.rfind("upload failing: PUT x: 400 \\x1b[31mred\\x0aSecond line\\x0d", 0) == 0);
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line.find('\r') == std::string::npos);
    CHECK(line.size() < 512 + 100);
}

TEST_CASE("health: a missing file is unhealthy once stale_after has passed, with the reason", "[unit][health]") {
    state s;
    using result = std::pair<bool, std::string>;
    // Missing from the start (a typo in MONITOR_FILE_PATH): nothing was ever seen, yet S3 has nothing.
    s.file_state(file_condition::missing, "/data/chain/channel.backup: No such file or directory", t0);
    CHECK(s.health(t0 + 60s, 60s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 30s), "scb_backup_oldest_unbacked_change_age_seconds 30"));
    CHECK(s.health(t0 + 61s, 60s) ==
          result{false, "channel.backup missing: /data/chain/channel.backup: No such file or directory "
                        "(not in S3 for 61 s, stale after 60 s)"});
    // Looked at again, still missing: the problem is as old as the first look.
    s.file_state(file_condition::missing, "/data/chain/channel.backup: No such file or directory", t0 + 50s);
    CHECK_FALSE(s.health(t0 + 61s, 60s).first);

    // lnd writes it: a version waits from then on, then S3 takes it.
    s.file_state(file_condition::ok, "", t0 + 100s);
    s.version_seen(sha_a, t0 + 100s);
    CHECK(s.health(t0 + 130s, 60s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 130s), "scb_backup_oldest_unbacked_change_age_seconds 30"));
    s.upload_succeeded(sha_a, 100, 0.1s, t0 + 131s);
    CHECK(s.health(t0 + 1000s, 60s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 1000s), "scb_backup_oldest_unbacked_change_age_seconds 0"));
}

TEST_CASE("health: a file that comes back with content S3 has is healthy at once", "[unit][health]") {
    state s;
    using result = std::pair<bool, std::string>;
    s.version_seen(sha_a, t0);
    s.upload_succeeded(sha_a, 100, 0.1s, t0 + 1s);
    s.file_state(file_condition::unreadable, "/lnd/channel.backup: Permission denied", t0 + 10s);
    CHECK(s.health(t0 + 71s, 60s) ==
          result{false, "channel.backup unreadable: /lnd/channel.backup: Permission denied "
                        "(not in S3 for 61 s, stale after 60 s)"});
    // Permissions fixed; the content is the one already confirmed (the daemon skips it): nothing waits.
    s.file_state(file_condition::ok, "", t0 + 80s);
    CHECK(s.health(t0 + 81s, 60s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 81s), "scb_backup_oldest_unbacked_change_age_seconds 0"));
}

TEST_CASE("health: a refused version counts from its first refusal, even after older uploads succeed",
          "[unit][health]") {
    state s;
    using result = std::pair<bool, std::string>;
    s.version_seen(sha_a, t0);
    s.file_state(file_condition::refused, "/lnd/channel.backup: 70000000 bytes, over --max-size 67108864", t0 + 5s);
    // A's upload succeeds meanwhile: the file's newest state (too large) is still not in S3.
    s.upload_succeeded(sha_a, 100, 0.1s, t0 + 6s);
    CHECK(s.health(t0 + 65s, 60s) == result{true, "ok"});
    CHECK(s.health(t0 + 66s, 60s) ==
          result{false, "channel.backup refused: /lnd/channel.backup: 70000000 bytes, over --max-size 67108864 "
                        "(not in S3 for 61 s, stale after 60 s)"});
    // From refused to missing: still the same outage, with the new reason.
    s.file_state(file_condition::missing, "/lnd/channel.backup: No such file or directory", t0 + 70s);
    CHECK(s.health(t0 + 71s, 60s) ==
          result{false, "channel.backup missing: /lnd/channel.backup: No such file or directory "
                        "(not in S3 for 66 s, stale after 60 s)"});
}

TEST_CASE("health: a file problem that began before a waiting version is the older change", "[unit][health]") {
    state s;
    s.version_seen(sha_a, t0 + 20s);  // e.g. read ahead, then the file is refused
    s.file_state(file_condition::refused, "not a regular file", t0);
    CHECK(has_line(s.render_prometheus(t0 + 30s), "scb_backup_oldest_unbacked_change_age_seconds 30"));
    s.file_state(file_condition::ok, "", t0 + 40s);  // the version seen at t0 + 20 s still waits
    CHECK(has_line(s.render_prometheus(t0 + 50s), "scb_backup_oldest_unbacked_change_age_seconds 30"));
}

TEST_CASE("health: the file's problem comes first, then a failing upload, then the spool", "[unit][health]") {
    state s;
    s.version_seen(sha_a, t0);
    s.upload_failed("server_error", "PUT x: 500 InternalError");
    s.spool_state(false, "/spool: No space left on device", t0);
    auto line = [&] { return s.health(t0 + 100s, 60s).second; };
    CHECK_THAT(line(), Catch::StartsWith("upload failing: PUT x: 500 InternalError (not in S3 for 100 s"));
    s.file_state(file_condition::unreadable, "/lnd/channel.backup: Permission denied", t0 + 1s);
    CHECK_THAT(line(), Catch::StartsWith("channel.backup unreadable: /lnd/channel.backup: Permission denied (not in S3 for 100 s"));
    s.file_state(file_condition::ok, "", t0 + 2s);
    s.upload_succeeded(sha_b, 100, 0.1s, t0 + 3s);  // an old leftover: ends "upload failing", not the wait
    CHECK(line() == "spool broken: /spool: No space left on device (not in S3 for 100 s, stale after 60 s)");
    s.spool_state(true, "", t0 + 4s);
    CHECK(line() == "newest version (sha256 ...aaaaaa) not in S3 after 100 s (stale after 60 s)");
}

TEST_CASE("health: a broken spool is unhealthy after stale_after even with everything in S3", "[unit][health]") {
    state s;
    using result = std::pair<bool, std::string>;
    s.version_seen(sha_a, t0);
    s.upload_succeeded(sha_a, 100, 0.1s, t0);
    s.spool_state(false, "/spool: Read-only file system", t0 + 10s);
    s.spool_state(false, "/spool: Read-only file system", t0 + 40s);  // still broken: since t0 + 10 s
    CHECK(has_line(s.render_prometheus(t0 + 20s), "scb_backup_spool_ok 0"));
    CHECK(s.health(t0 + 70s, 60s) == result{true, "ok"});
    CHECK(s.health(t0 + 71s, 60s) ==
          result{false, "spool broken: /spool: Read-only file system (for 61 s, stale after 60 s)"});
    s.spool_state(true, "", t0 + 80s);
    CHECK(s.health(t0 + 200s, 60s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 200s), "scb_backup_spool_ok 1"));
    // Broken again later: a new outage, counted from its own start.
    s.spool_state(false, "/spool: Permission denied", t0 + 300s);
    CHECK(s.health(t0 + 360s, 60s) == result{true, "ok"});
}

TEST_CASE("the file_state gauge has one series per reason, 1 for the current one", "[unit][health]") {
    state s;
    auto series = [&](const char* reason) {
        const auto text = s.render_prometheus(t0);
        for (const char* v : {"0", "1"})
            if (has_line(text, std::string("scb_backup_file_state{reason=\"") + reason + "\"} " + v)) return std::string(v);
        return std::string("absent");
    };
    auto current = [&] {
        std::string on;
        for (const char* r : {"ok", "missing", "unreadable", "refused"}) {
            const auto v = series(r);
            REQUIRE(v != "absent");
            if (v == "1") on += r;
        }
        return on;
    };
    CHECK(current() == "ok");
    s.file_state(file_condition::missing, "x", t0);
    CHECK(current() == "missing");
    s.file_state(file_condition::unreadable, "x", t0);
    CHECK(current() == "unreadable");
    s.file_state(file_condition::refused, "x", t0);
    CHECK(current() == "refused");
    s.file_state(file_condition::ok, "", t0);
    CHECK(current() == "ok");
    CHECK(scb::health::name(file_condition::refused) == "refused");
}

TEST_CASE("health: a file or spool detail from outside is one printable line of bounded length", "[unit][health]") {
    state s;
    s.file_state(file_condition::refused, "/lnd/\x1b]0;owned\x07name\n" + std::string(5000, 'n'), t0);
    auto [ok, line] = s.health(t0 + 2s, 1s);
    CHECK_FALSE(ok);
    CAPTURE(line);
    CHECK(line.rfind("channel.backup refused: /lnd/\\x1b]0;owned\\x07name\\x0a", 0) == 0);
    for (char c : line) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
    CHECK(line.size() < 512 + 100);

    state t;
    t.spool_state(false, "bad\r\nspool" + std::string(5000, 's'), t0);
    auto spool_line = t.health(t0 + 2s, 1s).second;
    CHECK(spool_line.rfind("spool broken: bad\\x0d\\x0aspool", 0) == 0);
    CHECK(spool_line.size() < 512 + 100);
}

// ---- Several destinations -------------------------------------------------------------------------

namespace {

using result = std::pair<bool, std::string>;

/// The value of the one sample line that starts with `series` followed by a space, or "absent".
std::string value_of(const std::string& text, const std::string& series) {
    for (const auto& l : lines(text))
        if (l.rfind(series + " ", 0) == 0) return l.substr(series.size() + 1);
    return "absent";
}

}  // namespace

TEST_CASE("destinations: one failing is unhealthy after stale_after, naming only it", "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2"});
    s.version_seen(sha_a, t0);
    s.upload_succeeded("s3", sha_a, 100, 0.2s, t0 + 1s);
    s.upload_failed("b2", "server_error", "PUT channel-a.backup: 503 SlowDown", t0 + 2s);
    s.upload_failed("b2", "server_error", "PUT channel-a.backup: 503 SlowDown again", t0 + 62s);

    CHECK_FALSE(s.all_current());
    CHECK(s.health(t0 + 600s, 600s) == result{true, "ok"});
    CHECK(s.health(t0 + 601s, 600s) ==
          result{false, "destination b2: upload failing: PUT channel-a.backup: 503 SlowDown again "
                        "(not in S3 for 601 s, stale after 600 s)"});
    // Failing since the first failure in a row (t0 + 2 s), rounded down to whole minutes.
    CHECK(s.status_line(t0 + 245s) == "1/2 destinations current; b2: server_error for 4m");

    const auto text = s.render_prometheus(t0 + 601s);
    CAPTURE(text);
    CHECK(value_of(text, "scb_backup_destination_current{destination=\"s3\"}") == "1");
    CHECK(value_of(text, "scb_backup_destination_current{destination=\"b2\"}") == "0");
    CHECK(value_of(text, "scb_backup_destination_behind_seconds{destination=\"s3\"}") == "0");
    CHECK(value_of(text, "scb_backup_destination_behind_seconds{destination=\"b2\"}") == "601");
    CHECK(value_of(text, "scb_backup_upload_failing{destination=\"s3\"}") == "0");
    CHECK(value_of(text, "scb_backup_upload_failing{destination=\"b2\"}") == "1");
    CHECK(value_of(text, "scb_backup_oldest_unbacked_change_age_seconds") == "601");

    // b2 takes it: everything current and healthy again.
    s.upload_succeeded("b2", sha_a, 100, 3s, t0 + 700s);
    CHECK(s.all_current());
    CHECK(s.health(t0 + 5000s, 600s) == result{true, "ok"});
    CHECK(s.status_line(t0 + 5000s) == "2/2 destinations current");
    CHECK(value_of(s.render_prometheus(t0 + 701s), "scb_backup_destination_current{destination=\"b2\"}") == "1");
}

TEST_CASE("destinations: several behind are joined, each with its own age and reason", "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2", "minio"});
    CHECK(s.all_current());  // nothing seen yet
    CHECK(s.status_line(t0) == "3/3 destinations current");
    s.version_seen(sha_a, t0);
    s.upload_failed("s3", "timeout", "PUT channel-a.backup: timeout after 60000 ms", t0 + 1s);
    s.upload_succeeded("minio", sha_a, 100, 0.1s, t0 + 2s);
    s.version_seen(sha_b, t0 + 100s);
    s.upload_succeeded("minio", sha_b, 100, 0.1s, t0 + 101s);

    CHECK(s.health(t0 + 601s, 600s) ==
          result{false, "destination s3: upload failing: PUT channel-a.backup: timeout after 60000 ms "
                        "(not in S3 for 601 s, stale after 600 s); "
                        "destination b2: newest version (sha256 ...bbbbbb) not in S3 after 601 s (stale after 600 s)"});
    CHECK(s.status_line(t0 + 3725s) == "1/3 destinations current; s3: timeout for 1h; b2: behind for 1h");
    CHECK(s.status_line(t0 + 45s) == "1/3 destinations current; s3: timeout for 44s; b2: behind for 45s");
    CHECK(s.status_line(t0 - 10s) == "1/3 destinations current; s3: timeout for 0s; b2: behind for 0s");
}

TEST_CASE("destinations: confirming an older sha does not make a destination current", "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2"});
    s.version_seen(sha_a, t0);
    s.version_seen(sha_b, t0 + 10s);
    s.upload_succeeded("s3", sha_b, 100, 0.1s, t0 + 11s);
    s.upload_succeeded("b2", sha_a, 100, 0.1s, t0 + 12s);  // a superseded version
    CHECK_FALSE(s.all_current());
    CHECK(s.status_line(t0 + 70s) == "1/2 destinations current; b2: behind for 1m");
    const auto text = s.render_prometheus(t0 + 70s);
    CHECK(value_of(text, "scb_backup_destination_current{destination=\"b2\"}") == "0");
    CHECK(value_of(text, "scb_backup_destination_behind_seconds{destination=\"b2\"}") == "70");
    CHECK(s.health(t0 + 61s, 60s) ==
          result{false, "destination b2: newest version (sha256 ...bbbbbb) not in S3 after 61 s (stale after 60 s)"});
}

TEST_CASE("destinations: version_seen keeps the older behind-since of a destination already behind",
          "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2"});
    s.version_seen(sha_a, t0);
    s.upload_succeeded("s3", sha_a, 100, 0.1s, t0 + 10s);
    s.version_seen(sha_b, t0 + 100s);  // s3 behind from now on; b2 still since t0
    const auto text = s.render_prometheus(t0 + 150s);
    CAPTURE(text);
    CHECK(value_of(text, "scb_backup_destination_behind_seconds{destination=\"s3\"}") == "50");
    CHECK(value_of(text, "scb_backup_destination_behind_seconds{destination=\"b2\"}") == "150");
    CHECK(value_of(text, "scb_backup_oldest_unbacked_change_age_seconds") == "150");
    CHECK(s.health(t0 + 120s, 100s) ==
          result{false, "destination b2: newest version (sha256 ...bbbbbb) not in S3 after 120 s (stale after 100 s)"});
}

TEST_CASE("destinations: the newest version seen again leaves a destination that has it current",
          "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2"});
    s.version_seen(sha_a, t0);
    s.upload_succeeded("s3", sha_a, 100, 0.1s, t0 + 1s);
    s.version_seen(sha_a, t0 + 50s);
    CHECK(s.status_line(t0 + 60s) == "1/2 destinations current; b2: behind for 1m");
    // A, B, A: the first A confirmed is no longer the newest state; A waits for its own upload.
    s.version_seen(sha_b, t0 + 100s);
    s.upload_succeeded("s3", sha_b, 100, 0.1s, t0 + 101s);
    s.version_seen(sha_a, t0 + 200s);
    CHECK(value_of(s.render_prometheus(t0 + 205s), "scb_backup_destination_behind_seconds{destination=\"s3\"}") == "5");
}

TEST_CASE("destinations: per-destination metrics carry the label, global ones do not", "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2"});
    s.version_seen(sha_a, t0);
    s.upload_succeeded("s3", sha_a, 1000, 0.3s, t0 + 5s);
    s.upload_failed("b2", "timeout", "x", t0 + 6s);
    s.upload_failed("b2", "access_denied", "y", t0 + 7s);
    s.set_pending_spool_files(2);
    const auto text = s.render_prometheus(t0 + 10s);
    CAPTURE(text);
    CHECK(has_line(text, "scb_backup_versions_seen_total 1"));
    CHECK(has_line(text, "scb_backup_uploads_succeeded_total{destination=\"s3\"} 1"));
    CHECK(has_line(text, "scb_backup_uploads_succeeded_total{destination=\"b2\"} 0"));
    CHECK(has_line(text, "scb_backup_uploads_failed_total{destination=\"b2\",code=\"access_denied\"} 1"));
    CHECK(has_line(text, "scb_backup_uploads_failed_total{destination=\"b2\",code=\"timeout\"} 1"));
    CHECK(has_line(text, "scb_backup_uploaded_bytes_total{destination=\"s3\"} 1000"));
    CHECK(has_line(text, "scb_backup_uploaded_bytes_total{destination=\"b2\"} 0"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{destination=\"s3\",le=\"0.25\"} 0"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{destination=\"s3\",le=\"0.5\"} 1"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{destination=\"s3\",le=\"+Inf\"} 1"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_bucket{destination=\"b2\",le=\"+Inf\"} 0"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_count{destination=\"s3\"} 1"));
    CHECK(has_line(text, "scb_backup_upload_duration_seconds_sum{destination=\"b2\"} 0"));
    CHECK(has_line(text, "scb_backup_last_success_timestamp_seconds{destination=\"s3\"} 1700000005"));
    CHECK(has_line(text, "scb_backup_last_success_timestamp_seconds{destination=\"b2\"} 0"));
    CHECK(has_line(text, "scb_backup_pending_spool_files 2"));
    CHECK(has_line(text, "scb_backup_oldest_unbacked_change_age_seconds 10"));
    CHECK(has_line(text, "scb_backup_file_state{reason=\"ok\"} 1"));
    CHECK(has_line(text, "scb_backup_spool_ok 1"));

    // Each family declared once, before its samples; every per-destination sample is labelled.
    std::vector<std::string> declared;
    for (const auto& l : lines(text)) {
        if (l.rfind("# TYPE scb_backup_", 0) == 0) {
            const auto family = l.substr(7, l.find(' ', 7) - 7);
            CHECK(std::find(declared.begin(), declared.end(), family) == declared.end());
            declared.push_back(family);
            continue;
        }
        if (l.empty() || l[0] == '#') continue;
        REQUIRE_FALSE(declared.empty());
        CHECK(l.rfind(declared.back(), 0) == 0);
        const bool global = declared.back() == "scb_backup_build_info" || declared.back() == "scb_backup_versions_seen_total" ||
                            declared.back() == "scb_backup_pending_spool_files" ||
                            declared.back() == "scb_backup_oldest_unbacked_change_age_seconds" ||
                            declared.back() == "scb_backup_file_state" || declared.back() == "scb_backup_spool_ok";
        CAPTURE(l);
        CHECK((l.find("destination=\"") != std::string::npos) == !global);
    }
}

TEST_CASE("destinations: a destination name is escaped in labels and printable in lines", "[unit][health][destinations]") {
    state s;
    s.set_destinations({"we\"ird\\dest\n", "ok"});
    s.version_seen(sha_a, t0);
    s.upload_failed("we\"ird\\dest\n", "timeout", "x", t0);
    s.upload_succeeded("ok", sha_a, 1, 0.1s, t0);
    const auto text = s.render_prometheus(t0);
    CAPTURE(text);
    CHECK(has_line(text, "scb_backup_uploads_failed_total{destination=\"we\\\"ird\\\\dest\\n\",code=\"timeout\"} 1"));
    CHECK(has_line(text, "scb_backup_destination_current{destination=\"we\\\"ird\\\\dest\\n\"} 0"));
    CHECK(s.status_line(t0) == "1/2 destinations current; we\"ird\\dest\\x0a: timeout for 0s");
    CHECK(s.health(t0 + 2s, 1s).second == "destination we\"ird\\dest\\x0a: upload failing: x (not in S3 for 2 s, stale after 1 s)");
}

TEST_CASE("destinations: a file problem concerns them all: one line", "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2"});
    s.version_seen(sha_a, t0);
    s.upload_succeeded("s3", sha_a, 100, 0.1s, t0 + 1s);
    s.upload_succeeded("b2", sha_a, 100, 0.1s, t0 + 1s);
    s.file_state(file_condition::missing, "/lnd/channel.backup: No such file or directory", t0 + 10s);
    CHECK(s.all_current());  // they have every version seen; the file is a global matter
    CHECK(s.health(t0 + 71s, 60s) ==
          result{false, "channel.backup missing: /lnd/channel.backup: No such file or directory "
                        "(not in S3 for 61 s, stale after 60 s)"});
    CHECK(value_of(s.render_prometheus(t0 + 71s), "scb_backup_oldest_unbacked_change_age_seconds") == "61");
}

TEST_CASE("destinations: a name not set is ignored, a name given twice counts once", "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2", "s3"});
    s.version_seen(sha_a, t0);
    s.upload_succeeded("nope", sha_a, 100, 0.1s, t0);
    s.upload_failed("nope", "timeout", "x", t0);
    CHECK(s.status_line(t0 + 1s) == "0/2 destinations current; s3: behind for 1s; b2: behind for 1s");
    const auto text = s.render_prometheus(t0);
    CHECK(text.find("nope") == std::string::npos);
    CHECK(has_line(text, "scb_backup_uploads_succeeded_total{destination=\"s3\"} 0"));
}

TEST_CASE("destinations: the overloads without a destination mean the first one", "[unit][health][destinations]") {
    state s;
    s.set_destinations({"s3", "b2"});
    s.version_seen(sha_a, t0);
    s.upload_succeeded(sha_a, 100, 0.1s, t0 + 1s);
    s.upload_failed("timeout", "PUT x: timeout");
    const auto text = s.render_prometheus(t0 + 2s);
    CHECK(has_line(text, "scb_backup_uploads_succeeded_total{destination=\"s3\"} 1"));
    CHECK(has_line(text, "scb_backup_uploads_failed_total{destination=\"s3\",code=\"timeout\"} 1"));
    CHECK(has_line(text, "scb_backup_destination_current{destination=\"s3\"} 1"));
    // No time of the failure known: the status line has only "behind" times to give, and s3 is current.
    CHECK(s.status_line(t0 + 120s) == "1/2 destinations current; b2: behind for 2m");
}

TEST_CASE("destinations: one destination renders and words everything as before", "[unit][health][destinations]") {
    // The same story told to the default state, and to one unnamed destination set explicitly.
    const auto story = [](state& s, bool by_name) {
        s.version_seen(sha_a, t0);
        if (by_name) s.upload_failed("", "server_error", "PUT channel-a.backup: 503 SlowDown", t0 + 1s);
        else s.upload_failed("server_error", "PUT channel-a.backup: 503 SlowDown");
        if (by_name) s.upload_succeeded("", sha_a, 1000, 0.3s, t0 + 5s);
        else s.upload_succeeded(sha_a, 1000, 0.3s, t0 + 5s);
        s.version_seen(sha_b, t0 + 10s);
        if (by_name) s.upload_failed("", "timeout", "PUT channel-b.backup: timeout", t0 + 11s);
        else s.upload_failed("timeout", "PUT channel-b.backup: timeout");
        s.set_pending_spool_files(1);
    };
    state before;
    story(before, false);
    for (const std::vector<std::string>& names : {std::vector<std::string>{}, std::vector<std::string>{""}}) {
        state now;
        now.set_destinations(names);
        story(now, true);
        CHECK(now.render_prometheus(t0 + 700s) == before.render_prometheus(t0 + 700s));
        CHECK(now.health(t0 + 700s, 600s) == before.health(t0 + 700s, 600s));
        CHECK(now.status_line(t0 + 700s).empty());
        CHECK_FALSE(now.all_current());
    }
    CHECK(before.health(t0 + 700s, 600s) ==
          result{false, "upload failing: PUT channel-b.backup: timeout (not in S3 for 690 s, stale after 600 s)"});
    const auto text = before.render_prometheus(t0 + 700s);
    CHECK(text.find("destination") == std::string::npos);
    CHECK(has_line(text, "scb_backup_uploads_failed_total{code=\"timeout\"} 1"));

    // One named destination: the same lines, with the label; no STATUS= wording of its own.
    state named;
    named.set_destinations({"s3"});
    story(named, false);
    CHECK(named.health(t0 + 700s, 600s) == before.health(t0 + 700s, 600s));
    CHECK(named.status_line(t0 + 700s).empty());
    CHECK(has_line(named.render_prometheus(t0 + 700s), "scb_backup_uploads_failed_total{destination=\"s3\",code=\"timeout\"} 1"));
    CHECK(has_line(named.render_prometheus(t0 + 700s), "scb_backup_destination_current{destination=\"s3\"} 0"));
}
