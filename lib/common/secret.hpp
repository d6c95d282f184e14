#pragma once
// A string that must never reach a log line: printing it shows "***".
#include <openssl/crypto.h>

#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace scb {

/// Holds a secret (a secret access key, a session token). Streaming it prints `***`; the
/// memory is wiped with OPENSSL_cleanse when the value is destroyed or replaced.
class secret {
public:
    secret() = default;
    explicit secret(std::string value) : value_(std::move(value)) {}
    secret(const secret&) = default;
    secret(secret&& other) noexcept : value_(std::move(other.value_)) { other.wipe(); }
    secret& operator=(const secret& other) {
        if (this != &other) {
            wipe();
            value_ = other.value_;
        }
        return *this;
    }
    secret& operator=(secret&& other) noexcept {
        if (this != &other) {
            wipe();
            value_ = std::move(other.value_);
            other.wipe();
        }
        return *this;
    }
    ~secret() { wipe(); }

    /// The secret itself, for the few places that must use it (signing).
    [[nodiscard]] std::string_view reveal() const noexcept { return value_; }
    [[nodiscard]] bool empty() const noexcept { return value_.empty(); }

    friend std::ostream& operator<<(std::ostream& os, const secret& s) { return os << (s.empty() ? "" : "***"); }
    friend bool operator==(const secret& a, const secret& b) noexcept { return a.value_ == b.value_; }

private:
    void wipe() noexcept {
        if (!value_.empty()) OPENSSL_cleanse(value_.data(), value_.size());
        value_.clear();
    }
    std::string value_;
};

}  // namespace scb
