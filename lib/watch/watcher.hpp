#pragma once
// Watches lnd's channel.backup with inotify and says when it may hold a new version.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace scb::watch {

/// Why next_change() returned. `started` is never returned by the watcher: it labels the read the
/// daemon does at start-up. `temp_written` is not a change of the file: lnd closed its temp file
/// (lnd_temp_name), whose rename over the file follows. `retargeted`: a symlink on the way was
/// changed, so the path now leads to another file (or folder).
enum class change_reason { moved_to, close_write, overflow, folder_recreated, started, temp_written, retargeted };

/// The name of the file lnd writes, fsyncs and renames over channel.backup (chanbackup's
/// DefaultTempBackupFileName), in the same folder.
inline constexpr const char* lnd_temp_name = "temp-dont-use.backup";

/// inotify failed (the watch limit, no read access to a folder). what() is the whole line: the
/// folder, the reason and the fix (unlike std::system_error, it does not append the reason again).
struct watch_error : std::runtime_error {
    watch_error(int errno_value, const std::string& line) : std::runtime_error(line), error_number(errno_value) {}
    int error_number;
};

/// Short name for logs ("moved_to", "folder_recreated"…).
const char* to_string(change_reason r) noexcept;

/// Owns one inotify descriptor watching the folder of one file. Not thread-safe: use it from one
/// coroutine at a time. Construct it BEFORE the first read of the file, so no change between that
/// read and the first next_change() is missed (inotify queues them).
///
/// Symlinks: the path is resolved (every symlink on the way, the file's own included) and the folder
/// of the file it leads to is watched, where lnd writes. The folders holding those symlinks are
/// watched too, for the links' own names: re-pointing one (ln -sfn) is seen at once.
///
/// Limitation: a folder ABOVE the file's folder that is renamed or replaced while it exists, and a
/// symlink in a folder the watcher may not read, raise no event; recheck(), which the daemon calls at
/// each periodic reconcile, finds them.
class watcher {
public:
    /// Watches the folder holding what `file` (made absolute) leads to. Does not throw if a folder is
    /// missing. Throws watch_error (one line: the folder and the fix) if inotify itself fails: too
    /// many inotify instances, the watch limit reached, no permission to read the folder.
    watcher(boost::asio::any_io_executor ex, std::filesystem::path file);
    /// Movable, but not while next_change() is pending. Destroying the watcher while next_change() is
    /// pending closes the descriptor: the operation ends with operation_aborted without touching the
    /// destroyed watcher (tested).
    watcher(watcher&&) = default;
    watcher& operator=(watcher&&) = default;

    /// Completes when the file may hold a new version: returns moved_to / close_write for a change of
    /// the file, temp_written when lnd closed its temp file (only when the same read held no change of
    /// the file itself), overflow if the kernel dropped events, folder_recreated once each time the folder
    /// comes back after being missing (at start, or deleted/moved away), retargeted when a symlink on the
    /// path was changed and the path now leads elsewhere; the caller then re-reads the file. Several
    /// events in one read are reported as one change. While the folder is missing it watches the nearest
    /// existing ancestor for the next path component and descends. Never polls.
    /// Supports per-operation cancellation (terminal, partial, total): it then throws
    /// boost::system::system_error(operation_aborted), as use_awaitable does, and the watcher stays
    /// usable (events read in the same instant as the cancellation may be dropped: re-read the file
    /// after resuming). A real inotify failure (watch limit reached, no read access to a folder) throws
    /// watch_error with a one-line message naming the folder and the fix.
    boost::asio::awaitable<change_reason> next_change();

    /// Resolves the path again and re-arms if it now leads to another folder or file, or if a watched
    /// folder is no longer the one at its path (a folder above it was replaced, a symlink the watcher
    /// could not watch was re-pointed). Returns true if it re-armed: the caller then re-reads the file.
    /// Cheap (a few stat calls); the daemon calls it at each periodic reconcile, never while
    /// next_change() is pending. Throws like next_change() on a real inotify failure.
    bool recheck();

    /// True while the file's own folder is being watched (false while waiting for it to appear).
    bool watching_folder() const noexcept { return set_.folder_wd >= 0; }

    /// The folder being watched for the file: where the path leads, symlinks resolved.
    const std::filesystem::path& folder() const noexcept { return set_.folder; }
    /// Where lnd writes the next version before renaming it over the file.
    std::filesystem::path temp_path() const { return set_.folder / lnd_temp_name; }

private:
    /// A folder holding a symlink of the path, watched for that name (wd -1: could not be watched).
    struct link_watch {
        std::filesystem::path folder;
        std::string name;
        int wd = -1;
        bool operator==(const link_watch&) const = default;
    };
    /// Everything one arm() set up. The kernel gives one folder one wd, whatever path reached it:
    /// an equal set means the same folders are watched.
    struct watch_set {
        std::filesystem::path folder;        // where the path leads, symlinks resolved
        std::string file_name;
        int folder_wd = -1;
        int ancestor_wd = -1;                // nearest existing ancestor, while `folder` is missing
        std::filesystem::path ancestor;
        std::string awaited_child;           // the component of `folder` right below `ancestor`
        std::vector<link_watch> links;
        bool operator==(const watch_set&) const = default;
    };

    // Resolves path_ and watches its folder, or, if it is missing, the nearest existing ancestor,
    // plus the folders of the symlinks on the way; drops the watches no longer needed. Returns true
    // if the file's folder is now watched.
    bool arm();
    // arm(), then logs where the path leads if that changed. Returns true if anything changed.
    bool rearm();

    boost::asio::posix::stream_descriptor inotify_;
    std::filesystem::path path_;          // as configured, made absolute
    watch_set set_;
    bool folder_lost_ = false;            // the folder went missing since it was last reported back
    std::filesystem::path unwatchable_;   // the last link folder warned about, to warn once
    std::unique_ptr<std::byte[]> buf_;    // on the heap so a moved watcher keeps a valid buffer
};

}  // namespace scb::watch
