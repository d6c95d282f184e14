#pragma once
// Whether a downloaded body is the backup its key and S3 say it is. Pure: no I/O.
#include "s3/client.hpp"

#include <string>
#include <string_view>

namespace scb::restore {

/// Which stored checksum the body was compared with.
enum class stored_check {
    sha256,  ///< S3's x-amz-checksum-sha256 (HEAD with x-amz-checksum-mode: ENABLED)
    md5_etag,  ///< the ETag, which is the MD5 of the body for a single-part upload without SSE-KMS
    none,    ///< neither is usable (multipart or SSE-KMS ETag and no stored SHA-256): only the name was checked
};

struct integrity_report {
    bool ok = false;
    std::string sha256_hex;           ///< of the body
    stored_check stored = stored_check::none;
    std::string problem;              ///< one line when !ok: what does not match, with both values
    [[nodiscard]] std::string checked() const;  ///< one line: what was compared ("SHA-256 matches …")
};

/// Smallest body accepted as a backup (lnd's smallest packed multi-channel backup, as for upload).
inline constexpr std::size_t min_backup_size = 45;

/// Checks `body` downloaded for `head.key`: its SHA-256 must end with `sha256_suffix` (from the key),
/// its size must be head.size, and it must match the stored checksum: head.checksum_sha256 (base64)
/// when S3 gave one, else head.etag when it is a plain 32-hex MD5. A body shorter than
/// min_backup_size is refused too. Every mismatch is a refusal.
integrity_report check_body(std::string_view body, std::string_view sha256_suffix, const s3::object_info& head);

}  // namespace scb::restore
