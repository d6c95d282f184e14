#pragma once
// `list`, `restore` and `verify`: getting the backup back out of its destinations, and checking it
// is there. Each command writes its result to `out` (stdout) and failures as one log line (stderr),
// and returns the process exit code (backup/exit_codes.hpp).
#include "destination/target.hpp"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace scb::restore {

struct command_options {
    std::string prefix;               // set per destination by run() (target::prefix())
    std::string key;                  // restore: this key instead of the newest
    std::filesystem::path output;     // restore
    bool force = false;               // restore: replace an existing output
    bool json = false;                // list
    std::filesystem::path file;       // verify: the local channel.backup
    std::uint64_t max_size = 64ull * 1024 * 1024;  // verify: largest local file accepted
};

/// Which command run() performs.
enum class command_kind { list, restore, verify };

/// Prints the backups of every destination, newest first (format_table or format_json; with several
/// destinations a heading line per destination, or a "destination" field in the JSON); keys that are
/// not backup names come last, with a note on stderr. 0, or the first failure's exit code (the other
/// destinations are still listed).
boost::asio::awaitable<int> list(const std::vector<destination::target*>& targets, command_options opts,
                                 std::ostream* out);

/// Downloads the newest backup found in any reachable destination (or opts.key from the first
/// destination that has it), checks it (integrity.hpp), writes opts.output (0600, atomically), then
/// prints where it came from, what was checked and the next step. 0; 64 for a --key that is not a
/// backup name; 65 for a corrupt object (nothing written); 66 when there is no backup or no such
/// key; 73 when the output exists without --force or cannot be written; failures as for `once`
/// when no destination could be read.
boost::asio::awaitable<int> restore(const std::vector<destination::target*>& targets, command_options opts,
                                    std::ostream* out);

/// Compares the local file's SHA-256 with each destination's newest backup. 0 and "in sync: …" when
/// every destination has it; 1 and "OUT OF SYNC: …" when one has no backup or its newest differs;
/// 66/65 when the local file is missing/not a backup; failures as for `once`.
boost::asio::awaitable<int> verify(const std::vector<destination::target*>& targets, command_options opts,
                                   std::ostream* out);

/// Runs `list`/`restore`/`verify` on the destinations, printing to stdout; returns the exit code.
/// Never opens or creates the spool.
boost::asio::awaitable<int> run(std::vector<destination::target*> targets, command_kind which, command_options opts);

/// `path` as a shell word: unchanged when it is made of safe characters, else in single quotes.
std::string shell_quote(const std::string& path);

}  // namespace scb::restore
