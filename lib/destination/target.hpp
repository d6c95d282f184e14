#pragma once
// One destination as the uploader and the read commands see it: a place that stores a version
// under a key and gives it back. Two kinds: an S3 bucket (s3_target.hpp) and a local folder
// (folder_target.hpp). Errors are s3::error for both, so that retries, health and exit codes
// have one vocabulary: a folder that is gone is `no_such_bucket`, a full disk `server_error`.
#include "crypto/hash.hpp"
#include "s3/client.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace scb::destination {

class target {
public:
    virtual ~target() = default;

    /// The destination's short name (config::destination::name): logs, metrics, commands.
    [[nodiscard]] virtual const std::string& name() const noexcept = 0;
    /// "s3://bucket/prefix" or "file:///folder/": no secret in it.
    [[nodiscard]] virtual std::string where() const = 0;
    /// Prepended to every object name (an S3 prefix; "" for a folder).
    [[nodiscard]] virtual const std::string& prefix() const noexcept = 0;

    /// Stores `data` (whose SHA-256 is `sha`) at `key`, durably, replacing what was there. Cancellable
    /// (terminal cancellation: errc::aborted). Never throws for a failure of the destination.
    virtual boost::asio::awaitable<s3::error> put(std::string key, std::shared_ptr<const std::string> data,
                                                  crypto::sha256_digest sha) = 0;
    /// A put() of exactly these arguments is coming (lnd closed its temp file): do now what can be
    /// done before it. Optional.
    virtual boost::asio::awaitable<void> prepare(std::string key, std::shared_ptr<const std::string> data,
                                                 crypto::sha256_digest sha) {
        (void)key, (void)data, (void)sha;
        co_return;
    }
    /// Nothing to send for now (keep a connection without watching it). Optional.
    virtual void idle() {}
    /// Learns the destination's clock before the first version is named. Optional; never fails.
    virtual boost::asio::awaitable<void> learn_clock() { co_return; }
    /// The time by the destination's clock (S3's Date; the local clock for a folder).
    [[nodiscard]] virtual std::chrono::system_clock::time_point now() const { return std::chrono::system_clock::now(); }
    /// Whether now() is another machine's clock that an answer has taught.
    [[nodiscard]] virtual bool clock_known() const noexcept { return false; }

    // ---- the read side: list, restore, verify ----
    /// Every object under `prefix` (key, size, last_modified as ISO 8601).
    virtual boost::asio::awaitable<s3::result<std::vector<s3::object_info>>> list(std::string prefix) = 0;
    /// The object's metadata (S3: its checksums); errc::no_such_key when absent.
    virtual boost::asio::awaitable<s3::result<s3::object_info>> head(std::string key) = 0;
    /// The object's bytes; errc::no_such_key when absent.
    virtual boost::asio::awaitable<s3::result<std::string>> get(std::string key) = 0;
};

}  // namespace scb::destination
