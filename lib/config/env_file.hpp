#pragma once
// Reads an env file exactly as systemd's EnvironmentFile= does (src/basic/env-file.c,
// parse_env_file_internal, and the checks of src/core/execute.c), so that `scb-backup once --env-file F`
// sees the values the service started with `EnvironmentFile=F` sees. The rules:
//  - A line whose first non-blank character is '#' or ';' is a comment. There are no comments
//    anywhere else: `KEY=v # note` sets KEY to "v # note" (dotenv would drop the " # note").
//  - KEY=VALUE. Blanks (space, tab) around the key and before the value are dropped; the key is
//    letters, digits and '_', not starting with a digit (lower case too). `export KEY=v` is not a
//    valid key ("export KEY"), so systemd ignores that line: there is no `export`.
//  - Unquoted value: trailing blanks are dropped; `\x` is x (the backslash goes), and a backslash
//    before the line end joins the next line. A quote inside an unquoted value is an ordinary character.
//  - 'single quotes': everything literal up to the next ', newlines included.
//  - "double quotes": \" \\ \` \$ are escapes; a backslash before any other character stays (so "\n"
//    is a backslash and an n, not a newline); backslash-newline joins the lines.
//  - After a closing quote, blanks are skipped and what follows joins the value: `A='x' "y"` is "xy",
//    `A="x" # c` is "x# c".
//  - CR and LF both end a line (so CRLF files work). The last assignment of a key wins.
// Where systemd would drop a line (no '=', an invalid name, `export`) or the whole file (invalid UTF-8, a
// NUL byte), and for an unterminated quote (systemd would take the rest of the file as the value), this
// parser throws env_file_error instead. Where systemd and dotenv read a line differently (an unquoted
// ` #`, text after a closing quote, backslashes, a UTF-8 byte-order mark, a comment ending in '\', which
// systemd before 254 treats as continuing) it returns a warning. Errors and warnings name the file,
// the line and the key, never a value or a whole line: an env file holds AWS keys.
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace scb::config {

/// A line systemd would ignore or refuse, or an unreadable file. what() never quotes a value.
struct env_file_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// What an env file sets, where, and what an operator should hear about it.
struct env_file_contents {
    std::map<std::string, std::string> vars;
    std::map<std::string, int> lines;   // the line each variable was last set on
    std::vector<std::string> warnings;  // one line each: "env file F line N (KEY): ..."; never a value
};

/// Parses `text` as systemd's EnvironmentFile= does (the rules above; a leading UTF-8 byte-order mark
/// is skipped, with a warning when systemd would then ignore the first line). Throws env_file_error
/// naming `file_name`, the line and the key for what systemd would ignore or refuse.
env_file_contents parse_env_file(std::string_view text, const std::string& file_name);

/// Reads `path` with read_small_file (a regular file of at most 1 MiB: a FIFO, a device or a folder is
/// refused) and parses it. Throws env_file_error with one line naming the path.
env_file_contents read_env_file(const std::string& path);

}  // namespace scb::config
