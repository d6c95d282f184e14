#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <stdexcept>
#include <string_view>
#include <thread>

extern char** environ;

namespace scb::test {
namespace {

using clock = std::chrono::steady_clock;

int remaining_ms(clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

bool read_some(int fd, std::string& buf) {
    char tmp[4096];
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n > 0) {
        buf.append(tmp, static_cast<std::size_t>(n));
        return true;
    }
    return false;
}

}  // namespace

child_process::child_process(std::vector<std::string> argv, std::vector<std::string> env_overrides,
                             std::vector<std::string> env_removals) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
        throw std::runtime_error("pipe failed");
    // Build the environment before fork: only async-signal-safe calls after it.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        std::string entry(*e);
        std::string name = entry.substr(0, entry.find('='));
        bool drop = false;
        for (const auto& r : env_removals) drop = drop || r == name;
        for (const auto& o : env_overrides) drop = drop || o.substr(0, o.find('=')) == name;
        if (!drop) env_strings.push_back(entry);
    }
    // A later override of the same name wins over an earlier one.
    for (std::size_t i = 0; i < env_overrides.size(); ++i) {
        const auto name = env_overrides[i].substr(0, env_overrides[i].find('='));
        bool replaced_later = false;
        for (std::size_t j = i + 1; j < env_overrides.size(); ++j)
            replaced_later = replaced_later || env_overrides[j].substr(0, env_overrides[j].find('=')) == name;
        if (!replaced_later) env_strings.push_back(env_overrides[i]);
    }
    std::vector<char*> envp, args;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const pid_t parent = ::getpid();

    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        ::setpgid(0, 0);
        ::execvpe(args[0], args.data(), envp.data());
        const char msg[] = "exec failed\n";
        (void)!::write(2, msg, sizeof msg - 1);
        ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
    ::fcntl(out_, F_SETFL, O_NONBLOCK);
    ::fcntl(err_, F_SETFL, O_NONBLOCK);
    err_drainer_ = std::thread([this] { drain_stderr_loop(); });
}

child_process::~child_process() {
    if (running()) {
        // Ask nicely (servers clean their temp folders), then insist.
        signal(SIGTERM);
        if (!wait(std::chrono::seconds(5))) {
            ::kill(-pid_, SIGKILL);
            ::kill(pid_, SIGKILL);
            wait(std::chrono::seconds(5));
        }
    }
    stop_draining_ = true;
    if (err_drainer_.joinable()) err_drainer_.join();
    for (int fd : {in_, out_, err_})
        if (fd >= 0) ::close(fd);
}

void child_process::drain_stderr_loop() {
    std::string chunk;
    while (!stop_draining_) {
        pollfd fd{err_, POLLIN, 0};
        if (::poll(&fd, 1, 50) <= 0) continue;
        chunk.clear();
        const bool got = read_some(err_, chunk);
        if (got) {
            std::lock_guard lock(err_mutex_);
            err_buf_ += chunk;
        } else if (fd.revents & (POLLHUP | POLLERR)) {
            stderr_closed_ = true;  // the child (and everything that shared its stderr) is gone
            return;
        }
    }
}

std::string child_process::stderr_text() {
    std::lock_guard lock(err_mutex_);
    return err_buf_;
}

std::optional<std::string> child_process::read_stdout_line(std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
        if (auto nl = out_buf_.find('\n'); nl != std::string::npos) {
            std::string line = out_buf_.substr(0, nl);
            out_buf_.erase(0, nl + 1);
            return line;
        }
        pollfd fds[1] = {{out_, POLLIN, 0}};
        int r = ::poll(fds, 1, remaining_ms(deadline));
        if (r <= 0) return std::nullopt;
        if (fds[0].revents & POLLIN) {
            if (!read_some(out_, out_buf_)) return std::nullopt;
        } else if (fds[0].revents & (POLLHUP | POLLERR)) {
            return std::nullopt;
        }
    }
}

bool child_process::wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
        if (stderr_text().find(needle) != std::string::npos) return true;
        if (clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

void child_process::close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
}

void child_process::signal(int signo) {
    if (pid_ > 0 && !status_) ::kill(pid_, signo);
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (!status_) {
        int st = 0;
        pid_t r = ::waitpid(pid_, &st, WNOHANG);
        if (r == pid_) {
            status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (clock::now() >= deadline) return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Let the drainer collect the last lines the child wrote before it exited.
    for (int i = 0; i < 1000 && !stderr_closed_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return status_;
}

bool child_process::running() { return pid_ > 0 && !wait(std::chrono::milliseconds(0)).has_value(); }

namespace {

/// Sum of the numbers after each of `fields` ("Name:") in a /proc status file; 0 when it is gone.
std::uint64_t status_fields(const std::filesystem::path& status_file, std::initializer_list<std::string_view> fields) {
    std::ifstream status(status_file);
    std::string line;
    std::uint64_t total = 0;
    while (std::getline(status, line))
        for (auto field : fields)
            if (line.starts_with(field)) total += std::stoull(line.substr(field.size()));
    return total;
}

}  // namespace

long child_process::rss_kib() const {
    return static_cast<long>(status_fields("/proc/" + std::to_string(pid_) + "/status", {"VmRSS:"}));
}

std::uint64_t child_process::context_switches() const {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/task", ec))
        total += status_fields(task.path() / "status", {"voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"});
    return total;
}

run_result run(std::vector<std::string> argv, std::vector<std::string> env_overrides, std::chrono::milliseconds timeout,
               std::vector<std::string> env_removals) {
    child_process p(std::move(argv), std::move(env_overrides), std::move(env_removals));
    p.close_stdin();
    run_result r;
    const auto deadline = clock::now() + timeout;
    while (auto line = p.read_stdout_line(std::chrono::milliseconds(remaining_ms(deadline)))) r.out += *line + "\n";
    r.out += p.take_stdout_rest();  // stdout byte for byte, also without a final newline
    auto code = p.wait(std::chrono::milliseconds(remaining_ms(deadline) + 1000));
    r.exit_code = code.value_or(-1);
    r.err = p.stderr_text();
    return r;
}

}  // namespace scb::test
