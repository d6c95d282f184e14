#include "common/small_file.hpp"

#include "common/fd_guard.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace scb {
const char* file_kind(mode_t mode) noexcept {
    if (S_ISDIR(mode)) return "a folder";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

small_file read_small_file(const std::string& path, std::size_t cap) {
    small_file out;
    fd_guard fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (fd.get() < 0) {
        out.problem = std::strerror(errno);
        return out;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        out.problem = std::strerror(errno);
        return out;
    }
    if (!S_ISREG(st.st_mode)) {
        out.problem = std::string("is ") + file_kind(st.st_mode) + ", not a regular file";
        return out;
    }
    const std::string too_big = "is larger than " + std::to_string(cap / 1024) + " KiB";
    if (static_cast<std::size_t>(st.st_size) > cap) {
        out.problem = too_big;
        return out;
    }
    // Read to EOF rather than trusting st_size: the file may grow between fstat and read.
    char buf[16384];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.problem = std::strerror(errno);
            out.text.clear();
            return out;
        }
        if (n == 0) break;
        if (out.text.size() + static_cast<std::size_t>(n) > cap) {
            out.problem = too_big;
            out.text.clear();
            return out;
        }
        out.text.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

}  // namespace scb
