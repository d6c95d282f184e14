// SigV4 with S3's rules: the four worked examples of the Amazon S3 API reference page "Signature Calculations
// for the Authorization Header: Transferring Payload in a Single Chunk" (sig-v4-header-based-auth.html),
// checked stage by stage, plus the pieces the S3 client relies on (encoding, query, sign(), secrets, dates).
#include "sigv4/signer.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <string>

namespace sigv4 = scb::sigv4;
using namespace std::chrono;

namespace {

constexpr std::string_view example_date = "20130524T000000Z";
constexpr std::string_view example_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr std::string_view empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const sigv4::scope example_scope{"20130524", "us-east-1", "s3"};

sigv4::credentials example_credentials(std::string token = {}) {
    return {"AKIAIOSFODNN7EXAMPLE", scb::secret(std::string(example_secret)), scb::secret(std::move(token))};
}

// A request as the S3 client builds it: host and x-amz-content-sha256 set, x-amz-date left to sign().
sigv4::request s3_request(std::string method, std::string path, std::string query, std::string payload_hash) {
    sigv4::request r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.query = std::move(query);
    r.headers.push_back({"Host", "examplebucket.s3.amazonaws.com"});
    r.headers.push_back({"x-amz-content-sha256", payload_hash});
    r.payload_hash = std::move(payload_hash);
    return r;
}

std::string sts_for(std::string_view canonical_request_hash) {
    return "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n" +
           std::string(canonical_request_hash);
}

// Signs with sign() and checks every stage against the documented values.
void check_example(sigv4::request r, const std::string& creq, std::string_view creq_hash,
                   std::string_view sig, std::string_view signed_list) {
    const auto creds = example_credentials();
    const std::string authz = sigv4::sign(r, creds, example_scope, example_date, sigv4::s3_rules);

    const std::string actual_creq = sigv4::canonical_request(r, sigv4::s3_rules);
    REQUIRE(actual_creq == creq);
    const std::string actual_sts = sigv4::string_to_sign(example_date, example_scope, actual_creq);
    REQUIRE(actual_sts == sts_for(creq_hash));
    const auto key = sigv4::signing_key(creds.secret_access_key, example_scope);
    CHECK(sigv4::signature(key, actual_sts) == sig);
    CHECK(sigv4::signed_headers(r) == signed_list);
    // AWS's page prints the header without spaces after the commas; both forms are accepted, and we use
    // the ", " form of the general SigV4 documentation and the test suite.
    const std::string expected_authz =
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=" +
        std::string(signed_list) + ", Signature=" + std::string(sig);
    CHECK(authz == expected_authz);
}

}  // namespace

TEST_CASE("sigv4: S3 example GET Object", "[unit][sigv4][s3]") {
    auto r = s3_request("GET", "/test.txt", "", std::string(empty_sha256));
    r.headers.push_back({"Range", "bytes=0-9"});
    check_example(std::move(r),
                  "GET\n/test.txt\n\n"
                  "host:examplebucket.s3.amazonaws.com\n"
                  "range:bytes=0-9\n"
                  "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                  "x-amz-date:20130524T000000Z\n\n"
                  "host;range;x-amz-content-sha256;x-amz-date\n"
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                  "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
                  "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
                  "host;range;x-amz-content-sha256;x-amz-date");
}

TEST_CASE("sigv4: S3 example PUT Object, '$' encoded once by the client", "[unit][sigv4][s3]") {
    const std::string body_hash = scb::crypto::sha256_hex("Welcome to Amazon S3.");
    REQUIRE(body_hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    // The client encodes the key; with s3_rules the signer then uses the path exactly as sent.
    const std::string path = sigv4::uri_encode("/test$file.text", false);
    REQUIRE(path == "/test%24file.text");
    auto r = s3_request("PUT", path, "", body_hash);
    r.headers.push_back({"Date", "Fri, 24 May 2013 00:00:00 GMT"});
    r.headers.push_back({"x-amz-storage-class", "REDUCED_REDUNDANCY"});
    check_example(std::move(r),
                  "PUT\n/test%24file.text\n\n"
                  "date:Fri, 24 May 2013 00:00:00 GMT\n"
                  "host:examplebucket.s3.amazonaws.com\n"
                  "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072\n"
                  "x-amz-date:20130524T000000Z\n"
                  "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
                  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
                  "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                  "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
                  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
                  "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
}

TEST_CASE("sigv4: S3 example GET Bucket Lifecycle", "[unit][sigv4][s3]") {
    check_example(s3_request("GET", "/", "lifecycle", std::string(empty_sha256)),
                  "GET\n/\nlifecycle=\n"
                  "host:examplebucket.s3.amazonaws.com\n"
                  "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                  "x-amz-date:20130524T000000Z\n\n"
                  "host;x-amz-content-sha256;x-amz-date\n"
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                  "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
                  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
                  "host;x-amz-content-sha256;x-amz-date");
}

TEST_CASE("sigv4: S3 example GET Bucket (List Objects)", "[unit][sigv4][s3]") {
    check_example(s3_request("GET", "/", "max-keys=2&prefix=J", std::string(empty_sha256)),
                  "GET\n/\nmax-keys=2&prefix=J\n"
                  "host:examplebucket.s3.amazonaws.com\n"
                  "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
                  "x-amz-date:20130524T000000Z\n\n"
                  "host;x-amz-content-sha256;x-amz-date\n"
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                  "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
                  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
                  "host;x-amz-content-sha256;x-amz-date");
}

TEST_CASE("sigv4: signing key derivation", "[unit][sigv4]") {
    const auto key = sigv4::signing_key(scb::secret(std::string(example_secret)), example_scope);
    CHECK(scb::crypto::hex(key) == "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378");
    CHECK(example_scope.to_string() == "20130524/us-east-1/s3/aws4_request");
}

TEST_CASE("sigv4: uri_encode keeps only the unreserved characters", "[unit][sigv4]") {
    const std::string input = " +=~%\xE2\x82\xAC/";  // the last but one is the euro sign in UTF-8
    CHECK(sigv4::uri_encode(input, false) == "%20%2B%3D~%25%E2%82%AC/");
    CHECK(sigv4::uri_encode(input, true) == "%20%2B%3D~%25%E2%82%AC%2F");
    CHECK(sigv4::uri_encode("AZaz09-_.~", true) == "AZaz09-_.~");
    CHECK(sigv4::uri_encode("a$b:c@d!e*f'g(h)", false) == "a%24b%3Ac%40d%21e%2Af%27g%28h%29");
    CHECK(sigv4::uri_encode("", true).empty());
    CHECK(sigv4::uri_encode(std::string("\0\xff", 2), true) == "%00%FF");
}

TEST_CASE("sigv4: canonical_query decodes, re-encodes and sorts", "[unit][sigv4]") {
    SECTION("empty query and empty values") {
        CHECK(sigv4::canonical_query("").empty());
        CHECK(sigv4::canonical_query("lifecycle") == "lifecycle=");
        CHECK(sigv4::canonical_query("a=") == "a=");
        CHECK(sigv4::canonical_query("uploads&prefix=") == "prefix=&uploads=");
        CHECK(sigv4::canonical_query("a=1&&b=2&") == "a=1&b=2");  // empty pieces are no parameters
    }
    SECTION("sorted by name, then by value, on the encoded form") {
        CHECK(sigv4::canonical_query("prefix=J&max-keys=2") == "max-keys=2&prefix=J");
        CHECK(sigv4::canonical_query("Param1=value2&Param1=Value1") == "Param1=Value1&Param1=value2");
        CHECK(sigv4::canonical_query("b=2&a=1&a=0&A=9") == "A=9&a=0&a=1&b=2");  // bytewise: upper case first
        CHECK(sigv4::canonical_query("Param-3=Value3&Param=Value2&%E1%88%B4=Value1") ==
              "%E1%88%B4=Value1&Param=Value2&Param-3=Value3");
    }
    SECTION("encoded input comes out canonically encoded") {
        CHECK(sigv4::canonical_query("prefix=a%2fb%20c") == "prefix=a%2Fb%20c");
        CHECK(sigv4::canonical_query("prefix=a/b c") == "prefix=a%2Fb%20c");
        CHECK(sigv4::canonical_query("k=%7E%41") == "k=~A");              // needless escapes are undone
        CHECK(sigv4::canonical_query("a=b=c") == "a=b%3Dc");              // only the first '=' splits
        CHECK(sigv4::canonical_query("a=b+c") == "a=b%2Bc");              // '+' is a plus, not a space
        CHECK(sigv4::canonical_query("a=%zz&b=%4") == "a=%25zz&b=%254");  // malformed escapes stay literal
    }
}

TEST_CASE("sigv4: canonical_request under S3 and generic rules", "[unit][sigv4]") {
    sigv4::request r;
    r.method = "GET";
    r.path = "//a/./b/../c%20d";
    r.headers = {
        {"Host", "h"}, {"X-Amz-Meta-B", "  two   words\t "}, {"x-amz-meta-a", "1"}, {"X-AMZ-META-A", "2"}};
    r.payload_hash = "UNSIGNED-PAYLOAD";
    const std::string headers_part =
        "host:h\nx-amz-meta-a:1,2\nx-amz-meta-b:two words\n\n"
        "host;x-amz-meta-a;x-amz-meta-b\nUNSIGNED-PAYLOAD";
    // S3 signs the path exactly as sent; the generic rules normalise it, then encode it a second time.
    CHECK(sigv4::canonical_request(r, sigv4::s3_rules) == "GET\n//a/./b/../c%20d\n\n" + headers_part);
    CHECK(sigv4::canonical_request(r, sigv4::generic_rules) == "GET\n/a/c%2520d\n\n" + headers_part);
    CHECK(sigv4::signed_headers(r) == "host;x-amz-meta-a;x-amz-meta-b");

    r.path.clear();
    CHECK(sigv4::canonical_request(r, sigv4::s3_rules).starts_with("GET\n/\n\n"));
}

TEST_CASE("sigv4: sign() adds x-amz-date and the signed session token", "[unit][sigv4]") {
    auto r = s3_request("PUT", "/bucket/channel.backup", "", std::string(empty_sha256));
    const auto creds = example_credentials("FQoGZXIvYXdzEXAMPLETOKEN");
    const std::string authz = sigv4::sign(r, creds, example_scope, example_date, sigv4::s3_rules);

    CHECK(sigv4::signed_headers(r) == "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
    CHECK(authz.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") !=
          std::string::npos);
    REQUIRE(r.headers.size() == 4);
    CHECK(r.headers[2].name == "x-amz-date");
    CHECK(r.headers[2].value == example_date);
    CHECK(r.headers[3].name == "x-amz-security-token");
    CHECK(r.headers[3].value == "FQoGZXIvYXdzEXAMPLETOKEN");
    CHECK(sigv4::canonical_request(r, sigv4::s3_rules)
              .find("\nx-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN\n") != std::string::npos);

    SECTION("signing again (a retry) replaces the headers instead of repeating them") {
        CHECK(sigv4::sign(r, creds, example_scope, example_date, sigv4::s3_rules) == authz);
        CHECK(r.headers.size() == 4);
    }
    SECTION("without a token there is no token header") {
        auto plain = s3_request("GET", "/", "", std::string(empty_sha256));
        (void)sigv4::sign(plain, example_credentials(), example_scope, example_date, sigv4::s3_rules);
        CHECK(sigv4::signed_headers(plain) == "host;x-amz-content-sha256;x-amz-date");
    }
    SECTION("caller bugs are refused") {
        auto no_host = r;
        no_host.headers.erase(no_host.headers.begin());
        CHECK_THROWS_AS(sigv4::sign(no_host, creds, example_scope, example_date, sigv4::s3_rules),
                        std::invalid_argument);
        CHECK_THROWS_AS(sigv4::sign(r, creds, example_scope, "20130525T000000Z", sigv4::s3_rules),
                        std::invalid_argument);
    }
}

TEST_CASE("sigv4: secrets never reach a stream or the Authorization value", "[unit][sigv4]") {
    const std::string token = "FQoGZXIvYXdzEXAMPLETOKEN";
    const auto creds = example_credentials(token);
    std::ostringstream os;
    os << creds;
    CHECK(os.str() ==
          "credentials{access_key_id=AKIAIOSFODNN7EXAMPLE, secret_access_key=***, session_token=***}");
    CHECK(os.str().find(example_secret) == std::string::npos);
    CHECK(os.str().find(token) == std::string::npos);

    auto r = s3_request("GET", "/", "", std::string(empty_sha256));
    const std::string authz = sigv4::sign(r, creds, example_scope, example_date, sigv4::s3_rules);
    CHECK(authz.find(example_secret) == std::string::npos);
    CHECK(authz.find(token) == std::string::npos);
    for (const auto& h : r.headers) CHECK(h.value.find(example_secret) == std::string::npos);
}

TEST_CASE("sigv4: amz_date and date_stamp format UTC", "[unit][sigv4]") {
    const sys_days day = year{2015} / August / 30;
    const auto t = day + 12h + 36min;
    CHECK(sigv4::amz_date(t) == "20150830T123600Z");
    CHECK(sigv4::date_stamp(t) == "20150830");
    CHECK(sigv4::amz_date(t + 999ms) == "20150830T123600Z");  // whole seconds, never rounded up
    CHECK(sigv4::amz_date(system_clock::time_point{}) == "19700101T000000Z");
    CHECK(sigv4::amz_date(sys_days{year{2024} / February / 29} + 23h + 59min + 59s) == "20240229T235959Z");
    CHECK(sigv4::date_stamp(sys_days{year{2024} / February / 29} + 23h + 59min + 59s) == "20240229");
    CHECK(sigv4::amz_date(sys_days{year{1969} / December / 31} + 23h + 59min + 59s + 500ms) ==
          "19691231T235959Z");
}
