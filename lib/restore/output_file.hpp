#pragma once
// Writes the restored backup where the operator asked, atomically and durably, mode 0600.
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace scb::restore {

/// How a write failed: the errno and the step ("create temporary file", "write", "fsync", "rename"…).
struct write_error {
    std::error_code ec;
    std::string step;
    explicit operator bool() const noexcept { return static_cast<bool>(ec); }
};

/// Writes `data` to `target`: a temporary file in the same folder (O_EXCL, mode 0600 whatever the
/// umask), full write, fsync, rename onto `target`, fsync of the folder. Without `replace`, an
/// existing `target` is never touched: the rename is RENAME_NOREPLACE (or link + unlink where the
/// file system lacks it) and the result is EEXIST. On failure no temporary file is left behind, and
/// `target` is either absent, unchanged, or (only if the final folder fsync failed) complete.
write_error write_file_atomically(const std::filesystem::path& target, std::string_view data, bool replace);

}  // namespace scb::restore
