// What S3 (or anything on the path) sends back, when it is hostile or just odd: bodies that never
// end, error messages of megabytes full of terminal escapes, redirects, certificates that do not
// fit. The real client (and the real binary) against the front's fault kinds.
#include "daemon_fixture.hpp"
#include "run_coroutine.hpp"
#include "s3/client.hpp"
#include "s3_environment.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

using namespace scb;
using scb::test::run_coroutine;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

test::s3_environment& env() {
    static test::s3_environment instance(true);
    return instance;
}

std::unique_ptr<s3::client> make_client(asio::io_context& ioc, const std::string& url, std::string bucket = "",
                                        std::size_t max_object_size = 256u * 1024 * 1024) {
    s3::endpoint_config cfg;
    cfg.region = env().region;
    cfg.url = url;
    cfg.style = s3::addressing_style::path;
    auto ep = s3::resolve_endpoint(cfg, bucket.empty() ? env().bucket : bucket);
    sigv4::credentials c;
    c.access_key_id = env().access_key;
    c.secret_access_key = scb::secret(env().secret_key);
    s3::client_options opts;
    opts.ca_bundle = env().ca_file;
    opts.io.connect = 5s;
    opts.io.request = 20s;
    opts.max_object_size = max_object_size;
    return std::make_unique<s3::client>(ioc.get_executor(), ep, std::make_shared<s3::static_credentials>(std::move(c)),
                                        opts);
}

void arm(const std::string& kind, const std::string& match, nlohmann::json extra = nlohmann::json::object()) {
    extra["count"] = 1;
    extra["kind"] = kind;
    extra["match"] = match;
    env().control("POST", "/faults", extra.dump());
}

/// The front's log record of the request that met fault `kind`.
nlohmann::json faulted(const std::string& kind) {
    for (auto& r : env().requests())
        if (r["fault"] == kind) return r;
    return nullptr;
}

/// `text` cut to a size Catch can print: on today's code some of these lines are megabytes long.
std::string shown(const std::string& text) {
    return text.size() <= 3000 ? text : text.substr(0, 3000) + "...(" + std::to_string(text.size()) + " bytes)";
}

bool has_control_byte(const std::string& s) {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

TEST_CASE("A PUT answered with a body that never ends fails at 64 KiB, retryably, and drops the connection",
          "[integration][s3][hostile]") {
    asio::io_context ioc;
    env().control("DELETE", "/requests");
    auto c = make_client(ioc, env().http_url());
    arm("endlessbody", "hostile/endless");
    auto put = run_coroutine(ioc, c->put_object("hostile/endless", "x"));
    REQUIRE(put.err);
    INFO(shown(put.err.describe()));
    CHECK(put.err.code == s3::errc::protocol_error);
    CHECK(s3::is_retryable(put.err.code));
    CHECK_THAT(shown(put.err.describe()), Catch::Contains("S3's answer to PUT was larger than 64 KiB"));
    // It stopped reading at the cap: what the front managed to write before the connection was
    // dropped is socket buffers' worth, far below the 64 MiB a --max-size limit let in.
    const auto rec = faulted("endlessbody");
    REQUIRE(rec.is_object());
    CHECK(rec["sent"].get<std::uint64_t>() < 16u * 1024 * 1024);
    // The connection was dropped: the next request opens a new one, and works.
    REQUIRE_FALSE(run_coroutine(ioc, c->put_object("hostile/after-endless", "y")).err);
    CHECK(c->connects() == 2);
}

TEST_CASE("A GET object body is capped at --max-size, not at 64 KiB", "[integration][s3][hostile]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), "", 1024 * 1024);
    const std::string big(200'000, 'b');  // over 64 KiB, under the 1 MiB max-size
    REQUIRE_FALSE(run_coroutine(ioc, c->put_object("hostile/big", big)).err);
    auto got = run_coroutine(ioc, c->get_object("hostile/big"));
    REQUIRE_FALSE(got.err);
    CHECK(got.value == big);
    arm("endlessbody", "hostile/big");
    auto endless = run_coroutine(ioc, c->get_object("hostile/big"));
    CHECK(endless.err.code == s3::errc::protocol_error);
    CHECK_THAT(shown(endless.err.describe()), Catch::Contains("S3's answer to GET was larger than 1 MiB"));
}

TEST_CASE("An S3 error message is capped and its control characters escaped", "[integration][s3][hostile]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url());
    arm("bigerror", "hostile/bigerror", {{"bytes", 60000}, {"status", 500}});
    auto put = run_coroutine(ioc, c->put_object("hostile/bigerror", "x"));
    CHECK(put.err.code == s3::errc::server_error);
    CHECK(put.err.message.size() <= 512);
    CHECK_FALSE(has_control_byte(put.err.describe()));
    CHECK_THAT(shown(put.err.message), Catch::StartsWith("\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 line"));
    CHECK(put.err.describe().size() < 1500);

    // A 20 MB one does not even get read: error answers are capped at 64 KiB too.
    arm("bigerror", "hostile/bigerror", {{"bytes", 20'000'000}, {"status", 503}});
    auto huge = run_coroutine(ioc, c->put_object("hostile/bigerror", "x"));
    CHECK(huge.err.code == s3::errc::protocol_error);
    CHECK_THAT(shown(huge.err.describe()), Catch::Contains("larger than 64 KiB"));
}

TEST_CASE("301 PermanentRedirect names the bucket's region; 307 TemporaryRedirect is retried",
          "[integration][s3][hostile]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url());
    arm("redirect301", "hostile/redirect", {{"region", "ap-south-2"}});
    auto moved = run_coroutine(ioc, c->put_object("hostile/redirect", "x"));
    REQUIRE(moved.err);
    INFO(shown(moved.err.describe()));
    CHECK_FALSE(s3::is_retryable(moved.err.code));
    CHECK_THAT(shown(moved.err.describe()), Catch::Contains("PermanentRedirect") && Catch::Contains("ap-south-2") &&
                                         Catch::Contains("AWS_REGION=ap-south-2"));

    arm("redirect307", "hostile/redirect", {{"region", "ap-south-2"}});
    auto temporary = run_coroutine(ioc, c->put_object("hostile/redirect", "x"));
    REQUIRE(temporary.err);
    INFO(shown(temporary.err.describe()));
    CHECK(s3::is_retryable(temporary.err.code));
    CHECK_THAT(shown(temporary.err.describe()), Catch::Contains("TemporaryRedirect"));
}

TEST_CASE("NoSuchBucket names the bucket", "[integration][s3][hostile]") {
    asio::io_context ioc;
    auto c = make_client(ioc, env().http_url(), "no-such-bucket-here");
    auto put = run_coroutine(ioc, c->put_object("k", "x"));
    CHECK(put.err.code == s3::errc::no_such_bucket);
    CHECK_THAT(shown(put.err.describe()), Catch::Contains("\"no-such-bucket-here\"") && Catch::Contains("S3_BUCKET_NAME"));
}

TEST_CASE("A TLS failure says which: wrong host name or unknown CA", "[integration][s3][hostile][tls]") {
    asio::io_context ioc;
    auto wrong_host = make_client(ioc, "https://127.0.0.1:" + std::to_string(env().https_wronghost_port));
    auto r1 = run_coroutine(ioc, wrong_host->put_object("tls/x", "x"));
    CHECK(r1.err.code == s3::errc::tls_failed);
    CHECK_THAT(shown(r1.err.describe()), Catch::Contains("not valid for 127.0.0.1") && Catch::Contains("wrong host name"));
    auto unknown_ca = make_client(ioc, "https://127.0.0.1:" + std::to_string(env().https_unknownca_port));
    auto r2 = run_coroutine(ioc, unknown_ca->put_object("tls/x", "x"));
    CHECK(r2.err.code == s3::errc::tls_failed);
    CHECK_THAT(shown(r2.err.describe()), Catch::Contains("unknown CA") && Catch::Contains("AWS_CA_BUNDLE"));
    // The right certificate still works.
    auto good = make_client(ioc, env().https_url());
    CHECK_FALSE(run_coroutine(ioc, good->put_object("tls/x", "x")).err);
}

TEST_CASE("The daemon logs a hostile S3 error message as one short escaped line at every retry, then uploads",
          "[integration][hostile]") {
    test::daemon_fixture f;
    f.lnd.swap(test::lnd_simulator::content(0));
    auto d = f.start({"run", "--retry-min", "100ms", "--retry-max", "200ms"});
    REQUIRE(f.wait_for_content(test::lnd_simulator::content(0)));
    f.s3.control("POST", "/faults", R"({"count":2,"kind":"bigerror","match":"/channel-","bytes":60000})");
    f.s3.control("POST", "/faults", R"({"count":1,"kind":"endlessbody","match":"/channel-"})");
    const auto v1 = test::lnd_simulator::content(1);
    f.lnd.swap(v1);
    REQUIRE(f.wait_for_content(v1));
    const auto log = d->stderr_text();
    INFO(log.substr(0, 4000));
    CHECK(log.find('\x1b') == std::string::npos);
    CHECK(log.find('\x07') == std::string::npos);
    int failures = 0;
    std::istringstream lines(log);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("upload failed") == std::string::npos) continue;
        ++failures;
        CHECK(line.size() < 1500);
    }
    CHECK(failures == 3);
    CHECK(log.find("\\x1b[31mred") != std::string::npos);
    CHECK(log.find("S3's answer to PUT was larger than 64 KiB") != std::string::npos);
    CHECK(d->running());
}

TEST_CASE("once against a bucket in another region exits 64 naming the region to set", "[integration][hostile]") {
    test::daemon_fixture f;
    f.lnd.swap(test::lnd_simulator::content(0));
    f.s3.control("POST", "/faults", R"({"count":100,"kind":"redirect301","region":"ap-south-2"})");
    auto r = f.run_once();
    f.s3.control("DELETE", "/faults");
    INFO(r.err);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("AWS_REGION=ap-south-2") != std::string::npos);
}
