#include "destination/folder_target.hpp"

#include "common/atomic_file.hpp"
#include "common/fd_guard.hpp"
#include "common/utc_time.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace scb::destination {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view backup_suffix = ".backup";

std::error_code errno_code(int e) { return {e, std::generic_category()}; }
std::error_code last_error() { return errno_code(errno); }

bool plain_name(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
           name.find('\0') == std::string::npos;
}

/// The folder exists and is a folder (following a symbolic link: /backups -> /mnt/usb/scb is fine).
std::error_code check_folder(const fs::path& folder) {
    struct stat st {};
    if (::stat(folder.c_str(), &st) != 0) return last_error();
    if (!S_ISDIR(st.st_mode)) return errno_code(ENOTDIR);
    return {};
}

std::string iso_mtime(const struct stat& st) {
    using namespace std::chrono;
    const auto since_epoch = seconds(st.st_mtim.tv_sec) + nanoseconds(st.st_mtim.tv_nsec);
    return utc::format(system_clock::time_point(duration_cast<system_clock::duration>(since_epoch)),
                       utc::layout::extended_millis);
}

s3::object_info info_of(const std::string& name, const struct stat& st) {
    s3::object_info info;
    info.key = name;
    info.size = static_cast<std::uint64_t>(st.st_size);
    info.last_modified = iso_mtime(st);
    return info;
}

/// lstat of `folder/name` as an object: ENOENT when absent, EINVAL for a bad name or something that
/// is not a regular file (list() does not show those either).
std::error_code stat_object(const fs::path& folder, const std::string& name, s3::object_info& out) {
    if (!plain_name(name)) return errno_code(EINVAL);
    struct stat st {};
    if (::lstat((folder / name).c_str(), &st) != 0) return last_error();
    if (!S_ISREG(st.st_mode)) return errno_code(S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
    out = info_of(name, st);
    return {};
}

std::string strip_trailing_slashes(std::string s) {
    while (s.size() > 1 && s.back() == '/') s.pop_back();
    return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// folder_io

namespace folder_io {

std::error_code write(const fs::path& folder, const std::string& name, std::string_view data) {
    if (!plain_name(name)) return errno_code(EINVAL);
    // Never created: a vanished mount point must not become a folder on the root file system.
    // write_file_atomically creates the temporary file only (O_CREAT in an existing folder), so a
    // folder that vanishes after this check gives ENOENT there as well.
    if (auto ec = check_folder(folder)) return ec;
    const write_error e = write_file_atomically(folder / name, data, atomic_write_options{.replace = true});
    return e.ec;
}

std::error_code list(const fs::path& folder, std::vector<s3::object_info>& out) {
    out.clear();
    if (auto ec = check_folder(folder)) return ec;
    DIR* dir = ::opendir(folder.c_str());
    if (dir == nullptr) return last_error();
    struct closer {
        DIR* d;
        ~closer() { ::closedir(d); }
    } close_dir{dir};
    const int dfd = ::dirfd(dir);
    for (;;) {
        errno = 0;
        const dirent* ent = ::readdir(dir);
        if (ent == nullptr) {
            if (errno != 0) return last_error();
            break;
        }
        const std::string name = ent->d_name;
        // Our objects only: the atomic write's temporary files ("….backup.tmp") and anything else
        // a person keeps there are not versions.
        if (name.size() <= backup_suffix.size() || !name.ends_with(backup_suffix)) continue;
        struct stat st {};
        if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT) continue;  // removed meanwhile
            return last_error();
        }
        if (!S_ISREG(st.st_mode)) continue;
        out.push_back(info_of(name, st));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
    return {};
}

std::error_code read(const fs::path& folder, const std::string& name, std::string& out, std::uintmax_t max_size) {
    out.clear();
    if (!plain_name(name)) return errno_code(EINVAL);
    // O_NONBLOCK: a FIFO put there cannot block the open; O_NOFOLLOW: what list() shows is what is read.
    fd_guard fd(::open((folder / name).c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW));
    if (fd.get() < 0) return last_error();
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return last_error();
    if (!S_ISREG(st.st_mode)) return errno_code(S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
    if (static_cast<std::uintmax_t>(st.st_size) > max_size) return errno_code(EFBIG);
    out.reserve(static_cast<std::size_t>(st.st_size));
    // To EOF rather than trusting st_size: the file may be replaced or grow meanwhile.
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const auto ec = last_error();
            out.clear();
            return ec;
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::uintmax_t>(n) > max_size) {
            out.clear();
            return errno_code(EFBIG);
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    return {};
}

s3::error to_error(std::error_code ec, const fs::path& folder, const std::string& what, bool folder_level) {
    s3::error e;
    if (!ec) return e;
    e.operation = what;
    e.local_folder = true;
    const std::string dir = strip_trailing_slashes(folder.string());
    const std::string reason = ec.message();
    // The object's name is what follows the verb ("PUT name"); the whole path names the file.
    const auto space = what.find(' ');
    const std::string file = space == std::string::npos ? dir : dir + "/" + what.substr(space + 1);
    const int v = ec.category() == std::generic_category() || ec.category() == std::system_category() ? ec.value() : 0;
    if (folder_level && (v == ENOENT || v == ENOTDIR)) {
        e.code = s3::errc::no_such_bucket;
        e.message = v == ENOENT ? "the folder " + dir + " does not exist (" + reason +
                                      "): is the disk mounted? create the folder to use it"
                                : "the folder " + dir + " is not a folder (" + reason +
                                      "): is the disk mounted? point the destination at a folder";
        return e;
    }
    switch (v) {
    case ENOENT:
        e.code = s3::errc::no_such_key;
        e.message = file + ": " + reason;
        break;
    case EACCES:
    case EPERM:
        e.code = s3::errc::access_denied;
        e.message = file + ": " + reason + ": give the daemon's user read and write access to " + dir;
        break;
    case EROFS:
        e.code = s3::errc::access_denied;
        e.message = file + ": " + reason + ": mount " + dir + " read-write";
        break;
    case EINVAL:
    case EISDIR:
    case ELOOP:
    case EFBIG:
        // Our request cannot succeed as asked (a bad name, not a regular file, over the size cap):
        // trying again would not help.
        e.code = s3::errc::client_error;
        e.message = file + ": " + reason;
        break;
    default:
        // ENOSPC, EIO, EDQUOT, ESTALE, ETIMEDOUT…: the disk or the server may recover.
        e.code = s3::errc::server_error;
        e.message = file + ": " + reason;
        break;
    }
    return e;
}

}  // namespace folder_io

// ---------------------------------------------------------------------------------------------
// folder_target

namespace {

/// What a blocking job gives back to the coroutine.
template <class V>
struct outcome {
    std::error_code ec;
    bool folder_level = false;  // the error concerns the folder, not the file
    V value{};
};

/// A job's result travelling from the pool back to the awaiting coroutine. Shared: the pool job
/// and the coroutine each hold it, so an abandoned wait leaves the job with a valid place to write.
template <class V>
struct job_state {
    explicit job_state(const asio::any_io_executor& ex) : timer(ex, std::chrono::steady_clock::time_point::max()) {}
    asio::steady_timer timer;  // touched on the caller's executor only
    bool done = false;         // ditto
    outcome<V> result;
};

/// After a failure: whether the folder itself is missing (or not a folder), to tell NoSuchBucket
/// from NoSuchKey.
bool folder_missing(const fs::path& folder) {
    const auto ec = check_folder(folder);
    return ec.value() == ENOENT || ec.value() == ENOTDIR;
}

/// Runs `job` (returning outcome<V>) on `pool` and waits for it on `ex`. Nullopt when the wait was
/// cancelled (terminal cancellation of the awaiting coroutine); the job itself then still runs to
/// its end, and its result is dropped. `ex` must be the awaiting coroutine's executor, run by one
/// thread (the daemon's io_context): `done` and the timer are touched there only.
template <class V, class Job>
asio::awaitable<std::optional<outcome<V>>> run_blocking(asio::thread_pool& pool, asio::any_io_executor ex,
                                                        Job job) {
    // A coroutine cancelled before this call (one that turned throw_if_cancelled off) asks for no
    // new work; its cancellation signal has fired already and would not end the wait below.
    {
        const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none) co_return std::nullopt;
    }
    auto st = std::make_shared<job_state<V>>(ex);
    asio::post(pool, [st, job = std::move(job)]() mutable {
        outcome<V> r;
        try {
            r = job();
        } catch (const std::bad_alloc&) {
            r = outcome<V>{errno_code(ENOMEM)};
        } catch (...) {
            r = outcome<V>{errno_code(EIO)};
        }
        asio::post(st->timer.get_executor(), [st, r = std::move(r)]() mutable {
            st->result = std::move(r);
            st->done = true;
            st->timer.cancel();
        });
    });
    while (!st->done) {
        // Ends when the job's completion cancels the timer, or when the awaiting coroutine is
        // cancelled (its cancellation slot reaches this wait).
        (void)co_await st->timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (st->done) break;
        const asio::cancellation_state cs = co_await asio::this_coro::cancellation_state;
        if (cs.cancelled() != asio::cancellation_type::none) co_return std::nullopt;
    }
    co_return std::move(st->result);
}

s3::error aborted(const std::string& what) {
    s3::error e;
    e.code = s3::errc::aborted;
    e.operation = what;
    e.message = "cancelled while waiting for the folder";
    return e;
}

/// A finished job's answer as a result (nullopt: the wait was cancelled).
template <class V>
s3::result<V> to_result(std::optional<outcome<V>> r, const fs::path& folder, const std::string& what) {
    s3::result<V> out;
    if (!r) {
        out.err = aborted(what);
        return out;
    }
    out.err = folder_io::to_error(r->ec, folder, what, r->folder_level);
    if (!out.err) out.value = std::move(r->value);
    return out;
}

}  // namespace

folder_target::folder_target(asio::any_io_executor ex, std::string name, fs::path folder,
                             std::uintmax_t max_object_size)
    : ex_(std::move(ex)), name_(std::move(name)), folder_(std::move(folder)), max_object_size_(max_object_size) {}

// join(), not stop(): every write accepted is finished (it is atomic; the newest channel.backup
// should land). stop() would not help with a hung one anyway: a thread_pool's destructor joins its
// thread, so a write stuck on a dead NFS server keeps the process waiting at exit until the kernel
// gives up or the service manager kills it (systemd's TimeoutStopSec). Jobs hold no pointer to this
// object (they copy the folder), and their answer goes to ex_, which must outlive this object.
folder_target::~folder_target() { io_.join(); }

std::string folder_target::where() const {
    const std::string dir = strip_trailing_slashes(folder_.string());
    return "file://" + dir + (dir == "/" ? "" : "/");
}

asio::awaitable<s3::error> folder_target::put(std::string key, std::shared_ptr<const std::string> data,
                                              crypto::sha256_digest sha) {
    (void)sha;  // the bytes go to a local file; nothing on the way to check them against
    // Each call is built before its co_await: g++ 12 destroys by-value temporaries inside one twice.
    const std::string what = "PUT " + key;
    auto job = [folder = folder_, key, data = std::move(data)] {
        outcome<bool> o;
        o.ec = folder_io::write(folder, key, *data);
        // The name is checked and the folder was there: ENOENT/ENOTDIR mean the folder (it vanished).
        o.folder_level = true;
        return o;
    };
    auto call = run_blocking<bool>(io_, ex_, std::move(job));
    auto r = co_await std::move(call);
    if (!r) co_return aborted(what);
    co_return folder_io::to_error(r->ec, folder_, what, r->folder_level);
}

asio::awaitable<s3::result<std::vector<s3::object_info>>> folder_target::list(std::string prefix) {
    const std::string what = "LIST";
    auto job = [folder = folder_, prefix] {
        outcome<std::vector<s3::object_info>> o;
        o.ec = folder_io::list(folder, o.value);
        o.folder_level = true;
        std::erase_if(o.value, [&](const s3::object_info& i) { return !i.key.starts_with(prefix); });
        return o;
    };
    auto call = run_blocking<std::vector<s3::object_info>>(io_, ex_, std::move(job));
    auto r = co_await std::move(call);
    co_return to_result(std::move(r), folder_, what);
}

asio::awaitable<s3::result<s3::object_info>> folder_target::head(std::string key) {
    const std::string what = "HEAD " + key;
    auto job = [folder = folder_, key] {
        outcome<s3::object_info> o;
        o.ec = stat_object(folder, key, o.value);
        o.folder_level = (o.ec.value() == ENOENT || o.ec.value() == ENOTDIR) && folder_missing(folder);
        return o;
    };
    auto call = run_blocking<s3::object_info>(io_, ex_, std::move(job));
    auto r = co_await std::move(call);
    co_return to_result(std::move(r), folder_, what);
}

asio::awaitable<s3::result<std::string>> folder_target::get(std::string key) {
    const std::string what = "GET " + key;
    auto job = [folder = folder_, key, cap = max_object_size_] {
        outcome<std::string> o;
        o.ec = folder_io::read(folder, key, o.value, cap);
        o.folder_level = (o.ec.value() == ENOENT || o.ec.value() == ENOTDIR) && folder_missing(folder);
        return o;
    };
    auto call = run_blocking<std::string>(io_, ex_, std::move(job));
    auto r = co_await std::move(call);
    co_return to_result(std::move(r), folder_, what);
}

}  // namespace scb::destination
