#include "restore/integrity.hpp"

#include "crypto/hash.hpp"

#include <algorithm>
#include <cctype>

namespace scb::restore {

namespace {

bool is_plain_md5(std::string_view etag) {
    // A multipart ETag is "<hex>-<parts>"; an SSE-KMS one is 32 hex digits too but not the MD5, and
    // then S3 also stores the SHA-256 we sent, which is checked first.
    return etag.size() == 32 &&
           std::all_of(etag.begin(), etag.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

std::string integrity_report::checked() const {
    std::string out = "SHA-256 " + sha256_hex + " matches the key's suffix";
    switch (stored) {
    case stored_check::sha256: out += " and S3's stored x-amz-checksum-sha256"; break;
    case stored_check::md5_etag: out += " and the body matches S3's ETag (MD5)"; break;
    case stored_check::none: out += "; S3 keeps no checksum usable here (multipart or SSE-KMS ETag)"; break;
    }
    return out;
}

integrity_report check_body(std::string_view body, std::string_view sha256_suffix, const s3::object_info& head) {
    integrity_report r;
    const auto sha = crypto::sha256(body);
    r.sha256_hex = crypto::hex(sha);
    if (!head.checksum_sha256.empty()) r.stored = stored_check::sha256;
    else if (is_plain_md5(head.etag)) r.stored = stored_check::md5_etag;

    if (body.size() != head.size) {
        r.problem = "downloaded " + std::to_string(body.size()) + " bytes but S3 says the object has " +
                    std::to_string(head.size);
        return r;
    }
    if (body.size() < min_backup_size) {
        r.problem = "the object has " + std::to_string(body.size()) + " bytes, less than the " +
                    std::to_string(min_backup_size) + " of the smallest lnd backup";
        return r;
    }
    if (sha256_suffix.size() != 6 || !r.sha256_hex.ends_with(lower(sha256_suffix))) {
        r.problem = "the content's SHA-256 " + r.sha256_hex + " does not end with the key's suffix " +
                    std::string(sha256_suffix);
        return r;
    }
    if (r.stored == stored_check::sha256 && head.checksum_sha256 != crypto::base64(sha)) {
        r.problem = "the content's SHA-256 (base64 " + crypto::base64(sha) + ") differs from S3's stored checksum " +
                    head.checksum_sha256;
        return r;
    }
    if (r.stored == stored_check::md5_etag && lower(head.etag) != crypto::hex(crypto::md5(body))) {
        r.problem = "the content's MD5 " + crypto::hex(crypto::md5(body)) + " differs from S3's ETag " + head.etag;
        return r;
    }
    r.ok = true;
    return r;
}

}  // namespace scb::restore
