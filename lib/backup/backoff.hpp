#pragma once
// Exponential backoff with full jitter (AWS architecture blog): sleep a random time between 0 and
// min(max, base * 2^attempt), so many clients failing together do not retry together.
#include <chrono>
#include <cstdint>
#include <random>

namespace scb::backup {

class backoff {
public:
    backoff(std::chrono::milliseconds base, std::chrono::milliseconds max, std::uint64_t seed = std::random_device{}())
        : base_(base), max_(max), rng_(seed) {}

    /// The ceiling for the given attempt (0-based): base * 2^attempt, capped at max.
    [[nodiscard]] std::chrono::milliseconds ceiling(unsigned attempt) const noexcept {
        const auto capped_shift = attempt > 30 ? 30u : attempt;
        const auto grown = base_.count() * (std::int64_t{1} << capped_shift);
        return std::chrono::milliseconds(grown > max_.count() || grown < 0 ? max_.count() : grown);
    }

    /// A delay drawn uniformly from [0, ceiling(attempt)].
    std::chrono::milliseconds delay(unsigned attempt) {
        std::uniform_int_distribution<std::int64_t> pick(0, ceiling(attempt).count());
        return std::chrono::milliseconds(pick(rng_));
    }

private:
    std::chrono::milliseconds base_, max_;
    std::mt19937_64 rng_;
};

}  // namespace scb::backup
