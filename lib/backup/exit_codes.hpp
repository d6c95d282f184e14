#pragma once
// The process exit codes (sysexits.h values), one per kind of failure; documented in README.md.
#include "s3/error.hpp"

namespace scb::backup::exit_code {

inline constexpr int ok = 0;
inline constexpr int partial = 3;       // `once` with several destinations: some confirmed the version, others failed
inline constexpr int usage = 64;        // EX_USAGE: bad flag, variable, env file, credentials source, spool folder
inline constexpr int bad_file = 65;     // EX_DATAERR: `once`: the file is not a valid backup (size, type)
inline constexpr int no_file = 66;      // EX_NOINPUT: `once`: the file does not exist
inline constexpr int no_bucket = 68;    // EX_NOHOST: `once`: S3 says the bucket does not exist
inline constexpr int unavailable = 69;  // EX_UNAVAILABLE: `once`: S3 unreachable or failing after retries
inline constexpr int internal = 70;     // EX_SOFTWARE: a bug; the log line says what
inline constexpr int os_error = 71;     // EX_OSERR: inotify failed (watch limits)
inline constexpr int spool_locked = 75;  // EX_TEMPFAIL: `run`: another scb-backup process owns the spool folder
inline constexpr int no_permission = 77;  // EX_NOPERM: `once`: S3 refused the credentials or the access

// `list`, `restore`, `verify` (lib/restore). S3 failures map as for `once` (for_s3_error); also:
inline constexpr int out_of_sync = 1;       // `verify`: S3's newest backup is not the local file, or there is none
inline constexpr int corrupt_object = 65;   // EX_DATAERR: `restore`: the object fails its checksums; nothing written
inline constexpr int no_backup = 66;        // EX_NOINPUT: `restore`: no backup under the prefix / no such key;
                                            //   `verify`: the local file is missing
inline constexpr int cannot_write = 73;     // EX_CANTCREAT: `restore`: --output exists (no --force) or cannot be written

/// The exit code for an S3 failure that ends `once`.
inline int for_s3_error(s3::errc code) noexcept {
    switch (code) {
    case s3::errc::signature_mismatch:
    case s3::errc::invalid_access_key:
    case s3::errc::access_denied:
    case s3::errc::no_credentials:
        return no_permission;
    case s3::errc::no_such_bucket:
        return no_bucket;
    case s3::errc::wrong_region:  // 301: a setting to fix (AWS_REGION), not an outage to wait out
        return usage;
    default:
        return unavailable;
    }
}

}  // namespace scb::backup::exit_code
