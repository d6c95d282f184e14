#include "crypto/hash.hpp"

#include <catch2/catch.hpp>

using namespace scb::crypto;

TEST_CASE("sha256 and md5 match the published values", "[unit][crypto]") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex(md5("")) == "d41d8cd98f00b204e9800998ecf8427e");
}

TEST_CASE("hmac_sha256 matches RFC 4231 case 2", "[unit][crypto]") {
    std::string key = "Jefe";
    auto mac = hmac_sha256({reinterpret_cast<const std::uint8_t*>(key.data()), key.size()},
                           "what do ya want for nothing?");
    CHECK(hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("base64 round-trips with padding", "[unit][crypto]") {
    auto digest = md5("");
    CHECK(base64(digest) == "1B2M2Y8AsgTpgAmY7PhCfg==");
    std::string decoded;
    REQUIRE(base64_decode("1B2M2Y8AsgTpgAmY7PhCfg==", decoded));
    CHECK(decoded == std::string(digest.begin(), digest.end()));
    CHECK_FALSE(base64_decode("abc", decoded));
    sha256_stream s;
    s.update("a");
    s.update("bc");
    CHECK(hex(s.finish()) == sha256_hex("abc"));
}
