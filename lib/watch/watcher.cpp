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

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace scb::watch {
namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace {

// IN_CREATE is left out on purpose: a created file is still being written. IN_ONLYDIR makes a file
// sitting where the folder should be look like a missing folder (ENOTDIR) instead of being watched.
// Every watch is added with IN_MASK_ADD: one folder can have several roles (the file's folder, an
// ancestor, a symlink's folder), and the kernel gives it one wd whose mask must serve them all.
constexpr std::uint32_t folder_mask = IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// While the folder is missing: the next path component appearing under the nearest ancestor.
constexpr std::uint32_t ancestor_mask = IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// The folder holding a symlink of the path: the link made, replaced (ln -sfn renames over it) or removed.
constexpr std::uint32_t link_mask =
    IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
// As the kernel's MAXSYMLINKS: more links than this on one path is a loop.
constexpr int max_links = 40;
// Room for many events per read; the kernel needs at least one full record with the longest name.
constexpr std::size_t buffer_size = 16 * 1024;
static_assert(buffer_size >= sizeof(inotify_event) + NAME_MAX + 1);
// Bounds arm()'s descend-and-retry loop if a folder keeps flapping; a later event retries anyway.
constexpr int max_arm_attempts = 16;

// ELOOP too: a symlink loop on the path is waited out like a missing folder, until someone fixes it.
bool is_missing(int err) { return err == ENOENT || err == ENOTDIR || err == ELOOP; }

struct resolved {
    fs::path file;                                        // symlinks resolved as far as the path exists
    std::vector<std::pair<fs::path, std::string>> links;  // each symlink met: its folder and name
};

// Like realpath(3), but goes on past a missing part (the rest is taken as written) and notes where
// each symlink on the way lives, so that re-pointing it can be watched. `path` is absolute.
resolved resolve(const fs::path& path) {
    resolved r;
    std::deque<fs::path> todo(path.begin(), path.end());
    fs::path at;
    int hops = 0;
    bool missing = false;
    while (!todo.empty()) {
        fs::path part = std::move(todo.front());
        todo.pop_front();
        if (part.has_root_directory()) {  // "/": the path's start, or an absolute link's target
            at = std::move(part);
            continue;
        }
        if (part.empty() || part == ".") continue;
        if (part == "..") {  // `at` has no symlinks left, so ".." is its lexical parent
            at = at.parent_path();
            continue;
        }
        fs::path next = at / part;
        struct stat st {};
        if (!missing && ::lstat(next.c_str(), &st) != 0) missing = true;
        if (missing || !S_ISLNK(st.st_mode)) {
            at = std::move(next);
            continue;
        }
        std::error_code ec;
        fs::path target = fs::read_symlink(next, ec);
        if (ec || ++hops > max_links) {
            missing = true;
            at = std::move(next);
            continue;
        }
        r.links.emplace_back(at, part.string());
        todo.insert(todo.begin(), target.begin(), target.end());
    }
    r.file = std::move(at);
    return r;
}

[[noreturn]] void throw_inotify_error(int err, const fs::path& folder) {
    std::string msg = "cannot watch " + folder.string() + " with inotify: ";
    switch (err) {
        case ENOSPC:
            msg += "the inotify watch limit is reached; raise it, e.g. sysctl -w fs.inotify.max_user_watches=524288";
            break;
        case EACCES:
        case EPERM:
            msg += std::string(std::strerror(err)) + "; give the scb-backup user read and search access to " +
                   folder.string() + " (docs/operations.md, \"Letting the service read lnd's file\")";
            break;
        default: msg += std::strerror(err); break;
    }
    throw watch_error(err, msg);
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
    throw watch_error(err, msg);
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
        case change_reason::retargeted: return "retargeted";
    }
    return "unknown";
}

watcher::watcher(asio::any_io_executor ex, fs::path file)
    : inotify_(ex, make_inotify()), path_(fs::absolute(file)), buf_(new std::byte[buffer_size]) {
    if (path_.lexically_normal().filename().empty())
        throw std::invalid_argument("watcher: " + file.string() + " names a folder, not a file");
    // Missing at start counts as "lost": its appearance is reported as folder_recreated.
    folder_lost_ = !arm();
}

bool watcher::arm() {
    const int fd = inotify_.native_handle();
    std::vector<int> added;  // every wd this call got, to drop those it ends up not using
    auto add = [&](const fs::path& p, std::uint32_t mask) {
        int wd = ::inotify_add_watch(fd, p.c_str(), mask | IN_MASK_ADD);
        if (wd >= 0) added.push_back(wd);
        return wd;
    };

    watch_set next;
    for (int attempt = 1;; ++attempt) {
        next = watch_set{};
        resolved r = resolve(path_);
        next.folder = r.file.parent_path();
        next.file_name = r.file.filename().string();
        for (auto& [dir, name] : r.links) {
            int wd = add(dir, link_mask);
            // Not fatal: ~ may be unreadable to the service user. recheck() covers that link.
            if (int err = errno; wd < 0 && !is_missing(err) && dir != unwatchable_) {
                unwatchable_ = dir;
                logging::warn("cannot watch ", dir.string(), ", which holds the symlink ", name, " on the way to ",
                              path_.string(), ": ", std::strerror(err),
                              "; if it is re-pointed, the periodic check finds it");
            }
            next.links.push_back({std::move(dir), std::move(name), wd});
        }

        int wd = add(next.folder, folder_mask);
        if (wd >= 0) {
            next.folder_wd = wd;
            break;
        }
        if (!is_missing(errno)) throw_inotify_error(errno, next.folder);

        // Walk up to the nearest folder that exists; "/" always does. next.folder is resolved, so
        // its parents are the real ones.
        fs::path child = next.folder.filename();
        fs::path parent = next.folder.parent_path();
        for (;;) {
            wd = add(parent, ancestor_mask);
            if (wd >= 0) break;
            if (!is_missing(errno) || parent == parent.root_path()) throw_inotify_error(errno, parent);
            child = parent.filename();
            parent = parent.parent_path();
        }
        next.ancestor_wd = wd;
        next.ancestor = parent;
        next.awaited_child = child.string();

        // The child may have been created after its add_watch failed and before this watch existed:
        // that IN_CREATE was never queued, so look once; if it is there, descend and try again.
        struct stat st {};
        if (attempt < max_arm_attempts && ::stat((parent / child).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
            continue;
        break;
    }

    // Drop the watches no longer needed: the old set's and those of attempts given up. A folder
    // watched again kept its wd, so a wd still in use is never removed. Removing one whose folder
    // was deleted fails with EINVAL, harmlessly; after a move the kernel still watches the moved
    // folder, which is no longer ours.
    auto in_use = [&](int wd) {
        return wd == next.folder_wd || wd == next.ancestor_wd ||
               std::any_of(next.links.begin(), next.links.end(), [wd](const link_watch& l) { return l.wd == wd; });
    };
    std::vector<int> candidates = std::move(added);
    candidates.push_back(set_.folder_wd);
    candidates.push_back(set_.ancestor_wd);
    for (const auto& l : set_.links) candidates.push_back(l.wd);
    std::sort(candidates.begin(), candidates.end());
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    for (int wd : candidates)
        if (wd >= 0 && !in_use(wd)) ::inotify_rm_watch(fd, wd);

    set_ = std::move(next);
    return set_.folder_wd >= 0;
}

bool watcher::rearm() {
    const watch_set before = set_;
    arm();
    if (set_ == before) return false;
    const fs::path now = set_.folder / set_.file_name;
    if (now != before.folder / before.file_name)
        logging::info("watch: ", path_.string(), " now leads to ", now.string(), ": watching ", set_.folder.string());
    else
        logging::info("watch: ", set_.folder.string(), " is another folder than the one watched: watching it now");
    return true;
}

bool watcher::recheck() {
    if (!rearm()) return false;
    // The caller re-reads the file now: a folder found again needs no report of its own.
    folder_lost_ = !watching_folder();
    return true;
}

asio::awaitable<change_reason> watcher::next_change() {
    for (;;) {
        if (set_.folder_wd >= 0 && folder_lost_) {
            folder_lost_ = false;
            co_return change_reason::folder_recreated;
        }
        if (set_.folder_wd < 0 && set_.ancestor_wd < 0) arm();  // only after a failed arm(); keeps the invariant

        auto [ec, n] = co_await inotify_.async_read_some(asio::buffer(buf_.get(), buffer_size),
                                                         asio::as_tuple(asio::use_awaitable));
        if (ec == asio::error::operation_aborted) throw boost::system::system_error(ec);
        if (ec)
            throw watch_error(ec.value(), "cannot read inotify events for " + set_.folder.string() + ": " + ec.message());
        std::span<const std::byte> bytes(buf_.get(), n);
        logging::debug("inotify: read ", n, " bytes");

        // A symlink on the way was made, re-pointed or removed, or a folder holding one went: the
        // path may lead elsewhere now. First, so that the events below are read against the right set.
        bool relink = false;
        for (const auto& l : set_.links) {
            if (l.wd < 0) continue;
            auto s = parse_events(bytes, l.wd, l.name);
            relink = relink || s.entry_changed || s.folder_gone;
        }
        if (relink && rearm()) {
            // Whatever this read held about the old folders no longer concerns the file.
            folder_lost_ = !watching_folder();
            if (!folder_lost_) co_return change_reason::retargeted;
            continue;
        }

        if (set_.folder_wd >= 0) {
            auto s = parse_events(bytes, set_.folder_wd, set_.file_name,
                                  set_.file_name == lnd_temp_name ? "" : lnd_temp_name);
            if (s.folder_gone) {
                // Deleted, moved away or unmounted: whatever the file was, it is not at its path now.
                folder_lost_ = true;
                arm();  // it may already be back; the loop's top then reports it
                continue;
            }
            if (s.overflow) {
                // The lost events may have hidden anything (the folder deleted, a symlink re-pointed):
                // resolve and watch again; a folder still there keeps its wd.
                if (!arm()) {
                    folder_lost_ = true;
                    continue;
                }
                co_return change_reason::overflow;
            }
            if (s.moved_to) co_return change_reason::moved_to;
            if (s.close_write) co_return change_reason::close_write;
            if (s.temp_written) co_return change_reason::temp_written;
        } else if (set_.ancestor_wd >= 0) {
            auto s = parse_events(bytes, set_.ancestor_wd, set_.awaited_child);
            // arm() walks up past an ancestor that went, and descends as far as the path exists now.
            if (s.folder_gone || s.child_appeared || s.overflow) arm();
        }
    }
}

}  // namespace scb::watch
