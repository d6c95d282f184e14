#pragma once
// AWS Signature Version 4 for the Authorization header, in the stages AWS documents (and aws-c-auth tests):
// canonical request -> string to sign -> signing key -> signature -> Authorization value.
// Pure functions: the time, the scope and the credentials are passed in, nothing is read from the
// environment.
#include "common/secret.hpp"
#include "crypto/hash.hpp"

#include <chrono>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace scb::sigv4 {

/// One HTTP header to sign. The name may be in any case; names may repeat.
struct header {
    std::string name;
    std::string value;
};

/// What gets signed. `path` and `query` are exactly as they go on the wire.
struct request {
    std::string method;           ///< "GET", "PUT", ...
    std::string path;             ///< already percent-encoded for S3 (see uri_encode), no query; "" means "/"
    std::string query;            ///< raw query without '?', may be empty
    std::vector<header> headers;  ///< every header to sign; must include host
    std::string payload_hash;     ///< lower-hex sha256 of the body, or "UNSIGNED-PAYLOAD"
};

/// What differs between generic SigV4 (the official test suite) and S3.
struct rules {
    bool normalize_path;      ///< remove "." and ".." segments and empty segments ("//")
    bool double_encode_path;  ///< percent-encode the (already encoded) path once more
};
/// Generic SigV4, as every AWS service but S3 wants it (and as the official test suite expects).
inline constexpr rules generic_rules{true, true};
/// S3 signs the path exactly as sent: no normalisation, no second encoding.
inline constexpr rules s3_rules{false, false};

/// Who signs. Streaming the secrets prints `***`.
struct credentials {
    std::string access_key_id;
    scb::secret secret_access_key;
    scb::secret session_token;  ///< empty for long-term credentials
};
/// For log lines: prints the key id and `***` for the secrets, never the secrets themselves.
std::ostream& operator<<(std::ostream& os, const credentials& c);

/// The credential scope: which day, region and service the signing key is good for.
struct scope {
    std::string date;  ///< YYYYMMDD, the UTC day of the request's x-amz-date
    std::string region;
    std::string service;

    /// "20150830/us-east-1/service/aws4_request".
    [[nodiscard]] std::string to_string() const;
};

/// Percent-encodes `s` as SigV4 wants: RFC 3986 unreserved characters (A-Z a-z 0-9 - _ . ~) are kept, every
/// other byte becomes %XX with upper-case hex ("+" -> %2B, space -> %20, UTF-8 byte by byte). '/' is kept
/// unless `encode_slash`. The S3 client encodes object keys with `encode_slash = false`.
[[nodiscard]] std::string uri_encode(std::string_view s, bool encode_slash);

/// The canonical query string: splits `raw_query` on '&' (empty pieces are dropped), splits each piece at the
/// first '=', percent-decodes name and value, re-encodes them with uri_encode(…, true) and sorts by name,
/// then by value. "a" becomes "a=". '+' is taken literally (it becomes %2B), so callers must send spaces as
/// %20; a malformed escape ("%zz", a lone '%') is kept as literal text. Never fails.
[[nodiscard]] std::string canonical_query(std::string_view raw_query);

/// The canonical request: method, canonical path (see `rules`), canonical query, then the headers with
/// lower-cased names, values trimmed and inner whitespace runs folded to one space (line folds too), repeated
/// names joined with ',' in their original order, sorted by name; then the signed-headers list and the
/// payload hash. Never fails; a request without a host header simply signs no host.
[[nodiscard]] std::string canonical_request(const request& r, rules how);

/// The lower-cased, sorted, de-duplicated header names joined by ';', e.g. "host;x-amz-date".
[[nodiscard]] std::string signed_headers(const request& r);

/// "AWS4-HMAC-SHA256\n<amz_date>\n<scope>\n<hex sha256 of the canonical request>".
[[nodiscard]] std::string string_to_sign(std::string_view amz_date, const scope& s,
                                         std::string_view canonical_request);

/// The derived key HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
/// The intermediate keys are wiped; the caller should wipe the result with OPENSSL_cleanse when done.
[[nodiscard]] crypto::sha256_digest signing_key(const scb::secret& secret_access_key, const scope& s);

/// Lower-hex HMAC-SHA256 of the string to sign under the signing key.
[[nodiscard]] std::string signature(const crypto::sha256_digest& key, std::string_view string_to_sign);

/// "AWS4-HMAC-SHA256 Credential=<key id>/<scope>, SignedHeaders=<list>, Signature=<hex>". Holds no secret.
[[nodiscard]] std::string authorization(const credentials& c, const scope& s, std::string_view signed_headers,
                                        std::string_view signature);

/// The one call the S3 client needs. Sets "x-amz-date: <amz_date>" in r.headers, and
/// "x-amz-security-token" when `c` carries a session token (replacing any header of the same name, in any
/// case, so signing twice is harmless), signs every header in r.headers, and returns the Authorization value.
/// Throws std::invalid_argument when r has no host header or amz_date does not fall on s.date: both are
/// bugs in the caller, and S3 would only answer SignatureDoesNotMatch.
[[nodiscard]] std::string sign(request& r, const credentials& c, const scope& s, std::string_view amz_date,
                               rules how);

/// "20150830T123600Z" (UTC, whole seconds; years 0000-9999).
[[nodiscard]] std::string amz_date(std::chrono::system_clock::time_point t);
/// "20150830" (the UTC day; the scope's date).
[[nodiscard]] std::string date_stamp(std::chrono::system_clock::time_point t);

}  // namespace scb::sigv4
