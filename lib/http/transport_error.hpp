#pragma once
// How an HTTP exchange can fail below HTTP: the connection's errors, which S3, the credential
// fetchers and the heartbeat each turn into their own terms.
#include <string>

namespace scb::http {

/// Why an exchange ended without a whole HTTP answer (an answer with any status is not a failure here).
enum class failure {
    none = 0,
    resolve_failed,
    connect_failed,
    tls_failed,
    timeout,
    connection_lost,
    protocol_error,  // not HTTP, or a body over its limit
    aborted,         // the caller cancelled (shutdown): never retried
};

/// A transport failure: what happened, in words an operator can act on (never a secret).
struct transport_error {
    failure kind = failure::none;
    unsigned http_status = 0;  // the answer's status, when its body went over the limit
    std::string message;
    explicit operator bool() const noexcept { return kind != failure::none; }
};

}  // namespace scb::http
