#pragma once
// The one atomic, durable write of a whole file (spool copies, restored backups): readers see the old
// file or the new one, never a part, and a power cut after success loses nothing.
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace scb {

/// How a write failed: the errno and the step ("create temporary file", "write", "fsync", "rename"…).
struct write_error {
    std::error_code ec;
    std::string step;
    explicit operator bool() const noexcept { return static_cast<bool>(ec); }
};

struct atomic_write_options {
    bool replace = true;        // false: an existing target is never touched (EEXIST)
    bool reclaim_temp = false;  // true: a leftover temporary file is ours (the caller holds a lock): remove it
};

/// The temporary name beside `file_name` that write_file_atomically uses (same folder, so the rename
/// is atomic); a folder's owner may remove leftovers of its own by this name.
std::string atomic_temp_name(std::string_view file_name);

/// Writes `data` to `target`: the temporary file (O_EXCL, so never through somebody's file or link;
/// mode 0600 whatever the umask), full write, fsync, rename onto `target`, fsync of the folder.
/// Without `replace` the rename is RENAME_NOREPLACE (or link + unlink where the file system lacks
/// it) and the result is EEXIST. On failure no temporary file is left behind, and `target` is
/// either absent, unchanged, or (only if the final folder fsync failed) complete.
write_error write_file_atomically(const std::filesystem::path& target, std::string_view data,
                                  atomic_write_options opts);

}  // namespace scb
