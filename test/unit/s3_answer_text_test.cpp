// How the client words what S3 (or the TLS layer) answered: sizes, certificate failures, redirects.
#include "http/connection.hpp"
#include "s3/error.hpp"

#include <catch2/catch.hpp>
#include <openssl/x509_vfy.h>

using namespace scb::s3;
using scb::http::describe_size;
using scb::http::describe_verify_failure;
using scb::http::small_body_limit;

TEST_CASE("Body limits are worded as people read them", "[unit][s3]") {
    CHECK(describe_size(small_body_limit) == "64 KiB");
    CHECK(describe_size(256u * 1024 * 1024) == "256 MiB");
    CHECK(describe_size(1536) == "1536 bytes");
    CHECK(describe_size(2048) == "2 KiB");
    CHECK(describe_size(1000) == "1000 bytes");
}

TEST_CASE("A refused certificate says why: expired, wrong host name, unknown CA", "[unit][s3][tls]") {
    CHECK(describe_verify_failure(X509_V_OK, "s3.example").empty());
    CHECK_THAT(describe_verify_failure(X509_V_ERR_CERT_HAS_EXPIRED, "s3.example"),
               Catch::Contains("has expired") && Catch::Contains("certificate has expired"));
    CHECK_THAT(describe_verify_failure(X509_V_ERR_HOSTNAME_MISMATCH, "s3.example"),
               Catch::Contains("not valid for s3.example") && Catch::Contains("wrong host name"));
    CHECK_THAT(describe_verify_failure(X509_V_ERR_IP_ADDRESS_MISMATCH, "10.0.0.1"),
               Catch::Contains("not valid for 10.0.0.1"));
    for (long unknown : {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                         X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT}) {
        CAPTURE(unknown);
        CHECK_THAT(describe_verify_failure(unknown, "h"), Catch::Contains("unknown CA") && Catch::Contains("AWS_CA_BUNDLE"));
    }
    CHECK_THAT(describe_verify_failure(X509_V_ERR_CERT_REVOKED, "h"),
               Catch::Contains("refused") && Catch::Contains("[OpenSSL: certificate revoked]"));
}

TEST_CASE("PermanentRedirect advises AWS_REGION; NoSuchBucket names the bucket", "[unit][s3]") {
    auto moved = parse_error_response(301, "<Error><Code>PermanentRedirect</Code><Message>m</Message></Error>");
    CHECK(moved.code == errc::wrong_region);
    CHECK_FALSE(is_retryable(moved.code));
    CHECK_THAT(moved.describe(), Catch::Contains("set AWS_REGION to the bucket's region"));
    moved.bucket_region = "eu-west-3";
    CHECK_THAT(moved.describe(), Catch::Contains("region eu-west-3: set AWS_REGION=eu-west-3"));

    auto temporary = parse_error_response(307, "<Error><Code>TemporaryRedirect</Code></Error>");
    CHECK(temporary.code == errc::temporary_redirect);
    CHECK(name(temporary.code) == "TemporaryRedirect");

    auto missing = parse_error_response(404, "<Error><Code>NoSuchBucket</Code></Error>");
    missing.bucket = "my-backups";
    CHECK_THAT(missing.describe(), Catch::Contains("no bucket \"my-backups\"") && Catch::Contains("S3_BUCKET_NAME"));
}
