// config: several destinations (SCB_DESTINATIONS / --destination), their URLs, names and settings.
#include "config/destinations.hpp"
#include "config/settings.hpp"

#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>

using namespace scb::config;
using Catch::Contains;

namespace {

destination_defaults globals() {
    destination_defaults d;
    d.prefix = "global/";
    d.endpoint.region = "eu-central-1";
    d.endpoint.url = "http://minio.lan:9000";
    d.endpoint.style = scb::s3::addressing_style::automatic;
    d.ca_bundle = "/etc/ssl/global.pem";
    d.object.checksum = scb::s3::checksum_mode::both;
    d.object.sse = "aws:kms";
    d.object.sse_kms_key_id = "global-key";
    d.object.storage_class = "STANDARD_IA";
    d.object.lock_mode = "GOVERNANCE";
    d.object.lock_days = 30;
    return d;
}

destination parse_one(const std::string& url, const destination_defaults& defaults = {}) {
    return parse_destination(url, defaults, "SCB_DESTINATIONS #1");
}

/// The one-line message of the destination_error that parsing `url` throws ("" if none).
std::string error_of(const std::string& url, const destination_defaults& defaults = {}) {
    try {
        (void)parse_destination(url, defaults, "SCB_DESTINATIONS #2");
    } catch (const destination_error& e) {
        return e.what();
    }
    return {};
}

parse_result parse_args(std::vector<std::string> args, std::map<std::string, std::string> vars) {
    args.insert(args.begin(), "scb-backup");
    std::vector<const char*> argv;
    for (auto& a : args) argv.push_back(a.c_str());
    auto env = [vars](const std::string& n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
    std::vector<std::string> names;
    for (const auto& [k, v] : vars) names.push_back(k);
    return parse(static_cast<int>(argv.size()), argv.data(), env, names);
}

std::string usage_message(std::vector<std::string> args, std::map<std::string, std::string> vars) {
    try {
        (void)parse_args(std::move(args), std::move(vars));
    } catch (const usage_error& e) {
        return e.what();
    }
    return {};
}

std::vector<std::string> names_of(const std::vector<destination>& list) {
    std::vector<std::string> out;
    for (const auto& d : list) out.push_back(d.name);
    return out;
}

}  // namespace

TEST_CASE("destinations: an s3 URL with every parameter", "[unit][config][destinations]") {
    const auto d = parse_one(
        "s3://my-b2-bucket/node1/?endpoint=https://s3.us-west-004.backblazeb2.com&region=us-west-004&profile=b2"
        "&addressing=virtual&checksum=sha256&sse=AES256&storage-class=STANDARD&object-lock-mode=COMPLIANCE"
        "&object-lock-days=365&ca-bundle=/etc/b2.pem&name=b2",
        globals());
    CHECK(d.kind == destination_kind::s3);
    CHECK(d.name == "b2");
    CHECK(d.bucket == "my-b2-bucket");
    CHECK(d.prefix == "node1/");
    CHECK(d.endpoint.url == "https://s3.us-west-004.backblazeb2.com");
    CHECK(d.endpoint.region == "us-west-004");
    CHECK(d.endpoint.style == scb::s3::addressing_style::virtual_hosted);
    CHECK(d.profile == "b2");
    CHECK(d.ca_bundle == "/etc/b2.pem");
    CHECK(d.object.checksum == scb::s3::checksum_mode::sha256);
    CHECK(d.object.sse == "AES256");
    CHECK(d.object.sse_kms_key_id.empty());  // belongs to the global aws:kms only
    CHECK(d.object.storage_class == "STANDARD");
    CHECK(d.object.lock_mode == "COMPLIANCE");
    CHECK(d.object.lock_days == 365);
    CHECK(d.origin == "SCB_DESTINATIONS #1");
    CHECK(d.where() == "s3://my-b2-bucket/node1/");

    const auto sse = parse_one("s3://b-1/?sse-kms-key-id=arn:aws:kms:x&sse=aws:kms&checksum=md5&addressing=path");
    CHECK(sse.object.sse == "aws:kms");
    CHECK(sse.object.sse_kms_key_id == "arn:aws:kms:x");
    CHECK(sse.object.checksum == scb::s3::checksum_mode::md5);
    CHECK(sse.endpoint.style == scb::s3::addressing_style::path);
    CHECK(parse_one("s3://b-1/?checksum=none").object.checksum == scb::s3::checksum_mode::none);
    CHECK(parse_one("s3://b-1/?addressing=auto").endpoint.style == scb::s3::addressing_style::automatic);
    CHECK(parse_one("S3://b-1/x/").bucket == "b-1");  // schemes in any case
}

TEST_CASE("destinations: every s3 parameter defaults to the global setting", "[unit][config][destinations]") {
    const auto g = globals();
    const auto d = parse_one("s3://other-bucket", g);
    CHECK(d.name.empty());  // assign_names gives it one
    CHECK(d.prefix == "global/");  // no path at all: the global prefix
    CHECK(d.endpoint.url == g.endpoint.url);
    CHECK(d.endpoint.region == "eu-central-1");
    CHECK(d.endpoint.style == scb::s3::addressing_style::automatic);
    CHECK(d.ca_bundle == "/etc/ssl/global.pem");
    CHECK(d.profile.empty());  // the global credential chain
    CHECK(d.object.sse == "aws:kms");
    CHECK(d.object.sse_kms_key_id == "global-key");
    CHECK(d.object.storage_class == "STANDARD_IA");
    CHECK(d.object.lock_mode == "GOVERNANCE");
    CHECK(d.object.lock_days == 30);
    CHECK(d.where() == "s3://other-bucket/global/");

    // "s3://b/" is the empty prefix; a trailing '/' is kept, none added.
    CHECK(parse_one("s3://other-bucket/", g).prefix.empty());
    CHECK(parse_one("s3://other-bucket/a/b/", g).prefix == "a/b/");
    CHECK(parse_one("s3://other-bucket/a/b", g).prefix == "a/b");

    // An empty value switches the global setting off for this destination.
    const auto off = parse_one("s3://other-bucket/?endpoint=&sse=&storage-class=&object-lock-mode=&ca-bundle=", g);
    CHECK(off.endpoint.url.empty());
    CHECK(off.object.sse.empty());
    CHECK(off.object.sse_kms_key_id.empty());
    CHECK(off.object.storage_class.empty());
    CHECK(off.object.lock_mode.empty());
    CHECK(off.object.lock_days == 0);
    CHECK(off.ca_bundle.empty());
    CHECK(parse_one("s3://other-bucket/?object-lock-days=", g).object.lock_mode.empty());
    CHECK(parse_one("s3://other-bucket/?object-lock-days=7", g).object.lock_days == 7);
    CHECK(parse_one("s3://other-bucket/?object-lock-days=7", g).object.lock_mode == "GOVERNANCE");

    // Built-in defaults when there are no global ones.
    const auto plain = parse_one("s3://b-1/p/");
    CHECK(plain.endpoint.region == "us-east-1");
    CHECK(plain.endpoint.url.empty());
    CHECK(plain.object.checksum == scb::s3::checksum_mode::both);
    CHECK(plain.object.lock_days == 0);
}

TEST_CASE("destinations: values and paths are percent-decoded", "[unit][config][destinations]") {
    const auto d = parse_one("s3://b-1/my%20node/%C3%A9/?ca-bundle=/etc/my%20ca+x.pem&profile=team%2Db2"
                             "&endpoint=http%3A%2F%2F127.0.0.1%3A9000&name=n%2E1");
    CHECK(d.prefix == "my node/\xC3\xA9/");
    CHECK(d.ca_bundle == "/etc/my ca+x.pem");  // '+' stays a plus
    CHECK(d.profile == "team-b2");
    CHECK(d.endpoint.url == "http://127.0.0.1:9000");
    CHECK(d.name == "n.1");

    const auto f = parse_one("file:///mnt/my%20usb/scb/");
    CHECK(f.folder == "/mnt/my usb/scb");
    CHECK(f.where() == "file:///mnt/my usb/scb/");
}

TEST_CASE("destinations: a file URL is an absolute local folder", "[unit][config][destinations]") {
    const auto f = parse_one("file:///mnt/usb/scb/?name=usb");
    CHECK(f.kind == destination_kind::folder);
    CHECK(f.folder == "/mnt/usb/scb");
    CHECK(f.name == "usb");
    CHECK(f.where() == "file:///mnt/usb/scb/");
    CHECK(parse_one("file:///mnt/usb").where() == "file:///mnt/usb/");
    CHECK(parse_one("file:///mnt//usb//").folder == "/mnt/usb");
    CHECK(parse_one("FILE:///srv/x/").folder == "/srv/x");
    // Not checked for existence here: the daemon does at run time.
    CHECK(parse_one("file:///no/such/folder/anywhere/").folder == "/no/such/folder/anywhere");
}

TEST_CASE("destinations: errors name the destination and the parameter in one line", "[unit][config][destinations]") {
    struct bad {
        std::string url;
        std::vector<std::string> words;
    };
    const std::vector<bad> cases = {
        {"", {"SCB_DESTINATIONS #2", "URL: is empty", "s3://BUCKET/PREFIX", "file:///ABSOLUTE/FOLDER/"}},
        {"my-bucket/node1/", {"SCB_DESTINATIONS #2 (my-bucket/node1/): URL: is not a URL", "s3://BUCKET", "file:///"}},
        {"http://example.com/x", {"(http://example.com/x): URL", "scheme 'http'", "s3://BUCKET", "file:///"}},
        {"s3://b-1/a b", {"(s3://b-1/a b): URL: is not a valid URL", "%20"}},
        {"s3:///node1/", {"bucket: is missing"}},
        {"s3://Bad_Bucket/x/", {"(Bad_Bucket): bucket: 'Bad_Bucket'", "3-63"}},
        {"s3://b-1:9000/x/", {"(b-1): bucket", "port", "endpoint="}},
        {"s3://b-1/x/#frag", {"(b-1): URL: has a '#'", "%23"}},
        {"s3://b-1//x/", {"(b-1): prefix: must not start with '/'"}},
        {"s3://b-1/a/../b/", {"(b-1): prefix: must not have a '.' or '..' segment"}},
        {"s3://b-1/x/?regoin=eu-west-1", {"(b-1): regoin: is no parameter", "known: endpoint, region, profile"}},
        {"s3://b-1/x/?region=a&region=b", {"(b-1): region: is given twice"}},
        {"s3://b-1/x/?region", {"(b-1): region: has no value"}},
        {"s3://b-1/x/?region=", {"(b-1): region: is empty", "region="}},
        {"s3://b-1/x/?region=eu%20west", {"(b-1): region: must be"}},
        {"s3://b-1/x/?addressing=vhost", {"(b-1): addressing: must be auto, path or virtual"}},
        {"s3://b-1/x/?checksum=crc32", {"(b-1): checksum: must be both, md5, sha256 or none"}},
        {"s3://b-1/x/?sse=aes", {"(b-1): sse: must be AES256 or aws:kms"}},
        {"s3://b-1/x/?sse-kms-key-id=k", {"(b-1): sse-kms-key-id: needs sse=aws:kms"}},
        {"s3://b-1/x/?storage-class=standard", {"(b-1): storage-class: must be an S3 class name"}},
        {"s3://b-1/x/?object-lock-mode=LEGAL", {"(b-1): object-lock-mode: must be GOVERNANCE or COMPLIANCE"}},
        {"s3://b-1/x/?object-lock-days=0&object-lock-mode=GOVERNANCE", {"(b-1): object-lock-days: must be a whole number of days from 1 to 36500"}},
        {"s3://b-1/x/?object-lock-days=36501&object-lock-mode=GOVERNANCE", {"object-lock-days: must be a whole number"}},
        {"s3://b-1/x/?object-lock-days=1e3&object-lock-mode=GOVERNANCE", {"object-lock-days: must be a whole number"}},
        {"s3://b-1/x/?object-lock-days=30", {"(b-1): object-lock-days: Object Lock needs both a mode and days"}},
        {"s3://b-1/x/?object-lock-mode=COMPLIANCE", {"(b-1): object-lock-mode: Object Lock needs both"}},
        {"s3://b-1/x/?object-lock-mode=COMPLIANCE&object-lock-days=1&checksum=none",
         {"(b-1): checksum: Object Lock needs an integrity header"}},
        {"s3://b-1/x/?endpoint=ftp://h", {"(b-1): endpoint: 'ftp://h' must start with http:// or https://"}},
        {"s3://b-1/x/?endpoint=http://h:70000", {"(b-1): endpoint:", "70000"}},
        {"s3://b-1/x/?profile=a%20b", {"(b-1): profile: must be a profile name"}},
        {"s3://b-1/x/?region=%0a", {"(b-1): region: holds a control character"}},
        {"s3://b-1/x/?name=b%2F2", {"(b-1): name: must be 1 to 64 characters"}},
        {"s3://b-1/x/?name=" + std::string(65, 'n'), {"name: must be 1 to 64 characters"}},
        {"s3://b-1/x/?name=", {"name: must be 1 to 64"}},
        {"s3://b-1/x/?name=b2&regoin=x", {"(b2): regoin: is no parameter"}},  // the name once known
        {"file://usbhost/mnt/usb/", {"(file://usbhost/mnt/usb/): host: file:// URLs take no host", "file:///"}},
        {"file:/mnt/usb/", {"path: is not written file:///ABSOLUTE/FOLDER/", "three slashes"}},
        {"file://", {"path: is empty"}},
        {"file:///mnt/usb/../etc/", {"path: has a '.' or '..' segment"}},
        {"file:///mnt/./usb/", {"path: has a '.' or '..' segment"}},
        {"file:///mnt/%2E%2E/usb/", {"path: has a '.' or '..' segment"}},
        {"file:///mnt/usb/?region=x", {"region: is no parameter of a file:// destination", "name="}},
        {"file:///mnt/usb/?name=usb&name=b", {"(file:///mnt/usb/): name: is given twice"}},
        {"file:///mnt/usb/?name=a%20b", {"name: must be 1 to 64"}},
    };
    for (const auto& c : cases) {
        INFO(c.url);
        const auto message = error_of(c.url);
        REQUIRE_FALSE(message.empty());
        CHECK_THAT(message, Contains("SCB_DESTINATIONS #2 ("));
        for (const auto& w : c.words) CHECK_THAT(message, Contains(w));
        CHECK(message.find('\n') == std::string::npos);
    }
    // The origin's name of a parameter inherited from the global settings.
    auto g = globals();
    g.object.storage_class = "bad";
    CHECK_THAT(error_of("s3://b-1/x/", g), Contains("storage-class (from SCB_STORAGE_CLASS): must be"));
    g = globals();
    g.endpoint.url = "localhost:9000";
    CHECK_THAT(error_of("s3://b-1/x/", g), Contains("endpoint (from AWS_ENDPOINT_URL_S3)"));
    CHECK(error_of("s3://b-1/x/?endpoint=", g).empty());  // AWS instead
}

TEST_CASE("destinations: no error quotes a secret", "[unit][config][destinations]") {
    const std::vector<std::string> urls = {
        "s3://b-1/x/?endpoint=https://AKIAKEY:s3cr3tPass@minio.lan:9000",
        "s3://b-1/x/?endpoint=https%3A%2F%2FAKIAKEY%3As3cr3tPass%40minio.lan",
        "s3://AKIAKEY:s3cr3tPass@b-1/x/",
        "s3://AKIAKEY:s3cr3tPass@Bad_Bucket/x/",
        "s3://AKIAKEY:s3cr3tPass@/x/",
        "https://AKIAKEY:s3cr3tPass@minio.lan/x/",
        "https://AKIAKEY:s3c?r3tPass@minio.lan/x/",
        "s3://b-1/x/?endpoint=https://AKIAKEY:s3cr3tPass@minio.lan&regoin=1",
        "file://AKIAKEY:s3cr3tPass@host/x/",
        "s3://b-1/x y/?endpoint=https://AKIAKEY:s3cr3tPass@minio.lan",
    };
    for (const auto& url : urls) {
        INFO(url);
        const auto message = error_of(url);
        CHECK_FALSE(message.empty());
        CHECK_THAT(message, !Contains("s3cr3tPass") && !Contains("AKIAKEY"));
    }
    CHECK_THAT(error_of(urls[0]), Contains("endpoint:") && Contains("***@minio.lan"));
}

TEST_CASE("destinations: split on any whitespace", "[unit][config][destinations]") {
    CHECK(split_destinations("").empty());
    CHECK(split_destinations(" \n\t ").empty());
    CHECK(split_destinations("s3://a-1/") == std::vector<std::string>{"s3://a-1/"});
    CHECK(split_destinations("  s3://a-1/ \n\ts3://b-1/x/?name=b\r\nfile:///mnt/usb/\n") ==
          std::vector<std::string>{"s3://a-1/", "s3://b-1/x/?name=b", "file:///mnt/usb/"});
}

TEST_CASE("destinations: names by default, by name=, made unique", "[unit][config][destinations]") {
    std::vector<destination> list = {
        parse_one("s3://bucket-a/one/"),
        parse_one("s3://bucket-a/two/"),
        parse_one("file:///mnt/usb/scb/"),
        parse_one("file:///media/scb/"),
        parse_one("file:///mnt/my%20disk%21/"),
        parse_one("file:///"),
        parse_one("s3://bucket-c/?name=bucket-a-2"),
        parse_one("s3://bucket-a/three/"),
    };
    assign_names(list);
    CHECK(names_of(list) == std::vector<std::string>{"bucket-a", "bucket-a-3", "scb", "scb-2", "my-disk-", "folder",
                                                     "bucket-a-2", "bucket-a-4"});

    // An explicit name wins over a default one, wherever it stands.
    std::vector<destination> reserved = {parse_one("s3://b2-bucket/"), parse_one("file:///mnt/usb/?name=b2-bucket")};
    assign_names(reserved);
    CHECK(names_of(reserved) == std::vector<std::string>{"b2-bucket-2", "b2-bucket"});

    // Long folder names are cut to 64, suffixes included.
    std::vector<destination> longs = {parse_one("file:///" + std::string(80, 'x') + "/"),
                                      parse_one("file:///a/" + std::string(80, 'x') + "/")};
    assign_names(longs);
    CHECK(longs[0].name == std::string(64, 'x'));
    CHECK(longs[1].name == std::string(62, 'x') + "-2");
    CHECK(valid_destination_name(longs[1].name));

    std::vector<destination> twice = {parse_one("s3://a-1/?name=same"), parse_one("file:///mnt/x/?name=same")};
    twice[1].origin = "SCB_DESTINATIONS #2";
    try {
        assign_names(twice);
        FAIL("an explicit name twice was accepted");
    } catch (const destination_error& e) {
        CHECK_THAT(e.what(), Contains("SCB_DESTINATIONS #2 (same): name: 'same' is used by another destination"));
    }
}

TEST_CASE("destinations: S3_BUCKET_NAME first, then SCB_DESTINATIONS in order", "[unit][config][destinations]") {
    auto r = parse_args({}, {{"S3_BUCKET_NAME", "aws-bucket"},
                             {"S3_BACKUP_PREFIX", "node1/"},
                             {"AWS_REGION", "eu-west-1"},
                             {"SCB_SSE", "AES256"},
                             {"SCB_DESTINATIONS",
                              "s3://my-b2-bucket/node1/?endpoint=https://s3.us-west-004.backblazeb2.com"
                              "&region=us-west-004&profile=b2&name=b2\n  file:///mnt/usb/scb/ s3://aws-bucket/other/"}});
    CHECK(r.warnings.empty());  // SCB_DESTINATIONS is a setting
    const auto& s = r.values;
    REQUIRE(s.destinations.size() == 4);
    CHECK(names_of(s.destinations) == std::vector<std::string>{"aws-bucket", "b2", "scb", "aws-bucket-2"});
    const auto& aws = s.destinations[0];
    CHECK(aws.origin == "S3_BUCKET_NAME");
    CHECK(aws.bucket == "aws-bucket");
    CHECK(aws.prefix == "node1/");
    CHECK(aws.endpoint.region == "eu-west-1");
    CHECK(aws.profile.empty());
    CHECK(aws.object.sse == "AES256");
    CHECK(s.destinations[1].origin == "SCB_DESTINATIONS #1");
    CHECK(s.destinations[1].profile == "b2");
    CHECK(s.destinations[1].object.sse == "AES256");  // inherited
    CHECK(s.destinations[2].kind == destination_kind::folder);
    CHECK(s.destinations[3].origin == "SCB_DESTINATIONS #3");
    CHECK(s.destinations[3].endpoint.region == "eu-west-1");
    CHECK(describe(s).find(" destinations=aws-bucket=s3://aws-bucket/node1/,b2=s3://my-b2-bucket/node1/,"
                           "scb=file:///mnt/usb/scb/,aws-bucket-2=s3://aws-bucket/other/") != std::string::npos);

    // The single-bucket configuration: one destination, as before.
    auto one = parse_args({}, {{"S3_BUCKET_NAME", "aws-bucket"}}).values;
    REQUIRE(one.destinations.size() == 1);
    CHECK(one.destinations[0].name == "aws-bucket");
    CHECK(one.destinations[0].where() == "s3://aws-bucket/");
    CHECK(one.pick_destination.empty());
}

TEST_CASE("destinations: --destination flags replace SCB_DESTINATIONS", "[unit][config][destinations]") {
    auto r = parse_args({"once", "--destination", "file:///mnt/usb/", "--destination", "s3://flag-bucket/x/?name=f"},
                        {{"S3_BUCKET_NAME", "aws-bucket"}, {"SCB_DESTINATIONS", "s3://env-bucket/"}});
    CHECK(names_of(r.values.destinations) == std::vector<std::string>{"aws-bucket", "usb", "f"});
    CHECK(r.values.destinations[2].origin == "--destination #2");
}

TEST_CASE("destinations: the bucket is optional with destinations, one of them is required",
          "[unit][config][destinations]") {
    auto r = parse_args({}, {{"SCB_DESTINATIONS", "file:///mnt/usb/"}, {"AWS_ENDPOINT_URL_S3", "not a url"}});
    CHECK(r.values.bucket.empty());
    REQUIRE(r.values.destinations.size() == 1);  // the broken global endpoint is used by no destination
    CHECK(r.values.destinations[0].name == "usb");

    auto flags = parse_args({"--destination", "s3://b-1/n/"}, {});
    REQUIRE(flags.values.destinations.size() == 1);
    CHECK(flags.values.destinations[0].origin == "--destination #1");

    const auto none = usage_message({}, {{"SCB_DESTINATIONS", " \n "}});
    CHECK_THAT(none, Contains("no destination") && Contains("S3_BUCKET_NAME (or --bucket)") &&
                         Contains("SCB_DESTINATIONS (or --destination)"));
    CHECK_THAT(usage_message({"list"}, {}), Contains("no destination"));
}

TEST_CASE("destinations: a bad destination is a usage error in one line", "[unit][config][destinations]") {
    CHECK_THAT(usage_message({}, {{"SCB_DESTINATIONS", "file:///mnt/usb/ s3://b-1/?regoin=x"}}),
               Contains("SCB_DESTINATIONS #2 (b-1): regoin: is no parameter"));
    CHECK_THAT(usage_message({"--destination", "s3://b-1/?endpoint=https://u:hunter2@h"}, {}),
               Contains("--destination #1 (b-1): endpoint:") && !Contains("hunter2"));
    CHECK_THAT(usage_message({}, {{"SCB_DESTINATIONS", "s3://a-1/?name=x file:///m/?name=x"}}),
               Contains("name: 'x' is used by another destination"));
    // For run and once a value without "://" is no URL.
    CHECK_THAT(usage_message({"--destination", "b2"}, {{"S3_BUCKET_NAME", "aws-bucket"}}),
               Contains("--destination #1 'b2' is not a URL") && Contains("list, restore and verify"));
    CHECK_THAT(usage_message({"once", "--destination", ""}, {{"S3_BUCKET_NAME", "aws-bucket"}}),
               Contains("--destination #1 is empty"));
    // The global checks still hold for the global bucket.
    CHECK_THAT(usage_message({}, {{"S3_BUCKET_NAME", "aws-bucket"}, {"AWS_ENDPOINT_URL_S3", "localhost:9000"},
                                  {"SCB_DESTINATIONS", "file:///mnt/usb/"}}),
               Contains("AWS_ENDPOINT_URL_S3 / --endpoint"));
}

TEST_CASE("destinations: a destination's prefix without '/' is warned about", "[unit][config][destinations]") {
    auto r = parse_args({}, {{"SCB_DESTINATIONS", "s3://b-1/node1"}});
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Contains("SCB_DESTINATIONS #1 (b-1): prefix 'node1' does not end in '/'"));
    // The global prefix, inherited, is warned about once.
    auto g = parse_args({}, {{"S3_BUCKET_NAME", "aws-bucket"}, {"S3_BACKUP_PREFIX", "n1"}, {"SCB_DESTINATIONS", "s3://b-1"}});
    REQUIRE(g.warnings.size() == 1);
    CHECK_THAT(g.warnings[0], Contains("S3_BACKUP_PREFIX / --prefix 'n1'"));
    CHECK(g.values.destinations[1].prefix == "n1");
}

TEST_CASE("destinations: list, restore and verify pick one by name", "[unit][config][destinations]") {
    const std::map<std::string, std::string> env = {
        {"S3_BUCKET_NAME", "aws-bucket"}, {"SCB_DESTINATIONS", "s3://my-b2-bucket/n/?name=b2 file:///mnt/usb/"}};
    auto l = parse_args({"list", "--destination", "b2"}, env).values;
    CHECK(l.pick_destination == "b2");
    CHECK(l.destinations.size() == 3);  // the configured ones stay: the name picks among them
    CHECK(parse_args({"restore", "--output", "/tmp/x", "--destination", "usb"}, env).values.pick_destination == "usb");
    CHECK(parse_args({"verify", "--destination", "aws-bucket"}, env).values.pick_destination == "aws-bucket");
    CHECK(parse_args({"list"}, env).values.pick_destination.empty());

    CHECK_THAT(usage_message({"list", "--destination", "b3"}, env),
               Contains("--destination 'b3' names no configured destination; known: aws-bucket, b2, usb"));
    CHECK_THAT(usage_message({"list", "--destination", "b2", "--destination", "usb"}, env), Contains("give one NAME"));

    // A URL is a URL for these commands too (and replaces SCB_DESTINATIONS).
    auto u = parse_args({"list", "--destination", "s3://other-bucket/n/", "--destination", "other-bucket"}, env).values;
    CHECK(names_of(u.destinations) == std::vector<std::string>{"aws-bucket", "other-bucket"});
    CHECK(u.pick_destination == "other-bucket");
}

TEST_CASE("destinations: --help shows both forms with an example", "[unit][config][destinations]") {
    auto r = parse_args({"--help"}, {});
    CHECK_THAT(r.text, Contains("--destination URL") && Contains("SCB_DESTINATIONS") && Contains("s3://BUCKET/PREFIX") &&
                           Contains("file:///ABSOLUTE/FOLDER/") && Contains("backblazeb2.com") &&
                           Contains("file:///mnt/usb/scb/"));
    // A misspelt SCB_DESTINATIONS is warned about with the right name.
    auto w = parse_args({}, {{"S3_BUCKET_NAME", "aws-bucket"}, {"SCB_DESTINATION", "s3://x-1/"}});
    REQUIRE(w.warnings.size() == 1);
    CHECK_THAT(w.warnings[0], Contains("SCB_DESTINATION is not a setting; did you mean SCB_DESTINATIONS?"));
}

TEST_CASE("destinations: the documented env-file examples parse", "[unit][config][destinations]") {
    scb::unit::temp_dir dir;
    const auto readme = (dir.path / "readme.env").string();
    // README.md, "Several destinations": one quoted value over two lines.
    std::ofstream(readme) << "S3_BUCKET_NAME=my-aws-bucket\nS3_BACKUP_PREFIX=node1/\nAWS_REGION=eu-central-1\n"
                             "SCB_DESTINATIONS=\"s3://my-b2-bucket/node1/?endpoint=https://s3.us-west-004.backblazeb2.com"
                             "&region=us-west-004&profile=b2&name=b2\n  file:///mnt/usb/scb/\"\n";
    auto r = parse_args({"--env-file", readme}, {});
    CHECK(r.warnings.empty());
    CHECK(names_of(r.values.destinations) == std::vector<std::string>{"my-aws-bucket", "b2", "scb"});
    CHECK(r.values.destinations[1].endpoint.region == "us-west-004");
    CHECK(r.values.destinations[1].endpoint.url == "https://s3.us-west-004.backblazeb2.com");

    // deploy/systemd/scb-backup.env.example: unquoted, on one line.
    const auto example = (dir.path / "example.env").string();
    std::ofstream(example) << "SCB_DESTINATIONS=s3://my-b2-bucket/node1/?endpoint=https://s3.us-west-004.backblazeb2.com"
                              "&region=us-west-004&profile=b2&name=b2 file:///mnt/usb/scb/\n";
    auto e = parse_args({"--env-file", example}, {});
    CHECK(e.warnings.empty());
    CHECK(names_of(e.values.destinations) == std::vector<std::string>{"b2", "scb"});
}
