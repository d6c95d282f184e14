#pragma once
// Where requests for a bucket go: AWS by region or a custom S3-compatible URL, and which
// addressing style (virtual-hosted or path) builds the host and path.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace scb::s3 {

enum class addressing_style { automatic, path, virtual_hosted };

/// Parses "auto" | "path" | "virtual"; nullopt otherwise.
std::optional<addressing_style> parse_addressing_style(std::string_view text);

struct endpoint_config {
    std::string region = "us-east-1";
    std::string url;  // empty: AWS; else e.g. "http://127.0.0.1:9000" or "https://minio.lan/base"
    addressing_style style = addressing_style::automatic;
};

/// A bad endpoint URL or bucket name; what() names the problem in one line.
struct endpoint_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The resolved place to send one bucket's requests.
struct endpoint {
    bool tls = true;
    std::string host;         // to connect to and verify the certificate against
    std::string port;         // "443", "80", or the URL's port (1-65535)
    std::string host_header;  // Host: host, with ":port" when not the scheme's default
    std::string base_path;    // path prefix before bucket/key ("" for AWS; "/base" for a custom URL)
    bool path_style = false;
    std::string bucket;
    std::string region;

    /// The request path for an object key, each byte percent-encoded as S3 signs it ('/' kept).
    [[nodiscard]] std::string object_path(std::string_view key) const;
    /// The request path for bucket-level operations (ListObjectsV2).
    [[nodiscard]] std::string bucket_path() const;
    /// "https://host[:port]" for log lines.
    [[nodiscard]] std::string origin() const;
};

/// Whether S3 would accept this bucket name (3-63 chars, lower-case letters, digits, '.', '-',
/// starting and ending with a letter or digit, not an IP address). Returns the reason when not.
std::optional<std::string> bucket_name_problem(std::string_view bucket);

/// Resolves config + bucket into an endpoint. Throws endpoint_error for a malformed URL (see
/// http::parse_url; also user info, query or fragment) or a bucket name S3 refuses. Messages show
/// the URL through http::redacted: never a password.
endpoint resolve_endpoint(const endpoint_config& cfg, std::string_view bucket);

}  // namespace scb::s3
