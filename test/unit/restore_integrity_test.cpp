// restore/integrity: a downloaded body is refused unless it matches its key and S3's checksum.
#include "restore/integrity.hpp"

#include "crypto/hash.hpp"

#include <catch2/catch.hpp>

using namespace scb;
using namespace scb::restore;

namespace {
const std::string body(200, 'x');
std::string suffix(std::string_view b) { return crypto::sha256_hex(b).substr(58); }

s3::object_info head_of(std::string_view b) {
    s3::object_info h;
    h.key = "n/channel-20261125T054233.123Z-" + suffix(b) + ".backup";
    h.size = b.size();
    return h;
}
}  // namespace

TEST_CASE("restore: a body matching the suffix and S3's stored SHA-256 is accepted", "[unit][restore]") {
    auto h = head_of(body);
    h.checksum_sha256 = crypto::base64(crypto::sha256(body));
    h.etag = "ffffffffffffffffffffffffffffffff";  // ignored when a SHA-256 is stored (SSE-KMS ETags are not MD5)
    auto r = check_body(body, suffix(body), h);
    INFO(r.problem);
    CHECK(r.ok);
    CHECK(r.stored == stored_check::sha256);
    CHECK(r.sha256_hex == crypto::sha256_hex(body));
    CHECK_THAT(r.checked(), Catch::Contains("x-amz-checksum-sha256"));
}

TEST_CASE("restore: without a stored SHA-256 the MD5 ETag is checked (s3rver, single-part)", "[unit][restore]") {
    auto h = head_of(body);
    h.etag = crypto::hex(crypto::md5(body));
    auto r = check_body(body, suffix(body), h);
    CHECK(r.ok);
    CHECK(r.stored == stored_check::md5_etag);

    h.etag = "0123456789abcdef0123456789abcdef";
    r = check_body(body, suffix(body), h);
    CHECK_FALSE(r.ok);
    CHECK_THAT(r.problem, Catch::Contains("ETag"));
}

TEST_CASE("restore: a multipart ETag leaves only the suffix to check", "[unit][restore]") {
    auto h = head_of(body);
    h.etag = "0123456789abcdef0123456789abcdef-3";
    auto r = check_body(body, suffix(body), h);
    CHECK(r.ok);
    CHECK(r.stored == stored_check::none);
}

TEST_CASE("restore: every mismatch is refused with both values named", "[unit][restore]") {
    auto h = head_of(body);
    h.checksum_sha256 = crypto::base64(crypto::sha256(body));

    auto wrong_suffix = check_body(body, "000000", h);
    CHECK_FALSE(wrong_suffix.ok);
    CHECK_THAT(wrong_suffix.problem, Catch::Contains("000000") && Catch::Contains(crypto::sha256_hex(body)));

    const std::string other(200, 'y');
    auto h2 = head_of(body);
    h2.checksum_sha256 = crypto::base64(crypto::sha256(other));
    auto wrong_stored = check_body(body, suffix(body), h2);
    CHECK_FALSE(wrong_stored.ok);
    CHECK_THAT(wrong_stored.problem, Catch::Contains("stored checksum"));

    auto h3 = head_of(body);
    h3.size = body.size() + 1;
    auto truncated = check_body(body, suffix(body), h3);
    CHECK_FALSE(truncated.ok);
    CHECK_THAT(truncated.problem, Catch::Contains("201"));

    const std::string tiny(10, 'z');
    auto small = check_body(tiny, suffix(tiny), head_of(tiny));
    CHECK_FALSE(small.ok);
    CHECK_THAT(small.problem, Catch::Contains("45"));
}
