#include "common/atomic_file.hpp"

#include "common/fd_guard.hpp"

#include <cerrno>
#include <cstdio>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace scb {

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

std::error_code write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return last_error();
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

/// Moves `from` to `to` unless `to` exists (EEXIST then), without a window where a check and the
/// rename could race with another writer.
std::error_code rename_no_replace(const char* from, const char* to) {
    if (::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return {};
    if (errno != EINVAL && errno != ENOSYS) return last_error();
    // Some file systems (older NFS, some FUSE) lack RENAME_NOREPLACE: link() also refuses an existing name.
    if (::link(from, to) != 0) return last_error();
    ::unlink(from);
    return {};
}

}  // namespace

std::string atomic_temp_name(std::string_view file_name) { return std::string(file_name) + ".tmp"; }

write_error write_file_atomically(const std::filesystem::path& target, std::string_view data,
                                  atomic_write_options opts) {
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    const std::string tmp_path = (dir / atomic_temp_name(target.filename().string())).string();

    int raw = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (raw < 0 && errno == EEXIST && opts.reclaim_temp) {
        if (::unlink(tmp_path.c_str()) != 0 && errno != ENOENT) return {last_error(), "remove the leftover " + tmp_path};
        raw = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    }
    if (raw < 0) return {last_error(), "create the temporary file " + tmp_path};
    fd_guard file(raw);
    auto fail = [&](std::string step) {
        write_error e{last_error(), std::move(step)};
        ::unlink(tmp_path.c_str());
        return e;
    };
    // The umask may have removed bits (0600 & ~umask); fchmod sets exactly 0600.
    if (::fchmod(file.get(), 0600) != 0) return fail("chmod 0600 " + tmp_path);
    if (auto ec = write_all(file.get(), data)) {
        errno = ec.value();
        return fail("write " + tmp_path);
    }
    if (::fsync(file.get()) != 0) return fail("fsync " + tmp_path);
    // close() can report a delayed write error (NFS, quota): it must not pass before the rename.
    if (auto ec = file.close_checked()) {
        errno = ec.value();
        return fail("close " + tmp_path);
    }
    if (opts.replace) {
        if (::rename(tmp_path.c_str(), target.c_str()) != 0) return fail("rename onto " + target.string());
    } else if (auto ec = rename_no_replace(tmp_path.c_str(), target.c_str())) {
        errno = ec.value();
        return fail("create " + target.string());
    }

    // The rename is durable only once the folder's entry is on disk.
    fd_guard folder(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (folder.get() < 0) return {last_error(), "open folder " + dir.string() + " to fsync it"};
    if (::fsync(folder.get()) != 0) return {last_error(), "fsync folder " + dir.string()};
    return {};
}

}  // namespace scb
