#include "http/proxy.hpp"
#include "http/url.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <map>

using namespace scb::http;

namespace {
std::function<std::optional<std::string>(const std::string&)> env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}
}  // namespace

TEST_CASE("proxy URLs: http (CONNECT), socks5, socks5h, with a port and optional credentials", "[unit][proxy]") {
    auto tor = parse_proxy("socks5h://127.0.0.1:9050", "SCB_PROXY");
    CHECK(tor.kind == proxy_kind::socks5h);
    CHECK(tor.host == "127.0.0.1");
    CHECK(tor.port == "9050");
    CHECK(tor.shown() == "socks5h://127.0.0.1:9050");
    auto with_user = parse_proxy("SOCKS5://me:p%40ss@proxy.lan:1080", "SCB_PROXY");
    CHECK(with_user.kind == proxy_kind::socks5);
    CHECK(with_user.user == "me");
    CHECK(with_user.password.reveal() == "p@ss");
    CHECK(with_user.shown() == "socks5://proxy.lan:1080");  // never the credentials
    auto corporate = parse_proxy("http://[::1]:3128/", "HTTPS_PROXY");
    CHECK(corporate.kind == proxy_kind::http_connect);
    CHECK(corporate.host == "::1");
    CHECK(corporate.shown() == "http://[::1]:3128");

    auto problem = [](const char* url) {
        try {
            (void)parse_proxy(url, "SCB_PROXY / --proxy");
        } catch (const proxy_error& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    CHECK_THAT(problem("socks5h://127.0.0.1"), Catch::Contains("SCB_PROXY / --proxy has no port"));
    CHECK_THAT(problem("https://proxy:443"), Catch::Contains("not supported"));
    CHECK_THAT(problem("ftp://proxy:21"), Catch::Contains("must start with http://, socks5:// or socks5h://"));
    CHECK_THAT(problem("socks5h://127.0.0.1:9050/path"), Catch::Contains("path"));
    CHECK_THAT(problem("127.0.0.1:9050"), Catch::Contains("is not a proxy URL like socks5h://"));
    // The password is never quoted, even in a URL that does not parse.
    CHECK(problem("socks5h://u:hunter2@h:99999").find("hunter2") == std::string::npos);
    // url_kind::web still refuses proxy schemes.
    CHECK_FALSE(parse_url("socks5h://127.0.0.1:9050"));
}

TEST_CASE("NO_PROXY: hosts, domains with or without a dot, addresses, *, ports ignored", "[unit][proxy]") {
    CHECK(no_proxy_matches("localhost", "localhost"));
    CHECK(no_proxy_matches("example.com", "s3.example.com"));
    CHECK(no_proxy_matches(".example.com", "s3.example.com"));
    CHECK(no_proxy_matches(".example.com", "example.com"));
    CHECK_FALSE(no_proxy_matches("example.com", "badexample.com"));
    CHECK(no_proxy_matches("a.org, 10.0.0.5 ,minio.lan:9000", "minio.lan"));
    CHECK(no_proxy_matches("10.0.0.5", "10.0.0.5"));
    CHECK(no_proxy_matches("[::1]", "::1"));
    CHECK(no_proxy_matches("::1", "::1"));
    CHECK(no_proxy_matches("*", "anything"));
    CHECK(no_proxy_matches("EXAMPLE.com", "s3.Example.COM"));
    CHECK_FALSE(no_proxy_matches("", "localhost"));
    CHECK_FALSE(no_proxy_matches(",,", "localhost"));
}

TEST_CASE("proxy rules: SCB_PROXY wins, then the scheme's variable, lower case first; NO_PROXY applies to all",
          "[unit][proxy]") {
    auto rules = make_proxy_rules("", env_of({{"HTTPS_PROXY", "http://upper:1"}, {"https_proxy", "http://lower:2"},
                                              {"HTTP_PROXY", "socks5://plain:3"}, {"NO_PROXY", "minio.lan"}}));
    REQUIRE(rules.for_target(true, "s3.amazonaws.com"));
    CHECK(rules.for_target(true, "s3.amazonaws.com")->host == "lower");
    CHECK(rules.for_target(false, "s3.amazonaws.com")->host == "plain");
    CHECK_FALSE(rules.for_target(true, "minio.lan"));

    auto tor = make_proxy_rules("socks5h://127.0.0.1:9050", env_of({{"HTTPS_PROXY", "http://corp:3128"}}));
    CHECK(tor.for_target(true, "s3.amazonaws.com")->kind == proxy_kind::socks5h);
    CHECK(tor.for_target(false, "minio.lan")->kind == proxy_kind::socks5h);

    CHECK_FALSE(make_proxy_rules("", env_of({})).for_target(true, "s3.amazonaws.com"));
    CHECK_FALSE(make_proxy_rules("", env_of({{"https_proxy", ""}})).for_target(true, "x"));  // empty: unset
    CHECK_THROWS_AS(make_proxy_rules("", env_of({{"https_proxy", "proxy:3128"}})), proxy_error);
}

TEST_CASE("SOCKS5 messages as RFC 1928 and RFC 1929 lay them out", "[unit][proxy]") {
    CHECK(socks5_greeting(false) == std::string("\x05\x01\x00", 3));
    CHECK(socks5_greeting(true) == std::string("\x05\x02\x00\x02", 4));
    CHECK(socks5_password_request("me", "pw") == std::string("\x01\x02me\x02pw", 7));
    CHECK_THROWS_AS(socks5_password_request(std::string(256, 'u'), "pw"), proxy_error);
    // socks5h: the name goes to the proxy.
    CHECK(socks5_connect_request("s3.amazonaws.com", 443, false) ==
          std::string("\x05\x01\x00\x03\x10s3.amazonaws.com\x01\xbb", 4 + 1 + 16 + 2));
    CHECK(socks5_connect_request("127.0.0.1", 9000, true) == std::string("\x05\x01\x00\x01\x7f\x00\x00\x01\x23\x28", 10));
    CHECK(socks5_connect_request("::1", 80, true).size() == 4 + 16 + 2);
    CHECK(socks5_connect_request("::1", 80, true)[3] == '\x04');
    CHECK_THROWS_AS(socks5_connect_request(std::string(256, 'h'), 443, false), proxy_error);

    const std::array<std::uint8_t, 2> no_auth{5, 0}, wants_password{5, 2}, none_acceptable{5, 0xff}, socks4{4, 0};
    CHECK(read_socks5_method(no_auth, false).problem.empty());
    CHECK(read_socks5_method(wants_password, true).password);
    CHECK_FALSE(read_socks5_method(wants_password, false).problem.empty());  // not offered
    CHECK_THAT(read_socks5_method(none_acceptable, false).problem, Catch::Contains("user:password@"));
    CHECK_THAT(read_socks5_method(socks4, false).problem, Catch::Contains("not a SOCKS5 proxy"));
    const std::array<std::uint8_t, 2> accepted{1, 0}, refused{1, 1};
    CHECK(read_socks5_password_answer(accepted).empty());
    CHECK_FALSE(read_socks5_password_answer(refused).empty());

    const std::array<std::uint8_t, 5> ok_v4{5, 0, 0, 1, 127}, ok_name{5, 0, 0, 3, 9}, unreachable{5, 4, 0, 1, 0},
        not_allowed{5, 2, 0, 1, 0};
    CHECK(read_socks5_reply_head(ok_v4).problem.empty());
    CHECK(read_socks5_reply_head(ok_v4).rest == 5);  // 3 more address bytes and the port
    CHECK(read_socks5_reply_head(ok_name).rest == 11);
    CHECK_THAT(read_socks5_reply_head(unreachable).problem, Catch::Contains("could not reach the server"));
    CHECK_THAT(read_socks5_reply_head(not_allowed).problem, Catch::Contains("rules"));
}

TEST_CASE("HTTP CONNECT request, with Basic credentials when the URL has them", "[unit][proxy]") {
    auto plain = parse_proxy("http://127.0.0.1:3128", "HTTPS_PROXY");
    CHECK(http_connect_request("s3.amazonaws.com:443", plain) ==
          "CONNECT s3.amazonaws.com:443 HTTP/1.1\r\nHost: s3.amazonaws.com:443\r\n\r\n");
    auto with_user = parse_proxy("http://Aladdin:open%20sesame@127.0.0.1:3128", "HTTPS_PROXY");
    CHECK_THAT(http_connect_request("h:443", with_user),
               Catch::Contains("Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n"));
}
