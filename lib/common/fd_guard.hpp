#pragma once
// Owns a file descriptor and closes it on every return path.
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace scb {

class fd_guard {
public:
    explicit fd_guard(int fd) noexcept : fd_(fd) {}
    ~fd_guard() {
        if (fd_ >= 0) ::close(fd_);
    }
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }
    /// Closes now and reports the error: close() can return a delayed write error (NFS, quota),
    /// which must not be ignored before a rename makes the file official.
    std::error_code close_checked() noexcept {
        const int fd = fd_;
        fd_ = -1;
        return ::close(fd) == 0 ? std::error_code{} : std::error_code(errno, std::generic_category());
    }

private:
    int fd_;
};

}  // namespace scb
