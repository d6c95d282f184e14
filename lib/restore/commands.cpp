#include "restore/commands.hpp"

#include "backup/exit_codes.hpp"
#include "crypto/hash.hpp"
#include "logging/logger.hpp"
#include "restore/catalog.hpp"
#include "restore/integrity.hpp"
#include "common/atomic_file.hpp"
#include "common/private_folders.hpp"
#include "snapshot/file_snapshot.hpp"


#include <nlohmann/json.hpp>

#include <iostream>

#include <unistd.h>
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

/// Where `key` lies in `t`, for messages: "s3://bucket/key" or "file:///folder/key".
std::string where(const destination::target& t, std::string_view key) {
    std::string base = t.where();
    base.resize(base.size() - t.prefix().size());
    return base + std::string(key);
}

/// "" with one destination; " (from NAME)" with several: which destination a line is about.
std::string from(const std::vector<destination::target*>& all, const destination::target& t) {
    return all.size() > 1 ? " (destination " + t.name() + ")" : std::string();
}

/// A key restore --key may name: any prefix, then exactly a name object_name() (or the original
/// Python service) makes.
std::optional<naming::parsed_name> parse_any_backup_key(std::string_view key) {
    const auto parsed = naming::parse_object_name(key);
    if (!parsed) return std::nullopt;
    const std::size_t len = naming::name_of(*parsed).size();
    return parse_backup_key(key, key.substr(0, key.size() - len));
}

/// Lists and classifies the prefix (warning once when names and LastModified disagree); the error is
/// set when S3 failed.
asio::awaitable<s3::result<std::vector<backup_entry>>> load_catalog(destination::target& t, std::string prefix) {
    // Built before the co_await: g++ 12 destroys by-value temporaries inside a co_await twice.
    auto op = t.list(prefix);
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

asio::awaitable<int> list(const std::vector<destination::target*>& targets, command_options opts, std::ostream* out) {
    int code = exit_code::ok;
    nlohmann::json all_json = nlohmann::json::array();
    for (auto* t : targets) {
        auto op = load_catalog(*t, t->prefix());
        auto entries = co_await std::move(op);
        if (entries.err) {
            // The others are still listed: one unreachable destination must not hide the rest.
            const int c = fail(exit_code::for_s3_error(entries.err.code), t->name() + ": " + entries.err.describe());
            if (code == exit_code::ok) code = c;
            continue;
        }
        std::size_t foreign = 0;
        for (const auto& e : entries.value) foreign += !e.is_backup();
        if (opts.json && targets.size() > 1) {
            for (auto row : nlohmann::json::parse(format_json(entries.value))) {
                row["destination"] = t->name();
                all_json.push_back(std::move(row));
            }
        } else {
            if (targets.size() > 1) *out << "== " << t->name() << " (" << t->where() << ")\n";
            *out << (opts.json ? format_json(entries.value) : format_table(entries.value));
            if (targets.size() > 1) *out << "\n";
            *out << std::flush;
        }
        // Notes go to stderr so that stdout stays the table (or the JSON) alone.
        if (entries.value.size() == foreign) logging::warn("no backup under ", t->where());
        if (foreign > 0)
            logging::info(foreign, " key(s) under ", t->where(),
                          " are not backup names (PREFIX + channel-<time>-<sha6>.backup): listed last, without time or "
                          "suffix; restore and verify ignore them");
    }
    if (opts.json && targets.size() > 1) *out << all_json.dump() << "\n" << std::flush;
    co_return code;
}

asio::awaitable<int> restore(const std::vector<destination::target*>& targets, command_options opts,
                             std::ostream* out) {
    // `--output -`: the bytes go to stdout (a pipe or a file), the report to stderr.
    const bool to_stdout = opts.output == "-";
    if (to_stdout && ::isatty(STDOUT_FILENO))
        co_return fail(exit_code::usage,
                       "--output - writes the backup's bytes to standard output, which is a terminal here: redirect "
                       "it (scb-backup restore --output - > channel.backup) or name a file");
    // Refuse early, before any download, when the answer would be "exists" anyway. The final rename
    // refuses again (RENAME_NOREPLACE), so a file appearing meanwhile is not overwritten either.
    std::error_code ec;
    if (!to_stdout && !opts.force &&
        std::filesystem::symlink_status(opts.output, ec).type() != std::filesystem::file_type::not_found)
        co_return fail(exit_code::cannot_write,
                       opts.output.string() + " already exists: choose another --output, or add --force to replace it");

    // Which destination and key: --key in the first destination that has it; else the newest
    // backup of every destination that answers (by the time in its name: the same version has the
    // same name everywhere, while LastModified is each store's own clock).
    destination::target* source = nullptr;
    std::string key;
    std::optional<naming::parsed_name> name;
    std::optional<s3::error> first_error;
    const destination::target* first_error_at = nullptr;
    bool any_reached = false;
    if (!opts.key.empty()) {
        name = parse_any_backup_key(opts.key);
        if (!name)
            co_return fail(exit_code::usage, "--key " + opts.key +
                                                 " is not a backup name (PREFIX + channel-<time>-<sha6>.backup), so "
                                                 "its content cannot be checked; see `scb-backup list`");
    }
    s3::object_info head_info;
    for (auto* t : targets) {
        std::string candidate = opts.key;
        std::optional<naming::parsed_name> candidate_name = name;
        // With several destinations --key names a version: it is looked up under each destination's
        // own prefix (node1/channel-….backup in S3 is channel-….backup in a folder).
        // A bare name (no '/') is looked up under the prefix too.
        if (!candidate.empty() && (targets.size() > 1 || candidate.find('/') == std::string::npos))
            candidate = t->prefix() + naming::name_of(*name);
        if (opts.key.empty()) {
            auto op = load_catalog(*t, t->prefix());
            auto entries = co_await std::move(op);
            if (entries.err) {
                if (targets.size() > 1) logging::warn(t->name(), ": ", entries.err.describe(), " - looking in the other destinations");
                if (!first_error) first_error = entries.err, first_error_at = t;
                continue;
            }
            any_reached = true;
            const backup_entry* newest_entry = newest(entries.value);
            if (!newest_entry) {
                if (targets.size() > 1) logging::info("no backup under ", t->where());
                continue;
            }
            if (source && newest_entry->name->time <= name->time) continue;
            candidate = newest_entry->object.key;
            candidate_name = newest_entry->name;
        }
        auto head_op = t->head(candidate);
        auto head = co_await std::move(head_op);
        if (head.err) {
            if (head.err.code != s3::errc::no_such_key) {
                if (targets.size() > 1) logging::warn(t->name(), ": ", head.err.describe());
                if (!first_error) first_error = head.err, first_error_at = t;
            } else {
                any_reached = true;
            }
            continue;
        }
        any_reached = true;
        source = t;
        key = candidate;
        name = candidate_name;
        head_info = head.value;
        if (!opts.key.empty()) break;  // the first destination that has it
    }
    if (!source) {
        if (!any_reached && first_error)
            co_return targets.size() > 1 ? fail(exit_code::for_s3_error(first_error->code),
                                                first_error_at->name() + ": " + first_error->describe())
                                         : s3_failure(*first_error);
        if (!opts.key.empty())
            co_return fail(exit_code::no_backup, "no such backup: " + where(*targets.front(), opts.key) +
                                                     (targets.size() > 1 ? " (in no destination)" : "") +
                                                     " (see `scb-backup list`)");
        co_return fail(exit_code::no_backup,
                       targets.size() > 1 ? std::string("no backup in any destination")
                                          : "no backup under " + targets.front()->where());
    }

    auto get_op = source->get(key);
    auto body = co_await std::move(get_op);
    if (body.err && body.err.code == s3::errc::no_such_key)
        co_return fail(exit_code::no_backup, "no such backup: " + where(*source, key) + " (deleted meanwhile?)");
    if (body.err) co_return s3_failure(body.err);
    const auto& head = head_info;

    const auto report = check_body(body.value, name->sha256_suffix, head);
    if (!report.ok)
        co_return fail(exit_code::corrupt_object, "refusing " + where(*source, key) + ", it is corrupt: " +
                                                      report.problem + "; nothing was written to " +
                                                      opts.output.string() +
                                                      " (try an older backup with --key, see `scb-backup list`)");

    std::string path;
    std::ostream* report_out = out;
    if (to_stdout) {
        out->write(body.value.data(), static_cast<std::streamsize>(body.value.size()));
        out->flush();
        if (!*out) co_return fail(exit_code::cannot_write, "cannot write the backup to standard output");
        report_out = &std::cerr;
        path = "FILE";
    } else {
        // A missing folder is made (0700: it is about to hold a secret), as `aws s3 cp` does.
        const auto folder = opts.output.has_parent_path() ? opts.output.parent_path() : std::filesystem::path(".");
        if (!std::filesystem::exists(folder, ec)) {
            if (const auto made = create_private_folders(folder); made.ec)
                co_return fail(exit_code::cannot_write, "cannot write " + opts.output.string() + ": cannot create the folder " +
                                                            made.at.string() + ": " + made.ec.message());
            logging::info("created the folder ", folder.string(), " (mode 0700)");
        }
        if (auto werr = write_file_atomically(opts.output, body.value, {.replace = opts.force})) {
            if (werr.ec == std::errc::file_exists)
                co_return fail(exit_code::cannot_write, opts.output.string() +
                                                            " already exists: choose another --output, or add --force");
            co_return fail(exit_code::cannot_write,
                           "cannot write " + opts.output.string() + ": " + werr.step + ": " + werr.ec.message());
        }
        path = shell_quote(std::filesystem::absolute(opts.output, ec).string());
    }

    *report_out << "restored " << where(*source, key) << from(targets, *source) << " (" << body.value.size()
                << " bytes, saved " << format_time(*name) << ") to "
                << (to_stdout ? std::string("standard output") : path + " (mode 0600)") << "\n"
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
        logging::warn("the destination has no checksum for ", where(*source, key),
                      " that can be compared here (a folder, or a multipart or SSE-KMS ETag): only the name's SHA-256 "
                      "suffix was checked");
    co_return exit_code::ok;
}

namespace {

/// verify for one destination: 0 in sync, 1 out of sync, or the failure's exit code.
asio::awaitable<int> verify_one(destination::target& t, std::string tag, std::string file,
                                std::string local_sha, std::size_t local_size, std::ostream* out) {
    auto op = load_catalog(t, t.prefix());
    auto entries = co_await std::move(op);
    if (entries.err) co_return fail(exit_code::for_s3_error(entries.err.code), tag + entries.err.describe());
    const backup_entry* newest_entry = newest(entries.value);
    if (!newest_entry) {
        *out << tag << "OUT OF SYNC: no backup under " << t.where() << "; " << file << " has sha256 " << local_sha << "\n"
             << std::flush;
        co_return exit_code::out_of_sync;
    }
    const std::string key = newest_entry->object.key;
    const std::string when = format_time(*newest_entry->name);
    // The suffix decides most cases without a download; equal suffixes still need the full hash.
    if (!local_sha.ends_with(newest_entry->name->sha256_suffix)) {
        *out << tag << "OUT OF SYNC: the newest backup " << where(t, key) << " (" << when << ", sha256 ..."
             << newest_entry->name->sha256_suffix << ") is not " << file << " (sha256 " << local_sha << ")\n"
             << std::flush;
        co_return exit_code::out_of_sync;
    }
    auto get_op = t.get(key);
    auto body = co_await std::move(get_op);
    if (body.err) co_return fail(exit_code::for_s3_error(body.err.code), tag + body.err.describe());
    const std::string remote_sha = crypto::sha256_hex(body.value);
    if (remote_sha != local_sha) {
        *out << tag << "OUT OF SYNC: the newest backup " << where(t, key) << " (" << when << ") has sha256 " << remote_sha
             << ", " << file << " has " << local_sha << "\n"
             << std::flush;
        co_return exit_code::out_of_sync;
    }
    *out << tag << "in sync: " << file << " (sha256 " << local_sha << ", " << local_size << " bytes) is " << where(t, key)
         << " (" << when << ")\n"
         << std::flush;
    co_return exit_code::ok;
}

}  // namespace

asio::awaitable<int> verify(const std::vector<destination::target*>& targets, command_options opts, std::ostream* out) {
    const auto local = snapshot::take(opts.file, snapshot::min_backup_size, opts.max_size);
    if (local.what == snapshot::problem::missing) co_return fail(exit_code::no_backup, local.reason);
    if (local.what != snapshot::problem::none) co_return fail(exit_code::bad_file, local.reason);
    const std::string local_sha = crypto::hex(local.snap.sha256);
    // Every destination is checked; the first that is not in sync gives the exit code.
    int code = exit_code::ok;
    for (auto* t : targets) {
        const std::string tag = targets.size() > 1 ? t->name() + ": " : std::string();
        auto op = verify_one(*t, tag, opts.file.string(), local_sha, local.snap.data.size(), out);
        const int c = co_await std::move(op);
        if (code == exit_code::ok) code = c;
    }
    co_return code;
}

asio::awaitable<int> run(std::vector<destination::target*> targets, command_kind which, command_options opts) {
    // Built before co_await: g++ 12 double-destroys by-value temporaries inside one.
    auto command = which == command_kind::list      ? list(targets, opts, &std::cout)
                   : which == command_kind::restore ? restore(targets, opts, &std::cout)
                                                    : verify(targets, opts, &std::cout);
    co_return co_await std::move(command);
}

}  // namespace scb::restore
