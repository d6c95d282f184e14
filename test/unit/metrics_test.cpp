// The health state: the Prometheus text it renders, line for line, and when it turns unhealthy.
#include "health/metrics.hpp"

#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

using scb::health::state;
using scb::health::wall_clock;
using namespace std::chrono_literals;

namespace {

const wall_clock::time_point t0{std::chrono::seconds(1'700'000'000)};
const std::string sha_a = "aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000";
const std::string sha_b = "bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000";

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
        "# HELP scb_backup_unbacked_version_age_seconds Seconds the newest version has waited for S3 (0 when it is in S3).\n"
        "# TYPE scb_backup_unbacked_version_age_seconds gauge\n"
        "scb_backup_unbacked_version_age_seconds 0\n"
        "# HELP scb_backup_upload_failing 1 while the last upload attempt failed, else 0.\n"
        "# TYPE scb_backup_upload_failing gauge\n"
        "scb_backup_upload_failing 0\n";
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
    CHECK(has_line(text, "scb_backup_unbacked_version_age_seconds 0"));
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

TEST_CASE("health: newest version in S3, failing uploads, stale versions", "[unit][health]") {
    state s;
    using result = std::pair<bool, std::string>;

    // Nothing seen yet (lnd has not written the file): nothing is missing.
    CHECK(s.health(t0, 600s) == result{true, "ok"});

    // A new version waits; it is fine until stale_after has passed.
    s.version_seen(sha_a, t0);
    CHECK(s.health(t0 + 600s, 600s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 90s), "scb_backup_unbacked_version_age_seconds 90"));
    CHECK(s.health(t0 + 601s, 600s) ==
          result{false, "newest version (sha256 aaaaaaaaaaaa) not in S3 after 601 s (stale after 600 s)"});

    // A failed attempt is unhealthy at once, with the error line.
    s.upload_failed("server_error", "PUT channel-a.backup: 503 SlowDown");
    CHECK(s.health(t0 + 1s, 600s) == result{false, "upload failing: PUT channel-a.backup: 503 SlowDown"});
    CHECK(has_line(s.render_prometheus(t0 + 1s), "scb_backup_upload_failing 1"));

    // The upload succeeds: healthy again, age 0.
    s.upload_succeeded(sha_a, 100, 0.2s, t0 + 2s);
    CHECK(s.health(t0 + 3600s, 600s) == result{true, "ok"});
    CHECK(has_line(s.render_prometheus(t0 + 3600s), "scb_backup_unbacked_version_age_seconds 0"));

    // A newer version; a leftover of an older one is confirmed meanwhile: the newest still waits.
    s.version_seen(sha_b, t0 + 4000s);
    s.upload_succeeded(sha_a, 100, 0.2s, t0 + 4001s);
    CHECK(has_line(s.render_prometheus(t0 + 4010s), "scb_backup_unbacked_version_age_seconds 10"));
    CHECK_FALSE(s.health(t0 + 4601s, 600s).first);
    s.upload_succeeded(sha_b, 100, 0.2s, t0 + 4700s);
    CHECK(s.health(t0 + 4701s, 600s) == result{true, "ok"});

    // The same content seen again (A, B, A) waits for its own upload.
    s.version_seen(sha_a, t0 + 5000s);
    CHECK(has_line(s.render_prometheus(t0 + 5005s), "scb_backup_unbacked_version_age_seconds 5"));

    // A clock stepped back never gives a negative age.
    CHECK(has_line(s.render_prometheus(t0), "scb_backup_unbacked_version_age_seconds 0"));
}
