#include "snapshot/file_snapshot.hpp"

#include "common/fd_guard.hpp"
#include "common/small_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace scb::snapshot {
namespace {

using scb::fd_guard;

identity identity_of(const struct stat& st) {
    return identity{st.st_dev, st.st_ino, st.st_size,
                    static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

result fail(problem what, std::string reason) {
    result r;
    r.what = what;
    r.reason = std::move(reason);
    return r;
}

std::string unreadable(const std::filesystem::path& file, int err) {
    std::string r = file.string() + " cannot be read: " + std::strerror(err);
    if (err == EACCES || err == EPERM) r += " (give the scb-backup user read access to lnd's folder)";
    return r;
}

}  // namespace

result take(const std::filesystem::path& file, std::uintmax_t min_size, std::uintmax_t max_size) {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
    int raw = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (raw < 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) {
            // A dangling symlink also says ENOENT: name its target, or the operator looks at the wrong file.
            std::error_code lec;
            const auto target = std::filesystem::read_symlink(file, lec);
            if (!lec)
                return fail(problem::missing, file.string() + " is a symbolic link to " + target.string() +
                                                  ", which does not exist (yet): fix the link or MONITOR_FILE_PATH");
            return fail(problem::missing, file.string() + " does not exist (yet): is lnd running, and is "
                                                          "MONITOR_FILE_PATH the path of its channel.backup?");
        }
        return fail(problem::unreadable, unreadable(file, err));
    }
    fd_guard fd(raw);

    struct stat before {};
    if (::fstat(fd.get(), &before) != 0) return fail(problem::unreadable, unreadable(file, errno));
    if (!S_ISREG(before.st_mode))
        return fail(problem::not_regular, file.string() + " is " + file_kind(before.st_mode) +
                                              ", not a file: lnd writes a regular file here; check MONITOR_FILE_PATH");
    auto size = static_cast<std::uintmax_t>(before.st_size);
    if (size < min_size)
        return fail(problem::too_small, file.string() + " is " + std::to_string(size) + " bytes, smaller than the " +
                                            std::to_string(min_size) +
                                            " bytes of the smallest valid lnd backup: not uploaded");
    if (size > max_size)
        return fail(problem::too_large, file.string() + " is " + std::to_string(size) + " bytes, larger than the " +
                                            std::to_string(max_size) +
                                            " bytes allowed: not uploaded (raise the size limit if it is genuine)");
    // O_NONBLOCK stays set: it changes nothing for a regular file (reads wait for the disk either
    // way), and clearing it would cost two fcntl calls on the way to every upload.
    result r;
    r.snap.data.resize(size);
    std::size_t got = 0;
    while (got < size) {
        ssize_t n = ::read(fd.get(), r.snap.data.data() + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(problem::unreadable, unreadable(file, errno));
        if (n == 0) break;  // shrank under us
        got += static_cast<std::size_t>(n);
    }
    char extra = 0;
    ssize_t more = 0;
    do {
        more = ::read(fd.get(), &extra, 1);
    } while (more < 0 && errno == EINTR);

    struct stat after {};
    bool same = ::fstat(fd.get(), &after) == 0 && identity_of(after) == identity_of(before);
    if (got != size || more != 0 || !same)
        return fail(problem::changed_while_reading,
                    file.string() + " was modified in place while being read (lnd replaces it by rename; "
                                    "another program is writing it?): will read it again");

    r.snap.sha256 = crypto::sha256(r.snap.data);
    r.snap.id = identity_of(before);
    return r;
}

std::optional<identity> stat_identity(const std::filesystem::path& file) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) return std::nullopt;
    return identity_of(st);
}

const char* to_string(problem p) noexcept {
    switch (p) {
        case problem::none: return "none";
        case problem::missing: return "missing";
        case problem::not_regular: return "not_regular";
        case problem::too_small: return "too_small";
        case problem::too_large: return "too_large";
        case problem::unreadable: return "unreadable";
        case problem::changed_while_reading: return "changed_while_reading";
    }
    return "unknown";
}

}  // namespace scb::snapshot
