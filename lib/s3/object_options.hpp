#pragma once
// Per-object S3 settings an operator chooses: encryption, storage class, Object Lock retention,
// integrity headers. Turned into the x-amz-* headers of each PUT (all of them signed).
#include "s3/client.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace scb::s3 {

struct object_options {
    checksum_mode checksum = checksum_mode::both;
    std::string sse;             // "", "AES256" or "aws:kms"
    std::string sse_kms_key_id;  // only with aws:kms
    std::string storage_class;   // e.g. STANDARD_IA; "" = bucket default
    std::string lock_mode;       // "", "GOVERNANCE" or "COMPLIANCE"
    unsigned lock_days = 0;      // retention from the upload time; with lock_mode
};

/// What is wrong with the combination, in one line naming the flags; nullopt when it is usable.
std::optional<std::string> object_options_problem(const object_options& o);

/// The PUT options for an upload at `now` (Object Lock's retain-until date is relative to it).
put_options make_put_options(const object_options& o, std::chrono::system_clock::time_point now);

}  // namespace scb::s3
