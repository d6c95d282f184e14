#include "restore/output_file.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace scb::restore {

namespace {

std::error_code last_error() { return {errno, std::generic_category()}; }

/// Closes a descriptor on scope exit.
struct fd_guard {
    int fd = -1;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

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

write_error write_file_atomically(const std::filesystem::path& target, std::string_view data, bool replace) {
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
    // A hidden name beside the target: same file system (so rename is atomic), easy to tell apart.
    std::string tmpl = (dir / ("." + target.filename().string() + ".scb-restore-XXXXXX")).string();
    std::vector<char> tmp(tmpl.begin(), tmpl.end());
    tmp.push_back('\0');

    fd_guard file;
    file.fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // creates with O_EXCL, mode 0600
    if (file.fd < 0) return {last_error(), "create a temporary file in " + dir.string()};
    const std::string tmp_path(tmp.data());
    auto fail = [&](std::string step) {
        write_error e{last_error(), std::move(step)};
        ::unlink(tmp_path.c_str());
        return e;
    };
    // mkostemp already uses 0600; fchmod states it whatever the libc does with the umask.
    if (::fchmod(file.fd, 0600) != 0) return fail("chmod 0600 " + tmp_path);
    if (auto ec = write_all(file.fd, data)) {
        errno = ec.value();
        return fail("write " + tmp_path);
    }
    if (::fsync(file.fd) != 0) return fail("fsync " + tmp_path);
    const int fd = file.fd;
    file.fd = -1;
    if (::close(fd) != 0) return fail("close " + tmp_path);

    if (replace) {
        if (::rename(tmp_path.c_str(), target.c_str()) != 0) return fail("rename onto " + target.string());
    } else if (auto ec = rename_no_replace(tmp_path.c_str(), target.c_str())) {
        errno = ec.value();
        return fail("create " + target.string());
    }

    // The rename is durable only once the folder's entry is on disk.
    fd_guard folder;
    folder.fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (folder.fd < 0) return {last_error(), "open folder " + dir.string() + " to fsync it"};
    if (::fsync(folder.fd) != 0) return {last_error(), "fsync folder " + dir.string()};
    return {};
}

}  // namespace scb::restore
