#pragma once
// Test support: a real local S3 (s3rver) behind the SigV4-verifying front, started by
// test/support/s3env.mjs on free loopback ports and stopped when this object goes away. It can be
// killed and started again on the same ports, with the objects it had (stop() / restart()).
#include "child_process.hpp"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace scb::test {

/// A fresh temporary folder, removed with everything in it on destruction.
class temp_dir {
public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

class s3_environment {
public:
    /// Starts s3env.mjs (with HTTPS fronts when `tls`); throws when it does not come up.
    explicit s3_environment(bool tls = true);

    /// Kills the server with SIGKILL (a crash: no clean-up) and waits until it is gone; its ports
    /// then refuse connections. No-op when it is not running.
    void stop();
    /// Starts the server again (stopping it first if it runs) on the same ports, with the same
    /// buckets, keys and data folder, so the objects stored before are still there. Blocks until
    /// it is up; throws when it does not come up (e.g. a port was taken meanwhile).
    void restart();
    /// Whether the server process is alive.
    [[nodiscard]] bool running() const;
    /// s3rver's data folder (one per environment; kept across restarts, removed on destruction).
    [[nodiscard]] const std::string& data_dir() const noexcept { return data_dir_->path(); }

    int http_port = 0, https_port = 0, https_wronghost_port = 0, https_unknownca_port = 0, control_port = 0;
    std::string bucket, region, access_key, secret_key, ca_file, tls_dir;

    [[nodiscard]] std::string http_url() const { return "http://127.0.0.1:" + std::to_string(http_port); }
    [[nodiscard]] std::string https_url() const { return "https://127.0.0.1:" + std::to_string(https_port); }

    /// Calls the control server: returns the parsed JSON answer (null for an empty body).
    nlohmann::json control(const std::string& method, const std::string& path, const std::string& body = "");
    /// The objects in a bucket, read by the control server straight from s3rver: [{key,size,sha256}].
    nlohmann::json objects(const std::string& bucket_name = "");
    /// The requests the front saw: [{conn, method, path, headers, status, ...}].
    nlohmann::json requests() { return control("GET", "/requests"); }

    /// Environment for the scb-backup binary pointing at this server over HTTP (or HTTPS).
    [[nodiscard]] std::vector<std::string> daemon_env(bool use_tls = false) const;

private:
    void start();
    bool tls_;
    std::unique_ptr<temp_dir> data_dir_;      // declared before proc_: outlives the server
    std::unique_ptr<child_process> proc_;
};

/// Plain loopback HTTP/1.1 call (Connection: close); returns status and body.
struct http_answer {
    int status = 0;
    std::string body;
};
http_answer http_call(int port, const std::string& method, const std::string& target, const std::string& body = "");

}  // namespace scb::test
