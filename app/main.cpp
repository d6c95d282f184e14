// scb-backup: keeps lnd's channel.backup in S3. This file only wires lib/ together and maps
// failures to exit codes (see README.md, "Exit codes").
#include "backup/daemon.hpp"
#include "backup/exit_codes.hpp"
#include "config/settings.hpp"
#include "health/http_server.hpp"
#include "health/metrics.hpp"
#include "health/probe.hpp"
#include "notify/sd_notify.hpp"
#include "logging/logger.hpp"
#include "s3/client.hpp"
#include "s3/credentials.hpp"
#include "spool/spool.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <exception>
#include <iostream>

using namespace scb;
namespace exit_code = backup::exit_code;

namespace {

int fail(int code, const std::string& line) {
    logging::error(line);
    return code;
}

int run_service(const config::settings& s) {
    s3::resolved_credentials creds;
    try {
        creds = s3::load_static_credentials(config::layered_env(s3::process_environment(), s.env_file_vars),
                                            s.credentials);
    } catch (const s3::credentials_error& e) {
        return fail(exit_code::usage, e.what());
    }
    std::optional<spool::spool> store;
    try {
        store.emplace(spool::spool::open(s.spool_dir));
    } catch (const spool::spool_error& e) {
        return fail(exit_code::usage, std::string(e.what()) + " (BACKUP_DIRECTORY / --spool-dir)");
    }

    boost::asio::io_context ioc(1);
    const auto endpoint = s3::resolve_endpoint(s.endpoint, s.bucket);
    s3::client_options client_opts;
    client_opts.io = s.io;
    client_opts.ca_bundle = s.ca_bundle;
    client_opts.max_object_size = s.max_size;
    std::optional<s3::client> client;
    try {
        client.emplace(ioc.get_executor(), endpoint, std::make_shared<s3::static_credentials>(creds.creds), client_opts);
    } catch (const std::exception& e) {
        return fail(exit_code::usage, e.what());
    }
    logging::info("scb-backup " SCB_VERSION " ", s.cmd == config::command::once ? "once" : "starting", ": ",
                  config::describe(s), " s3=", endpoint.origin(), " credentials=", creds.source);

    health::state metrics;
    auto notifier = notify::notifier::from_environment();
    std::optional<health::http_server> http;
    if (!s.listen.empty() && s.cmd == config::command::run) {
        try {
            http.emplace(ioc.get_executor(), *health::parse_listen(s.listen), metrics, s.stale_after);
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
    opts.shutdown_timeout = s.shutdown_timeout;
    opts.upload.prefix = s.prefix;
    opts.upload.put.checksum = s.checksum;
    opts.upload.retry_min = s.retry_min;
    opts.upload.retry_max = s.retry_max;
    opts.upload.spool_max_files = s.spool_max_files;

    int code = exit_code::internal;
    {
        backup::daemon service(ioc.get_executor(), *client, *store, opts);
        auto work = s.cmd == config::command::once ? service.once() : service.run();
        boost::asio::co_spawn(ioc, std::move(work), [&](std::exception_ptr e, int result) {
            code = result;
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    code = fail(exit_code::internal, std::string("internal error: ") + ex.what());
                }
            }
        });
        ioc.run();
    }
    return code;
}

}  // namespace

int main(int argc, char* argv[]) {
    logging::configure_for_environment();
    try {
        config::parse_result parsed;
        try {
            parsed = config::parse(argc, argv, s3::process_environment());
        } catch (const config::usage_error& e) {
            return fail(exit_code::usage, e.what());
        }
        if (parsed.exit_now) {
            std::cout << parsed.text;
            return exit_code::ok;
        }
        logging::set_level(parsed.values.log_level);
        if (parsed.values.cmd == config::command::healthcheck) {
            auto r = health::probe(*health::parse_listen(parsed.values.listen), std::chrono::seconds(5));
            std::cout << r.text << "\n";
            return r.healthy ? exit_code::ok : 1;
        }
        return run_service(parsed.values);
    } catch (const std::exception& e) {
        return fail(exit_code::internal, std::string("internal error: ") + e.what());
    }
}
