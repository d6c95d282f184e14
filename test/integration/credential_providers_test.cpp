// The container and IMDSv2 credential providers against a local HTTP server that plays the
// metadata endpoint and records every request; and the real binary, which must not probe instance
// metadata when it has static keys or a custom endpoint.
#include "daemon_fixture.hpp"
#include "run_coroutine.hpp"
#include "s3/credential_providers.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace scb;
using scb::test::run_coroutine;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using namespace std::chrono;
using s3::wall_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

/// One request the metadata server saw; header names lower-cased.
struct seen_request {
    std::string method, target;
    std::map<std::string, std::string> headers;
    [[nodiscard]] std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

struct canned_answer {
    unsigned status = 200;
    std::string body;
};

/// A loopback HTTP/1.1 server on its own thread; `answer` decides each response. Keeps
/// connections alive like the real endpoints.
class metadata_server {
public:
    using handler = std::function<canned_answer(const seen_request&)>;

    explicit metadata_server(handler h) : answer_(std::move(h)), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }
    ~metadata_server() {
        ioc_.stop();
        thread_.join();
    }
    metadata_server(const metadata_server&) = delete;
    metadata_server& operator=(const metadata_server&) = delete;

    [[nodiscard]] int port() const { return acceptor_.local_endpoint().port(); }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
    std::vector<seen_request> requests() {
        std::lock_guard lock(mutex_);
        return seen_;
    }
    void set_handler(handler h) {
        std::lock_guard lock(mutex_);
        answer_ = std::move(h);
    }
    std::size_t count(const std::string& method, const std::string& target_prefix) {
        auto all = requests();
        return static_cast<std::size_t>(std::count_if(all.begin(), all.end(), [&](const seen_request& r) {
            return r.method == method && r.target.rfind(target_prefix, 0) == 0;
        }));
    }

private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
            if (ec) co_return;
            asio::co_spawn(ioc_, session(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> session(asio::ip::tcp::socket socket) {
        beast::flat_buffer buffer;
        for (;;) {
            bhttp::request<bhttp::string_body> req;
            auto [rec, rn] = co_await bhttp::async_read(socket, buffer, req, use_tuple);
            if (rec) co_return;
            seen_request seen;
            seen.method = std::string(req.method_string());
            seen.target = std::string(req.target());
            for (const auto& f : req) {
                std::string name(f.name_string());
                std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
                seen.headers[name] = std::string(f.value());
            }
            canned_answer a;
            {
                std::lock_guard lock(mutex_);
                seen_.push_back(seen);
                a = answer_(seen);
            }
            bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(a.status), 11};
            res.set(bhttp::field::content_type, "application/json");
            res.body() = a.body;
            res.keep_alive(req.keep_alive());
            res.prepare_payload();
            auto [wec, wn] = co_await bhttp::async_write(socket, res, use_tuple);
            if (wec || !req.keep_alive()) co_return;
        }
    }

    std::mutex mutex_;
    handler answer_;
    std::vector<seen_request> seen_;
    asio::io_context ioc_;
    asio::ip::tcp::acceptor acceptor_;
    std::thread thread_;
};

/// A wall clock the tests move forward.
struct fake_clock {
    wall_clock::time_point t = floor<seconds>(wall_clock::now());
    std::function<wall_clock::time_point()> fn() {
        return [this] { return t; };
    }
};

std::string iso(wall_clock::time_point t) {
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{floor<seconds>(t - day)};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf;
}

std::string creds_json(const std::string& key_id, wall_clock::time_point expires, bool imds = false) {
    nlohmann::json j{{"AccessKeyId", key_id},
                     {"SecretAccessKey", "secret-of-" + key_id},
                     {"Token", "token-of-" + key_id},
                     {"Expiration", iso(expires)}};
    if (imds) {
        j["Code"] = "Success";
        j["Type"] = "AWS-HMAC";
        j["LastUpdated"] = iso(expires - hours(1));
    }
    return j.dump();
}

s3::env_lookup fake_env(std::map<std::string, std::string> vars) {
    return [vars](const std::string& n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

/// A provider over the container endpoint at `server`, on `clock`.
std::shared_ptr<s3::refreshing_credentials> container_provider(asio::io_context& ioc, metadata_server& server,
                                                               fake_clock& clock,
                                                               std::map<std::string, std::string> extra = {}) {
    extra["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = server.url() + "/v1/credentials?id=7";
    auto env = fake_env(extra);
    auto where = s3::container_endpoint(env);
    s3::refresh_options opts;
    opts.now = clock.fn();
    return std::make_shared<s3::refreshing_credentials>(
        ioc.get_executor(), std::make_unique<s3::container_fetcher>(ioc.get_executor(), *where, env), opts);
}

std::shared_ptr<s3::refreshing_credentials> imds_provider(asio::io_context& ioc, metadata_server& server,
                                                          fake_clock& clock) {
    auto env = fake_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url()}});
    s3::refresh_options opts;
    opts.now = clock.fn();
    return std::make_shared<s3::refreshing_credentials>(
        ioc.get_executor(), std::make_unique<s3::imds_fetcher>(ioc.get_executor(), s3::imds_endpoint(env)), opts);
}

asio::awaitable<s3::result<sigv4::credentials>> get(std::shared_ptr<s3::credentials_provider> p) {
    auto op = p->current();
    auto r = co_await std::move(op);
    co_return r;
}

/// Three current() calls at once; returns how many got credentials.
asio::awaitable<int> three_at_once(std::shared_ptr<s3::credentials_provider> p) {
    auto ex = co_await asio::this_coro::executor;
    int ok = 0;
    auto done = std::make_shared<int>(0);
    std::vector<s3::result<sigv4::credentials>> results(3);
    for (int i = 0; i < 3; ++i)
        asio::co_spawn(ex, get(p), [&, i, done](std::exception_ptr, s3::result<sigv4::credentials> r) {
            results[static_cast<std::size_t>(i)] = std::move(r);
            ++*done;
        });
    asio::steady_timer poll(ex);
    while (*done < 3) {
        poll.expires_after(milliseconds(5));
        co_await poll.async_wait(use_tuple);
    }
    for (auto& r : results) ok += r ? 1 : 0;
    co_return ok;
}

/// An IMDS that requires the IMDSv2 token on every GET, as real IMDS does with v2 enforced.
struct fake_imds {
    std::string token = "imds-session-token-1";
    std::string role = "backup-role";
    std::function<std::string()> creds;
    canned_answer operator()(const seen_request& r) const {
        if (r.method == "PUT" && r.target == "/latest/api/token") {
            if (r.header("x-aws-ec2-metadata-token-ttl-seconds").empty()) return {400, ""};
            return {200, token};
        }
        if (r.header("x-aws-ec2-metadata-token") != token) return {401, ""};
        if (r.method == "GET" && r.target == "/latest/meta-data/iam/security-credentials/") return {200, role};
        if (r.method == "GET" && r.target == "/latest/meta-data/iam/security-credentials/" + role) return {200, creds()};
        return {404, ""};
    }
};

std::vector<std::string> metadata_variables() {
    auto v = test::foreign_variables();
    for (const char* n : {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                          "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                          "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED", "HOME"})
        v.emplace_back(n);
    return v;
}

}  // namespace

TEST_CASE("Container credentials are fetched with the Authorization header and refreshed near Expiration",
          "[integration][credentials]") {
    fake_clock clock;
    int served = 0;
    metadata_server server([&](const seen_request&) {
        ++served;
        // Six minutes of life: inside the five-minute window after one minute.
        return canned_answer{200, creds_json("ASIA" + std::to_string(served), clock.t + minutes(6))};
    });
    asio::io_context ioc;
    auto p = container_provider(ioc, server, clock, {{"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer abc123"}});

    auto first = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE(first);
    CHECK(first.value.access_key_id == "ASIA1");
    CHECK(first.value.secret_access_key.reveal() == "secret-of-ASIA1");
    CHECK(first.value.session_token.reveal() == "token-of-ASIA1");
    auto seen = server.requests();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].method == "GET");
    CHECK(seen[0].target == "/v1/credentials?id=7");
    CHECK(seen[0].header("authorization") == "Bearer abc123");

    // Cached: no request while far from Expiration.
    clock.t += seconds(30);
    auto cached = run_coroutine(ioc, get(p), seconds(20));
    CHECK(cached.value.access_key_id == "ASIA1");
    CHECK(server.requests().size() == 1);

    // Within five minutes of Expiration: a new fetch and new keys.
    clock.t += seconds(60);
    auto refreshed = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE(refreshed);
    CHECK(refreshed.value.access_key_id == "ASIA2");
    CHECK(server.requests().size() == 2);
    CHECK(p->fetches() == 2);
}

TEST_CASE("The container token file wins over the variable and is read at every fetch", "[integration][credentials]") {
    test::temp_dir dir;
    const auto token_file = dir.path() + "/token";
    std::ofstream(token_file) << "eks-token-1\n";
    fake_clock clock;
    metadata_server server([&](const seen_request&) { return canned_answer{200, creds_json("ASIAF", clock.t + minutes(6))}; });
    asio::io_context ioc;
    auto p = container_provider(ioc, server, clock,
                                {{"AWS_CONTAINER_AUTHORIZATION_TOKEN", "ignored"},
                                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file}});
    REQUIRE(run_coroutine(ioc, get(p), seconds(20)));
    std::ofstream(token_file) << "eks-token-2";
    clock.t += minutes(2);
    REQUIRE(run_coroutine(ioc, get(p), seconds(20)));
    auto seen = server.requests();
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].header("authorization") == "eks-token-1");
    CHECK(seen[1].header("authorization") == "eks-token-2");
}

TEST_CASE("A FIFO as the container token file fails the fetch at once, naming the variable",
          "[integration][credentials]") {
    test::temp_dir dir;
    const auto fifo = dir.path() + "/token";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    fake_clock clock;
    metadata_server server([&](const seen_request&) { return canned_answer{200, creds_json("ASIAF", clock.t + hours(1))}; });
    asio::io_context ioc;
    auto p = container_provider(ioc, server, clock, {{"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", fifo}});

    // On a thread: a read that blocks on the FIFO blocks the whole io_context (and /healthz with it).
    // After a generous bound the FIFO's write end is opened, which releases the reader, so a hang
    // fails this test instead of blocking it.
    std::promise<s3::result<sigv4::credentials>> done;
    auto answer = done.get_future();
    std::thread t([&] {
        try {
            done.set_value(run_coroutine(ioc, get(p), seconds(20)));
        } catch (...) {
            done.set_exception(std::current_exception());
        }
    });
    const bool finished = answer.wait_for(seconds(30)) == std::future_status::ready;
    if (!finished) {
        const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
        if (w >= 0) ::close(w);
    }
    t.join();
    REQUIRE(finished);
    auto r = answer.get();
    REQUIRE_FALSE(r);
    CHECK(r.err.code == s3::errc::no_credentials);
    CHECK_THAT(r.err.describe(), Catch::Contains("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") &&
                                     Catch::Contains("is a FIFO, not a regular file"));
    CHECK(server.requests().empty());
}

TEST_CASE("Concurrent callers share one fetch", "[integration][credentials]") {
    fake_clock clock;
    metadata_server server([&](const seen_request&) { return canned_answer{200, creds_json("ASIAC", clock.t + hours(1))}; });
    asio::io_context ioc;
    auto p = container_provider(ioc, server, clock);
    CHECK(run_coroutine(ioc, three_at_once(p), seconds(20)) == 3);
    CHECK(server.requests().size() == 1);
    CHECK(p->fetches() == 1);
}

TEST_CASE("Container endpoint failures are one clear line without the body", "[integration][credentials]") {
    fake_clock clock;
    canned_answer next{401, R"({"message":"bad token","SecretAccessKey":"LEAKED-SECRET"})"};
    metadata_server server([&](const seen_request&) { return next; });
    asio::io_context ioc;
    auto p = container_provider(ioc, server, clock, {{"AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong"}});

    auto denied = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE_FALSE(denied);
    const auto line = denied.err.describe();
    CAPTURE(line);
    CHECK(denied.err.code == s3::errc::no_credentials);
    CHECK_FALSE(s3::is_retryable(denied.err.code));
    CHECK_THAT(line, Catch::Contains("container credentials endpoint " + server.url()) && Catch::Contains("HTTP 401") &&
                         Catch::Contains("AWS_CONTAINER_AUTHORIZATION_TOKEN") && !Catch::Contains("LEAKED-SECRET") &&
                         !Catch::Contains("wrong"));
    CHECK(line.find('\n') == std::string::npos);
    CHECK(server.requests().size() == 1);  // a 4xx is not retried

    next = {500, "LEAKED-SECRET"};
    clock.t += minutes(1);
    auto broken = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE_FALSE(broken);
    CHECK(broken.err.code == s3::errc::server_error);
    CHECK(s3::is_retryable(broken.err.code));  // the uploader backs off and asks again
    CHECK_THAT(broken.err.describe(), Catch::Contains("HTTP 500") && !Catch::Contains("LEAKED-SECRET"));
    CHECK(server.requests().size() == 3);  // one attempt and one retry

    next = {200, R"({"AccessKeyId":"A","SecretAccessKey":"LEAKED-SECRET","Expiration":"whenever"})"};
    clock.t += minutes(1);
    auto garbled = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE_FALSE(garbled);
    CHECK_THAT(garbled.err.describe(), Catch::Contains("Expiration") && !Catch::Contains("LEAKED-SECRET"));
}

TEST_CASE("A failed refresh keeps the old credentials until they expire", "[integration][credentials]") {
    fake_clock clock;
    const auto expiry = clock.t + minutes(6);
    canned_answer next{200, creds_json("ASIAOLD", expiry)};
    metadata_server server([&](const seen_request&) { return next; });
    asio::io_context ioc;
    auto p = container_provider(ioc, server, clock);
    REQUIRE(run_coroutine(ioc, get(p), seconds(20)));

    next = {503, ""};
    clock.t += minutes(2);  // four minutes left: refresh wanted, fails, old keys still good
    auto kept = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE(kept);
    CHECK(kept.value.access_key_id == "ASIAOLD");
    const auto after_failure = server.requests().size();
    CHECK(after_failure == 3);  // the first fetch, then an attempt and a retry

    clock.t += seconds(10);  // no hammering: the next try waits min_interval
    CHECK(run_coroutine(ioc, get(p), seconds(20)));
    CHECK(server.requests().size() == after_failure);

    clock.t = expiry;  // expired and the endpoint still failing: now it is an error
    auto expired = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE_FALSE(expired);
    CHECK_THAT(expired.err.describe(), Catch::Contains("HTTP 503"));
}

TEST_CASE("IMDSv2: token first, then role and credentials with the token, refreshed after expiry",
          "[integration][credentials]") {
    fake_clock clock;
    int issued = 0;
    fake_imds imds;
    imds.creds = [&] { return creds_json("ASIAIMDS" + std::to_string(++issued), clock.t + minutes(6), true); };
    metadata_server server([&](const seen_request& r) { return imds(r); });
    asio::io_context ioc;
    auto p = imds_provider(ioc, server, clock);

    auto first = run_coroutine(ioc, get(p), seconds(20));
    INFO((first ? std::string() : first.err.describe()));
    REQUIRE(first);
    CHECK(first.value.access_key_id == "ASIAIMDS1");
    CHECK(first.value.session_token.reveal() == "token-of-ASIAIMDS1");
    auto seen = server.requests();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].method == "PUT");
    CHECK(seen[0].target == "/latest/api/token");
    CHECK(seen[0].header("x-aws-ec2-metadata-token-ttl-seconds") == "21600");
    CHECK(seen[1].target == "/latest/meta-data/iam/security-credentials/");
    CHECK(seen[1].header("x-aws-ec2-metadata-token") == imds.token);
    CHECK(seen[2].target == "/latest/meta-data/iam/security-credentials/backup-role");
    CHECK(seen[2].header("x-aws-ec2-metadata-token") == imds.token);

    // Past Expiration: refreshed, reusing the session token (no second PUT).
    clock.t += minutes(7);
    auto second = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE(second);
    CHECK(second.value.access_key_id == "ASIAIMDS2");
    CHECK(server.count("PUT", "/latest/api/token") == 1);
    CHECK(server.count("GET", "/latest/meta-data/iam/security-credentials/backup-role") == 2);

    // IMDS restarted and forgot our token: a 401 gets a new one, once.
    imds.token = "imds-session-token-2";
    server.set_handler([&](const seen_request& r) { return imds(r); });
    clock.t += minutes(7);
    auto third = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE(third);
    CHECK(third.value.access_key_id == "ASIAIMDS3");
    CHECK(server.count("PUT", "/latest/api/token") == 2);
}

TEST_CASE("IMDS failures are one clear line naming the source", "[integration][credentials]") {
    fake_clock clock;
    metadata_server server([](const seen_request& r) {
        if (r.method == "PUT") return canned_answer{200, "tok"};
        if (r.target == "/latest/meta-data/iam/security-credentials/") return canned_answer{200, "role\n"};
        return canned_answer{200, R"({"Code":"AssumeRoleUnauthorizedAccess","SecretAccessKey":"LEAKED-SECRET"})"};
    });
    asio::io_context ioc;
    auto p = imds_provider(ioc, server, clock);
    auto r = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE_FALSE(r);
    CHECK_THAT(r.err.describe(), Catch::Contains("EC2 instance metadata " + server.url()) &&
                                     Catch::Contains("AssumeRoleUnauthorizedAccess") && !Catch::Contains("LEAKED-SECRET"));

    server.set_handler([](const seen_request& req) {
        return req.method == "PUT" ? canned_answer{200, "tok"} : canned_answer{404, ""};
    });
    clock.t += minutes(1);
    auto no_role = run_coroutine(ioc, get(p), seconds(20));
    REQUIRE_FALSE(no_role);
    CHECK_THAT(no_role.err.describe(), Catch::Contains("no IAM role"));
}

TEST_CASE("A host without instance metadata costs about a second per attempt, not more", "[integration][credentials]") {
    // A port nobody listens on refuses at once; a blackholed address would take the 1 s connect timeout.
    asio::io_context ioc;
    fake_clock clock;
    int closed_port = 0;
    {
        metadata_server gone([](const seen_request&) { return canned_answer{}; });
        closed_port = gone.port();
    }
    auto env = fake_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:" + std::to_string(closed_port)}});
    s3::refresh_options opts;
    opts.now = clock.fn();
    auto p = std::make_shared<s3::refreshing_credentials>(
        ioc.get_executor(), std::make_unique<s3::imds_fetcher>(ioc.get_executor(), s3::imds_endpoint(env)), opts);
    const auto start = steady_clock::now();
    auto r = run_coroutine(ioc, get(p), seconds(20));
    CHECK(steady_clock::now() - start < seconds(3));
    REQUIRE_FALSE(r);
    CHECK(s3::is_retryable(r.err.code));
    CHECK_THAT(r.err.describe(), Catch::Contains("EC2 instance metadata") && Catch::Contains("IMDSv2 token"));
}

TEST_CASE("The binary never probes instance metadata with static keys or a custom endpoint",
          "[integration][credentials][daemon]") {
    metadata_server imds([](const seen_request& r) {
        return r.method == "PUT" ? canned_answer{200, "tok"} : canned_answer{200, "role"};
    });
    test::daemon_fixture f;
    f.lnd.swap(test::lnd_simulator::content(11));
    const std::vector<std::string> metadata_env{"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.url(), "HOME=" + f.dir.path()};

    // Static keys and a custom endpoint: uploads, no metadata request.
    auto with_keys = f.run_once({"once"}, metadata_env);
    INFO(with_keys.err);
    CHECK(with_keys.exit_code == 0);
    CHECK(f.count_with_sha(test::lnd_simulator::content(11)) == 1);
    CHECK(imds.requests().empty());

    // No keys at all and a custom endpoint: a clear "no credentials" at once, still no request.
    std::vector<std::string> no_keys;
    for (const auto& e : f.env())
        if (e.rfind("AWS_ACCESS_KEY_ID=", 0) != 0 && e.rfind("AWS_SECRET_ACCESS_KEY=", 0) != 0) no_keys.push_back(e);
    no_keys.insert(no_keys.end(), metadata_env.begin(), metadata_env.end());
    const auto start = steady_clock::now();
    auto r = test::run({SCB_BACKUP_EXECUTABLE, "once"}, no_keys, seconds(60), metadata_variables());
    CAPTURE(r.err);
    CHECK(r.exit_code == 64);
    CHECK_THAT(r.err, Catch::Contains("no credentials") && Catch::Contains("custom endpoint"));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(steady_clock::now() - start < seconds(5));
    CHECK(imds.requests().empty());
}

TEST_CASE("The binary uploads with credentials from the container endpoint", "[integration][credentials][daemon]") {
    test::daemon_fixture f;
    const auto expires = wall_clock::now() + hours(1);
    metadata_server container([&](const seen_request& r) {
        if (r.header("authorization") != "task-token-42") return canned_answer{401, ""};
        nlohmann::json j{{"AccessKeyId", f.s3.access_key}, {"SecretAccessKey", f.s3.secret_key},
                         {"Token", "session-token-from-container"}, {"Expiration", iso(expires)}};
        return canned_answer{200, j.dump()};
    });
    metadata_server imds([](const seen_request&) { return canned_answer{500, ""}; });
    f.lnd.swap(test::lnd_simulator::content(12));
    std::vector<std::string> env;
    for (const auto& e : f.env())
        if (e.rfind("AWS_ACCESS_KEY_ID=", 0) != 0 && e.rfind("AWS_SECRET_ACCESS_KEY=", 0) != 0) env.push_back(e);
    env.push_back("AWS_CONTAINER_CREDENTIALS_FULL_URI=" + container.url() + "/creds");
    env.push_back("AWS_CONTAINER_AUTHORIZATION_TOKEN=task-token-42");
    env.push_back("AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.url());
    env.push_back("HOME=" + f.dir.path());
    auto r = test::run({SCB_BACKUP_EXECUTABLE, "once"}, env, seconds(60), metadata_variables());
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.err, Catch::Contains("credentials=container credentials endpoint " + container.url()) &&
                          !Catch::Contains("session-token-from-container"));  // (s3rver's secret equals its key id)
    CHECK(f.count_with_sha(test::lnd_simulator::content(12)) == 1);
    CHECK(container.requests().size() == 1);
    CHECK(imds.requests().empty());
    // The session token went to S3 with the request.
    bool token_sent = false;
    for (const auto& req : f.s3.requests())
        if (req.contains("headers") && req["headers"].contains("x-amz-security-token"))
            token_sent = token_sent || req["headers"]["x-amz-security-token"] == "session-token-from-container";
    CHECK(token_sent);
}
