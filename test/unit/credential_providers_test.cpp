// The pure parts of the server credential providers: JSON answers, timestamps, endpoint URLs, and
// which source the chain picks (no network: the chain only decides).
#include "s3/credential_providers.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <unistd.h>

using namespace scb::s3;
using namespace std::chrono;

namespace {

env_lookup fake_env(std::map<std::string, std::string> vars) {
    return [vars](const std::string& n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

const char* imds_good = R"({
  "Code" : "Success",
  "LastUpdated" : "2024-05-01T11:00:00Z",
  "Type" : "AWS-HMAC",
  "AccessKeyId" : "ASIAIMDS",
  "SecretAccessKey" : "IMDSSECRET",
  "Token" : "IMDSTOKEN",
  "Expiration" : "2024-05-01T17:30:00Z"
})";

std::string what_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const credentials_error& e) {
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("IMDS credentials parse when Code is Success", "[unit][credentials]") {
    auto c = parse_imds_credentials(imds_good);
    CHECK(c.creds.access_key_id == "ASIAIMDS");
    CHECK(c.creds.secret_access_key.reveal() == "IMDSSECRET");
    CHECK(c.creds.session_token.reveal() == "IMDSTOKEN");
    REQUIRE(c.expiration);
    CHECK(*c.expiration == sys_days(year(2024) / May / 1) + hours(17) + minutes(30));
}

TEST_CASE("IMDS answers that are not Success, lack a field or are not JSON are refused without quoting secrets",
          "[unit][credentials]") {
    auto without = [](const std::string& field) {
        auto j = nlohmann::json::parse(imds_good);
        j.erase(field);
        return j.dump();
    };
    for (const char* field : {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "Code"}) {
        CAPTURE(field);
        const auto msg = what_of([&] { parse_imds_credentials(without(field)); });
        CHECK_THAT(msg, Catch::Contains(std::string("no ") + field));
        CHECK_THAT(msg, !Catch::Contains("IMDSSECRET") && !Catch::Contains("IMDSTOKEN"));
    }
    auto failed = nlohmann::json::parse(imds_good);
    failed["Code"] = "AssumeRoleUnauthorizedAccess";
    CHECK_THAT(what_of([&] { parse_imds_credentials(failed.dump()); }),
               Catch::Contains("AssumeRoleUnauthorizedAccess") && Catch::Contains("not Success") &&
                   !Catch::Contains("IMDSSECRET"));
    auto bad_time = nlohmann::json::parse(imds_good);
    bad_time["Expiration"] = "next tuesday";
    CHECK_THAT(what_of([&] { parse_imds_credentials(bad_time.dump()); }),
               Catch::Contains("Expiration") && Catch::Contains("ISO 8601") && !Catch::Contains("IMDSSECRET"));
    auto empty_key = nlohmann::json::parse(imds_good);
    empty_key["AccessKeyId"] = "";
    CHECK_THAT(what_of([&] { parse_imds_credentials(empty_key.dump()); }), Catch::Contains("no AccessKeyId"));
    auto number_token = nlohmann::json::parse(imds_good);
    number_token["Token"] = 42;
    CHECK_THAT(what_of([&] { parse_imds_credentials(number_token.dump()); }), Catch::Contains("no Token"));
    // A truncated body holding a secret: the message must not echo it.
    CHECK_THAT(what_of([] { parse_imds_credentials(R"({"SecretAccessKey":"IMDSSECRET", )"); }),
               Catch::Contains("not a JSON object") && !Catch::Contains("IMDSSECRET"));
    CHECK_THAT(what_of([] { parse_imds_credentials("[1,2]"); }), Catch::Contains("not a JSON object"));
}

TEST_CASE("Container credentials need a key pair, Token and Expiration are optional", "[unit][credentials]") {
    auto full = parse_container_credentials(
        R"({"AccessKeyId":"ASIACONT","SecretAccessKey":"CONTSECRET","Token":"CONTTOKEN","Expiration":"2030-01-02T03:04:05Z"})");
    CHECK(full.creds.access_key_id == "ASIACONT");
    CHECK(full.creds.session_token.reveal() == "CONTTOKEN");
    CHECK(full.expiration == sys_days(year(2030) / January / 2) + hours(3) + minutes(4) + seconds(5));
    auto bare = parse_container_credentials(R"({"AccessKeyId":"AKIA","SecretAccessKey":"S","RoleArn":"x"})");
    CHECK(bare.creds.session_token.empty());
    CHECK_FALSE(bare.expiration);
    CHECK_THAT(what_of([] { parse_container_credentials(R"({"SecretAccessKey":"CONTSECRET"})"); }),
               Catch::Contains("no AccessKeyId") && !Catch::Contains("CONTSECRET"));
    CHECK_THAT(what_of([] { parse_container_credentials(R"({"AccessKeyId":"A","SecretAccessKey":"CONTSECRET","Expiration":"soon"})"); }),
               Catch::Contains("not ISO 8601") && !Catch::Contains("CONTSECRET"));
    CHECK_THAT(what_of([] { parse_container_credentials(R"({"AccessKeyId":"A","SecretAccessKey":"S","Token":7})"); }),
               Catch::Contains("Token is not a string"));
    CHECK_THAT(what_of([] { parse_container_credentials("<html>CONTSECRET</html>"); }),
               Catch::Contains("not a JSON object") && !Catch::Contains("CONTSECRET"));
}

TEST_CASE("The container endpoint follows the SDKs' rules for RELATIVE_URI and FULL_URI", "[unit][credentials]") {
    CHECK_FALSE(container_endpoint(fake_env({})));
    auto rel = container_endpoint(fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc?x=1"}}));
    REQUIRE(rel);
    CHECK(rel->origin() == "http://169.254.170.2");
    CHECK(rel->host == "169.254.170.2");
    CHECK(rel->port == "80");
    CHECK(rel->target == "/v2/credentials/abc?x=1");
    // RELATIVE_URI wins, as in the SDKs.
    auto both = container_endpoint(fake_env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/r"},
                                             {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/f"}}));
    CHECK(both->target == "/r");

    auto full = [](const std::string& url) {
        return container_endpoint(fake_env({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", url}}));
    };
    for (const char* ok : {"http://127.0.0.1:8080/creds", "http://127.1.2.3/c", "http://localhost:9/c",
                           "http://[::1]:8080/c", "http://169.254.170.2/v2/c", "http://169.254.170.23/v1/credentials",
                           "http://[fd00:ec2::23]/v1/credentials", "https://creds.example.com/get"}) {
        CAPTURE(ok);
        CHECK(full(ok));
    }
    auto v6 = full("http://[fd00:ec2::23]:80/v1/credentials");
    CHECK(v6->host == "fd00:ec2::23");
    CHECK(v6->host_header == "[fd00:ec2::23]");  // the default port is left out, as everywhere
    for (const char* bad : {"http://10.0.0.5/creds", "http://creds.example.com/get", "http://169.254.169.254/x",
                            "ftp://127.0.0.1/x", "not a url", "http://user:pw@127.0.0.1/x"}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(full(bad), credentials_error);
    }
    CHECK_THAT(what_of([&] { full("http://10.0.0.5/creds"); }),
               Catch::Contains("AWS_CONTAINER_CREDENTIALS_FULL_URI") && Catch::Contains("https"));
}

TEST_CASE("The instance metadata endpoint is overridable", "[unit][credentials]") {
    CHECK(imds_endpoint(fake_env({})).origin() == "http://169.254.169.254");
    auto local = imds_endpoint(fake_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:4321/"}}));
    CHECK(local.host == "127.0.0.1");
    CHECK(local.port == "4321");
    CHECK(imds_endpoint(fake_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://[fd00:ec2::254]"}})).host ==
          "fd00:ec2::254");
    CHECK_THROWS_AS(imds_endpoint(fake_env({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "169.254.169.254"}})),
                    credentials_error);
}

TEST_CASE("The chain picks environment, file, container, then instance metadata", "[unit][credentials]") {
    boost::asio::io_context ioc;
    auto ex = ioc.get_executor();
    const std::map<std::string, std::string> no_home{{"HOME", "/nonexistent-home"}};
    auto with = [&](std::map<std::string, std::string> vars) {
        vars.insert(no_home.begin(), no_home.end());
        return fake_env(vars);
    };

    auto env_keys = make_credentials_chain(
        ex, with({{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "S"},
                  {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c"}}),
        {});
    CHECK_THAT(env_keys.source, Catch::Contains("environment"));
    CHECK(dynamic_cast<static_credentials*>(env_keys.provider.get()));

    auto container = make_credentials_chain(ex, with({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c"}}), {});
    CHECK_THAT(container.source, Catch::Contains("container credentials endpoint http://127.0.0.1:1"));
    CHECK(dynamic_cast<refreshing_credentials*>(container.provider.get()));

    auto imds = make_credentials_chain(ex, with({}), {});
    CHECK_THAT(imds.source, Catch::Contains("EC2 instance metadata http://169.254.169.254"));

    chain_options custom;
    custom.custom_endpoint = true;
    CHECK_THAT(what_of([&] { make_credentials_chain(ex, with({}), custom); }),
               Catch::StartsWith("no credentials") && Catch::Contains("custom endpoint") &&
                   Catch::Contains("AWS_ACCESS_KEY_ID"));
    // A custom endpoint still allows the container endpoint (a task talking to MinIO, say).
    CHECK_THAT(make_credentials_chain(ex, with({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/c"}}), custom).source,
               Catch::Contains("container"));
    CHECK_THAT(what_of([&] { make_credentials_chain(ex, with({{"AWS_EC2_METADATA_DISABLED", "TRUE"}}), {}); }),
               Catch::Contains("AWS_EC2_METADATA_DISABLED"));
    // Half a key pair is still an error, not a reason to go probing.
    CHECK_THAT(what_of([&] { make_credentials_chain(ex, with({{"AWS_ACCESS_KEY_ID", "AK"}}), {}); }),
               Catch::Contains("AWS_SECRET_ACCESS_KEY is not set"));
    // A profile asked for by name must exist; the default one may be absent.
    CHECK_THAT(what_of([&] { make_credentials_chain(ex, with({{"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/c"}}), {}); }),
               Catch::Contains("/nonexistent/c"));
    CHECK_THAT(what_of([&] { make_credentials_chain(ex, with({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.1.1/"}}), {}); }),
               Catch::Contains("must use https"));
}

TEST_CASE("A shared credentials file without the default profile lets later sources apply", "[unit][credentials]") {
    boost::asio::io_context ioc;
    const auto file = std::filesystem::temp_directory_path() / ("scb-chain-" + std::to_string(::getpid()));
    std::ofstream(file) << "[other]\naws_access_key_id = AKOTHER\naws_secret_access_key = SOTHER\n";
    auto env = [&](std::map<std::string, std::string> vars) {
        vars["AWS_SHARED_CREDENTIALS_FILE"] = file.string();
        return fake_env(vars);
    };
    CHECK_THAT(make_credentials_chain(ioc.get_executor(), env({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/c"}}), {}).source,
               Catch::Contains("container"));
    CHECK_THAT(make_credentials_chain(ioc.get_executor(), env({{"AWS_PROFILE", "other"}}), {}).source,
               Catch::Contains("[other]"));
    CHECK_THAT(what_of([&] { make_credentials_chain(ioc.get_executor(), env({{"AWS_PROFILE", "missing"}}), {}); }),
               Catch::Contains("profile [missing] not found"));
    chain_options by_flag;
    by_flag.files.profile = "missing";
    CHECK_THROWS_AS(make_credentials_chain(ioc.get_executor(), env({}), by_flag), credentials_error);
    // load_static_credentials (no later sources) still names the missing default profile.
    CHECK_THROWS_WITH(load_static_credentials(env({})), Catch::Contains("profile [default] not found"));
    std::filesystem::remove(file);
}

TEST_CASE("Container and metadata URL errors never quote a user:password", "[unit][credentials]") {
    auto what = [](std::map<std::string, std::string> vars) {
        try {
            (void)container_endpoint(fake_env(vars));
            (void)imds_endpoint(fake_env(vars));
        } catch (const credentials_error& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    for (const char* url : {"http://u:hunter2@10.0.0.5 x/creds", "http://u:hunter2@10.0.0.5/creds",
                            "https://u:hunter2@creds.example.com:99999/", "gopher://u:hunter2@creds/"}) {
        CAPTURE(url);
        const auto full = what({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", url}});
        CHECK_THAT(full, Catch::Contains("AWS_CONTAINER_CREDENTIALS_FULL_URI") && !Catch::Contains("hunter2"));
        const auto imds = what({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", url}});
        CHECK_THAT(imds, Catch::Contains("AWS_EC2_METADATA_SERVICE_ENDPOINT") && !Catch::Contains("hunter2"));
    }
    CHECK_THAT(what({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://u:hunter2@10.0.0.5 x/creds"}}),
               Catch::Contains("http://***@10.0.0.5 x/creds"));
    // The scheme in any case, as everywhere else.
    CHECK(what({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "HTTP://127.0.0.1:8080/creds"}}) == "(no error)");
}

TEST_CASE("Web identity sits after the files and before the container endpoint; its STS endpoint", "[unit][credentials]") {
    boost::asio::io_context ioc;
    auto ex = ioc.get_executor();
    auto with = [&](std::map<std::string, std::string> vars) {
        vars.emplace("HOME", "/nonexistent-home");
        return fake_env(vars);
    };
    const std::map<std::string, std::string> irsa{{"AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/eks/token"},
                                                  {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/scb"}};
    chain_options eu;
    eu.region = "eu-central-1";
    auto both = irsa;
    both.emplace("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/c");
    auto chain = make_credentials_chain(ex, with(both), eu);
    CHECK_THAT(chain.source, Catch::Contains("web identity (AWS_ROLE_ARN arn:aws:iam::123456789012:role/scb at STS "
                                             "https://sts.eu-central-1.amazonaws.com)"));
    auto keys = irsa;
    keys.emplace("AWS_ACCESS_KEY_ID", "AK");
    keys.emplace("AWS_SECRET_ACCESS_KEY", "S");
    CHECK_THAT(make_credentials_chain(ex, with(keys), eu).source, Catch::Contains("environment"));

    auto legacy = irsa;
    legacy.emplace("AWS_STS_REGIONAL_ENDPOINTS", "legacy");
    CHECK(web_identity_from_env(with(legacy), "eu-central-1")->sts.origin() == "https://sts.amazonaws.com");
    auto custom = irsa;
    custom.emplace("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:4566");
    auto wi = web_identity_from_env(with(custom), "us-east-1");
    CHECK(wi->sts.origin() == "http://127.0.0.1:4566");
    CHECK_THAT(wi->session_name, Catch::StartsWith("scb-backup-"));
    CHECK_FALSE(web_identity_from_env(with({}), "us-east-1"));
    CHECK_THAT(what_of([&] { web_identity_from_env(with({{"AWS_ROLE_ARN", "arn:aws:iam::1:role/x"}}), "us-east-1"); }),
               Catch::Contains("without AWS_WEB_IDENTITY_TOKEN_FILE"));
    CHECK_THAT(what_of([&] { web_identity_from_env(with({{"AWS_WEB_IDENTITY_TOKEN_FILE", "/t"}}), "us-east-1"); }),
               Catch::Contains("without AWS_ROLE_ARN"));
}

TEST_CASE("STS's AssumeRoleWithWebIdentity answer is parsed; a missing field is named, never a value", "[unit][credentials]") {
    const std::string ok = R"(<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <SessionToken>session-token</SessionToken>
      <Expiration>2026-12-02T23:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>)";
    auto c = parse_web_identity_credentials(ok);
    CHECK(c.creds.access_key_id == "ASIAEXAMPLE");
    CHECK(c.creds.session_token.reveal() == "session-token");
    REQUIRE(c.expiration);
    std::string no_secret = ok;
    no_secret.replace(no_secret.find("<SecretAccessKey>"), std::string("<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>").size(), "");
    CHECK_THAT(what_of([&] { parse_web_identity_credentials(no_secret); }), Catch::Contains("no SecretAccessKey"));
    CHECK_THAT(what_of([&] { parse_web_identity_credentials("not xml <"); }), Catch::Contains("not XML"));
    CHECK_THAT(what_of([&] { parse_web_identity_credentials("<Other/>"); }), Catch::Contains("no AssumeRoleWithWebIdentityResult"));
}

TEST_CASE("Text a credential server sent is shown escaped, on one line (Expiration, Code)", "[credentials]") {
    auto bad_time = nlohmann::json::parse(imds_good);
    bad_time["Expiration"] = "2026-12-03\n\x1b[31mforged log line";
    for (const auto& msg : {what_of([&] { parse_imds_credentials(bad_time.dump()); }),
                            what_of([&] { parse_container_credentials(bad_time.dump()); })}) {
        CAPTURE(msg);
        CHECK(msg.find_first_of("\n\x1b") == std::string::npos);
        CHECK_THAT(msg, Catch::Contains("Expiration") && Catch::Contains("\\x0a"));
    }
    auto bad_code = nlohmann::json::parse(imds_good);
    bad_code["Code"] = "Failure\r\nforged";
    const auto msg = what_of([&] { parse_imds_credentials(bad_code.dump()); });
    CAPTURE(msg);
    CHECK(msg.find_first_of("\r\n") == std::string::npos);
    CHECK_THAT(msg, Catch::Contains("not Success"));
}
