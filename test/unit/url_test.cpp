// scb::http::parse_url, the one parser for the http(s) URLs a person configures, and redacted(),
// the one way to show them.
#include "http/url.hpp"

#include <catch2/catch.hpp>

using scb::http::parse_url;
using scb::http::redacted;

TEST_CASE("parse_url splits http(s) URLs into host, port and target", "[unit][url]") {
    auto plain = parse_url("http://example.com");
    REQUIRE(plain);
    CHECK_FALSE(plain.value.tls);
    CHECK(plain.value.host == "example.com");
    CHECK(plain.value.port == 80);
    CHECK(plain.value.target == "/");
    CHECK(plain.value.path.empty());
    CHECK(plain.value.host_header() == "example.com");
    CHECK(plain.value.origin() == "http://example.com");

    auto full = parse_url("https://hc-ping.com:8443/abc-uuid?create=1#frag");
    REQUIRE(full);
    CHECK(full.value.tls);
    CHECK(full.value.port == 8443);
    CHECK(full.value.path == "/abc-uuid");
    CHECK(full.value.target == "/abc-uuid?create=1");
    CHECK(full.value.has_query);
    CHECK(full.value.has_fragment);
    CHECK(full.value.host_header() == "hc-ping.com:8443");
    CHECK(full.value.origin() == "https://hc-ping.com:8443");  // no path: it may be the secret

    auto v6 = parse_url("http://[fd00:ec2::23]/v1/credentials");
    REQUIRE(v6);
    CHECK(v6.value.ipv6);
    CHECK(v6.value.host == "fd00:ec2::23");
    CHECK(v6.value.host_header() == "[fd00:ec2::23]");
    CHECK(parse_url("https://[::1]:443/").value.host_header() == "[::1]");  // the default port is left out
    CHECK(parse_url("http://host:/x").value.port == 80);                    // an empty port is the default

    auto user = parse_url("https://key:secret@minio.lan/");
    REQUIRE(user);
    CHECK(user.value.has_userinfo);
    CHECK(user.value.host == "minio.lan");
}

TEST_CASE("parse_url takes the scheme in any case", "[unit][url]") {
    for (const char* text : {"HTTP://h/", "Http://h/", "HTTPS://h/", "hTtPs://h/"}) {
        CAPTURE(text);
        auto r = parse_url(text);
        CHECK(r);
        CHECK(r.value.tls == (std::string_view(text).size() == 10));
    }
}

TEST_CASE("parse_url refuses what no connection can use, in one line", "[unit][url]") {
    CHECK(parse_url("127.0.0.1:9000").problem == "is not an absolute URL like https://host:port/path");
    CHECK(parse_url("localhost:9000").problem == "must start with http:// or https://");
    CHECK(parse_url("minio.lan").problem == "is not an absolute URL like https://host:port/path");
    CHECK(parse_url("ftp://h/").problem == "must start with http:// or https://");
    CHECK(parse_url("http:///path").problem == "has no host");
    CHECK(parse_url("http:path").problem == "has no host");
    CHECK(parse_url("http://h:0/").problem == "has port 0, outside 1-65535");
    CHECK(parse_url("http://h:65536/").problem == "has port 65536, outside 1-65535");
    CHECK(parse_url("http://h:65535/").value.port == 65535);
    CHECK(parse_url("http://h:00080/").value.port == 80);
    CHECK(parse_url("http://h:99999999999999999999999/").problem == "has port 999999999999..., outside 1-65535");
    CHECK(parse_url("http://[v1.x]/").problem == "has a host that is neither a name nor an IP address");
    CHECK(parse_url("http://a b/").problem == "is not an absolute URL like https://host:port/path");
    // Found by url_fuzz: Boost.URL took host "minter2" and path "@minio.lan:9000/b1".
    CHECK(parse_url("https://user:hunter2@minter2@minio.lan:9000/b1").problem ==
          "is not a valid URL (an unencoded '@' in the user:password? write it as %40)");
}

TEST_CASE("redacted hides user:password, also in text that does not parse", "[unit][url]") {
    CHECK(redacted("https://minio.lan:9000/base") == "https://minio.lan:9000/base");
    CHECK(redacted("https://key:secret@minio.lan:9000/base") == "https://***@minio.lan:9000/base");
    CHECK(redacted("https://key@minio.lan") == "https://***@minio.lan");
    // An '@' in the path is not userinfo when the URL parses.
    CHECK(redacted("https://minio.lan/a@b") == "https://minio.lan/a@b");
    CHECK(redacted("https://k:s@minio.lan/a@b") == "https://***@minio.lan/a@b");
    // Unparsable: everything up to the last '@' goes, even a password holding '/' or '#'.
    CHECK(redacted("http://key:sec/ret@minio lan") == "http://***@minio lan");
    CHECK(redacted("http://key:se#cret@host:99999999999999999999") == "http://***@host:99999999999999999999");
    CHECK(redacted("key:secret@minio.lan:9000") == "***@minio.lan:9000");  // no scheme at all
    CHECK(redacted("not a url") == "not a url");
    CHECK(redacted("") == "");
}

TEST_CASE("redacted hides a password that holds an unencoded '?' or '#'", "[unit][url]") {
    // These parse, with the password's tail read as query or fragment: hidden all the same.
    CHECK(redacted("http://key:se#cret@host/") == "http://***@host/");
    CHECK(redacted("http://key:12?cret@host/") == "http://***@host/");
    // An '@' in a path is not hidden.
    CHECK(redacted("http://host:9000/a@b?x=1") == "http://host:9000/a@b?x=1");
}
