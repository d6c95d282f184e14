#pragma once
// The spool: durable local copies of every version not yet confirmed by S3.
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace scb::spool {

/// The spool folder cannot be used. what() is one line: the folder, the reason and the fix.
class spool_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// One spooled version.
struct entry {
    std::string name;             ///< file name, e.g. "channel-20261125T054233.123Z-a1b2c3.backup"
    std::filesystem::path path;   ///< dir() / name
    std::uintmax_t size = 0;
};

/// A folder of spooled versions. Files are written atomically (temp file, fsync, rename, fsync of
/// the folder), so after a crash a name is either absent or complete. All calls block: run them off
/// the io_context thread. Methods are const (the object only holds the path) and may be called from
/// several threads, but never write the same name from two threads at once.
class spool {
public:
    /// Creates the folder (mode 0700 whatever the umask; missing parents are created 0700 too) or
    /// opens it. Throws spool_error when it cannot be created, is not a folder, is not writable, or is
    /// writable by group or others (it holds secrets: refuse rather than fix it silently). Removes
    /// leftover temporary files ("*.tmp") that a killed run left.
    static spool open(std::filesystem::path dir);

    /// Spooled versions (files named channel-*.backup), oldest first (their names sort by time).
    /// Throws spool_error if the folder cannot be listed.
    std::vector<entry> pending() const;
    /// Same, reporting a failure to list the folder in `ec` (and returning what it could read).
    std::vector<entry> pending(std::error_code& ec) const;

    /// Writes `data` as `name` atomically and durably: `<name>.tmp` created O_CREAT|O_EXCL|O_CLOEXEC 0600
    /// (fchmod 0600), full write, fsync, rename to `name`, fsync of the folder. Returns the error
    /// (ENOSPC, EROFS, EACCES, EFBIG…; EINVAL for a name that is not a plain file name) and leaves no
    /// temp file behind on failure. An existing `name` is replaced. If only the final fsync of the folder
    /// fails, `name` is complete on disk but may not survive a power cut; the error is still returned.
    std::error_code write(const std::string& name, std::string_view data) const;
    /// Reads the whole file `name` into `out`.
    std::error_code read(const std::string& name, std::string& out) const;
    /// Deletes a version S3 confirmed, then fsyncs the folder. A missing file is not an error.
    std::error_code remove(const std::string& name) const;
    /// Keeps at most max_files pending versions: deletes the OLDEST beyond the cap, never the newest
    /// (so max_files 0 acts as 1); returns the names it deleted (the caller warns about each).
    std::vector<std::string> trim(std::size_t max_files) const;

    const std::filesystem::path& dir() const noexcept { return dir_; }

private:
    explicit spool(std::filesystem::path dir) : dir_(std::move(dir)) {}
    std::error_code sync_dir() const;

    std::filesystem::path dir_;
};

}  // namespace scb::spool
