#include "s3_environment.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace scb::test {

temp_dir::temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "scb-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

s3_environment::s3_environment(bool tls) : tls_(tls), data_dir_(std::make_unique<temp_dir>()) {
    // One certificate folder per build tree: generating keys takes a while, the certs never change.
    tls_dir = std::string(SCB_TEST_BINARY_DIR) + "/test-certs";
    start();
}

void s3_environment::start() {
    std::vector<std::string> argv = {SCB_NODE_EXECUTABLE, "--openssl-legacy-provider",
                                     std::string(SCB_TEST_SUPPORT_DIR) + "/s3env.mjs", "--data-dir",
                                     data_dir_->path()};
    if (tls_) {
        argv.push_back("--tls-dir");
        argv.push_back(tls_dir);
    }
    // First start: free ports (0). Restart: the ports of the first start.
    const std::pair<const char*, int*> ports[] = {{"http", &http_port},
                                                  {"https", &https_port},
                                                  {"https_wronghost", &https_wronghost_port},
                                                  {"https_unknownca", &https_unknownca_port},
                                                  {"control", &control_port}};
    for (const auto& [name, port] : ports) {
        if (*port == 0) continue;
        std::string option = std::string("--") + name + "-port";
        std::replace(option.begin(), option.end(), '_', '-');
        argv.push_back(option);
        argv.push_back(std::to_string(*port));
    }
    proc_ = std::make_unique<child_process>(argv);
    auto line = proc_->read_stdout_line(std::chrono::seconds(60));
    if (!line)
        throw std::runtime_error("s3env.mjs did not start (did `npm ci --prefix test/support` run?): " +
                                 proc_->stderr_text());
    auto j = nlohmann::json::parse(*line);
    for (const auto& [name, port] : ports) {
        if (j.at(name).is_null()) continue;  // no HTTPS fronts without TLS
        const int got = j.at(name).get<int>();
        if (*port != 0 && got != *port)
            throw std::runtime_error(std::string("s3env.mjs restarted with another ") + name + " port");
        *port = got;
    }
    if (tls_) ca_file = j.at("ca").get<std::string>();
    bucket = j.at("buckets").at(0).get<std::string>();
    region = j.at("region").get<std::string>();
    access_key = j.at("access_key").get<std::string>();
    secret_key = j.at("secret_key").get<std::string>();
}

void s3_environment::stop() {
    if (!proc_) return;
    if (proc_->running()) {
        ::kill(-proc_->pid(), SIGKILL);  // its process group: s3env.mjs runs in one of its own
        proc_->signal(SIGKILL);
    }
    if (!proc_->wait(std::chrono::seconds(10))) throw std::runtime_error("s3env.mjs survived SIGKILL");
    proc_.reset();
}

void s3_environment::restart() {
    stop();
    start();
}

bool s3_environment::running() const { return proc_ && proc_->running(); }

nlohmann::json s3_environment::control(const std::string& method, const std::string& path, const std::string& body) {
    auto a = http_call(control_port, method, path, body);
    if (a.status < 200 || a.status >= 300)
        throw std::runtime_error("control " + method + " " + path + " answered " + std::to_string(a.status) + ": " + a.body);
    return a.body.empty() ? nlohmann::json() : nlohmann::json::parse(a.body);
}

nlohmann::json s3_environment::objects(const std::string& bucket_name) {
    // s3rver answers 500 when it lists an object at the moment a PUT replaces it (a stable key
    // rewritten by the daemon): ask again a few times before giving up.
    for (int attempt = 1;; ++attempt) {
        try {
            return control("GET", "/objects?bucket=" + (bucket_name.empty() ? bucket : bucket_name));
        } catch (const std::runtime_error&) {
            if (attempt == 5) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    }
}

std::vector<std::string> s3_environment::daemon_env(bool use_tls) const {
    return {"AWS_ACCESS_KEY_ID=" + access_key,
            "AWS_SECRET_ACCESS_KEY=" + secret_key,
            "AWS_REGION=" + region,
            "AWS_ENDPOINT_URL_S3=" + (use_tls ? https_url() : http_url()),
            "AWS_CA_BUNDLE=" + (use_tls ? ca_file : std::string()),
            "S3_BUCKET_NAME=" + bucket};
}

http_answer http_call(int port, const std::string& method, const std::string& target, const std::string& body) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
    }
    std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    for (std::size_t sent = 0; sent < req.size();) {
        ssize_t n = ::write(fd, req.data() + sent, req.size() - sent);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
    }
    std::string resp;
    char buf[8192];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) resp.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    http_answer a;
    if (resp.size() > 12) a.status = std::atoi(resp.c_str() + 9);
    auto split = resp.find("\r\n\r\n");
    if (split != std::string::npos) {
        std::string head = resp.substr(0, split);
        a.body = resp.substr(split + 4);
        // Chunked answers (Node's default without Content-Length): undo the framing.
        if (head.find("chunked") != std::string::npos) {
            std::string plain;
            std::size_t pos = 0;
            while (pos < a.body.size()) {
                auto eol = a.body.find("\r\n", pos);
                if (eol == std::string::npos) break;
                std::size_t len = std::stoul(a.body.substr(pos, eol - pos), nullptr, 16);
                if (len == 0) break;
                plain += a.body.substr(eol + 2, len);
                pos = eol + 2 + len + 2;
            }
            a.body = plain;
        }
    }
    return a;
}

}  // namespace scb::test
