#pragma once
// One consistent read of channel.backup: the bytes, their SHA-256 and which file they came from.
#include "crypto/hash.hpp"

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace scb::snapshot {

/// Which file (device, inode) and which version of it (size, mtime) a read saw.
struct identity {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    std::int64_t mtime_ns = 0;
    bool operator==(const identity&) const = default;
};

/// The bytes of one version of the file.
struct snapshot {
    std::string data;
    crypto::sha256_digest sha256{};
    identity id;
};

/// Why take() gave no snapshot.
enum class problem { none, missing, not_regular, too_small, too_large, unreadable, changed_while_reading };

/// What take() found: `snap` is valid only when `what == problem::none`.
struct result {
    problem what = problem::none;
    std::string reason;  ///< one line for the log: what is wrong and how to fix it (empty on success)
    snapshot snap;
};

/// lnd's smallest packed multi-channel backup, in bytes.
inline constexpr std::uintmax_t min_backup_size = 45;

/// Opens the file once (following a symlink; O_NONBLOCK so a FIFO cannot block us), fstat()s that
/// descriptor: it must be a regular file of min_size..max_size bytes; reads exactly st_size bytes through
/// it and checks the file neither grew nor shrank nor changed (fstat again) meanwhile, then hashes it.
/// lnd replaces the file by rename, so the open descriptor keeps the old inode: the read is consistent.
/// Never throws for a problem of the file (only std::bad_alloc).
result take(const std::filesystem::path& file, std::uintmax_t min_size, std::uintmax_t max_size);

/// stat() identity without reading (for the periodic reconcile check). nullopt if the file is missing
/// or cannot be stat()ed at all (take() then says why).
std::optional<identity> stat_identity(const std::filesystem::path& file);

/// Short name of a problem for logs and tests ("missing", "too_small"…).
const char* to_string(problem p) noexcept;

}  // namespace scb::snapshot
