#include "check/setup_check.hpp"

#include "backup/exit_codes.hpp"
#include "crypto/hash.hpp"
#include "logging/escape.hpp"
#include "naming/object_name.hpp"
#include "snapshot/file_snapshot.hpp"
#include "spool/spool.hpp"
#include "watch/watcher.hpp"

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <sstream>

#include <unistd.h>

namespace scb::check {

namespace {

using verdict = finding::verdict;

constexpr const char* read_access_doc = "docs/operations.md, \"Letting the service read lnd's file\"";

std::string shown(const std::filesystem::path& p) { return logging::printable(p.string()); }

std::string user_text() { return "uid " + std::to_string(::geteuid()); }

/// What to do about a failed PUT or GET, beyond the hint error::describe() gives.
std::string fix_for(s3::errc code) {
    switch (code) {
    case s3::errc::resolve_failed:
    case s3::errc::connect_failed:
    case s3::errc::timeout:
    case s3::errc::connection_lost:
        return "check the endpoint (AWS_ENDPOINT_URL_S3 / --endpoint), the network and any firewall or proxy";
    case s3::errc::tls_failed: return "check the endpoint's certificate, or AWS_CA_BUNDLE / --ca-bundle";
    case s3::errc::access_denied:
    case s3::errc::invalid_access_key:
    case s3::errc::signature_mismatch:
    case s3::errc::no_credentials: return "docs/iam.md gives the credentials and the policy the daemon needs";
    case s3::errc::clock_skew: return "set this machine's clock right (timedatectl set-ntp true)";
    default: return "";
    }
}

/// "1 s", "3 min 20 s": an offset for a line of text.
std::string seconds_text(std::chrono::seconds s) {
    const auto n = s.count() < 0 ? -s.count() : s.count();
    if (n < 60) return std::to_string(n) + " s";
    return std::to_string(n / 60) + " min " + std::to_string(n % 60) + " s";
}

}  // namespace

finding check_file(const std::filesystem::path& file, std::uint64_t max_size) {
    const auto r = snapshot::take(file, snapshot::min_backup_size, max_size);
    switch (r.what) {
    case snapshot::problem::none:
        return {verdict::ok, "file",
                shown(file) + ": " + std::to_string(r.snap.data.size()) + " bytes, readable by this user (" + user_text() +
                    "), SHA-256 " + naming::short_sha256(crypto::hex(r.snap.sha256)),
                ""};
    case snapshot::problem::missing:
        return {verdict::problem, "file", r.reason,
                "start lnd once (it writes the file at every start), or set MONITOR_FILE_PATH / --file to "
                "<lnddir>/data/chain/bitcoin/<network>/channel.backup"};
    case snapshot::problem::unreadable:
        return {verdict::problem, "file", r.reason, std::string("give this user read access: ") + read_access_doc};
    default: return {verdict::problem, "file", r.reason, ""};
    }
}

finding check_watch(const std::filesystem::path& file) {
    // The daemon's own watcher, on a throwaway event loop: it fails here exactly as it would there.
    boost::asio::io_context ioc(1);
    try {
        watch::watcher w(ioc.get_executor(), file);
    } catch (const watch::watch_error& e) {
        const bool limit = e.error_number == ENOSPC || e.error_number == EMFILE;
        return {verdict::problem, "watch", e.what(), limit ? "README.md, \"Exit codes\" (71)" : ""};
    }
    return {verdict::ok, "watch", "inotify can watch " + shown(file.parent_path()) + " (no polling)", ""};
}

std::vector<finding> check_spool(const std::filesystem::path& spool_dir) {
    std::vector<finding> out;
    try {
        const auto store = spool::spool::open(spool_dir);
        std::error_code ec;
        const auto waiting = store.pending(ec).size();
        out.push_back({verdict::ok, "spool", shown(spool_dir) + ": private (0700) and writable by this user", ""});
        if (waiting > 0)
            out.push_back({verdict::note, "spool",
                           std::to_string(waiting) + " version(s) not yet confirmed wait in it: the daemon uploads them at its start",
                           ""});
    } catch (const spool::spool_locked& e) {
        // Not a problem: the daemon is running, and owns it.
        out.push_back({verdict::note, "spool", std::string(e.what()) + " (a running daemon: fine)", ""});
    } catch (const spool::spool_error& e) {
        out.push_back({verdict::problem, "spool", e.what(),
                       "make the folder this user's (0700), or set BACKUP_DIRECTORY / --spool-dir to one it may create"});
    }
    return out;
}

std::string format_settings(const std::vector<config::setting_source>& sources) {
    std::size_t width = 0;
    for (const auto& s : sources) width = std::max(width, s.name.size() + 1 + s.value.size());
    std::ostringstream os;
    for (const auto& s : sources) {
        const std::string assignment = s.name + "=" + s.value;
        os << "  " << assignment << std::string(width - assignment.size() + 2, ' ') << "(" << s.origin << ")\n";
    }
    return os.str();
}

std::string format_line(const finding& f) {
    const char* word = f.what == verdict::ok ? "ok     " : f.what == verdict::note ? "note   " : "PROBLEM";
    return std::string("  ") + word + "  " + f.subject + ": " + f.text + "\n";
}

std::string format_summary(const std::vector<finding>& findings) {
    const auto problems = std::count_if(findings.begin(), findings.end(), [](const finding& f) { return f.what == verdict::problem; });
    if (problems == 0) return "All well: this setup backs up channel.backup.\n";
    std::string out = std::to_string(problems) + " problem(s) to fix:\n";
    for (const auto& f : findings) {
        if (f.what != verdict::problem) continue;
        out += "  - " + f.subject + ": " + f.text + (f.fix.empty() ? "" : " -> " + f.fix) + "\n";
    }
    return out;
}

int exit_code_for(const std::vector<finding>& findings) noexcept {
    const bool bad = std::any_of(findings.begin(), findings.end(), [](const finding& f) { return f.what == verdict::problem; });
    return bad ? 1 : backup::exit_code::ok;
}

namespace {

/// The destination's checks: credentials, clock, then the upload and the read-back of `snap`
/// (nullptr: nothing valid to upload). Each finding is printed as it comes.
boost::asio::awaitable<void> check_destination(const destination_to_check& d, const snapshot::snapshot* snap,
                                               const options& opts, std::vector<finding>& out, std::ostream& os) {
    destination::target& t = *d.target;
    const std::string& name = t.name();
    auto add = [&](finding f) {
        os << format_line(f) << std::flush;
        out.push_back(std::move(f));
    };
    add({verdict::ok, name, t.where() + (d.credentials.empty() ? "" : ", credentials from " + d.credentials), ""});

    co_await t.learn_clock();
    if (t.clock_known()) {
        const auto offset = std::chrono::round<std::chrono::seconds>(t.now() - std::chrono::system_clock::now());
        const auto gap = offset < std::chrono::seconds(0) ? -offset : offset;
        const std::string side = offset > std::chrono::seconds(0) ? "behind" : "ahead of";
        if (gap <= s3::clock_noise)
            add({verdict::ok, name, "this machine's clock agrees with the destination's", ""});
        else if (gap < std::chrono::minutes(1))
            add({verdict::note, name, "this machine's clock is " + seconds_text(gap) + " " + side + " the destination's", ""});
        else
            // scb-backup copes (it signs and names by S3's clock), lnd and TLS certificates do not.
            add({verdict::problem, name, "this machine's clock is " + seconds_text(gap) + " " + side + " the destination's",
                 "set the clock right (timedatectl set-ntp true); lnd needs it too"});
    } else if (!d.credentials.empty() && !opts.upload) {
        add({verdict::problem, name, "no answer from " + t.where(), fix_for(s3::errc::connect_failed)});
    }

    if (!opts.upload) {
        add({verdict::note, name, "upload and read-back skipped (--no-upload): the credentials are not proven", ""});
        co_return;
    }
    if (!snap) {
        add({verdict::note, name, "upload skipped: there is no valid file to upload (see the file's problem)", ""});
        co_return;
    }
    auto data = std::make_shared<const std::string>(snap->data);
    const std::string key = t.prefix() + naming::object_name(t.now(), crypto::hex(snap->sha256));
    if (auto err = co_await t.put(key, data, snap->sha256)) {
        add({verdict::problem, name, "upload failed: " + err.describe(), fix_for(err.code)});
        co_return;
    }
    add({verdict::ok, name, "uploaded " + logging::printable(key) + " (" + std::to_string(data->size()) + " bytes)", ""});
    if (!opts.latest_key.empty()) {
        const std::string latest = t.prefix() + opts.latest_key;
        if (auto err = co_await t.put(latest, data, snap->sha256))
            add({verdict::problem, name, "upload of the latest key failed: " + err.describe(), fix_for(err.code)});
        else
            add({verdict::ok, name, "uploaded " + logging::printable(latest) + " (SCB_LATEST_KEY)", ""});
    }

    auto back = co_await t.get(key);
    if (back.err.code == s3::errc::access_denied) {
        add({verdict::note, name,
             "cannot read the upload back: the credentials lack s3:GetObject; uploads work, but restore and verify "
             "will need credentials that may read (docs/iam.md)",
             ""});
    } else if (back.err) {
        add({verdict::problem, name, "reading the upload back failed: " + back.err.describe(), fix_for(back.err.code)});
    } else if (crypto::sha256(back.value) != snap->sha256) {
        add({verdict::problem, name, "read back " + logging::printable(key) + ", but its bytes differ from what was sent",
             "the store changes objects: try another endpoint or SCB_CHECKSUM=both"});
    } else {
        add({verdict::ok, name, "read " + logging::printable(key) + " back: the same SHA-256", ""});
    }
}

}  // namespace

boost::asio::awaitable<int> run(std::vector<config::setting_source> sources, std::vector<destination_to_check> destinations,
                                options opts, std::ostream& out) {
    out << "scb-backup " SCB_VERSION " check\n\nSettings (a flag wins over the environment, which wins over the env file):\n"
        << format_settings(sources) << "\nChecks:\n"
        << std::flush;
    std::vector<finding> findings;
    auto add = [&](finding f) {
        out << format_line(f) << std::flush;
        findings.push_back(std::move(f));
    };

    add(check_file(opts.file, opts.max_size));
    const bool file_ok = findings.back().what == verdict::ok;
    add(check_watch(opts.file));
    for (auto& f : check_spool(opts.spool_dir)) add(std::move(f));

    std::optional<snapshot::snapshot> snap;
    if (file_ok && opts.upload) {
        auto r = snapshot::take(opts.file, snapshot::min_backup_size, opts.max_size);
        if (r.what == snapshot::problem::none) snap = std::move(r.snap);
    }
    for (const auto& d : destinations) co_await check_destination(d, snap ? &*snap : nullptr, opts, findings, out);

    out << "\n" << format_summary(findings) << std::flush;
    co_return exit_code_for(findings);
}

}  // namespace scb::check
