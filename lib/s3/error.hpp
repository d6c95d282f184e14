#pragma once
// What went wrong talking to S3, in one typed value: the transport failure or S3's own <Error>.
#include "http/transport_error.hpp"

#include <cstddef>
#include <string>
#include <string_view>

namespace scb::s3 {

enum class errc {
    ok = 0,
    // Transport: the request may not have reached S3.
    resolve_failed,
    connect_failed,
    tls_failed,
    timeout,
    connection_lost,
    protocol_error,
    // S3 answered with an error.
    access_denied,
    invalid_access_key,
    signature_mismatch,
    no_such_bucket,
    no_such_key,
    clock_skew,
    bad_digest,
    throttled,
    // 307: the bucket is reachable at another endpoint for a while (a new bucket's DNS spreading).
    temporary_redirect,
    server_error,
    client_error,
    // 301: the bucket lives in another region than the one requests are signed for and sent to.
    wrong_region,
    // The answer was 200 but not what we asked for (e.g. a checksum that does not match).
    integrity_mismatch,
    no_credentials,
    // Not a failure: the caller cancelled the request (shutdown). Never retried by the connection.
    aborted,
};

/// One failed S3 operation. `describe()` is a single log line; it never contains a secret.
struct error {
    errc code = errc::ok;
    unsigned http_status = 0;
    std::string s3_code;     // <Code> from the XML body, e.g. "NoSuchBucket"
    std::string message;     // <Message>, or the transport's reason
    std::string request_id;  // <RequestId>
    std::string operation;   // "PUT channel-…backup", filled by the client
    std::string bucket = {};         // the bucket asked for (NoSuchBucket names it), filled by the client
    std::string bucket_region = {};  // x-amz-bucket-region of a 301, when S3 gave a plausible one
    bool local_folder = false;       // a folder destination's failure: the message says all, no S3 hint

    explicit operator bool() const noexcept { return code != errc::ok; }
    [[nodiscard]] std::string describe() const;
};

/// Whether trying the same request again can help: transport failures, throttling and 5xx can;
/// wrong credentials, a missing bucket or access denied cannot (they need the operator).
bool is_retryable(errc code) noexcept;

/// A short name for the error class, used in logs and metrics labels ("timeout", "NoSuchBucket").
std::string_view name(errc code) noexcept;

/// A transport failure (the request may not have reached S3) in S3's terms.
error from_transport(http::transport_error t);

/// Maps an HTTP status and S3's <Code> to our error class.
errc classify(unsigned http_status, std::string_view s3_code) noexcept;

/// The most bytes of outside text (S3's <Code>, <Message>, <RequestId>, header values, listed keys)
/// kept for a log line, the health endpoint or `list`; longer text is cut (logging::printable).
inline constexpr std::size_t outside_text_cap = 512;

/// Parses S3's `<Error><Code/><Message/><RequestId/></Error>` body. A body that is not such XML
/// (a proxy's HTML page, nothing at all) still gives an error, classified by the status alone.
/// What the body says is kept printable: control characters escaped, each field cut to
/// outside_text_cap bytes.
error parse_error_response(unsigned http_status, std::string_view body);

}  // namespace scb::s3
