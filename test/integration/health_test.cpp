// /healthz and `scb-backup healthcheck` on the real binary: unhealthy once the file's newest state has
// not reached S3 for longer than --stale-after, whatever the reason (missing, refused, S3 failing),
// with the reason in the body; healthy again once S3 has it.
#include "daemon_fixture.hpp"
#include "direct_put.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace scb::test;
using namespace std::chrono_literals;

namespace {

/// Starts the daemon with its health endpoint on a port the kernel picks, and reads that port from
/// its "health endpoint listening on http://127.0.0.1:PORT" line (no free-port race).
struct health_daemon {
    std::unique_ptr<child_process> proc;
    int port = 0;

    health_daemon(const daemon_fixture& f, std::vector<std::string> extra_env) {
        extra_env.push_back("SCB_LISTEN=127.0.0.1:0");
        extra_env.push_back("SCB_STALE_AFTER=1s");
        proc = f.start({"run"}, extra_env);
        const std::string marker = "health endpoint listening on http://127.0.0.1:";
        REQUIRE(proc->wait_for_stderr(marker, 10s));
        const auto log = proc->stderr_text();
        port = std::atoi(log.c_str() + log.find(marker) + marker.size());
        REQUIRE(port > 0);
    }

    http_answer get(const std::string& target) const { return http_call(port, "GET", target); }

    /// Polls /healthz until it answers `status` with `needle` in the body; the last answer is kept.
    bool health_becomes(int status, const std::string& needle, http_answer* last,
                        std::chrono::milliseconds timeout = 20s) const {
        return eventually(
            [&] {
                *last = get("/healthz");
                return last->status == status && last->body.find(needle) != std::string::npos;
            },
            timeout);
    }

    /// `scb-backup healthcheck` against this daemon.
    run_result healthcheck(const daemon_fixture& f) const {
        return f.run_once({"healthcheck"}, {"SCB_LISTEN=127.0.0.1:" + std::to_string(port)});
    }
};

bool has_line(const std::string& text, const std::string& line) {
    return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("Health fails while the watched file is missing, and recovers once lnd writes it and S3 has it",
          "[integration][health]") {
    daemon_fixture f;  // lnd has not written channel.backup: the path names nothing yet
    REQUIRE_FALSE(std::filesystem::exists(f.lnd.file()));
    health_daemon d(f, {});

    http_answer last;
    CHECK(d.health_becomes(503, "missing", &last));
    CAPTURE(last.status, last.body);
    CHECK_THAT(last.body, Catch::StartsWith("channel.backup missing: "));
    CHECK(std::count(last.body.begin(), last.body.end(), '\n') == 1);  // one line
    auto metrics = d.get("/metrics").body;
    CHECK(has_line(metrics, "scb_backup_file_state{reason=\"missing\"} 1"));
    CHECK(has_line(metrics, "scb_backup_file_state{reason=\"ok\"} 0"));

    auto probe = d.healthcheck(f);
    CHECK(probe.exit_code == 1);
    CHECK_THAT(probe.out, Catch::Contains("missing"));

    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    REQUIRE(f.wait_for_content(v0));
    CHECK(d.health_becomes(200, "ok", &last));
    CHECK(last.body == "ok\n");
    CHECK(eventually([&] { return d.healthcheck(f).exit_code == 0; }));
    metrics = d.get("/metrics").body;
    CHECK(has_line(metrics, "scb_backup_file_state{reason=\"ok\"} 1"));
    CHECK(has_line(metrics, "scb_backup_oldest_unbacked_change_age_seconds 0"));
}

TEST_CASE("Health fails while the file is over --max-size", "[integration][health]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0, 600));
    health_daemon d(f, {"SCB_MAX_SIZE=100"});

    http_answer last;
    CHECK(d.health_becomes(503, "refused", &last));
    CAPTURE(last.status, last.body);
    CHECK_THAT(last.body, Catch::StartsWith("channel.backup refused: "));
    CHECK(has_line(d.get("/metrics").body, "scb_backup_file_state{reason=\"refused\"} 1"));
    CHECK(d.healthcheck(f).exit_code == 1);
    CHECK(f.objects().empty());

    // lnd's next file fits: backed up, healthy.
    const auto small = lnd_simulator::content(1, 80);
    f.lnd.swap(small);
    REQUIRE(f.wait_for_content(small));
    CHECK(d.health_becomes(200, "ok", &last));
}

TEST_CASE("Health fails once uploads have failed for longer than --stale-after, and recovers with S3",
          "[integration][health]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    health_daemon d(f, {});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    http_answer last;
    REQUIRE(d.health_becomes(200, "ok", &last));

    // Every PUT answered 500 by the verifying front from now on (retries every 100-400 ms).
    f.s3.control("POST", "/faults", R"({"count":100000,"kind":"status500"})");
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    CHECK(d.health_becomes(503, "upload failing", &last));
    CAPTURE(last.status, last.body);
    CHECK_THAT(last.body, Catch::StartsWith("upload failing: "));
    CHECK(has_line(d.get("/metrics").body, "scb_backup_upload_failing 1"));
    CHECK(d.healthcheck(f).exit_code == 1);

    f.s3.control("DELETE", "/faults");
    REQUIRE(f.wait_for_content(v1));
    CHECK(d.health_becomes(200, "ok", &last));
    CHECK(has_line(d.get("/metrics").body, "scb_backup_upload_failing 0"));
}

TEST_CASE("Read-back verification (--verify-interval): a lost or changed object fails health, is counted and "
          "uploaded again", "[integration][health][verify]") {
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    health_daemon d(f, {"SCB_VERIFY_INTERVAL=1s"});
    REQUIRE(f.wait_for_content(v0));
    auto key_of = [&](const std::string& content) {
        for (auto& o : f.objects())
            if (o["sha256"] == scb::crypto::sha256_hex(content)) return o["key"].get<std::string>();
        return std::string();
    };
    const auto first_key = key_of(v0);
    // Read back right after the start-up upload.
    REQUIRE(d.proc->wait_for_stderr("read-back of " + first_key + ": the same SHA-256", 10s));
    http_answer last;
    REQUIRE(d.health_becomes(200, "ok", &last));

    // The object is lost (a lifecycle rule, a mistake): unhealthy with the reason, counted, uploaded again.
    f.s3.control("DELETE", "/object?bucket=" + f.s3.bucket + "&key=" + first_key);
    REQUIRE(d.proc->wait_for_stderr("read-back of " + first_key + ": the object is missing", 10s));
    CHECK(has_line(d.get("/metrics").body, "scb_backup_uploads_failed_total{code=\"read_back\"} 1"));
    INFO(d.proc->stderr_text());
    REQUIRE(eventually([&] { return !key_of(v0).empty() && key_of(v0) != first_key; }));
    const auto second_key = key_of(v0);
    CHECK(d.health_becomes(200, "ok", &last));

    // Its bytes changed behind our back: the same again.
    put_raw(f, second_key, "not the backup that was uploaded");
    REQUIRE(d.proc->wait_for_stderr("read-back of " + second_key + ": its content differs", 10s));
    REQUIRE(eventually([&] { return !key_of(v0).empty() && key_of(v0) != second_key; }));
    CHECK(d.health_becomes(200, "ok", &last));
    CHECK(has_line(d.get("/metrics").body, "scb_backup_uploads_failed_total{code=\"read_back\"} 2"));
}
