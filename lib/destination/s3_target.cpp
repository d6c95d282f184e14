#include "destination/s3_target.hpp"

namespace scb::destination {

namespace asio = boost::asio;

s3_target::s3_target(std::string name, std::string bucket, std::string prefix, s3::object_options object,
                     s3::client& client)
    : name_(std::move(name)), bucket_(std::move(bucket)), prefix_(std::move(prefix)), object_(std::move(object)),
      client_(client) {}

s3::put_options s3_target::put_options_for(const crypto::sha256_digest& sha) const {
    auto o = s3::make_put_options(object_, std::chrono::system_clock::now());
    o.body_sha256 = sha;  // hashed when the file was read: not again per PUT
    return o;
}

asio::awaitable<s3::error> s3_target::put(std::string key, std::shared_ptr<const std::string> data,
                                          crypto::sha256_digest sha) {
    // (Built before co_await: g++ 12 double-destroys by-value temporaries inside one.)
    auto op = client_.put_object(std::move(key), *data, put_options_for(sha));
    auto r = co_await std::move(op);
    co_return r.err;
}

asio::awaitable<void> s3_target::prepare(std::string key, std::shared_ptr<const std::string> data,
                                         crypto::sha256_digest sha) {
    // The client keeps the body's address to match the later PUT: `data` outlives both (the
    // uploader holds the version until it is confirmed).
    auto op = client_.prepare_put(std::move(key), *data, put_options_for(sha));
    co_await std::move(op);
}

}  // namespace scb::destination
