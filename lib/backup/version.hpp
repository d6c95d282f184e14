#pragma once
// One version of channel.backup on its way to S3.
#include <chrono>
#include <memory>
#include <string>

namespace scb::backup {

struct version {
    std::string name;                         // "channel-<UTC time>-<sha6>.backup": spool file name, key suffix
    std::shared_ptr<const std::string> data;  // null for a spooled leftover not loaded yet
    std::string sha256_hex;                   // empty for a leftover until loaded
    std::chrono::steady_clock::time_point seen = std::chrono::steady_clock::now();
    bool from_spool = false;                  // left by an earlier run
};

}  // namespace scb::backup
