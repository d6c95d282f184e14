#pragma once
// Every setting of the daemon, with its default; filled from flags, the environment and an env file.
#include "config/destinations.hpp"
#include "http/proxy.hpp"
#include "logging/logger.hpp"
#include "s3/client.hpp"
#include "s3/credentials.hpp"
#include "s3/endpoint.hpp"
#include "s3/object_options.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace scb::config {

enum class command { run, once, healthcheck, list, restore, verify, check };

/// `list`, `restore` and `verify` (lib/restore): talk to S3 only; they never open the spool.
inline bool is_restore_command(command c) noexcept {
    return c == command::list || c == command::restore || c == command::verify;
}

/// Where one setting's value came from, for `scb-backup check`. `value` never holds a secret.
struct setting_source {
    std::string name;    // the variable, e.g. "MONITOR_FILE_PATH"
    std::string value;   // as given (a secret part masked), or the default's text
    std::string origin;  // "--file", "environment", "env file PATH", or "default"
};

struct settings {
    command cmd = command::run;
    std::filesystem::path file;       // MONITOR_FILE_PATH / --file
    std::filesystem::path spool_dir;  // BACKUP_DIRECTORY / --spool-dir
    std::string bucket;               // S3_BUCKET_NAME / --bucket
    std::string prefix;               // S3_BACKUP_PREFIX / --prefix
    s3::endpoint_config endpoint;     // region, endpoint URL, addressing style
    std::string ca_bundle;            // AWS_CA_BUNDLE / --ca-bundle
    s3::credentials_options credentials;
    http::timeouts io;
    s3::object_options object;        // checksum, SSE, storage class, Object Lock
    std::string latest_key;           // SCB_LATEST_KEY / --latest-key: also PUT each version at PREFIX + this
    std::string heartbeat_url;        // SCB_HEARTBEAT_URL / --heartbeat-url
    std::string proxy;                // SCB_PROXY / --proxy ("" = the environment's proxy variables)
    http::proxy_rules proxies;        // SCB_PROXY, then https_proxy/HTTPS_PROXY, http_proxy/HTTP_PROXY, no_proxy
    std::chrono::milliseconds heartbeat_interval{std::chrono::minutes(5)};
    std::chrono::milliseconds reconcile_interval{std::chrono::minutes(5)};
    std::chrono::milliseconds verify_interval{0};  // SCB_VERIFY_INTERVAL / --verify-interval; 0: off
    std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(10)};
    std::chrono::milliseconds retry_min{std::chrono::seconds(1)};
    std::chrono::milliseconds retry_max{std::chrono::minutes(5)};
    std::uint64_t max_size = 64ull * 1024 * 1024;
    std::size_t spool_max_files = 100;  // SCB_SPOOL_MAX_FILES / --spool-max-files; the newest is always kept
    logging::level log_level = logging::level::info;
    std::string listen;                                   // SCB_LISTEN / --listen; empty: no health endpoint
    std::chrono::seconds stale_after{std::chrono::minutes(5)};  // SCB_STALE_AFTER / --stale-after
    // Where versions go, in order: the S3_BUCKET_NAME one (when a bucket is set) built from the
    // global settings above, then each of SCB_DESTINATIONS / --destination. Never empty after parse()
    // (except for healthcheck); names are unique (assign_names).
    std::vector<destination> destinations;
    std::string env_file;
    std::map<std::string, std::string> env_file_vars;  // feeds the credential lookup, behind the real environment

    // `list`, `restore`, `verify` only (flags without variables: they name one run's choices).
    std::string restore_key;          // restore --key: this key instead of the newest backup
    std::filesystem::path output;     // restore --output (required)
    bool force = false;               // restore --force: replace an existing --output
    bool json = false;                // list --json
    bool if_changed = false;          // once --if-changed: no upload when S3's newest has this content
    std::string pick_destination;     // list/restore/verify --destination NAME: the one destination to use ("" = not chosen)
    bool no_upload = false;           // check --no-upload: every check but the upload and the read-back

    std::vector<setting_source> sources;  // every setting of --help, in its order, with its origin
};

/// The real environment first, then the env file's variables.
s3::env_lookup layered_env(s3::env_lookup env, std::map<std::string, std::string> file_vars);

/// A bad flag, variable or value. Exit code 64; what() is one line naming the variable and the flag.
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
    std::vector<std::string> warnings;  // found before the error (a misspelt name often explains it)
};

struct parse_result {
    settings values;
    bool exit_now = false;  // --help or --version: print `text` and exit 0
    std::string text;
    std::vector<std::string> warnings;  // one line each, for logging::warn once the log level is set
};

/// Flags win over real environment variables, which win over the --env-file, which wins over the
/// defaults. Validates everything that can be checked without touching the network. `env_names` lists
/// the environment's variable names (environment_names()): a name starting with SCB_, S3_, MONITOR_
/// or BACKUP_ that is no setting gives a warning naming the closest setting, as does one in the env file.
parse_result parse(int argc, const char* const argv[], const s3::env_lookup& env,
                   const std::vector<std::string>& env_names = {});

/// The names (never the values) of this process's environment variables, for parse().
std::vector<std::string> environment_names();

/// `--help`: every setting with its flag, variable and default.
std::string help_text();

/// The effective configuration for the start-up log line; holds no secret.
std::string describe(const settings& s);

/// "90s", "1.5m", "250ms", "1h", or plain seconds: digits, an optional fraction, a unit (ms, s, m or min,
/// h; none is seconds). Nothing else ("0x10", " 5", "1e3", "-1s", "inf"). Throws std::invalid_argument.
std::chrono::milliseconds parse_duration(const std::string& text);
/// "64MiB", "512KiB", "1GiB", "1000" (bytes): digits and a unit (B, KiB/K/k, MiB/M, GiB/G; binary),
/// nothing else. Throws std::invalid_argument.
std::uint64_t parse_size(const std::string& text);

}  // namespace scb::config
