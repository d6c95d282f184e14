#pragma once
// Test support: PUT an object with our own S3 client, bypassing the daemon and its naming (a
// version another tool, or a node with a wrong clock, left in the bucket).
#include "daemon_fixture.hpp"
#include "run_coroutine.hpp"
#include "s3/client.hpp"

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

namespace scb::test {

inline boost::asio::awaitable<std::string> put(s3::client& c, std::string key, std::string body) {
    // Built before the co_await: g++ 12 destroys by-value temporaries inside a co_await twice.
    auto op = c.put_object(key, body);
    auto r = co_await std::move(op);
    co_return r.err ? r.err.describe() : std::string();
}

/// PUTs `body` at `key` over HTTP to the fixture's local S3; fails the test when S3 refuses it.
inline void put_raw(const daemon_fixture& f, const std::string& key, const std::string& body) {
    boost::asio::io_context ioc;
    s3::endpoint_config cfg;
    cfg.region = f.s3.region;
    cfg.url = f.s3.http_url();
    sigv4::credentials creds;
    creds.access_key_id = f.s3.access_key;
    creds.secret_access_key = scb::secret(f.s3.secret_key);
    s3::client client(ioc.get_executor(), s3::resolve_endpoint(cfg, f.s3.bucket),
                      std::make_shared<s3::static_credentials>(creds));
    REQUIRE(run_coroutine(ioc, put(client, key, body)).empty());
}

}  // namespace scb::test
