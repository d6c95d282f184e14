#include "s3/credential_providers.hpp"

#include "common/small_file.hpp"
#include "common/text.hpp"
#include "common/utc_time.hpp"
#include "http/url.hpp"
#include "logging/escape.hpp"
#include "sigv4/signer.hpp"
#include "logging/logger.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>


#include <algorithm>
#include <cctype>
#include <cstdio>

namespace scb::s3 {

namespace asio = boost::asio;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr std::size_t metadata_body_limit = 64 * 1024;
// IMDSv2 session tokens live at most 6 hours; we ask for that and renew a minute early.
constexpr int imds_token_ttl_seconds = 21600;
// Credentials are no longer handed to a request this close to Expiration: the request may be
// signed now but reach S3 a little later.
constexpr std::chrono::seconds in_flight_margin{15};

/// Parses an http(s) URL; `what` names the variable in the error, which shows the URL redacted.
metadata_url metadata_url_from(const std::string& text, const std::string& what) {
    auto parsed = http::parse_url(text);
    if (!parsed) throw credentials_error(what + " '" + http::redacted(text) + "' " + parsed.problem);
    const auto& u = parsed.value;
    if (u.has_userinfo) throw credentials_error(what + " must not hold a user name or password");
    metadata_url out;
    out.tls = u.tls;
    out.host = u.host;
    out.port = u.port_text();
    out.host_header = u.host_header();
    out.target = u.target;
    return out;
}

/// Whether plain HTTP to this host is allowed for a FULL_URI, as the SDKs decide it: loopback,
/// or the ECS agent and EKS Pod Identity agent link-local addresses.
bool allowed_plain_http_host(const std::string& host) {
    if (iequals(host, "localhost")) return true;
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) return false;
    if (addr.is_loopback()) return true;
    if (addr.is_v4()) {
        const auto v4 = addr.to_v4().to_uint();
        return (v4 >> 24) == 127 || addr.to_string() == "169.254.170.2" || addr.to_string() == "169.254.170.23";
    }
    const auto v6 = addr.to_v6();
    if (v6.is_v4_mapped()) return (v6.to_bytes()[12] == 127);
    return v6 == asio::ip::make_address_v6("fd00:ec2::23");
}



error fetch_error(errc code, unsigned status, std::string message, const std::string& source) {
    error e;
    e.code = code;
    e.http_status = status;
    e.message = std::move(message);
    e.operation = "credentials from " + source;
    return e;
}

/// A metadata server's non-200 answer as our error: 5xx may pass (retryable), the rest needs the operator.
error status_error(unsigned status, const std::string& what, const std::string& hint, const std::string& source) {
    const errc code = status >= 500 || status == 429 ? errc::server_error : errc::no_credentials;
    return fetch_error(code, status, what + " answered HTTP " + std::to_string(status) + hint, source);
}

bool is_role_name(const std::string& role) {
    return std::all_of(role.begin(), role.end(), [](unsigned char c) {
        return std::isalnum(c) || std::string_view("+=,.@_-").find(static_cast<char>(c)) != std::string_view::npos;
    });
}

http::request metadata_request(http::verb method, const metadata_url& where, const std::string& target) {
    http::request req{method, target, 11};
    req.set(http::field::host, where.host_header);
    req.set(http::field::user_agent, "scb-backup/" SCB_VERSION);
    req.set(http::field::accept, "application/json, text/plain");
    if (method == http::verb::put) req.prepare_payload();  // Content-Length: 0
    return req;
}

/// A transport failure of a credentials request, in S3's terms, named after its source.
error transport_failure(http::transport_error t, const std::string& source, const std::string& step = {}) {
    auto e = from_transport(std::move(t));
    if (!step.empty()) e.message = step + ": " + e.message;
    e.operation = "credentials from " + source;
    return e;
}

/// One request with one retry on a transport failure or a 5xx: short, so a host without a
/// metadata service loses little time.
asio::awaitable<http::exchange_result> send_with_retry(http::connection& conn, http::request& req, int attempts) {
    http::exchange_result r;
    for (int i = 0; i < std::max(attempts, 1); ++i) {
        r = co_await conn.send(req, metadata_body_limit);
        const bool again = r.err ? is_retryable(from_transport(r.err).code) : r.response.result_int() >= 500;
        if (!again) break;
    }
    co_return r;
}

}  // namespace


std::string metadata_url::origin() const { return (tls ? "https://" : "http://") + host_header; }

std::optional<metadata_url> container_endpoint(const env_lookup& env) {
    if (auto rel = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
        // The SDKs simply append the relative URI to the ECS agent's address.
        std::string path = *rel;
        if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
        return metadata_url_from("http://169.254.170.2" + path, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    }
    auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (!full) return std::nullopt;
    auto url = metadata_url_from(*full, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    if (!url.tls && !allowed_plain_http_host(url.host))
        throw credentials_error("AWS_CONTAINER_CREDENTIALS_FULL_URI '" + http::redacted(*full) +
                                "' must use https, or http to a loopback address or the ECS/EKS agent "
                                "(169.254.170.2, 169.254.170.23, [fd00:ec2::23])");
    return url;
}

metadata_url imds_endpoint(const env_lookup& env) {
    auto text = env("AWS_EC2_METADATA_SERVICE_ENDPOINT").value_or("http://169.254.169.254");
    auto url = metadata_url_from(text, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    url.target.clear();  // the endpoint is a base: our paths replace it
    return url;
}

// --- container endpoint ---------------------------------------------------------------------

container_fetcher::container_fetcher(asio::any_io_executor ex, metadata_url where, env_lookup env,
                                     metadata_options opts)
    : ex_(std::move(ex)), where_(std::move(where)), env_(std::move(env)), opts_(std::move(opts)) {
    if (where_.tls) (void)http::make_tls_context(opts_.ca_bundle);  // fail at start, not at the first upload
}

std::string container_fetcher::describe() const { return "container credentials endpoint " + where_.origin(); }

asio::awaitable<result<expiring_credentials>> container_fetcher::fetch() {
    const auto source = describe();
    using r_t = result<expiring_credentials>;
    // The token file wins over the variable (EKS Pod Identity rotates the file): read it every time.
    std::optional<std::string> token;
    if (auto file = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
        // read_small_file: a FIFO or device here must fail at once, not block the event loop.
        auto text = read_small_file(*file);
        if (!text)
            co_return r_t{{}, fetch_error(errc::no_credentials, 0,
                                          "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE " + *file + ": " + text.problem, source)};
        token = trim(text.text);
    } else {
        token = env_("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    }
    if (token && token->find_first_of("\r\n") != std::string::npos)
        co_return r_t{{}, fetch_error(errc::no_credentials, 0, "the authorization token holds a line break", source)};

    std::shared_ptr<asio::ssl::context> tls;
    if (where_.tls) tls = http::make_tls_context(opts_.ca_bundle);
    http::connection conn(ex_, where_.host, where_.port, tls, opts_.io);
    auto req = metadata_request(http::verb::get, where_, where_.target);
    if (token && !token->empty()) req.set(http::field::authorization, *token);
    auto ex = co_await send_with_retry(conn, req, opts_.attempts);
    conn.close();
    if (ex.err) co_return r_t{{}, transport_failure(std::move(ex.err), source)};
    const unsigned status = ex.response.result_int();
    if (status != 200) {
        const std::string hint = status == 401 || status == 403
                                     ? " - check AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)"
                                     : "";
        co_return r_t{{}, status_error(status, "the endpoint", hint, source)};
    }
    try {
        co_return r_t{parse_container_credentials(ex.response.body()), {}};
    } catch (const credentials_error& e) {
        co_return r_t{{}, fetch_error(errc::no_credentials, 200, e.what(), source)};
    }
}

// --- Web identity: AssumeRoleWithWebIdentity at STS ---------------------------------------------

std::optional<web_identity> web_identity_from_env(const env_lookup& env, const std::string& region) {
    auto nonempty = [&](const char* name) {
        auto v = env(name);
        return v && !v->empty() ? v : std::nullopt;
    };
    const auto token_file = nonempty("AWS_WEB_IDENTITY_TOKEN_FILE");
    const auto role_arn = nonempty("AWS_ROLE_ARN");
    if (!token_file && !role_arn) return std::nullopt;
    if (!token_file) throw credentials_error("AWS_ROLE_ARN is set without AWS_WEB_IDENTITY_TOKEN_FILE: set both for web identity (IRSA)");
    if (!role_arn) throw credentials_error("AWS_WEB_IDENTITY_TOKEN_FILE is set without AWS_ROLE_ARN: set both for web identity (IRSA)");
    web_identity out;
    out.token_file = *token_file;
    out.role_arn = *role_arn;
    if (auto name = nonempty("AWS_ROLE_SESSION_NAME")) {
        out.session_name = *name;
    } else {
        // As botocore: a name that says who, unique per process start.
        out.session_name = "scb-backup-" + std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                              wall_clock::now().time_since_epoch()).count());
    }
    std::string url;
    if (auto custom = nonempty("AWS_ENDPOINT_URL_STS")) url = *custom;
    else if (iequals(env("AWS_STS_REGIONAL_ENDPOINTS").value_or("regional"), "legacy")) url = "https://sts.amazonaws.com";
    else url = "https://sts." + region + ".amazonaws.com";
    out.sts = metadata_url_from(url, "AWS_ENDPOINT_URL_STS");
    return out;
}


web_identity_fetcher::web_identity_fetcher(asio::any_io_executor ex, web_identity config, metadata_options opts,
                                           std::optional<http::proxy> via)
    : ex_(std::move(ex)), config_(std::move(config)), opts_(std::move(opts)), via_(std::move(via)) {}

std::string web_identity_fetcher::describe() const {
    return "web identity (AWS_ROLE_ARN " + logging::printable(config_.role_arn) + " at STS " + config_.sts.origin() + ")";
}

asio::awaitable<result<expiring_credentials>> web_identity_fetcher::fetch() {
    const auto source = describe();
    using r_t = result<expiring_credentials>;
    // Read at every fetch: Kubernetes writes a new token well before the old one expires.
    auto token = read_small_file(config_.token_file);
    if (!token)
        co_return r_t{{}, fetch_error(errc::no_credentials, 0,
                                      "AWS_WEB_IDENTITY_TOKEN_FILE " + config_.token_file + ": " + token.problem, source)};
    const std::string jwt = trim(token.text);
    if (jwt.empty())
        co_return r_t{{}, fetch_error(errc::no_credentials, 0, "AWS_WEB_IDENTITY_TOKEN_FILE " + config_.token_file + " is empty", source)};

    // The call is unsigned: the token is the proof.
    const std::string body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" +
                             sigv4::uri_encode(config_.role_arn, true) + "&RoleSessionName=" +
                             sigv4::uri_encode(config_.session_name, true) + "&WebIdentityToken=" + sigv4::uri_encode(jwt, true);
    std::shared_ptr<asio::ssl::context> tls;
    if (config_.sts.tls) tls = http::make_tls_context(opts_.ca_bundle);
    http::connection conn(ex_, config_.sts.host, config_.sts.port, tls, opts_.io, via_);
    http::request req{http::verb::post, config_.sts.target, 11};
    req.set(http::field::host, config_.sts.host_header);
    req.set(http::field::user_agent, "scb-backup/" SCB_VERSION);
    req.set(http::field::content_type, "application/x-www-form-urlencoded; charset=utf-8");
    req.body() = boost::beast::span<const char>(body.data(), body.size());
    req.prepare_payload();
    auto ex = co_await send_with_retry(conn, req, opts_.attempts);
    conn.close();
    if (ex.err) co_return r_t{{}, transport_failure(std::move(ex.err), source)};
    const unsigned status = ex.response.result_int();
    if (status != 200) {
        // STS's <ErrorResponse><Error><Code>…: the code says what to fix (ExpiredTokenException,
        // AccessDenied, InvalidIdentityToken…); the message is STS's own, capped and escaped.
        const auto [code, message] = parse_sts_error(ex.response.body());
        const bool retry = status >= 500 || status == 429 || code == "Throttling" || code == "IDPCommunicationError";
        std::string text = "STS answered HTTP " + std::to_string(status) + (code.empty() ? "" : " " + code) +
                           (message.empty() ? "" : ": " + message);
        if (code == "ExpiredTokenException" || code == "InvalidIdentityToken")
            text += " - check the token in AWS_WEB_IDENTITY_TOKEN_FILE " + config_.token_file;
        else if (code == "AccessDenied")
            text += " - check AWS_ROLE_ARN and the role's trust policy for this service account (docs/operations.md, Kubernetes)";
        auto e = fetch_error(retry ? errc::server_error : errc::no_credentials, status, text, source);
        e.s3_code = code;
        co_return r_t{{}, std::move(e)};
    }
    try {
        co_return r_t{parse_web_identity_credentials(ex.response.body()), {}};
    } catch (const credentials_error& e) {
        co_return r_t{{}, fetch_error(errc::no_credentials, 200, e.what(), source)};
    }
}

// --- EC2 instance metadata (IMDSv2) -----------------------------------------------------------

imds_fetcher::imds_fetcher(asio::any_io_executor ex, metadata_url where, metadata_options opts)
    : ex_(std::move(ex)), where_(std::move(where)), opts_(std::move(opts)) {}

std::string imds_fetcher::describe() const { return "EC2 instance metadata " + where_.origin(); }

asio::awaitable<result<expiring_credentials>> imds_fetcher::fetch() {
    const auto source = describe();
    using r_t = result<expiring_credentials>;
    std::shared_ptr<asio::ssl::context> tls;
    if (where_.tls) tls = http::make_tls_context(opts_.ca_bundle);
    http::connection conn(ex_, where_.host, where_.port, tls, opts_.io);
    const std::string base = "/latest/meta-data/iam/security-credentials/";

    // Two rounds: a 401 means our cached session token died (IMDS restarted): get a new one once.
    for (int round = 0; round < 2; ++round) {
        if (token_.empty() || std::chrono::steady_clock::now() >= token_expiry_) {
            auto put = metadata_request(http::verb::put, where_, "/latest/api/token");
            put.set("X-aws-ec2-metadata-token-ttl-seconds", std::to_string(imds_token_ttl_seconds));
            auto ex = co_await send_with_retry(conn, put, opts_.attempts);
            if (ex.err) co_return r_t{{}, transport_failure(std::move(ex.err), source, "getting an IMDSv2 token")};
            const unsigned status = ex.response.result_int();
            if (status != 200)
                co_return r_t{{}, status_error(status, "the IMDSv2 token request",
                                               status == 403 ? " - IMDS is disabled for this instance" : "", source)};
            token_ = secret(trim(ex.response.body()));
            token_expiry_ = std::chrono::steady_clock::now() + std::chrono::seconds(imds_token_ttl_seconds - 60);
            if (token_.empty()) co_return r_t{{}, fetch_error(errc::no_credentials, 200, "the IMDSv2 token is empty", source)};
        }

        auto list = metadata_request(http::verb::get, where_, base);
        list.set("X-aws-ec2-metadata-token", token_.reveal());
        auto ex = co_await send_with_retry(conn, list, opts_.attempts);
        if (ex.err) co_return r_t{{}, transport_failure(std::move(ex.err), source)};
        unsigned status = ex.response.result_int();
        if (status == 401 && round == 0) {
            token_ = secret();
            continue;
        }
        if (status == 404)
            co_return r_t{{}, fetch_error(errc::no_credentials, 404, "no IAM role is attached to this instance", source)};
        if (status != 200) co_return r_t{{}, status_error(status, "the role list", "", source)};
        // One role per instance profile: the first line.
        std::string role = trim(ex.response.body().substr(0, ex.response.body().find('\n')));
        if (role.empty())
            co_return r_t{{}, fetch_error(errc::no_credentials, 200, "no IAM role is attached to this instance", source)};
        // IAM role names are [A-Za-z0-9+=,.@_-]: anything else is not a role name (and must not reach a path).
        if (!is_role_name(role))
            co_return r_t{{}, fetch_error(errc::no_credentials, 200, "the role list does not hold an IAM role name", source)};

        auto get = metadata_request(http::verb::get, where_, base + role);
        get.set("X-aws-ec2-metadata-token", token_.reveal());
        ex = co_await send_with_retry(conn, get, opts_.attempts);
        conn.close();
        if (ex.err) co_return r_t{{}, transport_failure(std::move(ex.err), source)};
        status = ex.response.result_int();
        if (status == 401 && round == 0) {
            token_ = secret();
            continue;
        }
        if (status != 200) co_return r_t{{}, status_error(status, "the credentials of role " + role, "", source)};
        try {
            co_return r_t{parse_imds_credentials(ex.response.body()), {}};
        } catch (const credentials_error& e) {
            co_return r_t{{}, fetch_error(errc::no_credentials, 200, "role " + role + ": " + e.what(), source)};
        }
    }
    co_return r_t{{}, fetch_error(errc::no_credentials, 401, "IMDS refused a fresh IMDSv2 token (HTTP 401)", source)};
}

// --- refreshing -----------------------------------------------------------------------------

refreshing_credentials::refreshing_credentials(asio::any_io_executor ex, std::unique_ptr<credentials_fetcher> fetcher,
                                               refresh_options opts)
    : fetcher_(std::move(fetcher)), opts_(std::move(opts)), fetch_done_(ex, asio::steady_timer::time_point::max()) {}

bool refreshing_credentials::usable(wall_clock::time_point now) const {
    return cached_ && (!cached_->expiration || now + in_flight_margin < *cached_->expiration);
}

bool refreshing_credentials::wants_refresh(wall_clock::time_point now) const {
    if (!usable(now)) return true;
    if (!cached_->expiration) return false;
    return now >= *cached_->expiration - opts_.refresh_before && now - last_attempt_ >= opts_.min_interval;
}

asio::awaitable<void> refreshing_credentials::refresh() {
    fetching_ = true;
    ++fetches_;
    last_attempt_ = opts_.now();
    result<expiring_credentials> r;
    try {
        auto op = fetcher_->fetch();
        r = co_await std::move(op);
    } catch (const std::exception& e) {
        // Our fetchers return their errors; an exception (a TLS context that cannot be made) is rare.
        r.err = error{errc::no_credentials, 0, {}, e.what(), {}, "credentials from " + fetcher_->describe()};
    }
    const auto now = opts_.now();
    if (r && r.value.expiration && *r.value.expiration <= now + in_flight_margin)
        r.err = error{errc::no_credentials, 0, {}, "the credentials expire at " + utc::format(*r.value.expiration, utc::layout::extended) +
                      ", already past (is the clock right?)", {}, "credentials from " + fetcher_->describe()};
    if (r) {
        cached_ = std::move(r.value);
        last_error_ = {};
        logging::info("credentials from ", fetcher_->describe(), ": key ", cached_->creds.access_key_id,
                      cached_->expiration ? ", valid until " + utc::format(*cached_->expiration, utc::layout::extended) : std::string(", no expiry"));
    } else {
        last_error_ = r.err;
        if (usable(now))
            logging::warn("refreshing credentials failed, still using the current ones (valid until ",
                          utc::format(*cached_->expiration, utc::layout::extended), "): ", r.err.describe());
    }
    fetching_ = false;
    fetch_done_.cancel();  // wake every current() that waited for this fetch
}

asio::awaitable<result<sigv4::credentials>> refreshing_credentials::current() {
    if (wants_refresh(opts_.now())) {
        if (fetching_) {
            // Somebody else is fetching: wait for that fetch instead of starting another.
            auto [ec] = co_await fetch_done_.async_wait(use_tuple);
            (void)ec;  // operation_aborted is the wake-up itself
        } else {
            co_await refresh();
        }
    }
    if (usable(opts_.now())) co_return result<sigv4::credentials>{cached_->creds, {}};
    if (last_error_) co_return result<sigv4::credentials>{{}, last_error_};
    error e{errc::no_credentials, 0, {}, cached_ ? "the credentials expired" : "no credentials fetched yet", {},
            "credentials from " + fetcher_->describe()};
    co_return result<sigv4::credentials>{{}, std::move(e)};
}

// --- the chain ------------------------------------------------------------------------------

credentials_chain make_credentials_chain(asio::any_io_executor ex, const env_lookup& env, const chain_options& opts) {
    if (auto s = find_static_credentials(env, opts.files))
        return {std::make_shared<static_credentials>(std::move(s->creds)), std::move(s->source)};

    if (auto identity = web_identity_from_env(env, opts.region)) {
        const auto via = opts.proxies.for_target(identity->sts.tls, identity->sts.host);
        auto sts_options = opts.metadata;
        sts_options.io = opts.remote_io;
        auto fetcher = std::make_unique<web_identity_fetcher>(ex, std::move(*identity), sts_options, via);
        auto source = fetcher->describe();
        return {std::make_shared<refreshing_credentials>(ex, std::move(fetcher), opts.refresh), std::move(source)};
    }

    if (auto where = container_endpoint(env)) {
        auto fetcher = std::make_unique<container_fetcher>(ex, std::move(*where), env, opts.metadata);
        auto source = fetcher->describe();
        return {std::make_shared<refreshing_credentials>(ex, std::move(fetcher), opts.refresh), std::move(source)};
    }

    const std::string sources =
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile in the shared credentials file "
        "(AWS_SHARED_CREDENTIALS_FILE / --credentials-file), AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, "
        "or AWS_CONTAINER_CREDENTIALS_FULL_URI";
    if (iequals(env("AWS_EC2_METADATA_DISABLED").value_or(""), "true"))
        throw credentials_error("no credentials: " + sources + " (EC2 instance metadata is off: AWS_EC2_METADATA_DISABLED=true)");
    // Probing 169.254.169.254 off AWS costs seconds at every start: with a custom endpoint
    // (MinIO, Ceph, a LAN store) the operator has keys to give us, so say so instead.
    if (opts.custom_endpoint)
        throw credentials_error("no credentials: " + sources +
                                " (EC2 instance metadata is not tried with a custom endpoint, AWS_ENDPOINT_URL_S3 / --endpoint)");

    auto fetcher = std::make_unique<imds_fetcher>(ex, imds_endpoint(env), opts.metadata);
    auto source = fetcher->describe();
    return {std::make_shared<refreshing_credentials>(ex, std::move(fetcher), opts.refresh), std::move(source)};
}

}  // namespace scb::s3
