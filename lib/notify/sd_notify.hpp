#pragma once
// A small sd_notify(3) client written by hand (no libsystemd): tells systemd that the service is
// ready, what it is doing, that it is stopping, and that it is still alive (the watchdog).
// Datagrams go to the AF_UNIX socket named by NOTIFY_SOCKET (a path, or "@name" for the abstract
// namespace). Without NOTIFY_SOCKET every call is a no-op, so the daemon runs the same by hand.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

namespace scb::notify {

/// Reads one environment variable; the real environment in production, a map in tests.
using env_lookup = std::function<std::optional<std::string>(const std::string& name)>;

/// Parses WATCHDOG_USEC (and checks WATCHDOG_PID against `self` when it is set): the interval in
/// which systemd expects WATCHDOG=1, or nothing when the watchdog is off or meant for another process.
std::optional<std::chrono::microseconds> parse_watchdog(const std::optional<std::string>& usec,
                                                        const std::optional<std::string>& pid, pid_t self);

class notifier {
public:
    /// Disabled: every call does nothing.
    notifier() = default;
    /// Sends to `socket_path` ("/run/systemd/notify", or "@name" for an abstract socket). An
    /// unusable path (too long, not absolute nor abstract) gives a disabled notifier and a warning.
    explicit notifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog = std::nullopt);
    ~notifier();
    notifier(notifier&& other) noexcept;
    notifier& operator=(notifier&& other) noexcept;
    notifier(const notifier&) = delete;
    notifier& operator=(const notifier&) = delete;

    /// From NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID of the process environment.
    static notifier from_environment();
    static notifier from_environment(const env_lookup& env, pid_t self);

    [[nodiscard]] bool enabled() const noexcept { return !address_.empty(); }

    void ready() { send("READY=1"); }
    /// STATUS=…, shown by `systemctl status`; newlines become spaces (one assignment per line).
    void status(std::string_view text);
    void stopping() { send("STOPPING=1"); }
    void watchdog() { send("WATCHDOG=1"); }
    /// Sends one raw message ("KEY=VALUE" lines). Failures are logged once, then ignored: the
    /// service must not stop because systemd is not listening.
    void send(std::string_view message);

    /// The watchdog interval systemd asked for (WatchdogSec=), if it did for this process.
    [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval() const noexcept { return watchdog_; }

    /// Sends WATCHDOG=1 every half interval until cancelled; returns at once if there is no watchdog.
    /// The pings come from the io_context thread, so a wedged event loop stops them and systemd
    /// restarts the service. `this` must outlive the coroutine.
    boost::asio::awaitable<void> run_watchdog(boost::asio::any_io_executor ex);

private:
    void close() noexcept;

    std::string address_;  // as given; '@' still in front for abstract names
    std::optional<std::chrono::microseconds> watchdog_;
    int fd_ = -1;          // opened on the first send
    bool warned_ = false;
};

}  // namespace scb::notify
