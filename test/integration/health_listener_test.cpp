// Slowloris against the real binary's health listener (issue #13): hundreds of connections that never
// finish their request header must not keep `scb-backup healthcheck` from an answer, nor stall uploads.
// Every client here comes from 127.0.0.1, like the healthcheck itself, so a per-address cap alone
// would not do: the listener has to drop the slow connections in favour of the fresh one.
#include "daemon_fixture.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>

using namespace scb::test;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// `count` connections that each send the start of a request header, then (when `trickle`) one more
/// header byte every 500 ms from a thread: the pace that defeats a timeout restarted on every read.
/// Errors are ignored: the server is free to close them. All are closed on destruction.
class slow_clients {
public:
    slow_clients(int port, int count, bool trickle) {
        const tcp::endpoint server(asio::ip::address_v4::loopback(), static_cast<unsigned short>(port));
        const std::string start = "GET /healthz HTTP/1.1\r\nHo";
        for (int i = 0; i < count; ++i) {
            tcp::socket s(io_);
            boost::system::error_code ec;
            s.connect(server, ec);
            if (!ec) asio::write(s, asio::buffer(start), ec);
            sockets_.push_back(std::move(s));
        }
        if (trickle) trickler_ = std::thread([this] { trickle_loop(); });
    }
    ~slow_clients() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        wake_.notify_all();
        if (trickler_.joinable()) trickler_.join();
    }
    slow_clients(const slow_clients&) = delete;
    slow_clients& operator=(const slow_clients&) = delete;

    /// Rounds of trickled bytes sent so far.
    [[nodiscard]] int rounds() const { return rounds_; }

private:
    void trickle_loop() {
        std::unique_lock lock(mutex_);
        // The attacker's pace, not a test synchronisation: wait_for returns early only to stop.
        while (!wake_.wait_for(lock, 500ms, [this] { return stop_; })) {
            for (auto& s : sockets_) {
                boost::system::error_code ec;
                s.write_some(asio::buffer("x", 1), ec);  // header name bytes: "Hoxxx…", never complete
            }
            ++rounds_;
        }
    }

    asio::io_context io_;
    std::vector<tcp::socket> sockets_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::atomic<int> rounds_{0};
    std::thread trickler_;
};

}  // namespace

TEST_CASE("Healthcheck answers and uploads go on while 200 slow connections hold the health listener",
          "[integration][health][slowloris]") {
    const bool trickle = GENERATE(false, true);
    CAPTURE(trickle);
    daemon_fixture f;
    const auto v0 = lnd_simulator::content(0);
    f.lnd.swap(v0);
    auto proc = f.start({"run"}, {"SCB_LISTEN=127.0.0.1:0"});
    const std::string marker = "health endpoint listening on http://127.0.0.1:";
    REQUIRE(proc->wait_for_stderr(marker, 10s));
    const auto log = proc->stderr_text();
    const int port = std::atoi(log.c_str() + log.find(marker) + marker.size());
    REQUIRE(port > 0);
    REQUIRE(f.wait_for_content(v0));
    REQUIRE(eventually([&] { return http_call(port, "GET", "/healthz").status == 200; }));

    slow_clients slow(port, 200, trickle);
    if (trickle) REQUIRE(eventually([&] { return slow.rounds() >= 2; }));  // bytes are trickling in

    // The binary as Docker's HEALTHCHECK runs it. 5 s bounds the child so that a hang fails the test
    // instead of blocking it (a liveness bound; the probe's own deadline is 5 s as well).
    const std::vector<std::string> argv{backup_executable(), "healthcheck"};
    auto env = f.env();
    env.push_back("SCB_LISTEN=127.0.0.1:" + std::to_string(port));
    const auto probe = run(argv, env, 5s, foreign_variables());
    CAPTURE(probe.out, probe.err);
    CHECK(probe.exit_code == 0);
    CHECK(probe.out == "ok\n");

    // The daemon's one io_context also carries the uploads: a new version still reaches S3.
    const auto v1 = lnd_simulator::content(1);
    f.lnd.swap(v1);
    CHECK(f.wait_for_content(v1));
    CHECK(proc->running());
}
