#include "watch/watcher.hpp"

#include "logging/logger.hpp"

#include "watch/inotify_events.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include <sys/inotify.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace scb::watch {
namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace {

// IN_CREATE is left out on purpose: a created file is still being written. IN_ONLYDIR makes a file
// sitting where the folder should be look like a missing folder (ENOTDIR) instead of being watched.
constexpr std::uint32_t folder_mask = IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// While the folder is missing: the next path component appearing under the nearest ancestor.
constexpr std::uint32_t ancestor_mask = IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// Room for many events per read; the kernel needs at least one full record with the longest name.
constexpr std::size_t buffer_size = 16 * 1024;
static_assert(buffer_size >= sizeof(inotify_event) + NAME_MAX + 1);
// Bounds arm()'s descend-and-retry loop if a folder keeps flapping; a later event retries anyway.
constexpr int max_arm_attempts = 16;

bool is_missing(int err) { return err == ENOENT || err == ENOTDIR; }

[[noreturn]] void throw_inotify_error(int err, const fs::path& folder) {
    std::string msg = "cannot watch " + folder.string() + " with inotify: ";
    switch (err) {
        case ENOSPC:
            msg += "the inotify watch limit is reached; raise it, e.g. sysctl -w fs.inotify.max_user_watches=524288";
            break;
        case EACCES:
        case EPERM:
            msg += std::string(std::strerror(err)) + "; give the scb-backup user read access to " + folder.string();
            break;
        default: msg += std::strerror(err); break;
    }
    throw std::system_error(err, std::generic_category(), msg);
}

int make_inotify() {
    int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd >= 0) return fd;
    int err = errno;
    std::string msg = "cannot create an inotify instance: ";
    if (err == EMFILE)
        msg += "too many inotify instances; raise fs.inotify.max_user_instances (sysctl)";
    else
        msg += std::strerror(err);
    throw std::system_error(err, std::generic_category(), msg);
}

}  // namespace

const char* to_string(change_reason r) noexcept {
    switch (r) {
        case change_reason::moved_to: return "moved_to";
        case change_reason::close_write: return "close_write";
        case change_reason::overflow: return "overflow";
        case change_reason::folder_recreated: return "folder_recreated";
        case change_reason::started: return "started";
        case change_reason::temp_written: return "temp_written";
    }
    return "unknown";
}

watcher::watcher(asio::any_io_executor ex, fs::path file)
    : inotify_(ex, make_inotify()), buf_(new std::byte[buffer_size]) {
    file = fs::absolute(file).lexically_normal();
    file_name_ = file.filename().string();
    if (file_name_.empty()) throw std::invalid_argument("watcher: " + file.string() + " names a folder, not a file");
    folder_ = file.parent_path();
    // Missing at start counts as "lost": its appearance is reported as folder_recreated.
    folder_lost_ = !arm();
}

bool watcher::arm() {
    for (int attempt = 1;; ++attempt) {
        int wd = ::inotify_add_watch(inotify_.native_handle(), folder_.c_str(), folder_mask);
        if (wd >= 0) {
            drop_ancestor_watch();
            folder_wd_ = wd;
            return true;
        }
        if (!is_missing(errno)) throw_inotify_error(errno, folder_);

        // Walk up to the nearest folder that exists; "/" always does.
        fs::path child = folder_.filename();
        fs::path parent = folder_.parent_path();
        for (;;) {
            wd = ::inotify_add_watch(inotify_.native_handle(), parent.c_str(), ancestor_mask);
            if (wd >= 0) break;
            if (!is_missing(errno) || parent == parent.root_path()) throw_inotify_error(errno, parent);
            child = parent.filename();
            parent = parent.parent_path();
        }
        // Re-adding a watch on the same folder returns the same wd: only drop a different one.
        if (ancestor_wd_ >= 0 && ancestor_wd_ != wd) ::inotify_rm_watch(inotify_.native_handle(), ancestor_wd_);
        ancestor_wd_ = wd;
        ancestor_ = parent;
        awaited_child_ = child.string();

        // The child may have been created after its add_watch failed and before this watch existed:
        // that IN_CREATE was never queued, so look once; if it is there, descend and try again.
        struct stat st {};
        if (attempt < max_arm_attempts && ::stat((parent / child).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            continue;
        return false;
    }
}

void watcher::drop_folder_watch() noexcept {
    // After IN_DELETE_SELF the kernel already removed the watch (EINVAL here, harmless); after
    // IN_MOVE_SELF it still watches the moved folder, which is no longer ours.
    if (folder_wd_ >= 0) ::inotify_rm_watch(inotify_.native_handle(), folder_wd_);
    folder_wd_ = -1;
}

void watcher::drop_ancestor_watch() noexcept {
    if (ancestor_wd_ >= 0) ::inotify_rm_watch(inotify_.native_handle(), ancestor_wd_);
    ancestor_wd_ = -1;
    ancestor_.clear();
    awaited_child_.clear();
}

asio::awaitable<change_reason> watcher::next_change() {
    for (;;) {
        if (folder_wd_ >= 0 && folder_lost_) {
            folder_lost_ = false;
            co_return change_reason::folder_recreated;
        }
        if (folder_wd_ < 0 && ancestor_wd_ < 0) arm();  // only after a failed arm(); keeps the invariant

        auto [ec, n] = co_await inotify_.async_read_some(asio::buffer(buf_.get(), buffer_size),
                                                         asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
        if (ec)
            throw std::system_error(ec.value(), std::generic_category(),
                                    "cannot read inotify events for " + folder_.string() + ": " + ec.message());
        std::span<const std::byte> bytes(buf_.get(), n);
        logging::debug("inotify: read ", n, " bytes");

        if (folder_wd_ >= 0) {
            auto s = parse_events(bytes, folder_wd_, file_name_, file_name_ == lnd_temp_name ? "" : lnd_temp_name);
            if (s.folder_gone) {
                // Deleted, moved away or unmounted: whatever the file was, it is not at its path now.
                drop_folder_watch();
                folder_lost_ = true;
                arm();  // it may already be back; the loop's top then reports it
                continue;
            }
            if (s.overflow) {
                // The lost events may have included the folder's own deletion: adding a watch for the
                // same folder returns the same wd, for a new folder at that path a new one.
                int wd = ::inotify_add_watch(inotify_.native_handle(), folder_.c_str(), folder_mask);
                if (wd < 0 && !is_missing(errno)) throw_inotify_error(errno, folder_);
                if (wd < 0) {
                    drop_folder_watch();
                    folder_lost_ = true;
                    arm();
                    continue;
                }
                if (wd != folder_wd_) {
                    drop_folder_watch();
                    folder_wd_ = wd;
                }
                co_return change_reason::overflow;
            }
            if (s.moved_to) co_return change_reason::moved_to;
            if (s.close_write) co_return change_reason::close_write;
            if (s.temp_written) co_return change_reason::temp_written;
        } else if (ancestor_wd_ >= 0) {
            auto s = parse_events(bytes, ancestor_wd_, awaited_child_);
            if (s.folder_gone) drop_ancestor_watch();  // the ancestor itself went: walk further up
            // arm() descends as far as the path exists now, so overflow needs nothing more.
            if (s.folder_gone || s.child_appeared || s.overflow) arm();
        }
    }
}

}  // namespace scb::watch
