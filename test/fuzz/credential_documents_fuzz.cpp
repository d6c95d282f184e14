// s3::parse_container_credentials, parse_imds_credentials, parse_web_identity_credentials and
// parse_sts_error: what the container endpoint, IMDS and STS answer. The first byte picks which.
// Credentials that parse have a key; every error is one line that never shows the secret.
#include "s3/credential_documents.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

bool one_line(const std::string& s) { return !s.empty() && s.find_first_of("\r\n") == std::string::npos; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);
    try {
        scb::s3::expiring_credentials c;
        switch (data[0] % 4) {
        case 0: c = scb::s3::parse_container_credentials(body); break;
        case 1: c = scb::s3::parse_imds_credentials(body); break;
        case 2: c = scb::s3::parse_web_identity_credentials(body); break;
        default: {
            const auto e = scb::s3::parse_sts_error(body);
            if (e.code.size() > 100 || e.message.size() > 300 || e.code.find('\n') != std::string::npos ||
                e.message.find('\n') != std::string::npos)
                __builtin_trap();
            return 0;
        }
        }
        if (c.creds.access_key_id.empty() || c.creds.secret_access_key.empty()) __builtin_trap();
    } catch (const scb::s3::credentials_error& e) {
        const std::string what = e.what();
        if (!one_line(what)) __builtin_trap();
    }
    return 0;
}
