// The S3 client against a real s3rver behind the SigV4-verifying front (AWS's own signer).
#include "crypto/hash.hpp"
#include "run_coroutine.hpp"
#include "s3/client.hpp"
#include "s3_environment.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include <memory>
#include <thread>

using namespace scb;
using scb::test::run_coroutine;
namespace asio = boost::asio;

namespace {

test::s3_environment& env() {
    // One server set per test process (ctest runs each case in its own process).
    static test::s3_environment instance(true);
    return instance;
}

sigv4::credentials creds(const std::string& secret_key, const std::string& token = "") {
    sigv4::credentials c;
    c.access_key_id = env().access_key;
    c.secret_access_key = scb::secret(secret_key);
    if (!token.empty()) c.session_token = scb::secret(token);
    return c;
}

std::unique_ptr<s3::client> make_client(asio::io_context& ioc, const std::string& url, sigv4::credentials c,
                                        std::string bucket = "", std::string region = "", std::string ca = "") {
    s3::endpoint_config cfg;
    cfg.region = region.empty() ? env().region : region;
    cfg.url = url;
    auto ep = s3::resolve_endpoint(cfg, bucket.empty() ? env().bucket : bucket);
    s3::client_options opts;
    opts.ca_bundle = ca.empty() ? env().ca_file : ca;
    opts.io.connect = std::chrono::seconds(5);
    opts.io.request = std::chrono::seconds(10);
    return std::make_unique<s3::client>(ioc.get_executor(), ep, std::make_shared<s3::static_credentials>(std::move(c)), opts);
}

std::string sample_body(std::size_t n, char seed) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + static_cast<std::size_t>(seed)) & 0xff);
    return s;
}

/// Waits until the clock (at x-amz-date's one-second resolution) has moved past its reading at
/// the call, and returns the new reading: a request signed before the call carries an earlier
/// x-amz-date than the result, one signed after it carries this one or a later one.
std::string next_amz_second() {
    const auto start = sigv4::amz_date(std::chrono::system_clock::now());
    for (;;) {
        auto now = sigv4::amz_date(std::chrono::system_clock::now());
        if (now > start) return now;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

asio::awaitable<std::string> put_then_get(s3::client& c, std::string key, std::string body) {
    // Calls are built before co_await: g++ 12 double-destroys by-value temporaries inside co_await.
    auto put_op = c.put_object(key, body);
    auto put = co_await std::move(put_op);
    if (put.err) co_return "PUT failed: " + put.err.describe();
    auto get_op = c.get_object(key);
    auto got = co_await std::move(get_op);
    if (got.err) co_return "GET failed: " + got.err.describe();
    co_return got.value == body ? "same" : "different bytes";
}

}  // namespace

TEST_CASE("PUT then GET returns the same bytes over HTTP and HTTPS", "[integration][s3]") {
    asio::io_context ioc;
    const std::string body = sample_body(70'000, 7);
    auto http = make_client(ioc, env().http_url(), creds(env().secret_key));
    CHECK(run_coroutine(ioc, put_then_get(*http, "roundtrip/http.backup", body)) == "same");
    auto https = make_client(ioc, env().https_url(), creds(env().secret_key));
    CHECK(run_coroutine(ioc, put_then_get(*https, "roundtrip/https.backup", body)) == "same");
    // What s3rver stored, read back independently by the control server.
    bool found = false;
    for (const auto& o : env().objects())
        if (o["key"] == "roundtrip/https.backup") {
            found = true;
            CHECK(o["sha256"] == crypto::sha256_hex(body));
        }
    CHECK(found);
}

TEST_CASE("Keys with spaces, +, =, ~, %, unicode and / round-trip", "[integration][s3]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), creds(env().secret_key));
    for (std::string key : {"with space/a b.backup", "plus+sign", "eq=als", "tilde~x", "pct%25raw%", "unicode/€-ü-日本",
                            "deep/er/path/x"}) {
        CAPTURE(key);
        CHECK(run_coroutine(ioc, put_then_get(*c, key, "content of " + key)) == "same");
    }
    auto listed = run_coroutine(ioc, c->list_objects("unicode/"));
    REQUIRE_FALSE(listed.err);
    REQUIRE(listed.value.size() == 1);
    CHECK(listed.value[0].key == "unicode/€-ü-日本");
}

TEST_CASE("HEAD reports the size and a missing key is NoSuchKey", "[integration][s3]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), creds(env().secret_key));
    REQUIRE_FALSE(run_coroutine(ioc, c->put_object("head/x", sample_body(1234, 1))).err);
    auto head = run_coroutine(ioc, c->head_object("head/x"));
    REQUIRE_FALSE(head.err);
    CHECK(head.value.size == 1234);
    CHECK(head.value.etag == crypto::hex(crypto::md5(sample_body(1234, 1))));
    auto missing = run_coroutine(ioc, c->get_object("head/missing"));
    CHECK(missing.err.code == s3::errc::no_such_key);
}

TEST_CASE("A wrong secret gives a clear SignatureDoesNotMatch error without the secret", "[integration][s3]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), creds("WRONG-SECRET-1234"));
    auto put = run_coroutine(ioc, c->put_object("denied", "x"));
    REQUIRE(put.err);
    CHECK(put.err.code == s3::errc::signature_mismatch);
    CHECK(put.err.http_status == 403);
    CHECK_FALSE(s3::is_retryable(put.err.code));
    const auto line = put.err.describe();
    CHECK_THAT(line, Catch::Contains("SignatureDoesNotMatch") && Catch::Contains("AWS_SECRET_ACCESS_KEY") &&
                         !Catch::Contains("WRONG-SECRET-1234"));
}

TEST_CASE("A signature for the wrong region is refused", "[integration][s3]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), creds(env().secret_key), "", "eu-west-3");
    auto put = run_coroutine(ioc, c->put_object("wrong-region", "x"));
    CHECK(put.err.code == s3::errc::signature_mismatch);
}

TEST_CASE("A missing bucket gives NoSuchBucket", "[integration][s3]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), creds(env().secret_key), "no-such-bucket-here");
    auto put = run_coroutine(ioc, c->put_object("k", "x"));
    CHECK(put.err.code == s3::errc::no_such_bucket);
    CHECK_THAT(put.err.describe(), Catch::Contains("NoSuchBucket") && Catch::Contains("S3_BUCKET_NAME"));
}

TEST_CASE("One connection is reused across requests and re-established after the server closed it", "[integration][s3]") {
    asio::io_context ioc;
    env().control("DELETE", "/requests");
    auto c = make_client(ioc, env().https_url(), creds(env().secret_key));
    for (int i = 0; i < 5; ++i)
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("reuse/" + std::to_string(i), sample_body(100, static_cast<char>(i)))).err);
    CHECK(c->connects() == 1);
    auto seen = env().requests();
    REQUIRE(seen.size() == 5);
    for (const auto& r : seen) CHECK(r["conn"] == seen[0]["conn"]);

    env().control("POST", "/close-idle");
    REQUIRE_FALSE(run_coroutine(ioc, c->put_object("reuse/after-close", "x")).err);
    CHECK(c->connects() == 2);
    auto after = env().requests();
    CHECK(after.back()["conn"] != seen[0]["conn"]);
}

TEST_CASE("A parked connection is taken back while open and replaced once the server closed it", "[integration][s3]") {
    asio::io_context ioc;
    for (const auto& url : {env().http_url(), env().https_url()}) {
        auto c = make_client(ioc, url, creds(env().secret_key));
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("park/1", "a")).err);
        c->park_connection();
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("park/2", "b")).err);
        CHECK(c->connects() == 1);  // the parked socket (TLS session and all) was reused
        c->park_connection();
        CHECK(env().control("POST", "/close-idle")["closed"].get<int>() >= 1);
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("park/3", "c")).err);
        CHECK(c->connects() == 2);
        c->park_connection();
        c.reset();  // destroying a client with a parked connection closes its socket
    }
}

TEST_CASE("A PUT signed ahead is sent as signed, for another key or body it is signed anew", "[integration][s3]") {
    asio::io_context ioc;
    // The request's x-amz-date tells when it was signed: before or after a pause.
    auto signed_at = [](const std::string& key) {
        auto seen = env().requests();
        for (auto it = seen.rbegin(); it != seen.rend(); ++it)
            if ((*it)["method"] == "PUT" && (*it)["path"].get<std::string>().ends_with(key))
                return (*it)["headers"]["x-amz-date"].get<std::string>();
        return std::string("none");
    };
    auto get = [&](s3::client& c, const std::string& key) { return run_coroutine(ioc, c.get_object(key)); };
    for (const auto& url : {env().http_url(), env().https_url()}) {
        CAPTURE(url);
        auto c = make_client(ioc, url, creds(env().secret_key));
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("ahead/0", "warm")).err);
        c->park_connection();
        const std::string a = sample_body(9000, 1), b = sample_body(9000, 2);

        // Prepared and used: signed before the pause, accepted by the verifying front, same bytes back.
        run_coroutine(ioc, c->prepare_put("ahead/1", a, s3::put_options{}));
        auto after_pause = next_amz_second();
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("ahead/1", a)).err);
        CHECK(signed_at("ahead/1") < after_pause);
        CHECK(get(*c, "ahead/1").value == a);
        CHECK(c->connects() == 1);  // prepare_put took the parked connection back

        // Prepared for body a, asked for another buffer of the same size: b is signed and sent.
        run_coroutine(ioc, c->prepare_put("ahead/2", a, s3::put_options{}));
        after_pause = next_amz_second();
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("ahead/2", b)).err);
        CHECK(signed_at("ahead/2") >= after_pause);
        CHECK(get(*c, "ahead/2").value == b);

        // Prepared for one key, asked for another: nothing lands at the prepared key.
        run_coroutine(ioc, c->prepare_put("ahead/3", a, s3::put_options{}));
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("ahead/4", a)).err);
        CHECK(get(*c, "ahead/4").value == a);
        CHECK(run_coroutine(ioc, c->head_object("ahead/3")).err.code == s3::errc::no_such_key);
        // ... and a prepared request is used once: the next PUT of the same key is signed anew.
        run_coroutine(ioc, c->prepare_put("ahead/5", a, s3::put_options{}));
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("ahead/5", a)).err);
        after_pause = next_amz_second();
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("ahead/5", a)).err);
        CHECK(signed_at("ahead/5") >= after_pause);
    }
}

TEST_CASE("A certificate for another host name or from an unknown CA is refused", "[integration][s3][tls]") {
    asio::io_context ioc;
    auto wrong_host = make_client(ioc, "https://127.0.0.1:" + std::to_string(env().https_wronghost_port), creds(env().secret_key));
    auto r1 = run_coroutine(ioc, wrong_host->put_object("tls/x", "x"));
    CHECK(r1.err.code == s3::errc::tls_failed);
    CHECK_THAT(r1.err.describe(), Catch::Contains("TLS handshake"));
    auto unknown_ca = make_client(ioc, "https://127.0.0.1:" + std::to_string(env().https_unknownca_port), creds(env().secret_key));
    auto r2 = run_coroutine(ioc, unknown_ca->put_object("tls/x", "x"));
    CHECK(r2.err.code == s3::errc::tls_failed);
    // Without our CA bundle the system store does not know the test CA either.
    auto system_store = make_client(ioc, env().https_url(), creds(env().secret_key), "", "", "/etc/ssl/certs/ca-certificates.crt");
    CHECK(run_coroutine(ioc, system_store->put_object("tls/x", "x")).err.code == s3::errc::tls_failed);
}

TEST_CASE("A session token is signed and sent", "[integration][s3]") {
    asio::io_context ioc;
    env().control("DELETE", "/requests");
    auto c = make_client(ioc, env().http_url(), creds(env().secret_key, "FwoGZXIvYXdzEXAMPLETOKEN"));
    REQUIRE_FALSE(run_coroutine(ioc, c->put_object("token/x", "x")).err);
    auto seen = env().requests();
    REQUIRE(seen.size() == 1);
    const auto& h = seen[0]["headers"];
    CHECK(h["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLETOKEN");
    CHECK_THAT(h["authorization"].get<std::string>(), Catch::Contains("x-amz-security-token"));
}

TEST_CASE("PUT sends Content-MD5, x-amz-checksum-sha256 and the payload hash", "[integration][s3]") {
    asio::io_context ioc;
    env().control("DELETE", "/requests");
    auto c = make_client(ioc, env().http_url(), creds(env().secret_key));
    const std::string body = sample_body(500, 3);
    REQUIRE_FALSE(run_coroutine(ioc, c->put_object("checksums/x", body)).err);
    const auto seen = env().requests();
    const auto& h = seen.at(0)["headers"];
    CHECK(h["content-md5"] == crypto::base64(crypto::md5(body)));
    CHECK(h["x-amz-checksum-sha256"] == crypto::base64(crypto::sha256(body)));
    CHECK(h["x-amz-content-sha256"] == crypto::sha256_hex(body));
}

TEST_CASE("ListObjectsV2 follows continuation tokens over several pages", "[integration][s3]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), creds(env().secret_key));
    for (int i = 0; i < 7; ++i)
        REQUIRE_FALSE(run_coroutine(ioc, c->put_object("paged/obj-" + std::to_string(i), "v" + std::to_string(i))).err);
    auto first = run_coroutine(ioc, c->list_objects_page("paged/", "", 3));
    REQUIRE_FALSE(first.err);
    CHECK(first.value.objects.size() == 3);
    CHECK_FALSE(first.value.next_continuation_token.empty());
    auto all = run_coroutine(ioc, c->list_objects("paged/", 3));
    REQUIRE_FALSE(all.err);
    REQUIRE(all.value.size() == 7);
    CHECK(all.value[0].key == "paged/obj-0");
    CHECK(all.value[6].key == "paged/obj-6");
    CHECK(all.value[6].size == 2);
}
