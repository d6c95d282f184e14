#pragma once
// Test support: runs a real program as a child with its stdin/stdout/stderr on pipes. The child
// gets SIGKILL if the test process dies (PR_SET_PDEATHSIG), so no server outlives its test.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace scb::test {

class child_process {
public:
    /// Starts `argv[0]` (searched in PATH) with `env_overrides` ("NAME=value") added to the
    /// current environment and `env_removals` taken out of it. Throws on failure to start.
    child_process(std::vector<std::string> argv, std::vector<std::string> env_overrides = {},
                  std::vector<std::string> env_removals = {});
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// Reads one line from stdout; nullopt on EOF or timeout.
    std::optional<std::string> read_stdout_line(std::chrono::milliseconds timeout);
    /// What stdout held after its last newline (a partial last line), taken out of the buffer.
    std::string take_stdout_rest() { return std::exchange(out_buf_, {}); }
    /// Everything the child wrote to stderr so far. A thread drains the pipe all the time, so a
    /// chatty child never blocks on a full pipe while the test looks elsewhere.
    std::string stderr_text();
    /// Waits until stderr contains `needle`; false on timeout or exit.
    bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout);
    /// Closes the child's stdin (servers that watch it stop).
    void close_stdin();
    void signal(int signo);
    /// Waits for exit; returns the exit code (128+signal when killed), nullopt on timeout.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    [[nodiscard]] bool running();
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    /// Resident set size in KiB from /proc (0 when gone).
    [[nodiscard]] long rss_kib() const;
    /// Context switches (voluntary and not) summed over all threads: each wake-up counts one.
    [[nodiscard]] std::uint64_t context_switches() const;

private:
    void drain_stderr_loop();
    pid_t pid_ = -1;
    int in_ = -1, out_ = -1, err_ = -1;
    std::string out_buf_;
    std::optional<int> status_;
    std::mutex err_mutex_;
    std::string err_buf_;
    std::atomic<bool> stop_draining_{false};
    std::atomic<bool> stderr_closed_{false};
    std::thread err_drainer_;
};

/// Runs a command to completion; returns exit code, stdout and stderr.
struct run_result {
    int exit_code = -1;
    std::string out, err;
};
run_result run(std::vector<std::string> argv, std::vector<std::string> env_overrides = {},
               std::chrono::milliseconds timeout = std::chrono::seconds(60), std::vector<std::string> env_removals = {});

}  // namespace scb::test
