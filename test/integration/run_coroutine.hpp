#pragma once
// Runs one coroutine on an io_context under a deadline, as Boost.Redis's tests do.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <stdexcept>

namespace scb::test {

template <class T>
T run_coroutine(boost::asio::io_context& ioc, boost::asio::awaitable<T> work,
                std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::optional<T> value;
    std::exception_ptr failure;
    bool done = false;
    boost::asio::co_spawn(ioc, std::move(work), [&](std::exception_ptr e, T v) {
        failure = e;
        if (!e) value = std::move(v);
        done = true;
    });
    ioc.restart();
    ioc.run_for(limit);
    if (!done) throw std::runtime_error("coroutine did not finish within the deadline");
    if (failure) std::rethrow_exception(failure);
    return std::move(*value);
}

inline void run_coroutine(boost::asio::io_context& ioc, boost::asio::awaitable<void> work,
                          std::chrono::seconds limit = std::chrono::seconds(60)) {
    std::exception_ptr failure;
    bool done = false;
    boost::asio::co_spawn(ioc, std::move(work), [&](std::exception_ptr e) {
        failure = e;
        done = true;
    });
    ioc.restart();
    ioc.run_for(limit);
    if (!done) throw std::runtime_error("coroutine did not finish within the deadline");
    if (failure) std::rethrow_exception(failure);
}

}  // namespace scb::test
