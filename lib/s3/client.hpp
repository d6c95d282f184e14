#pragma once
// An S3 client on the caller's io_context: PUT, GET, HEAD and ListObjectsV2 over one kept-alive
// connection, every request signed with SigV4.
#include "crypto/hash.hpp"
#include "http/connection.hpp"
#include "s3/endpoint.hpp"
#include "s3/error.hpp"
#include "sigv4/signer.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace scb::s3 {

/// A value or the error that kept us from getting it.
// The implicit move of a Beast message cannot throw with std::allocator; clang-tidy cannot tell.
template <class T>
struct result {  // NOLINT(bugprone-exception-escape)
    T value{};
    error err;
    explicit operator bool() const noexcept { return !err; }
};

/// Which integrity headers a PUT carries: S3-compatible stores disagree on them.
enum class checksum_mode { both, md5, sha256, none };
std::optional<checksum_mode> parse_checksum_mode(std::string_view text);

struct put_options {
    checksum_mode checksum = checksum_mode::both;
    std::string content_type = "application/octet-stream";
    std::vector<std::pair<std::string, std::string>> extra_headers;  // x-amz-* (SSE, storage class, lock)
    // The body's SHA-256 when the caller has it already (the daemon hashed the file): not hashed again.
    std::optional<crypto::sha256_digest> body_sha256;
};

struct put_result {
    std::string etag;
    std::string sha256_hex;  // of the body we sent (and S3 confirmed, where it echoes a checksum)
};

struct object_info {
    std::string key;
    std::uint64_t size = 0;
    std::string last_modified;  // ISO 8601 as S3 gives it
    std::string etag;
    std::string checksum_sha256;  // base64, when the store returns it (HEAD with checksum mode)
};

struct list_page {
    std::vector<object_info> objects;
    std::string next_continuation_token;  // empty on the last page
};

struct client_options {
    http::timeouts io;
    std::string ca_bundle;
    std::size_t max_object_size = 256u * 1024 * 1024;
    std::optional<http::proxy> proxy;  // every connection through it (SCB_PROXY, HTTPS_PROXY…)  // body limit of a GET object; other answers: http::small_body_limit
};

/// Hands out the credentials for each request (static keys now; refreshed ones later).
class credentials_provider {
public:
    virtual ~credentials_provider() = default;
    virtual boost::asio::awaitable<result<sigv4::credentials>> current() = 0;
};

class static_credentials final : public credentials_provider {
public:
    explicit static_credentials(sigv4::credentials c) : creds_(std::move(c)) {}
    boost::asio::awaitable<result<sigv4::credentials>> current() override;

private:
    sigv4::credentials creds_;
};

/// How far S3's Date may be from our clock before it counts as a wrong clock rather than noise:
/// Date has whole seconds (truncated) and the answer is read a round trip after S3 wrote it. Under
/// it the offset stays as it is (0 for a clock in sync); a 2 s error is harmless for SigV4 (S3
/// allows 15 min) and for names (they only need to keep versions in order).
inline constexpr std::chrono::seconds clock_noise{2};

/// The offset (S3's clock minus ours) to use once a response's Date says it is `measured`, when
/// `current` is in use: `current` while the two are less than clock_noise apart (no churn from the
/// Date's rounding); else `measured`, or 0 when |measured| is under clock_noise.
[[nodiscard]] std::chrono::seconds next_clock_offset(std::chrono::seconds current, std::chrono::seconds measured) noexcept;

/// An HTTP Date header ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 7231 IMF-fixdate); nullopt otherwise.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

/// Parses a ListObjectsV2 response body. Throws std::runtime_error on malformed XML.
list_page parse_list_objects(std::string_view xml);

class client {
public:
    /// Throws std::runtime_error when the TLS context cannot be set up (a bad CA bundle).
    client(boost::asio::any_io_executor ex, endpoint ep, std::shared_ptr<credentials_provider> creds,
           client_options opts = {});

    /// PUTs `body` at `key`. The answer must be 200 and, where S3 echoes a checksum or an MD5
    /// ETag, match what we sent; otherwise err is integrity_mismatch.
    boost::asio::awaitable<result<put_result>> put_object(std::string key, std::string_view body, put_options opts);
    /// The same with default options. Not a coroutine on purpose: g++ 12 destroys a defaulted
    /// class-type argument of a coroutine twice when the call stands inside a co_await.
    boost::asio::awaitable<result<put_result>> put_object(std::string key, std::string_view body) {
        return put_object(std::move(key), body, put_options{});
    }
    boost::asio::awaitable<result<std::string>> get_object(std::string key);
    boost::asio::awaitable<result<object_info>> head_object(std::string key);
    /// One page of ListObjectsV2 (max_keys 1..1000).
    boost::asio::awaitable<result<list_page>> list_objects_page(std::string prefix, std::string continuation,
                                                                int max_keys = 1000);
    /// Every object under the prefix, following continuation tokens.
    boost::asio::awaitable<result<std::vector<object_info>>> list_objects(std::string prefix, int page_size = 1000);

    /// Does the work of a PUT that comes before the first byte goes out (MD5, headers, SigV4
    /// signature) and takes a parked connection back, so that a later put_object() of the same key
    /// and the same body buffer (same data pointer, size and SHA-256, same options) only sends.
    /// For a PUT known to be coming: the daemon calls it when lnd closes its temp file, before the
    /// rename. One request is kept; it is used once and only for a minute. Failing to get
    /// credentials here is silent: the PUT itself reports it.
    boost::asio::awaitable<void> prepare_put(std::string key, std::string_view body, put_options opts);
    /// Nothing more to send for now: keep the connection without watching it (connection::park).
    void park_connection() { conn_.park(); }

    [[nodiscard]] const endpoint& where() const noexcept { return ep_; }
    [[nodiscard]] std::uint64_t connects() const noexcept { return conn_.connects(); }
    /// How far S3's clock is ahead of ours (negative: behind), learned from the Date header of every
    /// answer (0 until one came, and while the two agree within clock_noise).
    [[nodiscard]] std::chrono::seconds clock_offset() const noexcept { return clock_offset_; }
    /// The time by S3's clock: the local clock plus clock_offset(). Requests are signed with it, and
    /// versions must be named with it, so that a node whose clock is wrong still names them in order.
    /// Like every member, call it on the client's executor.
    [[nodiscard]] std::chrono::system_clock::time_point now() const noexcept {
        return std::chrono::system_clock::now() + clock_offset_;
    }
    /// Whether an answer's Date header has taught the clock yet.
    [[nodiscard]] bool clock_known() const noexcept { return clock_known_; }
    /// Makes sure now() follows S3's clock before the first version is named: when no answer has
    /// taught it yet, sends one HEAD of the bucket and learns from its Date header, whatever its
    /// status (a 403 for a key without s3:ListBucket carries a Date too). Never fails: without an
    /// answer (S3 unreachable) now() stays the local clock, and the next answer corrects it.
    boost::asio::awaitable<void> learn_clock();

private:
    struct call {
        http::verb method;
        std::string path;
        std::string query;
        std::string_view body;
        std::vector<std::pair<std::string, std::string>> headers;
        std::string operation;  // for error messages
        std::string payload_hash = {};  // hex SHA-256 of body when the caller has it already
        std::size_t body_limit = http::small_body_limit;  // the most of the answer's body read
    };
    /// A PUT signed ahead by prepare_put(), and what put_object() needs to match and check it.
    /// (As result: the Beast message's implicit move cannot throw, which clang-tidy cannot tell.)
    struct prepared_put {  // NOLINT(bugprone-exception-escape)
        std::string key;
        const char* body_data = nullptr;
        std::size_t body_size = 0;
        crypto::sha256_digest sha{};
        crypto::md5_digest md5{};
        http::request request;
        std::chrono::steady_clock::time_point made;
        std::chrono::seconds clock_offset{0};
    };
    [[nodiscard]] call put_call(const std::string& key, std::string_view body, const put_options& opts,
                                const crypto::sha256_digest& sha, const crypto::md5_digest& md5) const;
    /// Signs `c` with `creds` as of now (corrected by the learned clock offset).
    [[nodiscard]] http::request signed_request(const call& c, const sigv4::credentials& creds) const;
    /// Updates clock_offset_ from an answer's Date header; warns when the offset is first learned or
    /// moves by more than a minute.
    void learn_clock_from(const http::response& res);
    /// Sends a signed request, reading at most `body_limit` bytes of the answer's body; a status >= 300
    /// becomes the error S3 named. Every answer teaches the clock.
    boost::asio::awaitable<result<http::response>> deliver(http::request& req, const std::string& operation,
                                                          std::size_t body_limit);
    boost::asio::awaitable<result<http::response>> execute(call c);
    boost::asio::awaitable<result<http::response>> execute_once(const call& c);

    endpoint ep_;
    std::shared_ptr<credentials_provider> creds_;
    client_options opts_;
    http::connection conn_;
    std::chrono::seconds clock_offset_{0};
    bool clock_known_ = false;
    std::optional<std::chrono::seconds> warned_offset_;  // the offset the last clock warning gave
    std::optional<prepared_put> prepared_;
};

}  // namespace scb::s3
