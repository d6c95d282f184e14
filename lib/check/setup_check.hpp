#pragma once
// `scb-backup check`: whether this setup will work, before the operator relies on it. Looks at what
// the daemon will use (the file, its folder's watch, the spool, each destination), makes one real
// upload and reads it back, and ends with one line per problem and how to fix it.
#include "config/settings.hpp"
#include "destination/target.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace scb::check {

/// One thing the check looked at.
struct finding {
    enum class verdict { ok, note, problem };
    verdict what = verdict::ok;
    std::string subject;  // "file", "spool", or a destination's name
    std::string text;     // what was found (printable, no secret)
    std::string fix;      // for a problem: how to fix it ("" when `text` says it already)
};

/// A destination and where its credentials come from ("" for a folder).
struct destination_to_check {
    destination::target* target = nullptr;
    std::string credentials;
};

struct options {
    std::filesystem::path file;
    std::filesystem::path spool_dir;
    std::uint64_t max_size = 64ull * 1024 * 1024;
    std::string latest_key;  // SCB_LATEST_KEY: uploaded too, as `once` does
    bool upload = true;      // false: --no-upload
};

/// The file: a valid backup, readable by this user.
finding check_file(const std::filesystem::path& file, std::uint64_t max_size);
/// The file's folder: inotify can watch it (the watch limit, read access to the folder).
finding check_watch(const std::filesystem::path& file);
/// The spool folder: exists or can be made, is this user's to write, is not another process's.
std::vector<finding> check_spool(const std::filesystem::path& spool_dir);

/// The settings table: "NAME=value  (origin)", one line each, values aligned.
std::string format_settings(const std::vector<config::setting_source>& sources);
/// One finding's line: "ok", "note" or "PROBLEM", the subject, the text.
std::string format_line(const finding& f);
/// The end of the report: "All well…", or one line per problem with its fix.
std::string format_summary(const std::vector<finding>& findings);
/// 0 when no finding is a problem, else 1.
int exit_code_for(const std::vector<finding>& findings) noexcept;

/// The whole check, printed to `out` as it goes; returns the exit code (exit_code_for).
boost::asio::awaitable<int> run(std::vector<config::setting_source> sources, std::vector<destination_to_check> destinations,
                                options opts, std::ostream& out);

}  // namespace scb::check
