#include "s3/credentials.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace scb::s3;

namespace {
env_lookup fake_env(std::map<std::string, std::string> vars) {
    return [vars](const std::string& n) -> std::optional<std::string> {
        auto it = vars.find(n);
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

struct temp_file {
    std::filesystem::path path;
    explicit temp_file(const std::string& text) {
        path = std::filesystem::temp_directory_path() / ("scb-creds-" + std::to_string(::getpid()) + "-" +
                                                         std::to_string(reinterpret_cast<std::uintptr_t>(this)));
        std::ofstream(path) << text;
    }
    ~temp_file() { std::filesystem::remove(path); }
};

/// Loads static credentials on a thread and returns the error text ("(no error)" when it loaded).
/// A read that blocks on `fifo` is released after a generous bound by opening the FIFO's write
/// end, so the test fails with "(blocked)" instead of hanging.
std::string load_error_within(const env_lookup& env, const std::filesystem::path& fifo) {
    std::promise<std::string> done;
    auto result = done.get_future();
    std::thread t([&] {
        try {
            (void)load_static_credentials(env);
            done.set_value("(no error)");
        } catch (const std::exception& e) {
            done.set_value(e.what());
        }
    });
    if (result.wait_for(std::chrono::seconds(20)) == std::future_status::ready) {
        t.join();
        return result.get();
    }
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);  // the reader gets EOF and returns
    if (w >= 0) ::close(w);
    t.join();
    return "(blocked)";
}
}  // namespace

TEST_CASE("Credentials come from the environment first", "[unit][credentials]") {
    auto r = load_static_credentials(fake_env({{"AWS_ACCESS_KEY_ID", "AKID"},
                                               {"AWS_SECRET_ACCESS_KEY", "SECRETKEY"},
                                               {"AWS_SESSION_TOKEN", "TOKEN"}}));
    CHECK(r.creds.access_key_id == "AKID");
    CHECK(r.creds.secret_access_key.reveal() == "SECRETKEY");
    CHECK(r.creds.session_token.reveal() == "TOKEN");
    CHECK(r.source.find("environment") != std::string::npos);
    std::ostringstream os;
    os << r.creds.secret_access_key;
    CHECK(os.str() == "***");
}

TEST_CASE("Half a key pair in the environment is an error naming the missing variable", "[unit][credentials]") {
    CHECK_THROWS_WITH(load_static_credentials(fake_env({{"AWS_ACCESS_KEY_ID", "AKID"}})),
                      Catch::Contains("AWS_SECRET_ACCESS_KEY is not set"));
    CHECK_THROWS_WITH(load_static_credentials(fake_env({{"AWS_SECRET_ACCESS_KEY", "SECRETKEY"}})),
                      Catch::Contains("AWS_ACCESS_KEY_ID is not set") && !Catch::Contains("SECRETKEY"));
}

TEST_CASE("The shared credentials file is read by profile", "[unit][credentials]") {
    temp_file f("# comment\n[default]\naws_access_key_id = AKDEF\naws_secret_access_key = SDEF\n\n"
                "[work]\naws_access_key_id=AKWORK\naws_secret_access_key=SWORK\naws_session_token=TWORK\n");
    auto def = load_static_credentials(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", f.path.string()}}));
    CHECK(def.creds.access_key_id == "AKDEF");
    CHECK(def.creds.secret_access_key.reveal() == "SDEF");
    auto work = load_static_credentials(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", f.path.string()}, {"AWS_PROFILE", "work"}}));
    CHECK(work.creds.access_key_id == "AKWORK");
    CHECK(work.creds.session_token.reveal() == "TWORK");
    CHECK(work.source.find("[work]") != std::string::npos);
    CHECK_THROWS_WITH(load_static_credentials(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", f.path.string()}}), {"nope", ""}),
                      Catch::Contains("profile [nope] not found"));
}

TEST_CASE("Missing or malformed credential sources are named, never their secrets", "[unit][credentials]") {
    CHECK_THROWS_WITH(load_static_credentials(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/creds"}})),
                      Catch::Contains("/nonexistent/creds"));
    CHECK_THROWS_WITH(load_static_credentials(fake_env({{"HOME", "/nonexistent-home"}})),
                      Catch::Contains("no AWS credentials"));
    CHECK_THROWS_WITH(parse_shared_credentials("[default]\naws_access_key_id = A\n", "default", "f"),
                      Catch::Contains("needs both"));
    CHECK_THROWS_WITH(parse_shared_credentials("[default]\nthis line is broken SECRETVALUE\n", "default", "credfile"),
                      Catch::Contains("credfile is malformed at line 2") && !Catch::Contains("SECRETVALUE"));
    CHECK_FALSE(parse_shared_credentials("[other]\naws_access_key_id=a\naws_secret_access_key=b\n", "default", "f"));
}

TEST_CASE("The shared credentials file must be a small regular file; a FIFO does not block", "[unit][credentials]") {
    scb::unit::temp_dir dir;
    const auto fifo = dir.path / "credentials";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const auto msg = load_error_within(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", fifo.string()}}), fifo);
    CHECK_THAT(msg, Catch::Contains("is a FIFO, not a regular file") &&
                        Catch::Contains("AWS_SHARED_CREDENTIALS_FILE / --credentials-file"));

    // Over the 1 MiB cap: refused before parsing, without quoting any of it.
    const auto big = dir.path / "big";
    std::ofstream(big) << "[default]\naws_access_key_id = AKBIG\naws_secret_access_key = SBIGSECRET\n# "
                       << std::string(2 * 1024 * 1024, 'x') << "\n";
    CHECK_THROWS_WITH(load_static_credentials(fake_env({{"AWS_SHARED_CREDENTIALS_FILE", big.string()}})),
                      Catch::Contains("larger than") && !Catch::Contains("SBIGSECRET") &&
                          Catch::Contains("AWS_SHARED_CREDENTIALS_FILE"));
    // A folder where the file should be: one line naming the setting.
    CHECK_THROWS_WITH(load_static_credentials(fake_env({}), {"", dir.path.string()}),
                      Catch::Contains("is a folder") && Catch::Contains("--credentials-file"));
}
