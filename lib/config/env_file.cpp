#include "config/env_file.hpp"

#include "common/small_file.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace scb::config {
namespace {

constexpr std::string_view blanks = " \t";  // with the line ends, systemd's WHITESPACE
bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_newline(char c) { return c == '\n' || c == '\r'; }  // systemd's NEWLINE: CR ends a line too
bool is_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/// systemd's env_name_is_valid: bash's characters, no digit first.
bool valid_name(std::string_view n) {
    if (n.empty() || (n[0] >= '0' && n[0] <= '9')) return false;
    for (char c : n)
        if (!is_name_char(c)) return false;
    return true;
}

/// systemd's utf8_is_valid: strict UTF-8 without surrogates and non-characters.
bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
        if (len == 0 || i + len > s.size()) return false;
        char32_t ch = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
        for (int k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + k]);
            if ((c & 0xC0) != 0x80) return false;
            ch = (ch << 6) | (c & 0x3F);
        }
        const int shortest = ch < 0x80 ? 1 : ch < 0x800 ? 2 : ch < 0x10000 ? 3 : 4;
        if (shortest != len || ch >= 0x110000 || (ch & 0xFFFFF800) == 0xD800 || (ch >= 0xFDD0 && ch <= 0xFDEF) ||
            (ch & 0xFFFE) == 0xFFFE)
            return false;
        i += static_cast<std::size_t>(len);
    }
    return true;
}

/// An invalid key as an error may show it: its leading name characters when they look like a
/// variable's name (no lower case: base64 secrets have some), else nothing.
std::string shown_invalid_key(std::string_view key) {
    std::size_t n = 0;
    while (n < key.size() && n < 64 && is_name_char(key[n])) ++n;
    const auto run = key.substr(0, n);
    for (char c : run)
        if (c >= 'a' && c <= 'z') return {};
    if (run.empty()) return {};
    return "'" + std::string(run) + (n < key.size() ? "…'" : "'");
}

/// The state machine of systemd's parse_env_file_internal, with line numbers and the places where
/// dotenv would read the line differently noted for a warning.
class parser {
public:
    parser(std::string_view text, const std::string& file_name) : text_(text), file_(file_name) {}

    env_file_contents run() {
        if (text_.substr(0, 3) == "\xEF\xBB\xBF") {
            text_.remove_prefix(3);
            bom_ = true;
        }
        if (auto nul = text_.find('\0'); nul != std::string_view::npos) {
            line_ += static_cast<int>(std::count(text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(nul), '\n'));
            fail(line_, "", "has a NUL byte, so systemd refuses the whole file");
        }
        for (std::size_t i = 0; i < text_.size(); ++i) {
            step(text_[i], i > 0 ? text_[i - 1] : '\n');
            if (text_[i] == '\n') ++line_;
        }
        switch (state_) {
        case state::key: no_equals(); break;
        case state::single_quote:
        case state::double_quote:
        case state::double_quote_escape:
            fail(key_line_, key_,
                 "unterminated quote: systemd would take the rest of the file into the value; close the quote");
        case state::value:
            if (value_trailing_blank_ != std::string::npos) value_.resize(value_trailing_blank_);
            push();
            break;
        case state::pre_value:
        case state::value_escape: push(); break;
        default: break;
        }
        return std::move(out_);
    }

private:
    enum class state {
        pre_key, key, pre_value, value, value_escape, single_quote, double_quote, double_quote_escape, comment,
        comment_escape
    };

    void step(char c, char previous) {
        switch (state_) {
        case state::pre_key:
            if (c == '#' || c == ';') {
                state_ = state::comment;
                comment_line_ = line_;
            } else if (!is_blank(c) && !is_newline(c)) {
                state_ = state::key;
                key_.assign(1, c);
                key_line_ = line_;
                key_trailing_blank_ = std::string::npos;
            }
            break;
        case state::key:
            if (is_newline(c)) {
                no_equals();
            } else if (c == '=') {
                if (key_trailing_blank_ != std::string::npos) key_.resize(key_trailing_blank_);
                state_ = state::pre_value;
                value_.clear();
                value_trailing_blank_ = std::string::npos;
                quoted_ = hash_ = after_quote_ = dq_backslash_ = backslash_ = false;
            } else {
                if (!is_blank(c)) key_trailing_blank_ = std::string::npos;
                else if (key_trailing_blank_ == std::string::npos) key_trailing_blank_ = key_.size();
                key_ += c;
            }
            break;
        case state::pre_value:
            if (is_newline(c)) {
                push();
            } else if (is_blank(c)) {
                break;
            } else {
                if (c == '#' && is_blank(previous)) hash_ = true;
                else if (quoted_) after_quote_ = true;
                if (c == '\'') {
                    state_ = state::single_quote;
                    quoted_ = true;
                } else if (c == '"') {
                    state_ = state::double_quote;
                    quoted_ = true;
                } else if (c == '\\') {
                    state_ = state::value_escape;
                } else {
                    state_ = state::value;
                    value_ += c;
                }
            }
            break;
        case state::value:
            if (is_newline(c)) {
                if (value_trailing_blank_ != std::string::npos) value_.resize(value_trailing_blank_);
                push();
            } else if (c == '\\') {
                state_ = state::value_escape;
                value_trailing_blank_ = std::string::npos;
            } else {
                if (c == '#' && is_blank(previous)) hash_ = true;
                if (!is_blank(c)) value_trailing_blank_ = std::string::npos;
                else if (value_trailing_blank_ == std::string::npos) value_trailing_blank_ = value_.size();
                value_ += c;
            }
            break;
        case state::value_escape:
            // The escaped character is kept (and is no trailing blank); an escaped line end joins lines.
            state_ = state::value;
            if (!is_newline(c)) {
                value_ += c;
                backslash_ = true;
            }
            break;
        case state::single_quote:
            if (c == '\'') state_ = state::pre_value;
            else value_ += c;
            break;
        case state::double_quote:
            if (c == '"') state_ = state::pre_value;
            else if (c == '\\') state_ = state::double_quote_escape;
            else value_ += c;
            break;
        case state::double_quote_escape:
            // systemd's SHELL_NEED_ESCAPE; before anything else the backslash stays, as in a shell.
            state_ = state::double_quote;
            if (c == '"' || c == '\\' || c == '`' || c == '$') {
                value_ += c;
            } else if (c != '\n') {
                value_ += '\\';
                value_ += c;
                dq_backslash_ = true;
            }
            break;
        case state::comment:
            if (c == '\\') state_ = state::comment_escape;
            else if (is_newline(c)) state_ = state::pre_key;
            break;
        case state::comment_escape:
            // Since systemd 254 a comment ends at its line end even after a backslash; before, the
            // backslash hid the next line too.
            if (c == '\n') warn(comment_line_, "",
                                "a comment ending in '\\' also hides the next line from systemd before version 254 "
                                "(Debian 12 has 252); remove the backslash");
            state_ = is_newline(c) ? state::pre_key : state::comment;
            break;
        }
    }

    void no_equals() {
        if (key_[0] == '=') fail(key_line_, "", "the line starts with '=', without a name; systemd ignores it");
        fail(key_line_, "", "no '=' on the line, so systemd ignores it (the line is not shown: it may be a secret)");
    }

    void push() {
        state_ = state::pre_key;
        if (!valid_name(key_)) {
            const auto rest = key_.size() > 6 ? std::string_view(key_).substr(6) : std::string_view();
            if (key_.rfind("export", 0) == 0 && !rest.empty() && is_blank(rest[0])) {
                const auto start = rest.find_first_not_of(blanks);
                const auto name = std::string(rest.substr(start == std::string_view::npos ? rest.size() : start));
                if (valid_name(name))
                    fail(key_line_, name,
                         "'export' is not EnvironmentFile= syntax: systemd ignores this line and does not set " +
                             name + "; remove 'export '");
            }
            const auto shown = shown_invalid_key(key_);
            fail(key_line_, "",
                 (shown.empty() ? std::string("the name before '='") : shown) +
                     " is not a valid variable name (letters, digits and '_', no digit first), so systemd "
                     "ignores this line" + (shown.empty() ? " (the name is not shown: it may be a secret)" : ""));
        }
        if (!valid_utf8(value_)) fail(key_line_, key_, "the value is not valid UTF-8, so systemd refuses the whole file");

        if (bom_ && key_line_ == 1)
            warn(1, key_,
                 "the file starts with a UTF-8 byte-order mark, which systemd does not skip: it ignores this "
                 "line; save the file without the mark");
        if (hash_)
            warn(key_line_, key_, "' #' is part of the value for systemd, not a comment; move the comment to its own line");
        else if (after_quote_)
            warn(key_line_, key_,
                 "systemd joins the text after the closing quote to the value; put the whole value in quotes");
        if (dq_backslash_)
            warn(key_line_, key_,
                 "in double quotes systemd keeps a backslash before any character but \" \\ ` $ (\\n is not a "
                 "newline); remove the backslash or use single quotes");
        if (backslash_)
            warn(key_line_, key_,
                 "systemd drops a backslash in an unquoted value and keeps the next character; put the value "
                 "in single quotes to keep the backslash");
        out_.vars[key_] = value_;
        out_.lines[key_] = key_line_;
    }

    std::string where(int line, const std::string& key) const {
        return "env file " + file_ + " line " + std::to_string(line) + (key.empty() ? "" : " (" + key + ")") + ": ";
    }
    [[noreturn]] void fail(int line, const std::string& key, const std::string& why) const {
        throw env_file_error(where(line, key) + why);
    }
    void warn(int line, const std::string& key, const std::string& why) { out_.warnings.push_back(where(line, key) + why); }

    std::string_view text_;
    const std::string& file_;
    env_file_contents out_;
    state state_ = state::pre_key;
    int line_ = 1;
    int key_line_ = 1;
    int comment_line_ = 1;
    bool bom_ = false;
    std::string key_, value_;
    std::size_t key_trailing_blank_ = std::string::npos, value_trailing_blank_ = std::string::npos;
    // What dotenv would read differently in the current assignment (each gives one warning).
    bool quoted_ = false, hash_ = false, after_quote_ = false, dq_backslash_ = false, backslash_ = false;
};

}  // namespace

env_file_contents parse_env_file(std::string_view text, const std::string& file_name) {
    return parser(text, file_name).run();
}

env_file_contents read_env_file(const std::string& path) {
    const auto file = read_small_file(path);
    if (!file) {
        // read_small_file's problems read "is a folder, not a regular file" or are strerror() text.
        const bool about_kind = file.problem.rfind("is ", 0) == 0;
        throw env_file_error("env file " + path + (about_kind ? " " : ": ") + file.problem);
    }
    return parse_env_file(file.text, path);
}

}  // namespace scb::config
