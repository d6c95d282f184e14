#include "crypto/hash.hpp"

#include <catch2/catch.hpp>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <random>

using namespace scb::crypto;

namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(gen() & 0xff);
    return out;
}

}  // namespace

TEST_CASE("sha256 and md5 match the published values", "[unit][crypto]") {
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(hex(md5("")) == "d41d8cd98f00b204e9800998ecf8427e");
    CHECK(hex(md5("abc")) == "900150983cd24fb0d6963f7d28e17f72");
}

// The digests use OpenSSL's direct functions; EVP (what the rest of the world uses) is the oracle.
TEST_CASE("sha256, md5 and hmac_sha256 agree with OpenSSL EVP on random inputs of many sizes", "[unit][crypto]") {
    for (std::size_t size : {0u, 1u, 55u, 56u, 63u, 64u, 65u, 127u, 128u, 1000u, 8192u, 65537u}) {
        const auto data = random_bytes(size, static_cast<unsigned>(size) + 1);
        unsigned char expect[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        REQUIRE(EVP_Digest(data.data(), data.size(), expect, &len, EVP_sha256(), nullptr) == 1);
        CHECK(hex(sha256(data)) == hex({expect, len}));
        REQUIRE(EVP_Digest(data.data(), data.size(), expect, &len, EVP_md5(), nullptr) == 1);
        CHECK(hex(md5(data)) == hex({expect, len}));
        for (std::size_t key_size : {0u, 4u, 32u, 64u, 65u, 200u}) {
            const auto key = random_bytes(key_size, static_cast<unsigned>(key_size) + 7);
            REQUIRE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                         reinterpret_cast<const unsigned char*>(data.data()), data.size(), expect, &len));
            INFO("data " << size << " bytes, key " << key_size << " bytes");
            CHECK(hex(hmac_sha256(bytes(key), data)) == hex({expect, len}));
        }
    }
}

TEST_CASE("hmac_sha256 matches RFC 4231 cases 1, 2, 6 and 7", "[unit][crypto]") {
    CHECK(hex(hmac_sha256(bytes(std::string(20, '\x0b')), "Hi There")) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(hex(hmac_sha256(bytes("Jefe"), "what do ya want for nothing?")) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    // Keys longer than the 64-byte block are hashed first.
    const std::string long_key(131, '\xaa');
    CHECK(hex(hmac_sha256(bytes(long_key), "Test Using Larger Than Block-Size Key - Hash Key First")) ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK(hex(hmac_sha256(bytes(long_key),
                          "This is a test using a larger than block-size key and a larger than block-size data. "
                          "The key needs to be hashed before being used by the HMAC algorithm.")) ==
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("base64 round-trips with padding", "[unit][crypto]") {
    auto digest = md5("");
    CHECK(base64(digest) == "1B2M2Y8AsgTpgAmY7PhCfg==");
    std::string decoded;
    REQUIRE(base64_decode("1B2M2Y8AsgTpgAmY7PhCfg==", decoded));
    CHECK(decoded == std::string(digest.begin(), digest.end()));
    CHECK_FALSE(base64_decode("abc", decoded));
}

TEST_CASE("sha256_stream fed in pieces equals the one-shot digest", "[unit][crypto]") {
    const auto data = random_bytes(10000, 3);
    sha256_stream s;
    for (std::size_t at = 0; at < data.size(); at += 333) s.update(std::string_view(data).substr(at, 333));
    CHECK(hex(s.finish()) == sha256_hex(data));
}
