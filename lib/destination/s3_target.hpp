#pragma once
// An S3 bucket (AWS or any S3-compatible store) as a destination: its own client, hence its own
// kept-alive connection, clock and credentials, and its own object options.
#include "destination/target.hpp"
#include "s3/client.hpp"
#include "s3/object_options.hpp"

#include <string>

namespace scb::destination {

class s3_target final : public target {
public:
    /// `bucket` only words where(); the client already targets it.
    s3_target(std::string name, std::string bucket, std::string prefix, s3::object_options object, s3::client& client);

    [[nodiscard]] const std::string& name() const noexcept override { return name_; }
    [[nodiscard]] std::string where() const override { return "s3://" + bucket_ + "/" + prefix_; }
    [[nodiscard]] const std::string& prefix() const noexcept override { return prefix_; }

    boost::asio::awaitable<s3::error> put(std::string key, std::shared_ptr<const std::string> data,
                                          crypto::sha256_digest sha) override;
    boost::asio::awaitable<void> prepare(std::string key, std::shared_ptr<const std::string> data,
                                         crypto::sha256_digest sha) override;
    void idle() override { client_.park_connection(); }
    boost::asio::awaitable<void> learn_clock() override { return client_.learn_clock(); }
    [[nodiscard]] std::chrono::system_clock::time_point now() const override { return client_.now(); }
    [[nodiscard]] bool clock_known() const noexcept override { return client_.clock_known(); }

    boost::asio::awaitable<s3::result<std::vector<s3::object_info>>> list(std::string prefix) override {
        return client_.list_objects(std::move(prefix));
    }
    boost::asio::awaitable<s3::result<s3::object_info>> head(std::string key) override {
        return client_.head_object(std::move(key));
    }
    boost::asio::awaitable<s3::result<std::string>> get(std::string key) override {
        return client_.get_object(std::move(key));
    }

    [[nodiscard]] s3::client& client() noexcept { return client_; }

private:
    /// The PUT's headers now (Object Lock's date is relative to it) with the SHA-256 already known.
    [[nodiscard]] s3::put_options put_options_for(const crypto::sha256_digest& sha) const;

    std::string name_, bucket_, prefix_;
    s3::object_options object_;
    s3::client& client_;
};

}  // namespace scb::destination
