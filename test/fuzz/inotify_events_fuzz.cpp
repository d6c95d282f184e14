// watch::parse_events: what read() on the inotify descriptor returned (bytes the kernel wrote, but
// a truncated or corrupt buffer must still never be read outside its bounds).
#include "watch/inotify_events.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    // An exact-size heap copy at an odd offset: ASan sees any read past the end, and alignment is
    // not assumed.
    const std::size_t offset = data[0] & 7u;
    auto buf = std::make_unique<std::byte[]>(size - 1 + offset);
    std::memcpy(buf.get() + offset, data + 1, size - 1);
    const std::span<const std::byte> bytes(buf.get() + offset, size - 1);
    const auto s = scb::watch::parse_events(bytes, 1, "channel.backup");
    if ((s.moved_to || s.close_write) && !s.file_changed) __builtin_trap();
    return 0;
}
