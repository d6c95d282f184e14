#pragma once
// The documents credential servers answer with: the container endpoint's and IMDS' JSON, and STS's
// XML for AssumeRoleWithWebIdentity (its credentials and its errors). Pure parsers of outside input
// (fuzzed: test/fuzz/credential_documents_fuzz.cpp); credential_providers fetches them.
#include "s3/credentials.hpp"
#include "sigv4/signer.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace scb::s3 {

using wall_clock = std::chrono::system_clock;

/// Temporary credentials and when they stop working (nullopt: they do not expire).
struct expiring_credentials {
    sigv4::credentials creds;
    std::optional<wall_clock::time_point> expiration;
};

/// Parses the container endpoint's JSON answer: AccessKeyId and SecretAccessKey required, Token and
/// Expiration optional (an answer without Expiration never expires, as in the Go SDK). Throws
/// credentials_error naming the missing or bad field; the message never holds a value from the body.
expiring_credentials parse_container_credentials(std::string_view json);

/// Parses the answer of IMDS' .../security-credentials/<role>: Code must be "Success" and
/// AccessKeyId, SecretAccessKey, Token and Expiration are all required. Throws credentials_error
/// like parse_container_credentials.
expiring_credentials parse_imds_credentials(std::string_view json);

/// Parses STS's AssumeRoleWithWebIdentityResponse: the four credential fields are required.
/// Throws credentials_error naming the missing or bad field, never a value.
expiring_credentials parse_web_identity_credentials(std::string_view xml);

/// STS's <ErrorResponse><Error><Code> and <Message>, capped and escaped for the log; empty where
/// the body is not such a document.
struct sts_error {
    std::string code;
    std::string message;
};
sts_error parse_sts_error(std::string_view xml);

}  // namespace scb::s3
