#include "s3/endpoint.hpp"

#include <catch2/catch.hpp>

using namespace scb::s3;

TEST_CASE("AWS endpoints are virtual-hosted by region", "[unit][endpoint]") {
    auto ep = resolve_endpoint({"eu-west-1", "", addressing_style::automatic}, "my-bucket");
    CHECK(ep.tls);
    CHECK(ep.host == "my-bucket.s3.eu-west-1.amazonaws.com");
    CHECK(ep.host_header == ep.host);
    CHECK(ep.port == "443");
    CHECK(ep.object_path("node1/channel-x.backup") == "/node1/channel-x.backup");
    CHECK(ep.bucket_path() == "/");
}

TEST_CASE("Buckets with dots and path style use the service host", "[unit][endpoint]") {
    auto dotted = resolve_endpoint({"us-east-1", "", addressing_style::automatic}, "my.bucket");
    CHECK(dotted.path_style);
    CHECK(dotted.host == "s3.us-east-1.amazonaws.com");
    CHECK(dotted.object_path("k") == "/my.bucket/k");
    auto forced = resolve_endpoint({"us-east-1", "", addressing_style::path}, "plain");
    CHECK(forced.host == "s3.us-east-1.amazonaws.com");
    CHECK(forced.bucket_path() == "/plain/");
}

TEST_CASE("Custom endpoints are path style with the port in Host", "[unit][endpoint]") {
    auto ep = resolve_endpoint({"us-east-1", "http://127.0.0.1:4569", addressing_style::automatic}, "scb-test");
    CHECK_FALSE(ep.tls);
    CHECK(ep.host == "127.0.0.1");
    CHECK(ep.port == "4569");
    CHECK(ep.host_header == "127.0.0.1:4569");
    CHECK(ep.object_path("a b+c=~%€/d") == "/scb-test/a%20b%2Bc%3D~%25%E2%82%AC/d");

    auto base = resolve_endpoint({"us-east-1", "https://minio.lan/s3/", addressing_style::automatic}, "b-1");
    CHECK(base.tls);
    CHECK(base.port == "443");
    CHECK(base.host_header == "minio.lan");
    CHECK(base.object_path("k") == "/s3/b-1/k");

    auto virt = resolve_endpoint({"us-east-1", "https://minio.lan:9000", addressing_style::virtual_hosted}, "b-1");
    CHECK(virt.host == "b-1.minio.lan");
    CHECK(virt.host_header == "b-1.minio.lan:9000");
    CHECK(virt.object_path("k") == "/k");
}

TEST_CASE("Malformed endpoints and bucket names are refused with a reason", "[unit][endpoint]") {
    CHECK_THROWS_AS(resolve_endpoint({"us-east-1", "127.0.0.1:9000", {}}, "bucket"), endpoint_error);
    CHECK_THROWS_AS(resolve_endpoint({"us-east-1", "ftp://host", {}}, "bucket"), endpoint_error);
    CHECK_THROWS_AS(resolve_endpoint({"us-east-1", "http://user:pw@host", {}}, "bucket"), endpoint_error);
    CHECK_THROWS_AS(resolve_endpoint({"us-east-1", "http://host/?x=1", {}}, "bucket"), endpoint_error);
    CHECK(bucket_name_problem("ok-bucket.1") == std::nullopt);
    CHECK(bucket_name_problem("ab"));
    CHECK(bucket_name_problem("Upper"));
    CHECK(bucket_name_problem("-dash"));
    CHECK(bucket_name_problem("a..b"));
    CHECK(bucket_name_problem("192.168.1.1"));
    CHECK(bucket_name_problem(std::string(64, 'a')));
    CHECK_THROWS_WITH(resolve_endpoint({"us-east-1", "", {}}, "Bad_Bucket"), Catch::Contains("Bad_Bucket"));
    CHECK(parse_addressing_style("virtual") == addressing_style::virtual_hosted);
    CHECK_FALSE(parse_addressing_style("vhost"));
}

TEST_CASE("Endpoint URLs take the scheme in any case and refuse ports outside 1-65535", "[unit][endpoint]") {
    auto upper = resolve_endpoint({"us-east-1", "HTTP://127.0.0.1:9000", addressing_style::automatic}, "scb-test");
    CHECK_FALSE(upper.tls);
    CHECK(upper.port == "9000");
    CHECK(upper.origin() == "http://127.0.0.1:9000");
    CHECK(resolve_endpoint({"us-east-1", "Https://minio.lan", {}}, "scb-test").tls);
    // An explicit default port is left out of Host, as SigV4 signs it.
    CHECK(resolve_endpoint({"us-east-1", "https://minio.lan:443", {}}, "scb-test").host_header == "minio.lan");
    auto v6 = resolve_endpoint({"us-east-1", "http://[::1]:9000", {}}, "scb-test");
    CHECK(v6.host == "::1");
    CHECK(v6.host_header == "[::1]:9000");
    CHECK_THROWS_WITH(resolve_endpoint({"us-east-1", "http://127.0.0.1:70000", {}}, "scb-test"),
                      Catch::Contains("port 70000, outside 1-65535"));
    CHECK_THROWS_WITH(resolve_endpoint({"us-east-1", "http://127.0.0.1:0", {}}, "scb-test"),
                      Catch::Contains("outside 1-65535"));
}

TEST_CASE("Endpoint errors never quote a user:password", "[unit][endpoint]") {
    auto what = [](const std::string& url) {
        try {
            (void)resolve_endpoint({"us-east-1", url, {}}, "scb-test");
        } catch (const endpoint_error& e) {
            return std::string(e.what());
        }
        return std::string("(no error)");
    };
    // Unparsable (a space), a bad port, a bad scheme, a query: each quotes the URL, none the password.
    for (const char* url : {"http://admin:hunter2@minio lan:9000", "http://admin:hunter2@minio.lan:99999",
                            "ftp://admin:hunter2@minio.lan", "http://admin:hunter2@minio.lan/?x=1",
                            "http://admin:hunter2@minio.lan"}) {
        CAPTURE(url);
        const auto msg = what(url);
        CHECK(msg != "(no error)");
        CHECK_THAT(msg, !Catch::Contains("hunter2"));
    }
    CHECK_THAT(what("http://admin:hunter2@minio lan:9000"), Catch::Contains("http://***@minio lan:9000"));
}
