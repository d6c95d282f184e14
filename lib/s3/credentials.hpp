#pragma once
// Where the access keys come from: the environment, then the shared credentials file.
#include "sigv4/signer.hpp"

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace scb::s3 {

/// A credential source that is missing or malformed; what() names the source and the fix, never a secret.
struct credentials_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Looks up an environment variable (injectable so tests need not touch the real environment).
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;
env_lookup process_environment();

struct resolved_credentials {
    sigv4::credentials creds;
    std::string source;  // "environment" or "shared credentials file /root/.aws/credentials [default]"
};

struct credentials_options {
    std::string profile;           // empty: AWS_PROFILE, then "default"
    std::string credentials_file;  // empty: AWS_SHARED_CREDENTIALS_FILE, then ~/.aws/credentials
};

/// AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) when set; otherwise the profile
/// in the shared credentials file. Throws credentials_error when neither gives a key pair.
resolved_credentials load_static_credentials(const env_lookup& env, const credentials_options& opts = {});

/// The same, for a chain with later sources: nullopt (instead of an error) when no key variable is
/// set and the shared credentials file or its default profile is absent. A file or profile named
/// explicitly (AWS_SHARED_CREDENTIALS_FILE, AWS_PROFILE, the flags) must still exist.
std::optional<resolved_credentials> find_static_credentials(const env_lookup& env, const credentials_options& opts = {});

/// Reads one profile from the text of an INI credentials file. nullopt when the profile is absent;
/// throws credentials_error (naming `file_name`) when the text is malformed or the profile lacks a key.
std::optional<sigv4::credentials> parse_shared_credentials(const std::string& text, const std::string& profile,
                                                           const std::string& file_name);

}  // namespace scb::s3
