#pragma once
// Reads a systemd EnvironmentFile / dotenv-style file: KEY=VALUE lines.
#include <map>
#include <stdexcept>
#include <string>

namespace scb::config {

struct env_file_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Parses `text`: blank lines and lines starting with '#' or ';' are skipped, an optional
/// leading `export ` is allowed (dotenv), values may be single- or double-quoted (double quotes
/// understand \" \\ \n), unquoted values are trimmed. Throws env_file_error naming `file_name`
/// and the line number (never the value: it may be a secret) for a line without '=' or a bad name.
std::map<std::string, std::string> parse_env_file(const std::string& text, const std::string& file_name);

/// Reads and parses a file; throws env_file_error when it cannot be read.
std::map<std::string, std::string> read_env_file(const std::string& path);

}  // namespace scb::config
