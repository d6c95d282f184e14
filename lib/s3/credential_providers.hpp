#pragma once
// Credentials that come from a server and expire: the ECS/EKS container credentials endpoint and
// EC2 instance metadata (IMDSv2) and STS's AssumeRoleWithWebIdentity, kept fresh by
// refreshing_credentials; and the chain that picks a source in the SDKs' order (environment, shared
// file, web identity, container endpoint, instance metadata). Their answers are parsed in
// credential_documents.
#include "s3/client.hpp"
#include "s3/credential_documents.hpp"
#include "http/connection.hpp"
#include "s3/credentials.hpp"
#include "sigv4/signer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace scb::s3 {


/// Where one HTTP(S) metadata request goes.
struct metadata_url {
    bool tls = false;
    std::string host;  // without IPv6 brackets, to connect to
    std::string port;
    std::string host_header;
    std::string target;  // path and query
    [[nodiscard]] std::string origin() const;  // "http://host:port" for messages
};

/// The container endpoint from AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (appended to
/// http://169.254.170.2) or AWS_CONTAINER_CREDENTIALS_FULL_URI, which must be https or name a
/// loopback address or the ECS/EKS agent (169.254.170.2, 169.254.170.23, fd00:ec2::23).
/// nullopt when neither variable is set; throws credentials_error for a URL the SDKs also refuse.
std::optional<metadata_url> container_endpoint(const env_lookup& env);

/// The instance metadata endpoint: AWS_EC2_METADATA_SERVICE_ENDPOINT or http://169.254.169.254.
/// Throws credentials_error when the variable is not an http(s) URL.
metadata_url imds_endpoint(const env_lookup& env);

/// Fetches one set of credentials from a server; refreshing_credentials calls it when needed.
class credentials_fetcher {
public:
    virtual ~credentials_fetcher() = default;
    /// Errors are one line naming the source (never a response body): transport failures keep
    /// their class (retryable), 5xx is server_error, anything else no_credentials.
    virtual boost::asio::awaitable<result<expiring_credentials>> fetch() = 0;
    /// "container credentials endpoint http://169.254.170.2" for log lines.
    [[nodiscard]] virtual std::string describe() const = 0;
};

struct metadata_options {
    http::timeouts io{std::chrono::seconds(1), std::chrono::seconds(2), std::chrono::seconds(4)};
    int attempts = 2;  // each request: one attempt and one retry on a transport error or 5xx
    std::string ca_bundle;  // for an https FULL_URI; empty: the system store
};

/// GETs the container endpoint with `Authorization` from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
/// (read at every fetch: EKS rotates it) or AWS_CONTAINER_AUTHORIZATION_TOKEN.
class container_fetcher final : public credentials_fetcher {
public:
    /// Throws std::runtime_error when the TLS context for an https endpoint cannot be set up.
    container_fetcher(boost::asio::any_io_executor ex, metadata_url where, env_lookup env, metadata_options opts = {});
    boost::asio::awaitable<result<expiring_credentials>> fetch() override;
    [[nodiscard]] std::string describe() const override;

private:
    boost::asio::any_io_executor ex_;
    metadata_url where_;
    env_lookup env_;
    metadata_options opts_;
};

/// IMDSv2: PUT /latest/api/token for a session token (kept for its 6 h life), then GET the role
/// name and the role's credentials with the token. Never falls back to IMDSv1.
class imds_fetcher final : public credentials_fetcher {
public:
    imds_fetcher(boost::asio::any_io_executor ex, metadata_url where, metadata_options opts = {});
    boost::asio::awaitable<result<expiring_credentials>> fetch() override;
    [[nodiscard]] std::string describe() const override;

private:
    boost::asio::any_io_executor ex_;
    metadata_url where_;
    metadata_options opts_;
    scb::secret token_;
    std::chrono::steady_clock::time_point token_expiry_{};
};

/// AssumeRoleWithWebIdentity (Kubernetes IRSA, any OIDC federation): where and as whom.
struct web_identity {
    std::string token_file;    // AWS_WEB_IDENTITY_TOKEN_FILE: read at every fetch (Kubernetes rotates it)
    std::string role_arn;      // AWS_ROLE_ARN
    std::string session_name;  // AWS_ROLE_SESSION_NAME, else "scb-backup-<time>"
    metadata_url sts;          // AWS_ENDPOINT_URL_STS, else https://sts.REGION.amazonaws.com (or the global one)
};

/// From AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN: nullopt when neither is set; throws
/// credentials_error when only one is, or AWS_ENDPOINT_URL_STS is not a URL. The endpoint: the
/// region's (AWS_STS_REGIONAL_ENDPOINTS=regional, the default), the global sts.amazonaws.com with
/// AWS_STS_REGIONAL_ENDPOINTS=legacy, or AWS_ENDPOINT_URL_STS.
std::optional<web_identity> web_identity_from_env(const env_lookup& env, const std::string& region);

/// POSTs AssumeRoleWithWebIdentity (unsigned, as the SDKs do) with the token file's content.
/// Failures name the variable and STS's error code; throttling, 5xx and IDPCommunicationError are
/// retryable (server_error), the rest need the operator (no_credentials).
class web_identity_fetcher final : public credentials_fetcher {
public:
    /// Throws std::runtime_error when the TLS context cannot be set up.
    web_identity_fetcher(boost::asio::any_io_executor ex, web_identity config, metadata_options opts = {},
                         std::optional<http::proxy> via = std::nullopt);
    boost::asio::awaitable<result<expiring_credentials>> fetch() override;
    [[nodiscard]] std::string describe() const override;

private:
    boost::asio::any_io_executor ex_;
    web_identity config_;
    metadata_options opts_;
    std::optional<http::proxy> via_;
};

struct refresh_options {
    /// Fetch new credentials this long before Expiration.
    std::chrono::seconds refresh_before{std::chrono::minutes(5)};
    /// Inside that window, and while the old credentials still work, fetch at most this often
    /// (a server handing out short-lived credentials must not be asked before every request).
    std::chrono::seconds min_interval{std::chrono::seconds(30)};
    /// The wall clock; tests move it forward.
    std::function<wall_clock::time_point()> now = [] { return wall_clock::now(); };
};

/// Caches a fetcher's credentials and fetches new ones when they come within `refresh_before` of
/// their Expiration. A failed refresh while the old credentials are valid logs a warning and keeps
/// them; once expired, the error is returned. Concurrent current() calls share one fetch.
/// Use on one strand (the daemon's single-threaded io_context).
class refreshing_credentials final : public credentials_provider {
public:
    refreshing_credentials(boost::asio::any_io_executor ex, std::unique_ptr<credentials_fetcher> fetcher,
                           refresh_options opts = {});
    boost::asio::awaitable<result<sigv4::credentials>> current() override;

    /// How many fetches were started (tests).
    [[nodiscard]] std::uint64_t fetches() const noexcept { return fetches_; }

private:
    [[nodiscard]] bool usable(wall_clock::time_point now) const;
    [[nodiscard]] bool wants_refresh(wall_clock::time_point now) const;
    boost::asio::awaitable<void> refresh();

    std::unique_ptr<credentials_fetcher> fetcher_;
    refresh_options opts_;
    std::optional<expiring_credentials> cached_;
    wall_clock::time_point last_attempt_{};
    error last_error_;
    bool fetching_ = false;
    std::uint64_t fetches_ = 0;
    // Waiters for the fetch in flight park here; cancel() wakes them (Asio's chat-server idiom).
    boost::asio::steady_timer fetch_done_;
};

struct chain_options {
    credentials_options files;     // --profile / --credentials-file
    std::string region = "us-east-1";  // for STS's regional endpoint (web identity)
    http::proxy_rules proxies;         // STS goes through them, as S3 does (never the metadata endpoints)
    http::timeouts remote_io;          // STS is across the internet, unlike the metadata endpoints
    bool custom_endpoint = false;  // AWS_ENDPOINT_URL_S3 / --endpoint set: never probe EC2 metadata
    metadata_options metadata;
    refresh_options refresh;
};

struct credentials_chain {
    std::shared_ptr<credentials_provider> provider;
    std::string source;  // for the start-up line, e.g. "container credentials endpoint http://169.254.170.2"
};

/// The first source that applies, in the SDKs' order: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; the
/// shared credentials file when it holds the profile; web identity (AWS_WEB_IDENTITY_TOKEN_FILE and
/// AWS_ROLE_ARN) at STS; the container endpoint when its variable is set; EC2 instance metadata unless AWS_EC2_METADATA_DISABLED=true or a custom endpoint is set.
/// Does no network I/O. Throws credentials_error (one line, no secret) when no source applies or
/// a configured one is malformed.
credentials_chain make_credentials_chain(boost::asio::any_io_executor ex, const env_lookup& env,
                                         const chain_options& opts);

}  // namespace scb::s3
