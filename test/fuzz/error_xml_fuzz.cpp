// s3::parse_error_response: S3's <Error> body, or whatever a proxy sends instead.
#include "s3/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const unsigned status = 300u + data[0] * 3u % 300u;  // 300..599, as the client calls it
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    const auto e = scb::s3::parse_error_response(status, body);
    // Always an error, always a line to log.
    if (e.code == scb::s3::errc::ok || e.message.empty() || e.describe().empty()) __builtin_trap();
    return 0;
}
