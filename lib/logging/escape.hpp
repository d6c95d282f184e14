#pragma once
// Text from outside the program (file system errors, S3 error bodies, file names) on its way to a
// log line or the health endpoint: one printable line of bounded length, whatever it held.
#include <cstddef>
#include <string>
#include <string_view>

namespace scb::logging {

/// `text` with every control byte (below 0x20, and 0x7f) written as `\xNN` (lowercase hex), cut to at
/// most `cap` bytes: a cut text ends in "..." and never splits an escape or a UTF-8 character. Other
/// bytes pass unchanged (a backslash too: the result is for people to read, not to be unescaped).
std::string printable(std::string_view text, std::size_t cap = 512);

}  // namespace scb::logging
