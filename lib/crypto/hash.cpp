// SHA-256 and MD5 come from OpenSSL's direct digest functions, not from EVP. In OpenSSL 3 the first
// EVP digest loads the provider machinery (configuration, method store, every algorithm of the
// default provider): ~1.8 MiB more of libcrypto resident in a daemon that needs two hashes (see
// docs/performance.md). SHA256_Init/MD5_Init are the implementations the default provider wraps;
// deprecated in 3.0, not removed. HMAC (RFC 2104) is the few lines below on top of them.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "crypto/hash.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <algorithm>

#if defined(OPENSSL_NO_DEPRECATED_3_0)
#error "this libcrypto lacks SHA256_Init/MD5_Init (built with no-deprecated): see lib/crypto/hash.cpp"
#endif

namespace scb::crypto {

struct sha256_stream::state {
    SHA256_CTX ctx;
};

sha256_digest sha256(std::string_view data) {
    sha256_digest out{};
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, data.data(), data.size());
    SHA256_Final(out.data(), &ctx);
    return out;
}

md5_digest md5(std::string_view data) {
    md5_digest out{};
    MD5_CTX ctx;
    MD5_Init(&ctx);
    MD5_Update(&ctx, data.data(), data.size());
    MD5_Final(out.data(), &ctx);
    return out;
}

sha256_digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
    constexpr std::size_t block = SHA256_CBLOCK;  // 64 bytes
    std::array<std::uint8_t, block> k{};          // the key, zero-padded (hashed first if longer)
    if (key.size() > block) {
        const auto hashed = sha256({reinterpret_cast<const char*>(key.data()), key.size()});
        std::copy(hashed.begin(), hashed.end(), k.begin());
    } else {
        std::copy(key.begin(), key.end(), k.begin());
    }
    std::array<std::uint8_t, block> pad{};
    SHA256_CTX ctx;
    sha256_digest inner{};
    sha256_digest out{};
    for (std::size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x36;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad.data(), pad.size());
    SHA256_Update(&ctx, data.data(), data.size());
    SHA256_Final(inner.data(), &ctx);
    for (std::size_t i = 0; i < block; ++i) pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad.data(), pad.size());
    SHA256_Update(&ctx, inner.data(), inner.size());
    SHA256_Final(out.data(), &ctx);
    // The key is a SigV4 signing key: leave no copy of it on the stack.
    OPENSSL_cleanse(k.data(), k.size());
    OPENSSL_cleanse(pad.data(), pad.size());
    OPENSSL_cleanse(&ctx, sizeof ctx);
    return out;
}

std::string hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (auto b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

std::string base64(std::span<const std::uint8_t> bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                            static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

bool base64_decode(std::string_view text, std::string& out) {
    if (text.size() % 4 != 0) return false;
    out.assign(3 * text.size() / 4, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return false;
    // EVP_DecodeBlock counts padding as data; drop one byte per '='.
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') ++pad;
    if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    return true;
}

sha256_stream::sha256_stream() : state_(std::make_unique<state>()) { SHA256_Init(&state_->ctx); }
sha256_stream::~sha256_stream() = default;
void sha256_stream::update(std::string_view data) { SHA256_Update(&state_->ctx, data.data(), data.size()); }
sha256_digest sha256_stream::finish() {
    sha256_digest out{};
    SHA256_Final(out.data(), &state_->ctx);
    return out;
}

}  // namespace scb::crypto
