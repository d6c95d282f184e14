#include "spool/spool.hpp"

#include "common/atomic_file.hpp"
#include "common/fd_guard.hpp"
#include "common/private_folders.hpp"
#include "logging/logger.hpp"
#include "naming/object_name.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <mutex>

namespace scb::spool {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view name_prefix = "channel-";
constexpr std::string_view name_suffix = ".backup";

std::error_code last_error() { return {errno, std::generic_category()}; }

bool ends_with(std::string_view s, std::string_view end) { return s.size() >= end.size() && s.substr(s.size() - end.size()) == end; }

// "channel-*.backup" and nothing that could leave the folder: the only names the spool writes, lists
// and deletes (naming::object_name() makes them; anything else is a bug upstream).
bool version_name(std::string_view name) {
    return name.size() > name_prefix.size() + name_suffix.size() &&
           name.substr(0, name_prefix.size()) == name_prefix && ends_with(name, name_suffix) &&
           name.find('/') == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

// The temporary names write() makes. open() removes only these: the folder may be shared with files
// that are not ours (e.g. a spool pointed at a common folder), and those are left alone.
bool own_temp_name(std::string_view name) {
    const std::string suffix = atomic_temp_name("");
    return ends_with(name, suffix) && version_name(name.substr(0, name.size() - suffix.size()));
}

[[noreturn]] void refuse(const fs::path& dir, const std::string& reason, const std::string& fix) {
    throw spool_error("spool folder " + dir.string() + " " + reason + "; fix: " + fix);
}

enum class folder_problem { none, cannot_open, unsafe, not_writable };
struct folder_state {
    folder_problem problem = folder_problem::none;
    std::error_code ec;
    mode_t mode = 0;
};

// Whether `dir` may serve as the spool: a folder we can write that no group or other user can.
folder_state inspect_folder(const fs::path& dir) {
    int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (raw < 0) return {folder_problem::cannot_open, last_error()};
    fd_guard fd(raw);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return {folder_problem::cannot_open, last_error()};
    const mode_t mode = st.st_mode & 07777;
    if ((mode & (S_IWGRP | S_IWOTH)) != 0)
        return {folder_problem::unsafe, make_error_code(errc::unsafe_folder), mode};
    // access() also reports EROFS for a read-only mount, which root would otherwise not notice here.
    if (::access(dir.c_str(), W_OK | X_OK) != 0) return {folder_problem::not_writable, last_error(), mode};
    return {folder_problem::none, {}, mode};
}

// The pid the owner wrote into the lock file, or 0. Only for the message: the flock is what counts.
long read_owner_pid(int fd) {
    char buf[32];
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) return 0;
    long pid = 0;
    auto [end, ec] = std::from_chars(buf, buf + n, pid);
    return ec == std::errc{} && pid > 0 ? pid : 0;
}

struct taken_lock {
    int fd = -1;
    dev_t dev = 0;
    ino_t ino = 0;
};

// Opens (or creates) the lock file and takes flock(LOCK_EX|LOCK_NB) on it. flock locks belong to the
// open file description, so a second open of the file conflicts even within this process.
// Returns errc::locked (and the owner's pid) when another description holds it.
std::error_code take_lock(const fs::path& dir, taken_lock& out, long& owner_pid) {
    const auto path = dir / lock_file_name;
    // O_NOFOLLOW: a symlink put there must not make us create or lock a file elsewhere.
    // Read-only: a file held open for writing would keep the spool's file system from being
    // remounted read-only (and the lock needs no write access).
    int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return last_error();
    auto fail = [fd](std::error_code ec) {
        ::close(fd);
        return ec;
    };
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail(last_error());
    if (!S_ISREG(st.st_mode)) return fail(std::make_error_code(std::errc::invalid_argument));
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EINTR) continue;
        if (errno == EWOULDBLOCK) {
            owner_pid = read_owner_pid(fd);
            return fail(make_error_code(errc::locked));
        }
        return fail(last_error());
    }
    // Ours now: exactly 0600 whatever the umask (a readable lock file lets anyone hold the lock), and
    // our pid for a second process to name. Both are best effort: the lock already holds.
    (void)::fchmod(fd, 0600);
    const auto pid = std::to_string(::getpid()) + "\n";
    if (int w = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW); w >= 0) {
        if (::write(w, pid.data(), pid.size()) < 0) { /* only informative */ }
        ::close(w);
    }
    out = {fd, st.st_dev, st.st_ino};
    return {};
}

class spool_category : public std::error_category {
public:
    const char* name() const noexcept override { return "spool"; }
    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
        case errc::locked:
            return "another scb-backup process owns the spool folder";
        case errc::unsafe_folder:
            return "the spool folder is writable by group or others (give scb-backup a folder of its own, mode 0700)";
        case errc::lock_lost:
            return "the spool folder or its lock file was removed or replaced (write() takes it again)";
        }
        return "unknown spool error";
    }
};

}  // namespace

const std::error_category& category() noexcept {
    static const spool_category c;
    return c;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

spool_locked::spool_locked(const fs::path& dir, long owner_pid)
    : spool_error("spool folder " + dir.string() + " is owned by another scb-backup process" +
                  (owner_pid > 0 ? " (pid " + std::to_string(owner_pid) + ")" : std::string()) +
                  ", which holds " + (dir / lock_file_name).string() +
                  "; fix: let one process use it, or give each its own folder"),
      owner_pid_(owner_pid) {}

// The lock, behind a pointer so that the spool can move (the mutex cannot). ensure_ready() replaces
// the file it holds when the folder was made again; the mutex orders that against check().
struct spool::lock_state {
    std::mutex mutex;
    taken_lock held;
    ~lock_state() {
        if (held.fd >= 0) ::close(held.fd);  // releases the flock
    }
    // Whether the file now at <dir>/.lock is the one we hold locked. Call with `mutex` held.
    bool current(const fs::path& dir) const {
        struct stat st {};
        return held.fd >= 0 && ::lstat((dir / lock_file_name).c_str(), &st) == 0 && st.st_dev == held.dev &&
               st.st_ino == held.ino;
    }
};

spool::spool(fs::path dir, std::unique_ptr<lock_state> lock) noexcept
    : dir_(std::move(dir)), lock_(std::move(lock)) {}
spool::spool(spool&&) noexcept = default;
spool& spool::operator=(spool&&) noexcept = default;
spool::~spool() = default;

spool spool::open(fs::path dir) {
    std::error_code ec;
    dir = fs::absolute(dir, ec).lexically_normal();
    if (ec) throw spool_error("spool folder " + dir.string() + " cannot be resolved: " + ec.message());
    if (dir.has_relative_path() && dir.filename().empty()) dir = dir.parent_path();  // "a/b/" → "a/b"

    if (auto f = create_private_folders(dir); f.ec) {
        if (f.chmod)
            refuse(dir, "cannot be made private (chmod 0700 " + f.at.string() + ": " + f.ec.message() + ")",
                   "check the owner of " + f.at.parent_path().string());
        refuse(dir, "cannot be created (mkdir " + f.at.string() + ": " + f.ec.message() + ")",
               f.ec == std::errc::permission_denied
                   ? "create it for the scb-backup user, or choose a folder that user may write"
                   : "choose another spool folder");
    }
    auto state = inspect_folder(dir);
    switch (state.problem) {
    case folder_problem::none:
        break;
    case folder_problem::cannot_open:
        if (state.ec == std::errc::not_a_directory)
            refuse(dir, "is not a folder", "remove that file or choose another spool folder");
        refuse(dir, "cannot be opened: " + state.ec.message(), "give the scb-backup user access to it");
    case folder_problem::unsafe: {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(state.mode));
        // chmod is the fix only for a plain folder of our own: never for a shared one like /tmp
        // (sticky), somebody else's, or a link whose target other things may use.
        struct stat link_st {};
        const bool own_plain_folder = ::lstat(dir.c_str(), &link_st) == 0 && S_ISDIR(link_st.st_mode) &&
                                      link_st.st_uid == ::geteuid() && (state.mode & S_ISVTX) == 0;
        refuse(dir,
               std::string("is writable by group or others (mode ") + mode + "): it holds channel backups, refusing",
               own_plain_folder ? "chmod 700 " + dir.string() + ", or use a folder of its own"
                                : "set BACKUP_DIRECTORY / --spool-dir to a folder of its own (scb-backup creates it "
                                  "with mode 0700), e.g. /var/lib/scb-backup");
    }
    case folder_problem::not_writable:
        refuse(dir, "is not writable: " + state.ec.message(),
               "give it to the scb-backup user (chown) and make sure its filesystem is mounted read-write");
    }

    // Lock before cleaning: the owner's temporary files are not leftovers but writes in progress.
    auto lock = std::make_unique<lock_state>();
    long owner_pid = 0;
    if (auto lec = take_lock(dir, lock->held, owner_pid)) {
        if (lec == errc::locked) throw spool_locked(dir, owner_pid);
        refuse(dir, "cannot be locked (" + (dir / lock_file_name).string() + ": " + lec.message() + ")",
               "remove that file if it is not a plain file, and make sure the filesystem supports flock()");
    }

    // A run killed between creating a temp file and renaming it leaves "<name>.tmp": never a valid version.
    bool removed = false;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (!own_temp_name(it->path().filename().string())) continue;
        if (::unlink(it->path().c_str()) != 0 && errno != ENOENT)
            refuse(dir, "holds a leftover temporary file that cannot be removed (" + it->path().string() +
                            ": " + std::strerror(errno) + ")", "remove it by hand");
        removed = true;
    }
    if (ec) refuse(dir, "cannot be listed: " + ec.message(), "give the scb-backup user read access to it");
    spool s(dir, std::move(lock));
    if (removed) s.sync_dir();
    return s;
}

std::vector<entry> spool::pending(std::error_code& ec) const {
    ec.clear();
    std::vector<entry> out;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        auto name = it->path().filename().string();
        if (!version_name(name)) continue;  // also skips the lock file and temporary files
        // Only regular files: never follow a symlink someone put in the folder.
        std::error_code e;
        if (!fs::is_regular_file(it->symlink_status(e)) || e) continue;
        auto size = it->file_size(e);
        if (e) continue;  // removed since listed (a concurrent remove()): not pending any more
        out.push_back(entry{name, it->path(), size});
    }
    // By the time in the name: ours and the original Python service's copies (a spool taken over from
    // it) do not sort as text ("…T0100…" after "…-2300…" of the same day). Others first, by name.
    const auto when = [](const entry& e) {
        const auto parsed = naming::parse_object_name(e.name);
        return std::make_pair(parsed.has_value(), parsed ? parsed->time : std::chrono::system_clock::time_point{});
    };
    std::sort(out.begin(), out.end(), [&](const entry& a, const entry& b) {
        const auto ta = when(a), tb = when(b);
        return ta != tb ? ta < tb : a.name < b.name;
    });
    return out;
}

std::vector<entry> spool::pending() const {
    std::error_code ec;
    auto out = pending(ec);
    if (ec) throw spool_error("spool folder " + dir_.string() + " cannot be listed: " + ec.message() +
                              "; fix: check it still exists and the scb-backup user may read it");
    return out;
}

std::error_code spool::check() const {
    if (auto state = inspect_folder(dir_); state.ec) return state.ec;
    std::lock_guard guard(lock_->mutex);
    return lock_->current(dir_) ? std::error_code{} : make_error_code(errc::lock_lost);
}

std::error_code spool::ensure_ready() const {
    std::lock_guard guard(lock_->mutex);
    if (lock_->current(dir_)) return {};
    // The folder (or only its lock file) was removed, e.g. by hand: make it again exactly as open()
    // does, including its refusals, rather than fail every write with ENOENT until a restart.
    auto made = create_private_folders(dir_);
    if (made.ec) return made.ec;
    if (auto state = inspect_folder(dir_); state.ec) return state.ec;
    // Another process may have made it again first and own it now: then it is theirs (errc::locked).
    taken_lock fresh;
    long owner_pid = 0;
    if (auto ec = take_lock(dir_, fresh, owner_pid)) return ec;
    if (lock_->held.fd >= 0) ::close(lock_->held.fd);  // its flock was on a file no longer in the folder
    lock_->held = fresh;
    if (made.created)
        logging::warn("spool folder ", dir_.string(), " had been removed: made it again (0700) and locked it");
    else
        logging::warn("spool folder ", dir_.string(),
                      ": its lock file had been removed or replaced: locked it again");
    return {};
}

std::error_code spool::write(const std::string& name, std::string_view data) const {
    if (!version_name(name)) return std::make_error_code(std::errc::invalid_argument);
    if (auto ec = ensure_ready()) return ec;
    // The spool lock makes a leftover at the temporary name our own (open() removed older ones).
    return write_file_atomically(dir_ / name, data, {.replace = true, .reclaim_temp = true}).ec;
}

std::error_code spool::read(const std::string& name, std::string& out) const {
    out.clear();
    if (!version_name(name)) return std::make_error_code(std::errc::invalid_argument);
    int raw = ::open((dir_ / name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (raw < 0) return last_error();
    fd_guard fd(raw);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return last_error();
    if (!S_ISREG(st.st_mode)) return std::make_error_code(std::errc::invalid_argument);
    out.reserve(static_cast<std::size_t>(st.st_size));
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.clear();
            return last_error();
        }
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return {};
}

std::error_code spool::remove(const std::string& name) const {
    if (!version_name(name)) return std::make_error_code(std::errc::invalid_argument);
    if (::unlink((dir_ / name).c_str()) != 0) {
        if (errno == ENOENT) return {};
        return last_error();
    }
    return sync_dir();
}

std::vector<std::string> spool::trim(std::size_t max_files) const {
    std::error_code ec;
    auto files = pending(ec);
    std::vector<std::string> dropped;
    // The newest version is the one that matters most: keep it even when the cap says 0.
    std::size_t keep = std::max<std::size_t>(max_files, 1);
    if (ec || files.size() <= keep) return dropped;
    for (std::size_t i = 0; i < files.size() - keep; ++i)
        if (::unlink(files[i].path.c_str()) == 0) dropped.push_back(files[i].name);
    // One folder fsync for the whole batch; if it fails the files may come back after a crash,
    // which only means trimming them again.
    if (!dropped.empty()) sync_dir();
    return dropped;
}

std::error_code spool::sync_dir() const {
    int raw = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (raw < 0) return last_error();
    fd_guard fd(raw);
    if (::fsync(fd.get()) != 0) return last_error();
    return {};
}

}  // namespace scb::spool
