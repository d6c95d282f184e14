#include "config/settings.hpp"

#include "common/text.hpp"
#include "config/env_file.hpp"
#include "config/listen_address.hpp"
#include "http/url.hpp"
#include "logging/escape.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cctype>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>
#include <string_view>

#include <unistd.h>  // environ

namespace scb::config {

namespace po = boost::program_options;
using namespace std::chrono_literals;

std::chrono::milliseconds parse_duration(const std::string& text) {
    // Digits, an optional fraction, a unit: std::stod would also take "0x10", " 5", "1e3", "nan" and "inf".
    const std::string complaint = "'" + text + "' is not a duration like 30s, 5m, 250ms or 1h";
    auto digit = [&](std::size_t i) { return i < text.size() && text[i] >= '0' && text[i] <= '9'; };
    std::size_t i = 0;
    std::uint64_t whole = 0, frac = 0, scale = 1;
    bool too_large = false;
    for (; digit(i); ++i) {
        if (whole > 10'000'000'000'000ull) too_large = true;
        else whole = whole * 10 + static_cast<std::uint64_t>(text[i] - '0');
    }
    if (i == 0) throw std::invalid_argument(complaint);
    if (i < text.size() && text[i] == '.') {
        const std::size_t first = ++i;
        for (; digit(i); ++i) {
            if (scale >= 1'000'000'000) continue;  // digits below a nanosecond change nothing
            frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
            scale *= 10;
        }
        if (i == first) throw std::invalid_argument(complaint);
    }
    const std::string unit = text.substr(i);
    std::uint64_t unit_ms = 0;
    if (unit.empty() || unit == "s") unit_ms = 1000;
    else if (unit == "ms") unit_ms = 1;
    else if (unit == "m" || unit == "min") unit_ms = 60'000;
    else if (unit == "h") unit_ms = 3'600'000;
    else throw std::invalid_argument(complaint);
    constexpr std::uint64_t max_ms = 1'000'000'000'000;
    if (too_large || whole > max_ms / unit_ms) throw std::invalid_argument("'" + text + "' is out of range");
    return std::chrono::milliseconds(static_cast<std::int64_t>(whole * unit_ms + frac * unit_ms / scale));
}

namespace {

/// The whole number `text` starts with (digits only: no sign, no space); `pos` is set past it.
/// Throws std::invalid_argument(`complaint`) when there is none or it overflows.
unsigned long long leading_count(const std::string& text, std::size_t& pos, const std::string& complaint) {
    try {
        if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) throw std::invalid_argument("");
        return std::stoull(text, &pos);
    } catch (const std::exception&) {
        throw std::invalid_argument(complaint);
    }
}

}  // namespace

std::uint64_t parse_size(const std::string& text) {
    std::size_t pos = 0;
    const auto n = leading_count(text, pos, "'" + text + "' is not a size like 64MiB, 512KiB or 1048576");
    const std::string unit = text.substr(pos);
    std::uint64_t mult = 1;
    if (unit.empty() || unit == "B") mult = 1;
    else if (unit == "KiB" || unit == "K" || unit == "k") mult = 1ull << 10;
    else if (unit == "MiB" || unit == "M") mult = 1ull << 20;
    else if (unit == "GiB" || unit == "G") mult = 1ull << 30;
    else throw std::invalid_argument("'" + text + "' is not a size like 64MiB, 512KiB or 1048576");
    if (n > (~0ull) / mult) throw std::invalid_argument("'" + text + "' is too large");
    return n * mult;
}

namespace {

/// One setting: its flag, its variables (first wins), its default for --help, and how to apply a value.
struct option_spec {
    const char* flag;
    const char* env;
    const char* env2;
    const char* default_text;
    const char* help;
    void (*apply)(settings&, const std::string&);
};

std::chrono::milliseconds positive_duration(const std::string& v) {
    auto d = parse_duration(v);
    if (d <= 0ms) throw std::invalid_argument("must be more than zero");
    return d;
}

const std::vector<option_spec>& specs() {
    static const std::vector<option_spec> table = {
        {"file", "MONITOR_FILE_PATH", nullptr, "~/.lnd/data/chain/bitcoin/mainnet/channel.backup",
         "lnd's channel.backup to watch", [](settings& s, const std::string& v) { s.file = v; }},
        {"spool-dir", "BACKUP_DIRECTORY", nullptr, "$STATE_DIRECTORY, else ~/.local/state/scb-backup",
         "local spool: versions not yet confirmed by S3 (created 0700)",
         [](settings& s, const std::string& v) { s.spool_dir = v; }},
        {"bucket", "S3_BUCKET_NAME", nullptr, "required without SCB_DESTINATIONS", "S3 bucket to upload to",
         [](settings& s, const std::string& v) { s.bucket = v; }},
        {"prefix", "S3_BACKUP_PREFIX", nullptr, "empty", "key prefix, e.g. 'mynode/' (keys: PREFIX + channel-<time>-<sha6>.backup)",
         [](settings& s, const std::string& v) {
             check_prefix(v);
             s.prefix = v;
         }},
        {"region", "AWS_REGION", "AWS_DEFAULT_REGION", "us-east-1", "region used in the signature and the AWS endpoint",
         [](settings& s, const std::string& v) { s.endpoint.region = v; }},
        {"endpoint", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS by region", "custom S3-compatible endpoint URL",
         [](settings& s, const std::string& v) { s.endpoint.url = v; }},
        {"addressing-style", "S3_ADDRESSING_STYLE", nullptr, "auto",
         "auto|path|virtual (auto: virtual-hosted on AWS, path for custom endpoints and dotted buckets)",
         [](settings& s, const std::string& v) {
             auto st = s3::parse_addressing_style(v);
             if (!st) throw std::invalid_argument("must be auto, path or virtual");
             s.endpoint.style = *st;
         }},
        {"ca-bundle", "AWS_CA_BUNDLE", nullptr, "system trust store", "PEM file of CA certificates to trust for HTTPS",
         [](settings& s, const std::string& v) { s.ca_bundle = v; }},
        {"profile", "AWS_PROFILE", nullptr, "default", "profile in the shared credentials file",
         [](settings& s, const std::string& v) { s.credentials.profile = v; }},
        {"credentials-file", "AWS_SHARED_CREDENTIALS_FILE", nullptr, "~/.aws/credentials",
         "shared credentials file (used when AWS_ACCESS_KEY_ID is not set)",
         [](settings& s, const std::string& v) { s.credentials.credentials_file = v; }},
        {"checksum", "SCB_CHECKSUM", nullptr, "both", "integrity headers on PUT: both|md5|sha256|none",
         [](settings& s, const std::string& v) {
             auto m = s3::parse_checksum_mode(v);
             if (!m) throw std::invalid_argument("must be both, md5, sha256 or none");
             s.object.checksum = *m;
         }},
        {"sse", "SCB_SSE", nullptr, "bucket default", "server-side encryption: AES256 or aws:kms",
         [](settings& s, const std::string& v) { s.object.sse = v; }},
        {"sse-kms-key-id", "SCB_SSE_KMS_KEY_ID", nullptr, "AWS managed key", "KMS key for --sse aws:kms",
         [](settings& s, const std::string& v) { s.object.sse_kms_key_id = v; }},
        {"storage-class", "SCB_STORAGE_CLASS", nullptr, "bucket default", "S3 storage class, e.g. STANDARD_IA",
         [](settings& s, const std::string& v) { s.object.storage_class = v; }},
        {"object-lock-mode", "SCB_OBJECT_LOCK_MODE", nullptr, "off", "Object Lock retention: GOVERNANCE or COMPLIANCE",
         [](settings& s, const std::string& v) { s.object.lock_mode = v; }},
        {"object-lock-days", "SCB_OBJECT_LOCK_DAYS", nullptr, "off", "Object Lock retention in days from the upload",
         [](settings& s, const std::string& v) {
             std::size_t pos = 0;
             const std::string complaint = "must be a whole number of days from 1 to 36500";
             const auto days = leading_count(v, pos, complaint);
             if (pos != v.size() || days == 0 || days > 36500) throw std::invalid_argument(complaint);
             s.object.lock_days = static_cast<unsigned>(days);
         }},
        {"latest-key", "SCB_LATEST_KEY", nullptr, "off", "also PUT each version at PREFIX + this key, e.g. latest/channel.backup",
         [](settings& s, const std::string& v) { s.latest_key = v; }},
        {"heartbeat-url", "SCB_HEARTBEAT_URL", nullptr, "off",
         "GET this URL (healthchecks.io style) after an upload and every --heartbeat-interval while healthy",
         [](settings& s, const std::string& v) { s.heartbeat_url = v; }},
        {"proxy", "SCB_PROXY", nullptr, "off",
         "S3 and the heartbeat through a proxy: socks5h://127.0.0.1:9050 (Tor: the proxy resolves names), "
         "socks5://HOST:PORT, http://HOST:PORT (CONNECT); user:password@ allowed. Wins over HTTPS_PROXY, "
         "HTTP_PROXY (and lower-case); NO_PROXY applies to both",
         [](settings& s, const std::string& v) { s.proxy = v; }},
        {"heartbeat-interval", "SCB_HEARTBEAT_INTERVAL", nullptr, "5m", "time between heartbeats while healthy",
         [](settings& s, const std::string& v) { s.heartbeat_interval = positive_duration(v); }},
        {"connect-timeout", "SCB_CONNECT_TIMEOUT", nullptr, "10s", "resolve + connect + TLS handshake limit",
         [](settings& s, const std::string& v) { s.io.connect = positive_duration(v); }},
        {"request-timeout", "SCB_REQUEST_TIMEOUT", nullptr, "60s", "limit for sending one request and reading its answer",
         [](settings& s, const std::string& v) { s.io.request = positive_duration(v); }},
        {"reconcile-interval", "SCB_RECONCILE_INTERVAL", nullptr, "5m",
         "how often to compare the file with the last version backed up (safety net for lost events)",
         [](settings& s, const std::string& v) { s.reconcile_interval = positive_duration(v); }},
        {"verify-interval", "SCB_VERIFY_INTERVAL", nullptr, "off",
         "read the newest backup back from each destination at this interval (and after the start-up upload) "
         "and compare its SHA-256; a missing or different object fails /healthz and is uploaded again "
         "(needs s3:GetObject)",
         [](settings& s, const std::string& v) {
             s.verify_interval = positive_duration(v);
             // Each read-back is a GET of the whole object: under a second is a typo.
             if (s.verify_interval < std::chrono::seconds(1)) throw std::invalid_argument("must be at least 1s");
         }},
        {"shutdown-timeout", "SCB_SHUTDOWN_TIMEOUT", nullptr, "10s", "grace period for an upload in flight on SIGTERM",
         [](settings& s, const std::string& v) { s.shutdown_timeout = parse_duration(v); }},
        {"retry-min", "SCB_RETRY_MIN", nullptr, "1s", "first retry delay (exponential backoff, full jitter)",
         [](settings& s, const std::string& v) {
             s.retry_min = positive_duration(v);
             // Faster retries only add load on S3 (and on whoever pays for its requests).
             if (s.retry_min < 100ms) throw std::invalid_argument("must be at least 100ms");
         }},
        {"retry-max", "SCB_RETRY_MAX", nullptr, "5m", "longest retry delay",
         [](settings& s, const std::string& v) { s.retry_max = positive_duration(v); }},
        {"max-size", "SCB_MAX_SIZE", nullptr, "64MiB", "largest file accepted as a backup",
         [](settings& s, const std::string& v) {
             s.max_size = parse_size(v);
             // lnd's channel.backup is kilobytes to a few MiB: beyond 1 GiB the value is a typo.
             if (s.max_size > (1ull << 30)) throw std::invalid_argument("must be at most 1GiB");
         }},
        {"spool-max-files", "SCB_SPOOL_MAX_FILES", nullptr, "100",
         "most versions kept in the spool; beyond it the oldest unconfirmed ones are dropped (never the newest)",
         [](settings& s, const std::string& v) {
             std::size_t pos = 0;
             const std::string complaint = "'" + v + "' is not a whole number of files";
             const auto n = leading_count(v, pos, complaint);
             if (pos != v.size()) throw std::invalid_argument(complaint);
             if (n < 1 || n > 1'000'000) throw std::invalid_argument("must be between 1 and 1000000");
             s.spool_max_files = static_cast<std::size_t>(n);
         }},
        {"log-level", "SCB_LOG_LEVEL", nullptr, "info", "debug|info|warn|error",
         [](settings& s, const std::string& v) {
             auto l = logging::parse_level(v);
             if (!l) throw std::invalid_argument("must be debug, info, warn or error");
             s.log_level = *l;
         }},
        {"listen", "SCB_LISTEN", nullptr, "off",
         "serve GET /healthz and /metrics on HOST:PORT (127.0.0.1:9580, [::1]:9580, :9580 = all IPv4)",
         [](settings& s, const std::string& v) {
             if (!v.empty() && !parse_listen(v))
                 throw std::invalid_argument("must be IPv4:PORT, [IPv6]:PORT or :PORT (a literal address)");
             s.listen = v;
         }},
        {"stale-after", "SCB_STALE_AFTER", nullptr, "5m",
         "/healthz fails when the newest version has not reached S3 for this long",
         [](settings& s, const std::string& v) {
             s.stale_after = std::chrono::duration_cast<std::chrono::seconds>(positive_duration(v));
             if (s.stale_after.count() == 0) throw std::invalid_argument("must be at least 1s");
         }},
    };
    return table;
}

/// Not in specs(): a list, and --destination is repeatable (the flags replace the variable).
constexpr const char* destinations_env = "SCB_DESTINATIONS";

std::string naming(const option_spec& o) {
    std::string n = std::string(o.env) + " / --" + o.flag;
    if (o.env2) n = std::string(o.env) + " (or " + o.env2 + ") / --" + o.flag;
    return n;
}

/// A setting's value as `check` shows it: printable, capped, and without its secret part.
std::string shown_value(const option_spec& o, const std::string& value) {
    const std::string_view flag = o.flag;
    // For healthchecks.io the URL's path is the whole secret; an endpoint may carry user:password.
    if (flag == "heartbeat-url") {
        if (value.empty()) return value;
        const auto url = http::parse_url(value);
        return (url ? url.value.origin() : std::string("***")) + "/*** (path hidden)";
    }
    if (flag == "endpoint" || flag == "proxy") return http::redacted(value);
    return logging::printable(value);
}

std::string home(const s3::env_lookup& env) { return env("HOME").value_or("/root"); }

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

/// "X is not a setting; did you mean Y?" for a name in one of our families that no setting has, else "".
std::string unknown_setting(const std::string& name) {
    const bool ours = name.rfind("SCB_", 0) == 0 || name.rfind("S3_", 0) == 0 || name.rfind("MONITOR_", 0) == 0 ||
                      name.rfind("BACKUP_", 0) == 0;
    if (!ours) return {};
    std::string closest;
    std::size_t best = std::string::npos;
    auto consider = [&](const char* known) {
        if (!known) return false;
        if (name == known) return true;
        if (const auto d = edit_distance(name, known); d < best) {
            best = d;
            closest = known;
        }
        return false;
    };
    if (consider(destinations_env)) return {};
    for (const auto& o : specs())
        for (const char* known : {o.env, o.env2})
            if (consider(known)) return {};
    return name + " is not a setting; did you mean " + closest + "?";
}

}  // namespace

s3::env_lookup layered_env(s3::env_lookup env, std::map<std::string, std::string> file_vars) {
    return [env = std::move(env), vars = std::move(file_vars)](const std::string& name) -> std::optional<std::string> {
        if (auto v = env(name)) return v;
        if (auto it = vars.find(name); it != vars.end() && !it->second.empty()) return it->second;
        return std::nullopt;
    };
}

std::string help_text() {
    std::ostringstream os;
    os << "scb-backup " SCB_VERSION " - keeps lnd's channel.backup in S3\n\n"
          "Usage: scb-backup [run|once|check|healthcheck|list|restore|verify] [--flag value]...\n"
          "  run   (default) watch the file and upload every new version until SIGTERM\n"
          "  once  upload the current file, wait until S3 has it, exit\n"
          "        [--if-changed] skip the upload when every destination's newest backup has this\n"
          "        content (for cron; needs list and read permission, docs/iam.md)\n"
          "  check the setup before relying on it: every setting and where it came from (secrets\n"
          "        masked), the file, its folder's watch, the spool, each destination's credentials and\n"
          "        clock, then a real upload of the file and reading it back. One line per problem with\n"
          "        its fix; exit 0 only when all is well, else 1. [--no-upload] skips the upload\n"
          "  healthcheck  GET /healthz of a running daemon (SCB_LISTEN); exit 0 when healthy, else 1\n"
          "  list     the backups under the prefix, newest first: key, size, time, SHA-256 suffix\n"
          "           [--json] one JSON array instead of the table\n"
          "  restore  --output PATH [--key KEY] [--force]: download the newest backup (or KEY, with or\n"
          "           without the prefix), check its SHA-256 against the key and S3's checksum, write PATH\n"
          "           (0600) atomically, making a missing folder (0700); --output - writes to standard\n"
          "           output (not a terminal); --force replaces an existing PATH.\n"
          "           Exit 65 if the object is corrupt (nothing written)\n"
          "  verify   compare MONITOR_FILE_PATH with the newest backup in S3 by SHA-256;\n"
          "           exit 0 in sync, 1 when S3 is behind (differs, or holds no backup)\n"
          "  (list, restore and verify need the bucket, endpoint and credentials, never the spool)\n\n"
          "Settings (flag, environment variable, default). Flags win over variables, variables over --env-file:\n";
    for (const auto& o : specs()) {
        os << "  --" << std::left << std::setw(20) << o.flag << o.help << "\n"
           << "  " << std::setw(22) << "" << o.env;
        if (o.env2) os << ", " << o.env2;
        os << "; default " << o.default_text << "\n";
    }
    os << "  --destination URL     one more place for every version (repeatable; replaces SCB_DESTINATIONS)\n"
          "                        SCB_DESTINATIONS (URLs separated by blanks or newlines); default none\n"
          "  --env-file PATH       read KEY=VALUE settings from a file (systemd EnvironmentFile format)\n"
          "  --help, --version\n\n"
          "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, else the shared\n"
          "credentials file. They are never taken from flags, which other users can see in ps.\n\n"
          "Destinations: S3_BUCKET_NAME (with the settings above) is one; SCB_DESTINATIONS or --destination\n"
          "add more, each getting every version. S3_BUCKET_NAME is optional when they are set. Two forms:\n"
          "  s3://BUCKET/PREFIX?endpoint=URL&region=R&profile=P&addressing=auto|path|virtual\n"
          "      &checksum=both|md5|sha256|none&sse=AES256|aws:kms&sse-kms-key-id=K&storage-class=C\n"
          "      &object-lock-mode=GOVERNANCE|COMPLIANCE&object-lock-days=N&ca-bundle=PATH&name=N\n"
          "      every parameter optional, defaulting to the global setting (profile: the global\n"
          "      credentials); an empty value (sse=) turns a global one off; values percent-decoded\n"
          "  file:///ABSOLUTE/FOLDER/[?name=N]   a local folder, e.g. a USB disk (must exist at run time)\n"
          "  Names (logs, metrics, list/restore/verify --destination NAME): name=, else the bucket or the\n"
          "  folder's last part, made unique with -2, -3. Example, AWS plus Backblaze B2 plus a USB disk:\n"
          "    S3_BUCKET_NAME=my-aws-bucket\n"
          "    SCB_DESTINATIONS=\"s3://my-b2-bucket/node1/?endpoint=https://s3.us-west-004.backblazeb2.com"
          "&region=us-west-004&profile=b2&name=b2 file:///mnt/usb/scb/\"\n"
          "  list, restore and verify take --destination NAME to read from that one.\n";
    return os.str();
}

namespace {

/// settings::destinations and pick_destination from S3_BUCKET_NAME and the global settings, then
/// `flags` (--destination, which replace SCB_DESTINATIONS) or `variable` (SCB_DESTINATIONS).
void build_destinations(parse_result& out, const std::vector<std::string>& flags, const std::string& variable) {
    settings& s = out.values;
    std::vector<std::pair<std::string, std::string>> urls;  // origin, URL
    for (std::size_t i = 0; i < flags.size(); ++i) {
        const std::string& value = flags[i];
        if (value.empty()) throw usage_error("--destination #" + std::to_string(i + 1) + " is empty (see --help, Destinations)");
        if (value.find("://") != std::string::npos) {
            urls.emplace_back("--destination #" + std::to_string(i + 1), value);
            continue;
        }
        if (!is_restore_command(s.cmd))
            throw usage_error(logging::printable(
                "--destination #" + std::to_string(i + 1) + " '" + value +
                "' is not a URL: write s3://BUCKET/PREFIX?… or file:///ABSOLUTE/FOLDER/ (a NAME picks one "
                "configured destination only for list, restore and verify; see --help)"));
        if (!s.pick_destination.empty())
            throw usage_error(logging::printable("--destination '" + s.pick_destination + "' and '" + value +
                                                 "': list, restore and verify read from one destination; give one NAME"));
        s.pick_destination = value;
    }
    if (urls.empty()) {
        const auto listed = split_destinations(variable);
        for (std::size_t i = 0; i < listed.size(); ++i)
            urls.emplace_back(std::string(destinations_env) + " #" + std::to_string(i + 1), listed[i]);
    }
    if (s.bucket.empty() && urls.empty())
        throw usage_error("no destination (no bucket): set S3_BUCKET_NAME (or --bucket), or SCB_DESTINATIONS (or --destination)");

    s.destinations.clear();
    if (!s.bucket.empty()) {
        try {
            (void)s3::resolve_endpoint(s.endpoint, s.bucket);
        } catch (const s3::endpoint_error& e) {
            const bool bucket_problem = s3::bucket_name_problem(s.bucket).has_value();
            throw usage_error(std::string(e.what()) +
                              (bucket_problem ? " (S3_BUCKET_NAME / --bucket)" : " (AWS_ENDPOINT_URL_S3 / --endpoint)"));
        }
        if (s.endpoint.region.empty()) throw usage_error("empty region (AWS_REGION / --region)");
        if (auto problem = s3::object_options_problem(s.object)) throw usage_error(*problem);
        destination d;
        d.kind = destination_kind::s3;
        d.bucket = s.bucket;
        d.prefix = s.prefix;
        d.endpoint = s.endpoint;
        d.ca_bundle = s.ca_bundle;
        d.object = s.object;
        d.origin = "S3_BUCKET_NAME";  // named after the bucket by assign_names
        s.destinations.push_back(std::move(d));
        if (!s.prefix.empty() && s.prefix.back() != '/')
            out.warnings.push_back("S3_BACKUP_PREFIX / --prefix '" + s.prefix + "' does not end in '/': keys become '" +
                                   s.prefix + "channel-…'; add a '/' if it names a folder");
    }
    const destination_defaults defaults{s.prefix, s.endpoint, s.ca_bundle, s.object};
    try {
        for (const auto& [origin, url] : urls) s.destinations.push_back(parse_destination(url, defaults, origin));
        assign_names(s.destinations);
    } catch (const destination_error& e) {
        throw usage_error(e.what());
    }
    for (const auto& d : s.destinations) {
        // The global prefix was warned about above (when a bucket is set); each other one here.
        if (d.kind != destination_kind::s3 || d.origin == "S3_BUCKET_NAME" || d.prefix.empty() || d.prefix.back() == '/')
            continue;
        if (!s.bucket.empty() && d.prefix == s.prefix) continue;
        out.warnings.push_back(logging::printable(d.origin + " (" + d.name + "): prefix '" + d.prefix +
                                                  "' does not end in '/': keys become '" + d.prefix +
                                                  "channel-…'; add a '/' if it names a folder"));
    }
    if (!s.pick_destination.empty()) {
        const bool known = std::any_of(s.destinations.begin(), s.destinations.end(),
                                       [&](const destination& d) { return d.name == s.pick_destination; });
        if (!known) {
            std::string names;
            for (const auto& d : s.destinations) names += (names.empty() ? "" : ", ") + d.name;
            throw usage_error(logging::printable("--destination '" + s.pick_destination +
                                                 "' names no configured destination; known: " + names));
        }
    }
}

/// parse() itself; `out` is filled as it goes, so the warnings found before a usage error survive it.
void parse_into(parse_result& out, int argc, const char* const argv[], const s3::env_lookup& env,
                const std::vector<std::string>& env_names) {
    po::options_description desc;
    desc.add_options()("help,h", "")("version", "")("env-file", po::value<std::string>());
    // list / restore / verify (lib/restore)
    desc.add_options()("key", po::value<std::string>())("output", po::value<std::string>())("force", "")("json", "")("if-changed", "")("no-upload", "");
    for (const auto& o : specs()) desc.add_options()(o.flag, po::value<std::string>());
    desc.add_options()("destination", po::value<std::vector<std::string>>()->composing());
    po::options_description hidden;
    hidden.add_options()("command", po::value<std::string>());
    po::options_description all;
    all.add(desc).add(hidden);
    po::positional_options_description positional;
    positional.add("command", 1);

    po::variables_map vm;
    try {
        po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    } catch (const po::error& e) {
        throw usage_error(std::string(e.what()) + " (see --help)");
    }

    if (vm.count("help")) {
        out.exit_now = true;
        out.text = help_text();
        return;
    }
    if (vm.count("version")) {
        out.exit_now = true;
        out.text = "scb-backup " SCB_VERSION "\n";
        return;
    }
    settings& s = out.values;
    if (vm.count("command")) {
        const auto cmd = vm["command"].as<std::string>();
        if (cmd == "run") s.cmd = command::run;
        else if (cmd == "once") s.cmd = command::once;
        else if (cmd == "healthcheck") s.cmd = command::healthcheck;
        else if (cmd == "list") s.cmd = command::list;
        else if (cmd == "restore") s.cmd = command::restore;
        else if (cmd == "verify") s.cmd = command::verify;
        else if (cmd == "check") s.cmd = command::check;
        else throw usage_error("unknown command '" + cmd +
                               "': use run, once, check, healthcheck, list, restore or verify (see --help)");
    }
    // list / restore / verify flags: each only with its command, so a typo'd command is not silently ignored.
    if (vm.count("key")) s.restore_key = vm["key"].as<std::string>();
    if (vm.count("output")) s.output = vm["output"].as<std::string>();
    s.force = vm.count("force") > 0;
    s.json = vm.count("json") > 0;
    if (s.cmd != command::restore && (vm.count("key") || vm.count("output") || s.force))
        throw usage_error("--key, --output and --force belong to the restore command (see --help)");
    if (s.cmd != command::list && s.json) throw usage_error("--json belongs to the list command (see --help)");
    s.if_changed = vm.count("if-changed") > 0;
    if (s.cmd != command::once && s.if_changed)
        throw usage_error("--if-changed belongs to the once command (see --help)");
    s.no_upload = vm.count("no-upload") > 0;
    if (s.cmd != command::check && s.no_upload) throw usage_error("--no-upload belongs to the check command (see --help)");
    if (s.cmd == command::restore) {
        if (s.output.empty()) throw usage_error("restore needs --output PATH (where to write the backup)");
        if (!s.output.has_filename()) throw usage_error("restore --output must name a file, not a folder");
        if (vm.count("key") && s.restore_key.empty()) throw usage_error("restore --key is empty");
    }

    env_file_contents file;
    if (vm.count("env-file")) {
        s.env_file = vm["env-file"].as<std::string>();
        try {
            file = read_env_file(s.env_file);
        } catch (const env_file_error& e) {
            throw usage_error(std::string(e.what()) + " (--env-file)");
        }
    }
    auto& file_vars = file.vars;
    out.warnings = std::move(file.warnings);
    // A misspelt name would silently leave its setting at the default.
    std::set<std::string> warned;
    for (const auto& name : env_names)
        if (auto w = unknown_setting(name); !w.empty() && warned.insert(name).second) out.warnings.push_back(w);
    for (const auto& [name, value] : file_vars)
        if (auto w = unknown_setting(name); !w.empty() && warned.insert(name).second)
            out.warnings.push_back("env file " + s.env_file + " line " + std::to_string(file.lines[name]) + ": " + w);
    const auto lookup = layered_env(env, file_vars);

    // Where a variable's value comes from (the real environment wins over the env file, as in lookup).
    const std::string from_file = "env file " + s.env_file;
    auto origin_of = [&](const char* name) -> std::optional<std::string> {
        if (env(name)) return std::string("environment");
        if (auto it = file_vars.find(name); it != file_vars.end() && !it->second.empty()) return from_file;
        return std::nullopt;
    };
    for (const auto& o : specs()) {
        std::optional<std::string> value;
        setting_source source{o.env, o.default_text, "default"};
        if (vm.count(o.flag)) {
            value = vm[o.flag].as<std::string>();
            source.origin = std::string("--") + o.flag;
        } else if (auto v = lookup(o.env)) {
            value = v;
            source.origin = *origin_of(o.env);
        } else if (o.env2) {
            if ((value = lookup(o.env2))) source = {o.env2, "", *origin_of(o.env2)};
        }
        if (value) source.value = shown_value(o, *value);
        s.sources.push_back(std::move(source));
        if (!value) continue;
        try {
            o.apply(s, *value);
        } catch (const std::invalid_argument& e) {
            throw usage_error(naming(o) + ": " + e.what());
        }
    }

    if (s.cmd == command::healthcheck) {
        if (s.listen.empty()) throw usage_error("healthcheck needs the health endpoint: set SCB_LISTEN or --listen");
        return;
    }
    // The defaults that depend on the environment, shown by `check` as the path they became.
    auto resolved_default = [&](const char* name, const std::string& value, const std::string& why) {
        for (auto& source : s.sources)
            if (source.name == name && source.origin == "default") source = {name, logging::printable(value), why};
    };
    if (s.file.empty()) {
        s.file = home(env) + "/.lnd/data/chain/bitcoin/mainnet/channel.backup";
        resolved_default("MONITOR_FILE_PATH", s.file.string(), "default, from $HOME");
    }
    if (s.spool_dir.empty()) {
        if (auto state = env("STATE_DIRECTORY")) {
            s.spool_dir = *state;
            resolved_default("BACKUP_DIRECTORY", s.spool_dir.string(), "default, from $STATE_DIRECTORY");
        } else {
            s.spool_dir = home(env) + "/.local/state/scb-backup";
            resolved_default("BACKUP_DIRECTORY", s.spool_dir.string(), "default, from $HOME");
        }
    }
    const auto flags = vm.count("destination") ? vm["destination"].as<std::vector<std::string>>() : std::vector<std::string>{};
    build_destinations(out, flags, lookup(destinations_env).value_or(""));
    {
        setting_source source{destinations_env, "none", "default"};
        if (!flags.empty()) source.origin = "--destination";
        else if (auto o = origin_of(destinations_env)) source.origin = *o;
        if (source.origin != "default") {
            source.value.clear();  // the parsed destinations, shown as where() shows them: no secret
            for (const auto& d : s.destinations)
                if (d.origin != "S3_BUCKET_NAME") source.value += (source.value.empty() ? "" : " ") + d.where();
        }
        s.sources.push_back(std::move(source));
    }
    // Credentials never come from flags. Shown as `aws configure list` does: the key id's last 4
    // characters, nothing of the others.
    for (const char* name : {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}) {
        const auto origin = origin_of(name);
        if (!origin) continue;
        const std::string value = *lookup(name);
        const bool key_id = std::string_view(name) == "AWS_ACCESS_KEY_ID" && value.size() >= 16;
        s.sources.push_back({name, key_id ? "****" + logging::printable(value.substr(value.size() - 4)) : "****", *origin});
    }
    if (!s.heartbeat_url.empty()) {
        // Never quoted: for healthchecks.io the path is the whole secret.
        auto url = http::parse_url(s.heartbeat_url);
        if (!url) throw usage_error("SCB_HEARTBEAT_URL / --heartbeat-url " + url.problem);
        if (url.value.has_userinfo)
            throw usage_error("SCB_HEARTBEAT_URL / --heartbeat-url must not hold a user:password");
    }
    // The environment's proxy variables are settings too (check shows them, credentials hidden).
    for (const char* name : {"https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"})
        if (auto origin = origin_of(name)) s.sources.push_back({name, http::redacted(*lookup(name)), *origin});
    try {
        s.proxies = http::make_proxy_rules(s.proxy, lookup);
    } catch (const http::proxy_error& e) {
        throw usage_error(e.what());
    }
    if (s.retry_min > s.retry_max) throw usage_error("SCB_RETRY_MIN / --retry-min is longer than SCB_RETRY_MAX / --retry-max");
    if (s.max_size < 45) throw usage_error("SCB_MAX_SIZE / --max-size is below 45 bytes, lnd's smallest backup");
    if (!s.file.has_filename())
        throw usage_error("MONITOR_FILE_PATH / --file must name a file, not a folder");
    s.env_file_vars = std::move(file_vars);
}

}  // namespace

parse_result parse(int argc, const char* const argv[], const s3::env_lookup& env,
                   const std::vector<std::string>& env_names) {
    parse_result out;
    try {
        parse_into(out, argc, argv, env, env_names);
    } catch (usage_error& e) {
        // "S3_BUCKET_NAM is not a setting" explains the "no bucket" that follows it.
        e.warnings = std::move(out.warnings);
        throw;
    }
    return out;
}

std::vector<std::string> environment_names() {
    std::vector<std::string> names;
    for (char** e = ::environ; e && *e; ++e) {
        const std::string_view assignment(*e);
        names.emplace_back(assignment.substr(0, assignment.find('=')));  // the name only, never the value
    }
    return names;
}

std::string describe(const settings& s) {
    std::ostringstream os;
    os << "file=" << s.file.string() << " spool=" << s.spool_dir.string() << " bucket=" << (s.bucket.empty() ? "\"\"" : s.bucket)
       << " prefix=" << (s.prefix.empty() ? "\"\"" : s.prefix) << " region=" << s.endpoint.region
       << " endpoint=" << (s.endpoint.url.empty() ? "aws" : http::redacted(s.endpoint.url));
    if (!s.ca_bundle.empty()) os << " ca-bundle=" << s.ca_bundle;
    if (!s.destinations.empty()) {
        os << " destinations=";
        for (std::size_t i = 0; i < s.destinations.size(); ++i)
            os << (i ? "," : "") << s.destinations[i].name << "=" << s.destinations[i].where();
    }
    os << " reconcile=" << format_duration(s.reconcile_interval) << " retry=" << format_duration(s.retry_min) << ".."
       << format_duration(s.retry_max) << " spool-max-files=" << s.spool_max_files;
    return os.str();
}

}  // namespace scb::config
