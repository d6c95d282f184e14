#pragma once
// Hashing and encodings used by SigV4 and the S3 integrity headers, all from OpenSSL's libcrypto.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace scb::crypto {

using sha256_digest = std::array<std::uint8_t, 32>;
using md5_digest = std::array<std::uint8_t, 16>;

sha256_digest sha256(std::string_view data);
md5_digest md5(std::string_view data);
sha256_digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);

/// Lower-case hex, as SigV4 wants it.
std::string hex(std::span<const std::uint8_t> bytes);
/// Standard base64 with padding, as Content-MD5 and x-amz-checksum-sha256 want it.
std::string base64(std::span<const std::uint8_t> bytes);
/// Decodes standard base64; returns false on malformed input.
bool base64_decode(std::string_view text, std::string& out);

inline std::string sha256_hex(std::string_view data) { return hex(sha256(data)); }

/// SHA-256 fed in pieces, for bodies that arrive in chunks.
class sha256_stream {
public:
    sha256_stream();
    ~sha256_stream();
    sha256_stream(const sha256_stream&) = delete;
    sha256_stream& operator=(const sha256_stream&) = delete;
    void update(std::string_view data);
    sha256_digest finish();

private:
    struct state;
    std::unique_ptr<state> state_;
};

}  // namespace scb::crypto
