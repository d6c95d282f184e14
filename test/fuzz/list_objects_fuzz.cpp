// s3::parse_list_objects: a ListObjectsV2 body. Malformed input must throw std::runtime_error,
// which list_objects_page() turns into a protocol_error; anything else escapes and aborts here.
#include "s3/client.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view xml(reinterpret_cast<const char*>(data), size);
    try {
        const auto page = scb::s3::parse_list_objects(xml);
        (void)page;
    } catch (const std::runtime_error&) {
    }
    return 0;
}
