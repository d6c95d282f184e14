#pragma once
// The spool: durable local copies of every version not yet confirmed by S3.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace scb::spool {

/// Expected failures of the spool itself (beside the errno values of the file calls).
enum class errc {
    locked = 1,     ///< another scb-backup process owns the spool folder (holds its lock file)
    unsafe_folder,  ///< the folder is writable by group or others: refused, it holds channel backups
    lock_lost,      ///< the folder or its lock file was removed or replaced; the next write() re-takes it
};
/// The category of errc; name() == "spool".
const std::error_category& category() noexcept;
std::error_code make_error_code(errc e) noexcept;

/// The lock file that open() creates in the folder (mode 0600) and holds with flock() while the
/// spool object lives. It stays there after the process ends (an unlocked file means "free").
inline constexpr std::string_view lock_file_name = ".lock";

/// The spool folder cannot be used. what() is one line: the folder, the reason and the fix.
class spool_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Another process (or another spool object of this process) owns the folder. Thrown by open()
/// before it touches anything in the folder. what() is one line naming the folder and the owner.
class spool_locked : public spool_error {
public:
    spool_locked(const std::filesystem::path& dir, long owner_pid);
    /// The pid the owner wrote into the lock file, or 0 if it could not be read.
    long owner_pid() const noexcept { return owner_pid_; }

private:
    long owner_pid_;
};

/// One spooled version.
struct entry {
    std::string name;             ///< file name, e.g. "channel-20261125T054233.123Z-a1b2c3.backup"
    std::filesystem::path path;   ///< dir() / name
    std::uintmax_t size = 0;
};

/// A folder of spooled versions, owned by one process at a time. Files are written atomically (temp
/// file, fsync, rename, fsync of the folder), so after a crash a name is either absent or complete.
/// All calls block: run them off the io_context thread. Methods are const and may be called from
/// several threads, but never write the same name from two threads at once. Move-only: the object
/// owns the lock.
class spool {
public:
    /// Creates the folder (mode 0700 whatever the umask; missing parents are created 0700 too) or
    /// opens it, then takes its lock: flock(LOCK_EX|LOCK_NB) on `<dir>/.lock` (0600, O_CLOEXEC), held
    /// until this object is destroyed, and writes our pid into it. Then removes the temporary files a
    /// killed run left (only names write() makes: "channel-*.backup.tmp"; other files are left alone).
    /// Throws spool_locked if another process owns the folder (nothing in it is touched then), and
    /// spool_error when it cannot be created, is not a folder, is not writable, or is writable by group
    /// or others (it holds secrets: refuse rather than fix it silently).
    static spool open(std::filesystem::path dir);

    spool(spool&&) noexcept;
    spool& operator=(spool&&) noexcept;
    ~spool();  ///< releases the lock (the lock file stays)

    /// Spooled versions (files named channel-*.backup), oldest first (their names sort by time).
    /// Throws spool_error if the folder cannot be listed: for start-up only; a running daemon uses
    /// the error_code form.
    std::vector<entry> pending() const;
    /// Same, reporting a failure to list the folder (e.g. it was removed: ENOENT) in `ec`, and
    /// returning what it could read. Never throws spool_error.
    std::vector<entry> pending(std::error_code& ec) const;

    /// Writes `data` as `name` atomically and durably: `<name>.tmp` created O_CREAT|O_EXCL|O_CLOEXEC 0600
    /// (fchmod 0600), full write, fsync, rename to `name`, fsync of the folder. Calls ensure_ready()
    /// first, so a removed folder is made again. Returns the error (ENOSPC, EROFS, EACCES, EFBIG…;
    /// errc::locked, errc::unsafe_folder from ensure_ready(); EINVAL for a name that is not
    /// "channel-*.backup" without a '/') and leaves no temp file behind on failure. An existing `name`
    /// is replaced. If only the final fsync of the folder fails, `name` is complete on disk but may not
    /// survive a power cut; the error is still returned.
    std::error_code write(const std::string& name, std::string_view data) const;
    /// Reads the whole file `name` into `out`.
    std::error_code read(const std::string& name, std::string& out) const;
    /// Deletes a version S3 confirmed, then fsyncs the folder. A missing file (or folder) is not an error.
    std::error_code remove(const std::string& name) const;
    /// Keeps at most max_files pending versions: deletes the OLDEST beyond the cap, never the newest
    /// (so max_files 0 acts as 1); returns the names it deleted (the caller warns about each).
    std::vector<std::string> trim(std::size_t max_files) const;

    /// Whether the folder is usable now, without changing anything (for health): {} if it exists, is
    /// private and writable and we hold the lock on its current lock file; else ENOENT (removed),
    /// ENOTDIR, EACCES/EROFS (not writable), errc::unsafe_folder, or errc::lock_lost (the folder or
    /// its lock file was removed or replaced since we locked it). Never throws.
    std::error_code check() const;
    /// Makes the folder usable again if it was removed (or its lock file was): creates it (and its
    /// missing parents) 0700 as open() does, refuses it if it is writable by group or others
    /// (errc::unsafe_folder), creates the lock file and takes its lock again (errc::locked if another
    /// process took it first: then write() refuses to write into a folder that process owns).
    /// Costs one lstat() when nothing is wrong. write() calls it; calling it from a timer lets the
    /// folder come back before the next write. Logs one warning when it recreates. Never throws.
    std::error_code ensure_ready() const;

    const std::filesystem::path& dir() const noexcept { return dir_; }

private:
    struct lock_state;
    spool(std::filesystem::path dir, std::unique_ptr<lock_state> lock) noexcept;
    std::error_code sync_dir() const;

    std::filesystem::path dir_;
    std::unique_ptr<lock_state> lock_;  // behind a pointer: the mutex in it does not move
};

}  // namespace scb::spool

template <>
struct std::is_error_code_enum<scb::spool::errc> : std::true_type {};
