// Web identity (Kubernetes IRSA): the real binary gets its credentials from AssumeRoleWithWebIdentity
// at a loopback STS (test/support/sts.mjs, which checks the request as STS documents it and answers
// STS's XML), then uploads to the local S3 with them.
#include "daemon_fixture.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <thread>

using namespace scb;
using namespace scb::test;
using namespace std::chrono_literals;

namespace {

const std::string role = "arn:aws:iam::123456789012:role/scb-backup";

/// sts.mjs on free loopback ports; stopped (stdin closed) when this goes away.
struct sts_server {
    std::unique_ptr<child_process> process;
    int port = 0, control = 0;

    sts_server() {
        process = std::make_unique<child_process>(
            std::vector<std::string>{SCB_NODE_EXECUTABLE, std::string(SCB_TEST_SUPPORT_DIR) + "/sts.mjs"});
        auto line = process->read_stdout_line(20s);
        REQUIRE(line);
        const auto j = nlohmann::json::parse(*line);
        port = j.at("port").get<int>();
        control = j.at("control").get<int>();
    }
    void configure(const nlohmann::json& config) {
        auto r = http_call(control, "POST", "/config", config.dump());
        REQUIRE(r.status == 200);
    }
    nlohmann::json requests() { return nlohmann::json::parse(http_call(control, "GET", "/requests").body); }
    [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

/// The fixture's environment without its access keys, with web identity instead.
std::vector<std::string> web_identity_env(const daemon_fixture& f, const sts_server& sts, const std::string& token_file) {
    std::vector<std::string> env;
    for (const auto& e : f.env())
        if (e.rfind("AWS_ACCESS_KEY_ID=", 0) != 0 && e.rfind("AWS_SECRET_ACCESS_KEY=", 0) != 0) env.push_back(e);
    env.push_back("AWS_WEB_IDENTITY_TOKEN_FILE=" + token_file);
    env.push_back("AWS_ROLE_ARN=" + role);
    env.push_back("AWS_ROLE_SESSION_NAME=node1-scb");
    env.push_back("AWS_ENDPOINT_URL_STS=" + sts.url());
    env.push_back("HOME=" + f.dir.path());  // no shared credentials file
    return env;
}

std::vector<std::string> without_keys() {
    auto v = foreign_variables();
    for (const char* name : {"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS",
                             "AWS_STS_REGIONAL_ENDPOINTS", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                             "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"})
        v.emplace_back(name);
    return v;
}

}  // namespace

TEST_CASE("web identity: STS's credentials upload, the token file is read at each refresh", "[integration][credentials][web-identity]") {
    daemon_fixture f;
    sts_server sts;
    const std::string token_file = f.dir.path() + "/token";
    std::ofstream(token_file) << "first-service-account-token\n";
    // Keys the S3 front knows, with a new session token each time. They live 20 s: the daemon stops
    // using them 15 s before Expiration, so the next request after 5 s must fetch new ones.
    sts.configure({{"role_arn", role}, {"token", "first-service-account-token"}, {"duration_seconds", 20},
                   {"issue_access_key_id", f.s3.access_key}, {"issue_secret_access_key", f.s3.secret_key}});
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    auto env = web_identity_env(f, sts, token_file);
    auto d = std::make_unique<child_process>(std::vector<std::string>{backup_executable(), "run"}, env, without_keys());
    REQUIRE(f.wait_for_content(v1));
    CHECK_THAT(d->stderr_text(), Catch::Contains("credentials=web identity (AWS_ROLE_ARN " + role));

    // The request as STS documents it: unsigned, a form with the role, session name and the token.
    auto reqs = sts.requests();
    REQUIRE(!reqs.empty());
    CHECK(reqs[0]["method"] == "POST");
    CHECK(reqs[0]["authorization"] == false);
    CHECK(reqs[0]["params"]["Action"] == "AssumeRoleWithWebIdentity");
    CHECK(reqs[0]["params"]["RoleSessionName"] == "node1-scb");
    CHECK(reqs[0]["params"]["WebIdentityToken"] == "first-service-account-token");
    CHECK(reqs[0]["status"] == 200);

    // Kubernetes rotates the token: the next refresh reads the new one.
    std::ofstream(token_file) << "rotated-service-account-token\n";
    sts.configure({{"token", "rotated-service-account-token"}});
    std::this_thread::sleep_for(6s);  // not a wait for the daemon: the credentials it holds expire
    const auto v2 = lnd_simulator::content(2);
    f.lnd.swap(v2);
    CHECK(f.wait_for_content(v2));
    CHECK(eventually(
        [&] {
            for (const auto& r : sts.requests())
                if (r["params"]["WebIdentityToken"] == "rotated-service-account-token" && r["status"] == 200) return true;
            return false;
        },
        60s));
    const auto log = d->stderr_text();
    CHECK(log.find("first-service-account-token") == std::string::npos);
    d->signal(SIGTERM);
    CHECK(d->wait(20s).value_or(-1) == 0);
}

TEST_CASE("web identity: STS's refusals name the variable and STS's code", "[integration][credentials][web-identity]") {
    daemon_fixture f;
    sts_server sts;
    const std::string token_file = f.dir.path() + "/token";
    std::ofstream(token_file) << "scb-test-web-identity-token";
    f.lnd.swap(lnd_simulator::content(1));
    const auto env = web_identity_env(f, sts, token_file);
    auto once = [&] { return run({backup_executable(), "once"}, env, 60s, without_keys()); };

    SECTION("an expired token") {
        sts.configure({{"mode", "expired"}});
        auto r = once();
        INFO(r.err);
        CHECK(r.exit_code == 77);
        CHECK_THAT(r.err, Catch::Contains("ExpiredTokenException") && Catch::Contains("AWS_WEB_IDENTITY_TOKEN_FILE " + token_file));
    }
    SECTION("access denied (the role's trust policy)") {
        sts.configure({{"mode", "denied"}});
        auto r = once();
        INFO(r.err);
        CHECK(r.exit_code == 77);
        CHECK_THAT(r.err, Catch::Contains("AccessDenied") && Catch::Contains("AWS_ROLE_ARN"));
    }
    SECTION("the token file missing") {
        auto e = env;
        e.push_back("AWS_WEB_IDENTITY_TOKEN_FILE=" + f.dir.path() + "/no-such-token");
        auto r = run({backup_executable(), "once"}, e, 60s, without_keys());
        INFO(r.err);
        CHECK(r.exit_code == 77);
        CHECK_THAT(r.err, Catch::Contains("AWS_WEB_IDENTITY_TOKEN_FILE " + f.dir.path() + "/no-such-token"));
        CHECK(sts.requests().empty());
    }
    SECTION("the role without the token file is a usage error") {
        std::vector<std::string> e;
        for (const auto& v : env)
            if (v.rfind("AWS_WEB_IDENTITY_TOKEN_FILE=", 0) != 0) e.push_back(v);
        auto r = run({backup_executable(), "once"}, e, 60s, without_keys());
        INFO(r.err);
        CHECK(r.exit_code == 64);
        CHECK_THAT(r.err, Catch::Contains("AWS_ROLE_ARN is set without AWS_WEB_IDENTITY_TOKEN_FILE"));
    }
    CHECK(f.objects().empty());
}
