#include "s3/client.hpp"
#include "s3/error.hpp"

#include <catch2/catch.hpp>

using namespace scb::s3;

TEST_CASE("S3 error XML becomes a typed error with code, message and request id", "[unit][s3]") {
    auto e = parse_error_response(403, R"(<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message>
<RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>)");
    CHECK(e.code == errc::signature_mismatch);
    CHECK(e.s3_code == "SignatureDoesNotMatch");
    CHECK(e.request_id == "4442587FB7D0A2F9");
    CHECK_FALSE(is_retryable(e.code));
    const auto line = e.describe();
    CHECK(line.find("SignatureDoesNotMatch (HTTP 403)") != std::string::npos);
    CHECK(line.find("AWS_SECRET_ACCESS_KEY") != std::string::npos);
    CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("S3 error classes decide what is retried", "[unit][s3]") {
    CHECK(parse_error_response(404, "<Error><Code>NoSuchBucket</Code></Error>").code == errc::no_such_bucket);
    CHECK(parse_error_response(503, "<Error><Code>SlowDown</Code></Error>").code == errc::throttled);
    CHECK(parse_error_response(500, "<Error><Code>InternalError</Code></Error>").code == errc::server_error);
    CHECK(parse_error_response(400, "<Error><Code>BadDigest</Code></Error>").code == errc::bad_digest);
    CHECK(parse_error_response(403, "<Error><Code>RequestTimeTooSkewed</Code></Error>").code == errc::clock_skew);
    CHECK(parse_error_response(403, "<Error><Code>AccessDenied</Code></Error>").code == errc::access_denied);
    CHECK(is_retryable(errc::throttled));
    CHECK(is_retryable(errc::server_error));
    CHECK(is_retryable(errc::timeout));
    CHECK_FALSE(is_retryable(errc::no_such_bucket));
    CHECK_FALSE(is_retryable(errc::access_denied));
    CHECK_FALSE(is_retryable(errc::invalid_access_key));
}

TEST_CASE("A body that is not S3 XML still yields an error from the status", "[unit][s3]") {
    auto html = parse_error_response(502, "<html><body>Bad gateway</body>");
    CHECK(html.code == errc::server_error);
    CHECK(html.s3_code.empty());
    CHECK(html.describe().find("HTTP 502") != std::string::npos);
    CHECK(parse_error_response(403, "").code == errc::access_denied);
    CHECK(parse_error_response(404, "").code == errc::no_such_key);
    CHECK(parse_error_response(400, "garbage<<<").code == errc::client_error);
}

TEST_CASE("ListObjectsV2 XML gives objects and the continuation token", "[unit][s3]") {
    auto page = parse_list_objects(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>p/</Prefix>
<KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
<Contents><Key>p/a &amp; b.backup</Key><LastModified>2026-11-25T05:42:33.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>1234</Size></Contents>
<Contents><Key>p/z</Key><Size>5</Size></Contents></ListBucketResult>)");
    REQUIRE(page.objects.size() == 2);
    CHECK(page.objects[0].key == "p/a & b.backup");
    CHECK(page.objects[0].size == 1234);
    CHECK(page.objects[0].etag == "\"abc\"");
    CHECK(page.next_continuation_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

    auto last = parse_list_objects("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
    CHECK(last.objects.empty());
    CHECK(last.next_continuation_token.empty());
    CHECK_THROWS(parse_list_objects("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"));
    CHECK_THROWS(parse_list_objects("<Error/>"));
    CHECK_THROWS(parse_list_objects("not xml <"));
}

namespace {
bool has_control_byte(const std::string& s) {
    for (char c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
    return false;
}
}  // namespace

TEST_CASE("S3's error code, message and request id are capped at 512 bytes and escaped", "[unit][s3]") {
    // 20 MB of message full of terminal escapes: one short printable line, at every retry.
    std::string message;
    while (message.size() < 20'000'000) message += "\x1b[31mred\x1b[0m \x1b]0;title\x07 line\nbreak ";
    const std::string code(2000, 'C');
    auto e = parse_error_response(500, "<Error><Code>" + code + "\x1b[2J</Code><Message>" + message +
                                           "</Message><RequestId>\x1b[1m" + std::string(1000, 'R') +
                                           "</RequestId></Error>");
    CHECK(e.code == errc::server_error);
    CHECK(e.message.size() <= 512);
    CHECK(e.s3_code.size() <= 512);
    CHECK(e.request_id.size() <= 512);
    CHECK(e.message.starts_with("\\x1b[31mred\\x1b[0m \\x1b]0;title\\x07 line"));
    CHECK(e.message.ends_with("..."));
    CHECK(e.request_id.starts_with("\\x1b[1mRRR"));
    const auto line = e.describe();
    CHECK_FALSE(has_control_byte(line));
    CHECK(line.size() < 2000);
    // A well-formed answer is unchanged.
    auto plain = parse_error_response(503, "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
    CHECK(plain.s3_code == "SlowDown");
    CHECK(plain.message == "Please reduce your request rate.");
}

TEST_CASE("Redirects: 301 PermanentRedirect needs the operator, 307 TemporaryRedirect is retried", "[unit][s3]") {
    CHECK_FALSE(is_retryable(classify(301, "PermanentRedirect")));
    CHECK_FALSE(is_retryable(classify(301, "")));
    CHECK(is_retryable(classify(307, "TemporaryRedirect")));
    CHECK(is_retryable(classify(307, "")));
    CHECK(is_retryable(parse_error_response(307, "").code));
}
