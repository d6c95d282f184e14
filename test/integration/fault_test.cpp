// The real binary against a misbehaving S3: every kind of fault the front can inject. For each one
// the daemon keeps running, logs why the upload failed, retries, the newest version reaches S3 once
// the endpoint behaves, and its spool copy is not deleted before S3 really confirmed it.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace scb::test;
using namespace std::chrono_literals;

namespace {

/// "-a1b2c3.backup": the tail of every key and spool name of this content.
std::string name_tail(const std::string& content) { return "-" + scb::crypto::sha256_hex(content).substr(58) + ".backup"; }

/// Front requests for this content's key: {attempts, of which faulted with `kind`}.
std::pair<int, int> attempts_for(daemon_fixture& f, const std::string& content, const std::string& kind) {
    int all = 0, faulted = 0;
    const auto tail = name_tail(content);
    for (auto& r : f.s3.requests()) {
        const auto path = r["path"].get<std::string>();
        if (r["method"] != "PUT" || path.find(tail) == std::string::npos) continue;
        ++all;
        faulted += r["fault"].is_string() && r["fault"] == kind;
    }
    return {all, faulted};
}

int armed(daemon_fixture& f) {
    int n = 0;
    for (auto& a : f.s3.control("GET", "/faults")) n += a["remaining"].get<int>();
    return n;
}

void arm(daemon_fixture& f, const std::string& kind, int count) {
    nlohmann::json spec{{"count", count}, {"kind", kind}, {"match", "/channel-"}};
    f.s3.control("POST", "/faults", spec.dump());
}

struct fault_case {
    std::string kind;
    int count;            // consecutive PUTs that fail
    std::string reason;   // what the log must say about the failure
    std::vector<std::string> extra_args;
};

/// One version uploaded while `c.count` PUTs in a row fail as `c.kind`. Checks, while the fault is
/// still armed, that the version is durably spooled, and at every poll that an empty spool means S3
/// has the version (never deleted before a real success).
void expect_recovery(const fault_case& c) {
    CAPTURE(c.kind, c.count);
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    // Backoff ceilings of 1 s, 2 s, 4 s: full jitter can still retry at once, but with c.count >= 3
    // the two retries needed to use up the fault are most unlikely to finish before the checks
    // below, even on a loaded machine or under ThreadSanitizer.
    std::vector<std::string> args{"run", "--retry-min", "1s", "--retry-max", "4s"};
    args.insert(args.end(), c.extra_args.begin(), c.extra_args.end());
    auto d = f.start(args);
    REQUIRE(f.wait_for_content(v0));
    REQUIRE(eventually([&] { return f.spool_files() == 0; }));

    arm(f, c.kind, c.count);
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    REQUIRE(d->wait_for_stderr("upload failed (attempt 1)", 20s));
    // The fault is still armed (checked after), so this spool copy exists before any success.
    const bool spooled = eventually([&] { return f.spooled_versions() == 1; }, 5s);
    const int still_armed = armed(f);
    CHECK(spooled);
    CHECK(still_armed > 0);
    CHECK(f.count_with_sha(v1) == 0);

    // Until S3 has v1, its spool copy must stay.
    bool early_delete = false;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    bool uploaded = false;
    while (std::chrono::steady_clock::now() < deadline) {
        const bool spool_empty = f.spooled_versions() == 0;  // look at the spool first, then at S3
        uploaded = f.count_with_sha(v1) > 0;
        if (spool_empty && !uploaded) early_delete = true;
        if (uploaded) break;
        std::this_thread::sleep_for(30ms);
    }
    INFO(d->stderr_text());
    REQUIRE(uploaded);
    CHECK_FALSE(early_delete);
    CHECK(f.count_with_sha(v1) == 1);
    CHECK(armed(f) == 0);
    const auto [attempts, faulted] = attempts_for(f, v1, c.kind);
    CHECK(faulted == c.count);
    CHECK(attempts >= c.count + 1);
    CHECK_THAT(d->stderr_text(), Catch::Contains(c.reason) && Catch::Contains("retrying in"));
    CHECK(d->running());
    CHECK(eventually([&] { return f.spool_files() == 0; }));
}

}  // namespace

TEST_CASE("Fault 500 InternalError: logged, retried, uploaded", "[integration][fault]") {
    expect_recovery({"status500", 3, "InternalError (HTTP 500)", {}});
}

TEST_CASE("Fault 503 SlowDown: logged, retried, uploaded", "[integration][fault]") {
    expect_recovery({"slowdown", 3, "SlowDown (HTTP 503)", {}});
}

TEST_CASE("Fault connection reset before the response: logged, retried, uploaded", "[integration][fault]") {
    expect_recovery({"reset", 4, "connection_lost", {}});
}

TEST_CASE("Fault stall longer than the request timeout: logged, retried, uploaded", "[integration][fault]") {
    expect_recovery({"stall", 3, "timeout", {"--request-timeout", "1s"}});
}

TEST_CASE("Fault 400 BadDigest: logged, retried, uploaded", "[integration][fault]") {
    expect_recovery({"baddigest", 3, "BadDigest (HTTP 400)", {}});
}

TEST_CASE("Fault 403 RequestTimeTooSkewed with a correct Date: logged, retried, uploaded", "[integration][fault]") {
    // The client retries a skew answer once at once with the offset from Date, so 4 faults make two
    // failed attempts in the log.
    expect_recovery({"skew", 4, "RequestTimeTooSkewed (HTTP 403)", {}});
}

TEST_CASE("Fault 200 with an ETag that is not the MD5 of the body: not trusted, retried, uploaded",
          "[integration][fault]") {
    expect_recovery({"badetag", 3, "is not the MD5 of the body sent", {}});
}

TEST_CASE("Fault 200 without an ETag: not trusted, retried, uploaded", "[integration][fault]") {
    expect_recovery({"noetag", 3, "without an ETag", {}});
}

TEST_CASE("Fault garbage instead of HTTP: logged, retried, uploaded", "[integration][fault]") {
    expect_recovery({"garbage", 3, "protocol_error", {}});
}

TEST_CASE("Fault endless response header: cut at the header limit, retried, uploaded", "[integration][fault]") {
    expect_recovery({"endlessheader", 3, "header limit", {}});
}

TEST_CASE("Fault sweep: after n failures of each kind in a row the version is uploaded exactly once",
          "[integration][fault]") {
    // Beast's fail_count idea: the failure moves one step later each round (n = 1, 2, 3), and every
    // round must end with the version in S3 once and the spool empty.
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start({"run", "--retry-min", "50ms", "--retry-max", "200ms"});
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    int version = 0;
    for (const std::string kind : {"status500", "slowdown", "reset", "baddigest", "badetag", "noetag", "garbage"}) {
        for (int n = 1; n <= 3; ++n) {
            CAPTURE(kind, n);
            arm(f, kind, n);
            const auto v = lnd_simulator::content(++version);
            f.lnd.swap(v);
            REQUIRE(f.wait_for_content(v));
            CHECK(f.count_with_sha(v) == 1);
            CHECK(attempts_for(f, v, kind).second == n);
            CHECK(armed(f) == 0);
            CHECK(eventually([&] { return f.spool_files() == 0; }));
        }
    }
    CHECK(d->running());
}

// The daemon keeps its connection between uploads but parks it outside the epoll set: the server
// closing it must wake no thread, and the next upload must notice the close and reconnect cleanly.
// (The wake-up count is checked in the plain build: sanitizer runtimes add threads of their own.)
TEST_CASE("An idle daemon parks its connection: the server closing it wakes nothing and the next upload reconnects",
          "[integration][fault]") {
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    auto d = f.start({"run", "--retry-min", "100ms", "--retry-max", "400ms", "--log-level", "debug"});
    REQUIRE(f.wait_for_content(v0));
    for (int i = 1; i <= 3; ++i) {
        REQUIRE(eventually([&] { return f.spool_files() == 0; }));  // the upload is over: the daemon is idle
        std::this_thread::sleep_for(200ms);
        const auto before = d->context_switches();
        const auto closed = f.s3.control("POST", "/close-idle");
        CHECK(closed["closed"].get<int>() == 1);  // it kept its connection
        std::this_thread::sleep_for(300ms);
#ifdef SCB_SANITIZED
        (void)before;  // ThreadSanitizer's own background thread wakes every 100 ms
#else
        CHECK(d->context_switches() == before);  // and the close woke nobody
#endif
        const auto v = lnd_simulator::content(i);
        f.lnd.swap(v);
        REQUIRE(f.wait_for_content(v));
    }
    CHECK_THAT(d->stderr_text(), Catch::Contains("was closed by the server") && !Catch::Contains("upload failed"));
    CHECK(d->running());
}

TEST_CASE("Versions a moment apart share one kept-alive connection", "[integration][fault]") {
    daemon_fixture f;
    f.lnd.swap(lnd_simulator::content(0));
    auto d = f.start();
    REQUIRE(f.wait_for_content(lnd_simulator::content(0)));
    f.s3.control("DELETE", "/requests");
    for (int i = 1; i <= 4; ++i) {
        const auto v = lnd_simulator::content(i);
        f.lnd.swap(v);
        REQUIRE(f.wait_for_content(v));
    }
    std::vector<std::string> conns;
    for (const auto& r : f.s3.requests())
        if (r["method"] == "PUT") conns.push_back(r["conn"].dump());
    REQUIRE(conns.size() == 4);
    for (const auto& c : conns) CHECK(c == conns.front());
}

TEST_CASE("S3's clock one hour ahead: the daemon corrects its offset from Date and uploads", "[integration][fault]") {
    daemon_fixture f;
    f.s3.control("POST", "/clock", R"({"offset_ms":3600000})");
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    auto d = f.start({"run", "--retry-min", "100ms", "--retry-max", "400ms"});
    REQUIRE(f.wait_for_content(v0));
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    REQUIRE(f.wait_for_content(v1));
    INFO(d->stderr_text());
    // One refused request (the first, signed with the local clock), then only requests signed about
    // one hour ahead.
    int skewed = 0, accepted_ahead = 0, puts = 0;
    for (auto& r : f.s3.requests()) {
        if (r["method"] != "PUT") continue;
        ++puts;
        if (r["error"] == "RequestTimeTooSkewed") {
            ++skewed;
            continue;
        }
        const auto amz = r["headers"]["x-amz-date"].get<std::string>();  // 20261125T054233Z
        std::tm tm{};
        REQUIRE(strptime(amz.c_str(), "%Y%m%dT%H%M%SZ", &tm) != nullptr);
        const auto signed_at = std::chrono::system_clock::from_time_t(timegm(&tm));
        const auto ahead = std::chrono::duration_cast<std::chrono::seconds>(signed_at - std::chrono::system_clock::now());
        accepted_ahead += ahead > 3500s && ahead < 3700s;
    }
    CHECK(skewed == 1);
    CHECK(accepted_ahead == puts - 1);
    CHECK(f.count_with_sha(v0) == 1);
    CHECK_THAT(d->stderr_text(), Catch::Contains("clock"));
    CHECK(d->running());
}
