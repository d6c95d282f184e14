#pragma once
// Reads the small files a person points the daemon at (env file, credentials file, token files).
#include <sys/types.h>

#include <cstddef>
#include <string>

namespace scb {

/// What read_small_file found: the text, or one line saying what is wrong (no path, no content).
struct small_file {
    std::string text;
    std::string problem;  // empty when the file was read
    explicit operator bool() const noexcept { return problem.empty(); }
};

/// The cap for every file read at start: far above any real env or credentials file.
constexpr std::size_t small_file_cap = 1024 * 1024;

/// What a file that is not a regular file is, for a message: "a folder", "a FIFO", "a socket"...
const char* file_kind(mode_t mode) noexcept;

/// Reads `path` whole. Refuses anything but a regular file (a FIFO blocks, /dev/zero never ends, a
/// folder reads as empty) and files over `cap` bytes. Opens with O_NONBLOCK, so even a FIFO cannot
/// block the open; a regular file's read never waits on another process.
small_file read_small_file(const std::string& path, std::size_t cap = small_file_cap);

}  // namespace scb
