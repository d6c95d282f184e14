// s3::parse_shared_credentials: ~/.aws/credentials. The profile name comes from the first line of
// the input (AWS_PROFILE is outside input too), the file from the rest.
#include "s3/credentials.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string all(reinterpret_cast<const char*>(data), size);
    const auto nl = all.find('\n');
    const std::string profile = nl == std::string::npos ? "default" : all.substr(0, nl);
    const std::string text = nl == std::string::npos ? all : all.substr(nl + 1);
    try {
        auto creds = scb::s3::parse_shared_credentials(text, profile, "fuzz-credentials");
        if (creds && creds->access_key_id.empty()) __builtin_trap();
    } catch (const scb::s3::credentials_error&) {
    }
    return 0;
}
