#include "config/env_file.hpp"

#include "common/text.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace scb::config {
namespace {

bool valid_name(const std::string& n) {
    if (n.empty() || std::isdigit(static_cast<unsigned char>(n[0]))) return false;
    for (char c : n)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
}

}  // namespace

std::map<std::string, std::string> parse_env_file(const std::string& text, const std::string& file_name) {
    std::map<std::string, std::string> out;
    std::istringstream in(text);
    std::string raw;
    int line_no = 0;
    auto fail = [&](const std::string& why) {
        throw env_file_error(file_name + " line " + std::to_string(line_no) + ": " + why);
    };
    while (std::getline(in, raw)) {
        ++line_no;
        std::string line = trim(raw);
        if (line.empty() || line[0] == '#' || line[0] == ';') continue;
        if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
        auto eq = line.find('=');
        if (eq == std::string::npos) fail("expected NAME=VALUE");
        std::string name = trim(line.substr(0, eq));
        if (!valid_name(name)) fail("'" + name + "' is not a valid variable name");
        std::string value = trim(line.substr(eq + 1));
        if (!value.empty() && (value[0] == '"' || value[0] == '\'')) {
            const char quote = value[0];
            std::string unquoted;
            std::size_t i = 1;
            bool closed = false;
            for (; i < value.size(); ++i) {
                char c = value[i];
                if (c == quote) {
                    closed = true;
                    break;
                }
                if (quote == '"' && c == '\\' && i + 1 < value.size()) {
                    char n = value[++i];
                    unquoted += n == 'n' ? '\n' : n;
                } else {
                    unquoted += c;
                }
            }
            if (!closed) fail("unterminated quote");
            std::string rest = trim(value.substr(i + 1));
            if (!rest.empty() && rest[0] != '#') fail("text after the closing quote");
            value = unquoted;
        } else {
            // An unquoted value ends at " #", a trailing comment, as dotenv reads it.
            auto hash = value.find(" #");
            if (hash != std::string::npos) value = trim(value.substr(0, hash));
        }
        out[name] = value;
    }
    return out;
}

std::map<std::string, std::string> read_env_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw env_file_error("cannot read env file " + path + ": " + std::strerror(errno));
    std::stringstream text;
    text << in.rdbuf();
    return parse_env_file(text.str(), path);
}

}  // namespace scb::config
