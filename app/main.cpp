// scb-backup: keeps lnd's channel.backup in S3. This file only wires lib/ together and maps
// failures to exit codes (see README.md, "Exit codes").
#include "backup/daemon.hpp"
#include "backup/exit_codes.hpp"
#include "check/setup_check.hpp"
#include "config/listen_address.hpp"
#include "config/settings.hpp"
#include "destination/folder_target.hpp"
#include "destination/s3_target.hpp"
#include "health/http_server.hpp"
#include "health/metrics.hpp"
#include "health/probe.hpp"
#include "heartbeat/pinger.hpp"
#include "notify/sd_notify.hpp"
#include "restore/commands.hpp"
#include "logging/logger.hpp"
#include "s3/client.hpp"
#include "s3/credential_providers.hpp"
#include "s3/credentials.hpp"
#include "spool/spool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <csignal>
#include <sys/prctl.h>
#include <cstdio>
#include <random>
#include <exception>
#include <iostream>
#include <sstream>

using namespace scb;
namespace exit_code = backup::exit_code;

namespace {

int fail(int code, const std::string& line) {
    logging::error(line);
    return code;
}

/// The credentials of one S3 destination: its own profile of the shared credentials file (profile=
/// in its URL), else the global chain (environment, shared file, container endpoint, then EC2
/// instance metadata, the last never with a custom endpoint: probing it off AWS costs seconds).
s3::credentials_chain credentials_for(boost::asio::io_context& ioc, const config::settings& s,
                                      const config::destination& d) {
    const auto env = config::layered_env(s3::process_environment(), s.env_file_vars);
    if (!d.profile.empty()) {
        // The profile names this destination's keys: the global ones (AWS_ACCESS_KEY_ID…) are another
        // account's, so they must not win here.
        s3::env_lookup without_keys = [env](const std::string& name) -> std::optional<std::string> {
            if (name == "AWS_ACCESS_KEY_ID" || name == "AWS_SECRET_ACCESS_KEY" || name == "AWS_SESSION_TOKEN" ||
                name == "AWS_PROFILE")
                return std::nullopt;
            return env(name);
        };
        auto found = s3::load_static_credentials(without_keys, {d.profile, s.credentials.credentials_file});
        return {std::make_shared<s3::static_credentials>(found.creds), found.source};
    }
    s3::chain_options chain;
    chain.files = s.credentials;
    chain.custom_endpoint = !d.endpoint.url.empty();
    chain.region = d.endpoint.region;
    chain.proxies = s.proxies;
    chain.remote_io = s.io;
    chain.metadata.ca_bundle = d.ca_bundle;
    return s3::make_credentials_chain(ioc.get_executor(), env, chain);
}

/// Every destination's target (and the S3 clients behind them). No network I/O yet. Logs one line
/// naming the destination and returns false for a bad setting (credentials, CA bundle).
struct destinations {
    std::vector<std::unique_ptr<s3::client>> clients;
    std::vector<std::unique_ptr<destination::target>> owned;
    std::vector<destination::target*> targets;
    std::vector<std::string> sources;  // " s3=… credentials=…" for the start-up line, by destination
    std::vector<std::string> credentials;  // where each destination's credentials come from ("" for a folder)
    // With `readers`: a second target per destination, on a connection of its own, for read-back
    // verification (a connection carries one request at a time, and the uploader's PUT may be in flight).
    std::vector<destination::target*> readers;
};

bool make_destinations(boost::asio::io_context& ioc, const config::settings& s, destinations& out, bool readers = false) {
    for (const auto& d : s.destinations) {
        try {
            if (d.kind == config::destination_kind::folder) {
                // (The reader first: the destination's own target is owned.back(), below.)
                for (int n = readers ? 2 : 1; n > 0; --n) {
                    out.owned.push_back(
                        std::make_unique<destination::folder_target>(ioc.get_executor(), d.name, d.folder, s.max_size));
                    if (n == 2) out.readers.push_back(out.owned.back().get());
                }
                out.sources.emplace_back();
                out.credentials.emplace_back();
            } else {
                auto creds = credentials_for(ioc, s, d);
                s3::client_options client_opts;
                client_opts.io = s.io;
                client_opts.ca_bundle = d.ca_bundle;
                client_opts.max_object_size = s.max_size;  // a restore reads any version the daemon accepted
                auto where = s3::resolve_endpoint(d.endpoint, d.bucket);
                client_opts.proxy = s.proxies.for_target(where.tls, where.host);
                if (readers) {  // the same credentials provider: one refresh serves both
                    out.clients.push_back(std::make_unique<s3::client>(ioc.get_executor(), where, creds.provider, client_opts));
                    out.owned.push_back(std::make_unique<destination::s3_target>(d.name, d.bucket, d.prefix, d.object,
                                                                                 *out.clients.back()));
                    out.readers.push_back(out.owned.back().get());
                }
                out.clients.push_back(std::make_unique<s3::client>(ioc.get_executor(), std::move(where), creds.provider, client_opts));
                out.owned.push_back(std::make_unique<destination::s3_target>(d.name, d.bucket, d.prefix, d.object,
                                                                             *out.clients.back()));
                out.sources.push_back(" s3=" + out.clients.back()->where().origin() + " credentials=" + creds.source +
                                      (client_opts.proxy ? " proxy=" + client_opts.proxy->shown() : std::string()));
                out.credentials.push_back(creds.source + (client_opts.proxy ? ", through proxy " + client_opts.proxy->shown() : ""));
            }
            out.targets.push_back(out.owned.back().get());
        } catch (const std::exception& e) {  // credentials_error, a bad CA bundle, no TLS context
            fail(exit_code::usage, s.destinations.size() > 1 ? "destination " + d.name + ": " + e.what() : e.what());
            return false;
        }
    }
    return true;
}

/// Runs one command coroutine to its end; an escaping exception is a bug: exit 70 with one line.
int run_to_exit_code(boost::asio::io_context& ioc, boost::asio::awaitable<int> work) {
    int code = exit_code::internal;
    boost::asio::co_spawn(ioc, std::move(work), [&](std::exception_ptr e, int result) {
        code = result;
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            code = fail(exit_code::internal, std::string("internal error: ") + ex.what());
        }
    });
    ioc.run();
    return code;
}

int run_restore_command(const config::settings& s) {
    boost::asio::io_context ioc(1);
    destinations dests;
    if (!make_destinations(ioc, s, dests)) return exit_code::usage;
    for (std::size_t i = 0; i < dests.targets.size(); ++i)
        logging::debug("destination ", dests.targets[i]->name(), dests.sources[i]);
    auto targets = dests.targets;
    if (!s.pick_destination.empty())  // --destination NAME: that one alone (settings checked the name)
        std::erase_if(targets, [&](const destination::target* t) { return t->name() != s.pick_destination; });
    restore::command_options o;
    o.key = s.restore_key;
    o.output = s.output;
    o.force = s.force;
    o.json = s.json;
    o.file = s.file;
    o.max_size = s.max_size;
    const auto which = s.cmd == config::command::list      ? restore::command_kind::list
                       : s.cmd == config::command::restore ? restore::command_kind::restore
                                                           : restore::command_kind::verify;
    return run_to_exit_code(ioc, restore::run(targets, which, o));
}

/// `check`: the settings, the local checks, then each destination (lib/check).
int run_check_command(const config::settings& s) {
    boost::asio::io_context ioc(1);
    destinations dests;
    if (!make_destinations(ioc, s, dests)) return exit_code::usage;
    std::vector<check::destination_to_check> to_check;
    for (std::size_t i = 0; i < dests.targets.size(); ++i) to_check.push_back({dests.targets[i], dests.credentials[i]});
    check::options o;
    o.file = s.file;
    o.spool_dir = s.spool_dir;
    o.max_size = s.max_size;
    o.latest_key = s.latest_key;
    o.upload = !s.no_upload;
    return run_to_exit_code(ioc, check::run(s.sources, std::move(to_check), o, std::cout));
}

/// once --if-changed (cron): `verify` against every destination first. 0 when each one's newest
/// backup has the file's content (nothing to upload), -1 to go on with the upload, else the exit
/// code of a failure (the file, or S3 refusing to list or read).
int unchanged_everywhere(boost::asio::io_context& ioc, const config::settings& s,
                         const std::vector<destination::target*>& targets) {
    restore::command_options o;
    o.file = s.file;
    o.max_size = s.max_size;
    std::ostringstream report;
    const int code = run_to_exit_code(ioc, restore::verify(targets, o, &report));
    std::istringstream lines(report.str());
    for (std::string line; std::getline(lines, line);) logging::info(line);
    if (code == exit_code::ok) {
        logging::info("--if-changed: S3 has this content already; nothing uploaded");
        return exit_code::ok;
    }
    if (code == exit_code::out_of_sync) return -1;
    if (code == exit_code::no_permission)
        logging::error("--if-changed needs to list and read the backups (s3:ListBucket, s3:GetObject: docs/iam.md); "
                   "without them, run once without --if-changed");
    return code;
}

int run_service(const config::settings& s) {
    boost::asio::io_context ioc(1);
    destinations dests;
    const bool verifying = s.cmd == config::command::run && s.verify_interval.count() > 0;
    if (!make_destinations(ioc, s, dests, verifying)) return exit_code::usage;
    // The spool belongs to one process (a lock file in it). `run` needs it; `once` beside a running
    // daemon uploads from memory and leaves the copy to that daemon, which watches the same file.
    std::optional<spool::spool> store;
    try {
        store.emplace(spool::spool::open(s.spool_dir));
    } catch (const spool::spool_locked& e) {
        if (s.cmd != config::command::once)
            return fail(exit_code::spool_locked, std::string(e.what()) + " (BACKUP_DIRECTORY / --spool-dir)");
        logging::info(e.what(), ": uploading without a spool");
    } catch (const spool::spool_error& e) {
        return fail(exit_code::usage, std::string(e.what()) + " (BACKUP_DIRECTORY / --spool-dir)");
    }
    const bool several = dests.targets.size() > 1;
    logging::info("scb-backup " SCB_VERSION " ", s.cmd == config::command::once ? "once" : "starting", ": ",
                  config::describe(s), several ? std::string() : dests.sources.front());
    if (several)
        for (std::size_t i = 0; i < dests.targets.size(); ++i)
            logging::info("destination ", dests.targets[i]->name(), ": ", dests.targets[i]->where(), dests.sources[i]);
    if (s.cmd == config::command::once && s.if_changed) {
        if (const int skip = unchanged_everywhere(ioc, s, dests.targets); skip >= 0) return skip;
        ioc.restart();
    }

    health::state metrics;
    auto notifier = notify::notifier::from_environment();
    std::optional<health::http_server> http;
    if (!s.listen.empty() && s.cmd == config::command::run) {
        try {
            http.emplace(ioc.get_executor(), *config::parse_listen(s.listen), metrics, s.stale_after);
        } catch (const boost::system::system_error& e) {
            return fail(exit_code::usage, "cannot listen on " + s.listen + ": " + e.code().message() +
                                              " (SCB_LISTEN / --listen)");
        }
    }

    backup::daemon_options opts;
    opts.health = &metrics;
    opts.http = http ? &*http : nullptr;
    opts.notifier = &notifier;
    opts.file = s.file;
    opts.max_size = s.max_size;
    opts.reconcile_interval = s.reconcile_interval;
    opts.stale_after = s.stale_after;
    opts.upload.latest_key = s.latest_key;
    std::optional<heartbeat::pinger> pinger;
    if (!s.heartbeat_url.empty() && s.cmd == config::command::run) {
        pinger.emplace(ioc.get_executor(), s.heartbeat_url, s.ca_bundle, s.proxies);
        opts.heartbeat = &*pinger;
        opts.heartbeat_interval = s.heartbeat_interval;
    }
    opts.upload.policy.retry_min = s.retry_min;
    opts.upload.policy.retry_max = s.retry_max;
    opts.upload.policy.grace = s.shutdown_timeout;
    opts.upload.policy.seed = std::random_device{}();
    opts.spool_max_files = s.spool_max_files;
    if (verifying) {
        opts.verify_interval = s.verify_interval;
        opts.verify_readers = dests.readers;
    }
    if (s.cmd == config::command::once) {
        // The same uploader as `run`, ending once the version is confirmed or given up.
        opts.upload.finish_when_idle = true;
        opts.upload.policy.max_attempts = 5;
        opts.upload.policy.give_up_on_needs_fix = true;
    }

    backup::daemon service(ioc.get_executor(), dests.targets, store ? &*store : nullptr, opts);
    return run_to_exit_code(ioc, s.cmd == config::command::once ? service.once() : service.run());
}

}  // namespace

int main(int argc, char* argv[]) {
    // The process holds AWS secrets: no core dump (the watchdog's SIGABRT would write one), and
    // /proc/PID/environ and ptrace become root-only.
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    // A closed log reader (`scb-backup run 2>&1 | logger` whose logger died) must not kill the
    // daemon: writes then fail with EPIPE, which the logger ignores.
    std::signal(SIGPIPE, SIG_IGN);
    logging::configure_for_environment();
    try {
        config::parse_result parsed;
        try {
            parsed = config::parse(argc, argv, s3::process_environment(), config::environment_names());
        } catch (const config::usage_error& e) {
            for (const auto& w : e.warnings) logging::warn(w);
            return fail(exit_code::usage, e.what());
        }
        if (parsed.exit_now) {
            std::cout << parsed.text;
            return exit_code::ok;
        }
        logging::set_level(parsed.values.log_level);
        for (const auto& w : parsed.warnings) logging::warn(w);
        if (parsed.values.cmd == config::command::healthcheck) {
            auto r = health::probe(*config::parse_listen(parsed.values.listen), std::chrono::seconds(5));
            std::cout << r.text << "\n";
            return r.healthy ? exit_code::ok : 1;
        }
        // list / restore / verify: S3 only, no spool, no daemon (lib/restore).
        if (config::is_restore_command(parsed.values.cmd)) return run_restore_command(parsed.values);
        if (parsed.values.cmd == config::command::check) return run_check_command(parsed.values);
        return run_service(parsed.values);
    } catch (const std::exception& e) {
        return fail(exit_code::internal, std::string("internal error: ") + e.what());
    }
}
