#include "spool/spool.hpp"

#include "common/fd_guard.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace scb::spool {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view name_prefix = "channel-";
constexpr std::string_view name_suffix = ".backup";
constexpr std::string_view temp_suffix = ".tmp";

std::error_code last_error() { return {errno, std::generic_category()}; }

bool ends_with(std::string_view s, std::string_view end) { return s.size() >= end.size() && s.substr(s.size() - end.size()) == end; }

// Names come from naming::object_name(); anything that could leave the folder is a bug upstream.
bool plain_name(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
           name.find('\0') == std::string::npos && !ends_with(name, temp_suffix);
}

using scb::fd_guard;

[[noreturn]] void refuse(const fs::path& dir, const std::string& reason, const std::string& fix) {
    throw spool_error("spool folder " + dir.string() + " " + reason + "; fix: " + fix);
}

// mkdir -p where every folder we create gets exactly 0700, whatever the umask.
void create_folders(const fs::path& dir) {
    fs::path p;
    for (const auto& part : dir) {
        p /= part;
        if (part == p.root_path() || part.empty()) continue;
        if (::mkdir(p.c_str(), 0700) == 0) {
            if (::chmod(p.c_str(), 0700) != 0)
                refuse(dir, "cannot be made private (chmod 0700 " + p.string() + ": " + std::strerror(errno) + ")",
                       "check the owner of " + p.parent_path().string());
        } else if (errno != EEXIST) {
            int err = errno;
            refuse(dir, std::string("cannot be created (mkdir ") + p.string() + ": " + std::strerror(err) + ")",
                   err == EACCES ? "create it for the scb-backup user, or choose a folder that user may write"
                                 : "choose another spool folder");
        }
    }
}

}  // namespace

spool spool::open(fs::path dir) {
    std::error_code ec;
    dir = fs::absolute(dir, ec).lexically_normal();
    if (ec) throw spool_error("spool folder " + dir.string() + " cannot be resolved: " + ec.message());
    if (dir.has_relative_path() && dir.filename().empty()) dir = dir.parent_path();  // "a/b/" → "a/b"

    create_folders(dir);

    int raw = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (raw < 0) {
        int err = errno;
        if (err == ENOTDIR) refuse(dir, "is not a folder", "remove that file or choose another spool folder");
        refuse(dir, std::string("cannot be opened: ") + std::strerror(err), "give the scb-backup user access to it");
    }
    fd_guard fd(raw);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) refuse(dir, std::string("cannot be examined: ") + std::strerror(errno), "check it");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        refuse(dir, std::string("is writable by group or others (mode ") + mode + "): it holds channel backups, refusing",
               "chmod 700 " + dir.string());
    }
    // access() also reports EROFS for a read-only mount, which root would otherwise not notice here.
    if (::access(dir.c_str(), W_OK | X_OK) != 0)
        refuse(dir, std::string("is not writable: ") + std::strerror(errno),
               "give it to the scb-backup user (chown) and make sure its filesystem is mounted read-write");

    // A run killed between creating a temp file and renaming it leaves "<name>.tmp": never a valid version.
    bool removed = false;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        auto name = it->path().filename().string();
        if (!ends_with(name, temp_suffix)) continue;
        if (::unlink(it->path().c_str()) != 0 && errno != ENOENT)
            refuse(dir, "holds a leftover temporary file that cannot be removed (" + it->path().string() +
                            ": " + std::strerror(errno) + ")", "remove it by hand");
        removed = true;
    }
    if (ec) refuse(dir, "cannot be listed: " + ec.message(), "give the scb-backup user read access to it");
    spool s(dir);
    if (removed) s.sync_dir();
    return s;
}

std::vector<entry> spool::pending(std::error_code& ec) const {
    ec.clear();
    std::vector<entry> out;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        auto name = it->path().filename().string();
        if (name.size() <= name_prefix.size() + name_suffix.size() || name.compare(0, name_prefix.size(), name_prefix) != 0 ||
            !ends_with(name, name_suffix))
            continue;
        // Only regular files: never follow a symlink someone put in the folder.
        std::error_code e;
        if (!fs::is_regular_file(it->symlink_status(e)) || e) continue;
        auto size = it->file_size(e);
        if (e) continue;  // removed since listed (a concurrent remove()): not pending any more
        out.push_back(entry{name, it->path(), size});
    }
    // object_name() puts the UTC time first with fixed widths, so name order is time order.
    std::sort(out.begin(), out.end(), [](const entry& a, const entry& b) { return a.name < b.name; });
    return out;
}

std::vector<entry> spool::pending() const {
    std::error_code ec;
    auto out = pending(ec);
    if (ec) throw spool_error("spool folder " + dir_.string() + " cannot be listed: " + ec.message() +
                              "; fix: check it still exists and the scb-backup user may read it");
    return out;
}

std::error_code spool::write(const std::string& name, std::string_view data) const {
    if (!plain_name(name)) return std::make_error_code(std::errc::invalid_argument);
    auto target = dir_ / name;
    auto temp = dir_ / (name + std::string(temp_suffix));

    // O_EXCL: never write through a file or symlink that someone else put at the temp name.
    int raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (raw < 0 && errno == EEXIST) {
        // Our own leftover from a failed earlier attempt at this name (open() removed older ones).
        if (::unlink(temp.c_str()) != 0 && errno != ENOENT) return last_error();
        raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (raw < 0) return last_error();
    fd_guard fd(raw);

    auto fail = [&](std::error_code ec) {
        ::unlink(temp.c_str());
        return ec;
    };
    // The umask may have removed bits (0600 & ~umask); fchmod sets exactly 0600.
    if (::fchmod(fd.get(), 0600) != 0) return fail(last_error());
    std::size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(last_error());
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd.get()) != 0) return fail(last_error());
    if (auto ec = fd.close_checked()) return fail(ec);
    if (::rename(temp.c_str(), target.c_str()) != 0) return fail(last_error());
    // Without this the rename itself may not survive a power cut.
    return sync_dir();
}

std::error_code spool::read(const std::string& name, std::string& out) const {
    out.clear();
    if (!plain_name(name)) return std::make_error_code(std::errc::invalid_argument);
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
    if (!plain_name(name)) return std::make_error_code(std::errc::invalid_argument);
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
