#pragma once
// One version of channel.backup on its way to S3.
#include "crypto/hash.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace scb::backup {

struct version {
    std::string name;                         // "channel-<UTC time>-<sha6>.backup": spool file name, key suffix
    std::shared_ptr<const std::string> data;  // null for a spooled leftover not loaded yet
    std::string sha256_hex;                   // empty for a leftover until loaded
    crypto::sha256_digest sha256{};           // the same, raw (valid when data is)
    std::uint64_t seq = 0;                    // order of submission (1, 2, ...); 0 for a leftover
};

}  // namespace scb::backup
