#pragma once
// Watches lnd's channel.backup with inotify and says when it may hold a new version.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace scb::watch {

/// Why next_change() returned. `started` is never returned by the watcher: it labels the read the
/// daemon does at start-up. `temp_written` is not a change of the file: lnd closed its temp file
/// (lnd_temp_name), whose rename over the file follows.
enum class change_reason { moved_to, close_write, overflow, folder_recreated, started, temp_written };

/// The name of the file lnd writes, fsyncs and renames over channel.backup (chanbackup's
/// DefaultTempBackupFileName), in the same folder.
inline constexpr const char* lnd_temp_name = "temp-dont-use.backup";

/// Short name for logs ("moved_to", "folder_recreated"…).
const char* to_string(change_reason r) noexcept;

/// Owns one inotify descriptor watching the folder of one file. Not thread-safe: use it from one
/// coroutine at a time. Construct it BEFORE the first read of the file, so no change between that
/// read and the first next_change() is missed (inotify queues them).
///
/// Limitation: only the file's own folder (and, while it is missing, its nearest existing ancestor) is
/// watched. Renaming a folder ABOVE the file's folder while it exists is not seen; the daemon's periodic
/// reconcile (snapshot::stat_identity) is the safety net for that.
class watcher {
public:
    /// Watches the folder holding `file` (made absolute). Does not throw if the folder is missing.
    /// Throws std::system_error (one line: the folder and the fix) if inotify itself fails: too many
    /// inotify instances, the watch limit reached, no permission to read the folder.
    watcher(boost::asio::any_io_executor ex, std::filesystem::path file);
    /// Movable, but not while next_change() is pending. Destroying the watcher while next_change() is
    /// pending closes the descriptor: the operation ends with operation_aborted without touching the
    /// destroyed watcher (tested).
    watcher(watcher&&) = default;
    watcher& operator=(watcher&&) = default;

    /// Completes when the file may hold a new version: returns moved_to / close_write for a change of
    /// the file, temp_written when lnd closed its temp file (only when the same read held no change of
    /// the file itself), overflow if the kernel dropped events, folder_recreated once each time the folder
    /// comes back after being missing (at start, or deleted/moved away); the caller then re-reads the
    /// file. Several events in one read are reported as one change. While the folder is missing it
    /// watches the nearest existing ancestor for the next path component and descends. Never polls.
    /// Supports per-operation cancellation (terminal, partial, total): it then throws
    /// boost::system::system_error(operation_aborted), as use_awaitable does, and the watcher stays
    /// usable (events read in the same instant as the cancellation may be dropped: re-read the file
    /// after resuming). A real inotify failure (watch limit reached, no read access to a folder) throws
    /// std::system_error with a one-line message naming the folder and the fix.
    boost::asio::awaitable<change_reason> next_change();

    /// True while the file's own folder is being watched (false while waiting for it to reappear).
    bool watching_folder() const noexcept { return folder_wd_ >= 0; }

    /// The folder being watched for the file.
    const std::filesystem::path& folder() const noexcept { return folder_; }
    /// Where lnd writes the next version before renaming it over the file.
    std::filesystem::path temp_path() const { return folder_ / lnd_temp_name; }

private:
    // Tries to watch folder_; if it is missing, watches the nearest existing ancestor instead.
    // Returns true if folder_ is now watched.
    bool arm();
    void drop_folder_watch() noexcept;
    void drop_ancestor_watch() noexcept;

    boost::asio::posix::stream_descriptor inotify_;
    std::filesystem::path folder_;
    std::string file_name_;
    int folder_wd_ = -1;
    int ancestor_wd_ = -1;
    std::filesystem::path ancestor_;    // nearest existing ancestor, while folder_ is missing
    std::string awaited_child_;         // the component of folder_ right below ancestor_
    bool folder_lost_ = false;          // folder_ went missing since it was last reported back
    std::unique_ptr<std::byte[]> buf_;  // on the heap so a moved watcher keeps a valid buffer
};

}  // namespace scb::watch
