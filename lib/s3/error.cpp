#include "s3/error.hpp"

#include "logging/escape.hpp"

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include <sstream>

namespace scb::s3 {

std::string_view name(errc code) noexcept {
    switch (code) {
    case errc::ok: return "ok";
    case errc::resolve_failed: return "resolve_failed";
    case errc::connect_failed: return "connect_failed";
    case errc::tls_failed: return "tls_failed";
    case errc::timeout: return "timeout";
    case errc::connection_lost: return "connection_lost";
    case errc::protocol_error: return "protocol_error";
    case errc::access_denied: return "AccessDenied";
    case errc::invalid_access_key: return "InvalidAccessKeyId";
    case errc::signature_mismatch: return "SignatureDoesNotMatch";
    case errc::no_such_bucket: return "NoSuchBucket";
    case errc::no_such_key: return "NoSuchKey";
    case errc::clock_skew: return "RequestTimeTooSkewed";
    case errc::bad_digest: return "BadDigest";
    case errc::throttled: return "SlowDown";
    case errc::temporary_redirect: return "TemporaryRedirect";
    case errc::server_error: return "server_error";
    case errc::client_error: return "client_error";
    case errc::wrong_region: return "PermanentRedirect";
    case errc::integrity_mismatch: return "integrity_mismatch";
    case errc::no_credentials: return "no_credentials";
    case errc::aborted: return "aborted";
    }
    return "unknown";
}

bool is_retryable(errc code) noexcept {
    switch (code) {
    // The network or the server had a bad moment: the same request can succeed later.
    case errc::resolve_failed:
    case errc::connect_failed:
    case errc::timeout:
    case errc::connection_lost:
    case errc::protocol_error:
    case errc::throttled:
    case errc::server_error:
    // A 307 is temporary by AWS's definition: a new bucket's DNS name is still spreading.
    case errc::temporary_redirect:
    // A body damaged on the way, or a clock we corrected: sending again fixes it.
    case errc::bad_digest:
    case errc::clock_skew:
    case errc::integrity_mismatch:
        return true;
    // The operator must act: credentials, permissions, bucket name, certificates.
    default:
        return false;
    }
}

errc classify(unsigned status, std::string_view code) noexcept {
    if (code == "SignatureDoesNotMatch") return errc::signature_mismatch;
    if (code == "InvalidAccessKeyId") return errc::invalid_access_key;
    if (code == "NoSuchBucket") return errc::no_such_bucket;
    if (code == "NoSuchKey") return errc::no_such_key;
    if (code == "RequestTimeTooSkewed") return errc::clock_skew;
    if (code == "PermanentRedirect" || status == 301) return errc::wrong_region;
    if (code == "TemporaryRedirect" || status == 307) return errc::temporary_redirect;
    if (code == "BadDigest" || code == "XAmzContentSHA256Mismatch" || code == "InvalidDigest")
        return errc::bad_digest;
    if (code == "SlowDown" || code == "Throttling" || code == "RequestLimitExceeded" || status == 429 ||
        status == 503)
        return errc::throttled;
    if (code == "AccessDenied" || code == "AllAccessDisabled" || code == "InvalidToken" ||
        code == "ExpiredToken" || status == 403)
        return errc::access_denied;
    if (code == "RequestTimeout") return errc::timeout;
    if (status == 404) return errc::no_such_key;
    if (status >= 500) return errc::server_error;
    return errc::client_error;
}

error parse_error_response(unsigned status, std::string_view body) {
    error e;
    e.http_status = status;
    if (!body.empty()) {
        try {
            namespace pt = boost::property_tree;
            pt::ptree tree;
            std::istringstream in{std::string(body)};
            pt::read_xml(in, tree, pt::xml_parser::trim_whitespace);
            // Outside text on its way to log lines, /healthz and systemd's STATUS=: kept short
            // and printable here, where it enters, whatever S3 (or a proxy) put in it.
            if (auto err = tree.get_child_optional("Error")) {
                e.s3_code = logging::printable(err->get<std::string>("Code", ""), outside_text_cap);
                e.message = logging::printable(err->get<std::string>("Message", ""), outside_text_cap);
                e.request_id = logging::printable(err->get<std::string>("RequestId", ""), outside_text_cap);
            }
        } catch (const std::exception&) {
            // Not S3's XML (a proxy page, a truncated body): the status still says enough.
        }
    }
    e.code = classify(status, e.s3_code);
    if (e.message.empty()) e.message = "HTTP " + std::to_string(status) + " without an S3 error body";
    return e;
}

std::string error::describe() const {
    std::string out;
    if (!operation.empty()) out += operation + ": ";
    if (!s3_code.empty()) {
        out += s3_code;
        out += " (HTTP " + std::to_string(http_status) + ")";
    } else {
        out += name(code);
        if (http_status) out += " (HTTP " + std::to_string(http_status) + ")";
    }
    if (!message.empty()) out += ": " + message;
    // Hints for the failures an operator fixes by hand (a folder's own message has its hint).
    switch (local_folder ? errc::ok : code) {
    case errc::signature_mismatch: out += " - check AWS_SECRET_ACCESS_KEY and the region"; break;
    case errc::invalid_access_key: out += " - check AWS_ACCESS_KEY_ID"; break;
    case errc::no_such_bucket:
        out += bucket.empty() ? std::string(" - check S3_BUCKET_NAME and the endpoint/region")
                              : " - there is no bucket \"" + bucket +
                                    "\" at this endpoint: check S3_BUCKET_NAME and the endpoint/region";
        break;
    case errc::wrong_region:
        out += bucket_region.empty()
                   ? " - the bucket is in another region: set AWS_REGION to the bucket's region"
                   : " - the bucket is in region " + bucket_region + ": set AWS_REGION=" + bucket_region;
        break;
    case errc::access_denied: out += " - the credentials lack permission (s3:PutObject on the prefix)"; break;
    default: break;
    }
    if (!request_id.empty()) out += " [request id " + request_id + "]";
    return out;
}

error from_transport(http::transport_error t) {
    errc code = errc::ok;
    switch (t.kind) {
    case http::failure::none: code = errc::ok; break;
    case http::failure::resolve_failed: code = errc::resolve_failed; break;
    case http::failure::connect_failed: code = errc::connect_failed; break;
    case http::failure::tls_failed: code = errc::tls_failed; break;
    case http::failure::timeout: code = errc::timeout; break;
    case http::failure::connection_lost: code = errc::connection_lost; break;
    case http::failure::protocol_error: code = errc::protocol_error; break;
    case http::failure::aborted: code = errc::aborted; break;
    }
    error e;
    e.code = code;
    e.http_status = t.http_status;
    e.message = std::move(t.message);
    return e;
}

}  // namespace scb::s3
