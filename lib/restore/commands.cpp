#include "restore/commands.hpp"

#include "backup/exit_codes.hpp"
#include "crypto/hash.hpp"
#include "logging/logger.hpp"
#include "restore/catalog.hpp"
#include "restore/integrity.hpp"
#include "common/atomic_file.hpp"
#include "snapshot/file_snapshot.hpp"


#include <iostream>
#include <optional>

namespace scb::restore {

namespace asio = boost::asio;
namespace exit_code = backup::exit_code;

namespace {

int fail(int code, const std::string& line) {
    logging::error(line);
    return code;
}

int s3_failure(const s3::error& err) { return fail(exit_code::for_s3_error(err.code), err.describe()); }

std::string where(const command_options& o, std::string_view key) { return "s3://" + o.bucket + "/" + std::string(key); }

/// A key restore --key may name: any prefix, then exactly a name object_name() makes.
std::optional<naming::parsed_name> parse_any_backup_key(std::string_view key) {
    constexpr std::size_t name_len = std::string_view("channel-20261125T054233.123Z-a1b2c3.backup").size();
    if (key.size() < name_len) return std::nullopt;
    return parse_backup_key(key, key.substr(0, key.size() - name_len));
}

/// Lists and classifies the prefix (warning once when names and LastModified disagree); the error is
/// set when S3 failed.
asio::awaitable<s3::result<std::vector<backup_entry>>> load_catalog(s3::client& client, std::string prefix) {
    // Built before the co_await: g++ 12 destroys by-value temporaries inside a co_await twice.
    auto op = client.list_objects(prefix);
    auto listed = co_await std::move(op);
    s3::result<std::vector<backup_entry>> out;
    if (listed.err) {
        out.err = std::move(listed.err);
        co_return out;
    }
    out.value = catalog(std::move(listed.value), prefix);
    // Said by every command that picks "the newest": the order it sees is not the names' order.
    if (auto m = clock_mismatch(out.value)) logging::warn(describe(*m));
    co_return out;
}

}  // namespace

std::string shell_quote(const std::string& path) {
    const bool safe = !path.empty() && path.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                              "0123456789/._-+:,@%") == std::string::npos;
    if (safe) return path;
    std::string out = "'";
    for (char c : path) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

asio::awaitable<int> list(s3::client& client, command_options opts, std::ostream* out) {
    auto op = load_catalog(client, opts.prefix);
    auto entries = co_await std::move(op);
    if (entries.err) co_return s3_failure(entries.err);

    std::size_t foreign = 0;
    for (const auto& e : entries.value) foreign += !e.is_backup();
    *out << (opts.json ? format_json(entries.value) : format_table(entries.value)) << std::flush;
    // Notes go to stderr so that stdout stays the table (or the JSON) alone.
    if (entries.value.size() == foreign) logging::warn("no backup under ", where(opts, opts.prefix));
    if (foreign > 0)
        logging::info(foreign, " key(s) under ", where(opts, opts.prefix),
                      " are not backup names (PREFIX + channel-<time>-<sha6>.backup): listed last, without time or "
                      "suffix; restore and verify ignore them");
    co_return exit_code::ok;
}

asio::awaitable<int> restore(s3::client& client, command_options opts, std::ostream* out) {
    // Refuse early, before any download, when the answer would be "exists" anyway. The final rename
    // refuses again (RENAME_NOREPLACE), so a file appearing meanwhile is not overwritten either.
    std::error_code ec;
    if (!opts.force && std::filesystem::symlink_status(opts.output, ec).type() != std::filesystem::file_type::not_found)
        co_return fail(exit_code::cannot_write,
                       opts.output.string() + " already exists: choose another --output, or add --force to replace it");
    const auto folder = opts.output.has_parent_path() ? opts.output.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(folder, ec))
        co_return fail(exit_code::cannot_write, "cannot write " + opts.output.string() + ": the folder " +
                                                    folder.string() + " does not exist");

    std::string key = opts.key;
    std::optional<naming::parsed_name> name;
    if (!key.empty()) {
        name = parse_any_backup_key(key);
        if (!name)
            co_return fail(exit_code::usage, "--key " + key +
                                                 " is not a backup name (PREFIX + channel-<time>-<sha6>.backup), so "
                                                 "its content cannot be checked; see `scb-backup list`");
    } else {
        auto op = load_catalog(client, opts.prefix);
        auto entries = co_await std::move(op);
        if (entries.err) co_return s3_failure(entries.err);
        const backup_entry* newest_entry = newest(entries.value);
        if (!newest_entry) co_return fail(exit_code::no_backup, "no backup under " + where(opts, opts.prefix));
        key = newest_entry->object.key;
        name = newest_entry->name;
    }

    auto head_op = client.head_object(key);
    auto head = co_await std::move(head_op);
    if (head.err && head.err.code == s3::errc::no_such_key)
        co_return fail(exit_code::no_backup, "no such backup: " + where(opts, key) + " (see `scb-backup list`)");
    if (head.err) co_return s3_failure(head.err);
    auto get_op = client.get_object(key);
    auto body = co_await std::move(get_op);
    if (body.err && body.err.code == s3::errc::no_such_key)
        co_return fail(exit_code::no_backup, "no such backup: " + where(opts, key) + " (deleted meanwhile?)");
    if (body.err) co_return s3_failure(body.err);

    const auto report = check_body(body.value, name->sha256_suffix, head.value);
    if (!report.ok)
        co_return fail(exit_code::corrupt_object, "refusing " + where(opts, key) + ", it is corrupt: " +
                                                      report.problem + "; nothing was written to " +
                                                      opts.output.string() +
                                                      " (try an older backup with --key, see `scb-backup list`)");

    if (auto werr = write_file_atomically(opts.output, body.value, {.replace = opts.force})) {
        if (werr.ec == std::errc::file_exists)
            co_return fail(exit_code::cannot_write, opts.output.string() +
                                                        " already exists: choose another --output, or add --force");
        co_return fail(exit_code::cannot_write,
                       "cannot write " + opts.output.string() + ": " + werr.step + ": " + werr.ec.message());
    }

    const std::string path = shell_quote(std::filesystem::absolute(opts.output, ec).string());
    *out << "restored " << where(opts, key) << " (" << body.value.size() << " bytes, saved " << format_time(*name)
         << ") to " << path << " (mode 0600)\n"
         << "checked: " << report.checked() << "\n"
         << "\n"
         << "Next step, on the node that takes over (lnd running, wallet unlocked):\n"
         << "  lncli restorechanbackup --multi_file " << path << "\n"
         << "or, for a new node being created from the old node's seed:\n"
         << "  lncli create --multi_file " << path << "\n"
         << "\n"
         << "WARNING: the old node must stay off for good. Restoring asks every peer to force-close its channel;\n"
         << "if the old node (or a copy of its data) runs again with its outdated channel state, peers can treat\n"
         << "that as a breach and take all the funds in those channels.\n"
         << std::flush;
    if (report.stored == stored_check::none)
        logging::warn("S3 has no checksum for ", where(opts, key),
                      " that can be compared here (multipart or SSE-KMS ETag): only the key's SHA-256 suffix was checked");
    co_return exit_code::ok;
}

asio::awaitable<int> verify(s3::client& client, command_options opts, std::ostream* out) {
    const auto local = snapshot::take(opts.file, snapshot::min_backup_size, opts.max_size);
    if (local.what == snapshot::problem::missing) co_return fail(exit_code::no_backup, local.reason);
    if (local.what != snapshot::problem::none) co_return fail(exit_code::bad_file, local.reason);
    const std::string local_sha = crypto::hex(local.snap.sha256);
    const std::string file = opts.file.string();

    auto op = load_catalog(client, opts.prefix);
    auto entries = co_await std::move(op);
    if (entries.err) co_return s3_failure(entries.err);
    const backup_entry* newest_entry = newest(entries.value);
    if (!newest_entry) {
        *out << "OUT OF SYNC: no backup under " << where(opts, opts.prefix) << "; " << file << " has sha256 "
             << local_sha << "\n"
             << std::flush;
        co_return exit_code::out_of_sync;
    }
    const std::string key = newest_entry->object.key;
    const std::string when = format_time(*newest_entry->name);
    // The suffix decides most cases without a download; equal suffixes still need the full hash.
    if (!local_sha.ends_with(newest_entry->name->sha256_suffix)) {
        *out << "OUT OF SYNC: the newest backup " << where(opts, key) << " (" << when << ", sha256 ..."
             << newest_entry->name->sha256_suffix << ") is not " << file << " (sha256 " << local_sha << ")\n"
             << std::flush;
        co_return exit_code::out_of_sync;
    }
    auto get_op = client.get_object(key);
    auto body = co_await std::move(get_op);
    if (body.err) co_return s3_failure(body.err);
    const std::string remote_sha = crypto::sha256_hex(body.value);
    if (remote_sha != local_sha) {
        *out << "OUT OF SYNC: the newest backup " << where(opts, key) << " (" << when << ") has sha256 " << remote_sha
             << ", " << file << " has " << local_sha << "\n"
             << std::flush;
        co_return exit_code::out_of_sync;
    }
    *out << "in sync: " << file << " (sha256 " << local_sha << ", " << local.snap.data.size() << " bytes) is "
         << where(opts, key) << " (" << when << ")\n"
         << std::flush;
    co_return exit_code::ok;
}

asio::awaitable<int> run(s3::client& client, command_kind which, command_options opts) {
    // Built before co_await: g++ 12 double-destroys by-value temporaries inside one.
    auto command = which == command_kind::list      ? list(client, opts, &std::cout)
                   : which == command_kind::restore ? restore(client, opts, &std::cout)
                                                    : verify(client, opts, &std::cout);
    co_return co_await std::move(command);
}

}  // namespace scb::restore
