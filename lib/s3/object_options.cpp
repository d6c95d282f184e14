#include "s3/object_options.hpp"

#include "common/utc_time.hpp"

#include <cctype>
#include <ctime>

namespace scb::s3 {

std::optional<std::string> object_options_problem(const object_options& o) {
    if (!o.sse.empty() && o.sse != "AES256" && o.sse != "aws:kms")
        return "SCB_SSE / --sse must be AES256 or aws:kms";
    if (!o.sse_kms_key_id.empty() && o.sse != "aws:kms")
        return "SCB_SSE_KMS_KEY_ID / --sse-kms-key-id needs --sse aws:kms";
    for (char c : o.storage_class)
        if (!(std::isupper(static_cast<unsigned char>(c)) || c == '_'))
            return "SCB_STORAGE_CLASS / --storage-class must be an S3 class name like STANDARD_IA";
    if (!o.lock_mode.empty() && o.lock_mode != "GOVERNANCE" && o.lock_mode != "COMPLIANCE")
        return "SCB_OBJECT_LOCK_MODE / --object-lock-mode must be GOVERNANCE or COMPLIANCE";
    if (o.lock_mode.empty() != (o.lock_days == 0))
        return "--object-lock-mode and --object-lock-days go together (SCB_OBJECT_LOCK_MODE, SCB_OBJECT_LOCK_DAYS)";
    // S3 refuses an Object Lock PUT that carries no integrity header.
    if (!o.lock_mode.empty() && o.checksum == checksum_mode::none)
        return "Object Lock needs an integrity header: --checksum must not be none";
    return std::nullopt;
}

put_options make_put_options(const object_options& o, std::chrono::system_clock::time_point now) {
    put_options p;
    p.checksum = o.checksum;
    if (!o.sse.empty()) p.extra_headers.emplace_back("x-amz-server-side-encryption", o.sse);
    if (!o.sse_kms_key_id.empty())
        p.extra_headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", o.sse_kms_key_id);
    if (!o.storage_class.empty()) p.extra_headers.emplace_back("x-amz-storage-class", o.storage_class);
    if (!o.lock_mode.empty()) {
        p.extra_headers.emplace_back("x-amz-object-lock-mode", o.lock_mode);
        p.extra_headers.emplace_back("x-amz-object-lock-retain-until-date",
                                     utc::format(now + std::chrono::hours(24) * o.lock_days, utc::layout::extended));
    }
    return p;
}

}  // namespace scb::s3
