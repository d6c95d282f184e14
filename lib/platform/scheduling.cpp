#include "platform/scheduling.hpp"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace scb::platform {
namespace {

// struct sched_attr of <linux/sched/types.h>, which cannot be included beside <sched.h> (both define
// sched_param). Version 1 layout (SCHED_ATTR_SIZE_VER1, Linux 5.3+; older kernels take the first 48 bytes).
struct sched_attr_v1 {
    std::uint32_t size;
    std::uint32_t sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime;
    std::uint64_t sched_deadline;
    std::uint64_t sched_period;
    std::uint32_t sched_util_min;
    std::uint32_t sched_util_max;
};
static_assert(sizeof(sched_attr_v1) == 56);

}  // namespace

slice_result request_short_slice(std::chrono::microseconds slice) {
    const int policy = ::sched_getscheduler(0);
    if (policy != SCHED_OTHER) return {false, "the thread runs under another scheduling policy"};
    errno = 0;
    const int nice = ::getpriority(PRIO_PROCESS, 0);  // of this thread (Linux: per thread)
    if (errno != 0) return {false, std::strerror(errno)};
    sched_attr_v1 attr{};
    attr.size = sizeof attr;
    attr.sched_policy = SCHED_OTHER;
    attr.sched_nice = nice;
    attr.sched_runtime = static_cast<std::uint64_t>(std::chrono::nanoseconds(slice).count());
    // glibc 2.36 has no wrapper for sched_setattr.
    if (::syscall(SYS_sched_setattr, 0, &attr, 0) != 0) return {false, std::strerror(errno)};
    return {true, {}};
}

}  // namespace scb::platform
