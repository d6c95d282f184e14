#pragma once
// `list`, `restore` and `verify`: getting the backup back out of S3, and checking it is there.
// Each command writes its result to `out` (stdout) and failures as one log line (stderr), and
// returns the process exit code (backup/exit_codes.hpp).
#include "s3/client.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>

namespace scb::restore {

struct command_options {
    std::string bucket;  // only for messages ("s3://bucket/key"); the client already targets it
    std::string prefix;
    std::string key;                  // restore: this key instead of the newest
    std::filesystem::path output;     // restore
    bool force = false;               // restore: replace an existing output
    bool json = false;                // list
    std::filesystem::path file;       // verify: the local channel.backup
    std::uint64_t max_size = 64ull * 1024 * 1024;  // verify: largest local file accepted
};

/// Which command run() performs.
enum class command_kind { list, restore, verify };

/// Prints the backups under the prefix, newest first (format_table or format_json); keys that are not
/// backup names come last, with a note on stderr. 0, or the S3 failure's exit code.
boost::asio::awaitable<int> list(s3::client& client, command_options opts, std::ostream* out);

/// Downloads the newest backup (or opts.key), checks it (integrity.hpp) and writes opts.output (0600,
/// atomically), then prints what was checked and the next step. 0; 64 for a --key that is not a backup
/// name; 65 for a corrupt object (nothing written); 66 when there is no backup or no such key; 73 when
/// the output exists without --force or cannot be written; S3 failures as for `once`.
boost::asio::awaitable<int> restore(s3::client& client, command_options opts, std::ostream* out);

/// Compares the local file's SHA-256 with the newest backup's content. 0 and "in sync: …" when they
/// match; 1 and "OUT OF SYNC: …" when S3 has no backup or its newest differs; 66/65 when the local
/// file is missing/not a backup; S3 failures as for `once`.
boost::asio::awaitable<int> verify(s3::client& client, command_options opts, std::ostream* out);

/// Runs `list`/`restore`/`verify` with `client`, printing to stdout; returns the exit code. Never
/// opens or creates the spool.
boost::asio::awaitable<int> run(s3::client& client, command_kind which, command_options opts);

/// `path` as a shell word: unchanged when it is made of safe characters, else in single quotes.
std::string shell_quote(const std::string& path);

}  // namespace scb::restore
