#include "notify/sd_notify.hpp"

#include "logging/logger.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace scb::notify {

namespace asio = boost::asio;

namespace {

template <class Int>
std::optional<Int> parse_decimal(const std::string& text) {
    Int value{};
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
    return value;
}

/// Fills a sockaddr_un for a path or an "@abstract" name; the length to pass, or 0 if unusable.
socklen_t make_address(const std::string& name, sockaddr_un& sa) {
    std::memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (name.size() < 2 || name.size() > sizeof(sa.sun_path) - 1) return 0;
    if (name[0] == '@') {
        // Abstract namespace: a leading NUL, and the length counts exactly the name's bytes.
        std::memcpy(sa.sun_path + 1, name.data() + 1, name.size() - 1);
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    }
    if (name[0] != '/') return 0;
    std::memcpy(sa.sun_path, name.data(), name.size());
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
}

}  // namespace

std::optional<std::chrono::microseconds> parse_watchdog(const std::optional<std::string>& usec,
                                                        const std::optional<std::string>& pid, pid_t self) {
    if (!usec) return std::nullopt;
    // systemd sets WATCHDOG_PID to the main process; a child that inherited the variables must not ping.
    if (pid) {
        auto p = parse_decimal<long long>(*pid);
        if (!p || *p != static_cast<long long>(self)) return std::nullopt;
    }
    auto v = parse_decimal<unsigned long long>(*usec);
    if (!v || *v == 0) return std::nullopt;
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(*v));
}

notifier::notifier(std::string socket_path, std::optional<std::chrono::microseconds> watchdog)
    : watchdog_(watchdog) {
    sockaddr_un sa;
    if (make_address(socket_path, sa) == 0) {
        logging::warn("NOTIFY_SOCKET '", socket_path,
                      "' is neither an absolute path nor an @abstract name that fits a unix socket address: "
                      "not notifying systemd");
        watchdog_.reset();
        return;
    }
    address_ = std::move(socket_path);
}

notifier::~notifier() { close(); }

notifier::notifier(notifier&& other) noexcept
    : address_(std::move(other.address_)),
      watchdog_(other.watchdog_),
      fd_(std::exchange(other.fd_, -1)),
      warned_(other.warned_) {
    other.address_.clear();
    other.watchdog_.reset();
}

notifier& notifier::operator=(notifier&& other) noexcept {
    if (this != &other) {
        close();
        address_ = std::move(other.address_);
        other.address_.clear();
        watchdog_ = std::exchange(other.watchdog_, std::nullopt);
        fd_ = std::exchange(other.fd_, -1);
        warned_ = other.warned_;
    }
    return *this;
}

void notifier::close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
}

notifier notifier::from_environment() {
    return from_environment(
        [](const std::string& name) -> std::optional<std::string> {
            const char* v = std::getenv(name.c_str());
            if (!v) return std::nullopt;
            return std::string(v);
        },
        ::getpid());
}

notifier notifier::from_environment(const env_lookup& env, pid_t self) {
    auto socket = env("NOTIFY_SOCKET");
    if (!socket || socket->empty()) return notifier();
    return notifier(std::move(*socket), parse_watchdog(env("WATCHDOG_USEC"), env("WATCHDOG_PID"), self));
}

void notifier::status(std::string_view text) {
    std::string message = "STATUS=";
    message.append(text);
    for (std::size_t i = 7; i < message.size(); ++i)
        if (message[i] == '\n' || message[i] == '\r') message[i] = ' ';
    send(message);
}

void notifier::send(std::string_view message) {
    if (!enabled()) return;
    sockaddr_un sa;
    const socklen_t len = make_address(address_, sa);
    if (fd_ < 0) fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int err = 0;
    if (fd_ < 0) {
        err = errno;
    } else {
        ssize_t n;
        do {
            n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&sa), len);
        } while (n < 0 && errno == EINTR);
        if (n < 0) err = errno;
    }
    // One warning, then silence: a missing listener must neither flood the log nor stop the service.
    if (err != 0 && !warned_) {
        warned_ = true;
        logging::warn("cannot notify systemd at ", address_, ": ", std::strerror(err), " (further failures not logged)");
    }
}

asio::awaitable<void> notifier::run_watchdog(asio::any_io_executor ex) {
    if (!enabled() || !watchdog_) co_return;
    // Half the interval, as sd_watchdog_enabled(3) recommends, so one late ping is not fatal.
    const auto period = *watchdog_ / 2;
    asio::steady_timer timer(ex);
    for (;;) {
        watchdog();
        timer.expires_after(period);
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;  // cancelled: the service is stopping
    }
}

}  // namespace scb::notify
