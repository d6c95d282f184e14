#pragma once
// Asks the kernel's scheduler for prompt wake-ups of the calling thread, within its fair share.
#include <chrono>
#include <string>

namespace scb::platform {

/// What request_short_slice() did, for one log line.
struct slice_result {
    bool applied = false;
    std::string detail;  // why not, when not applied
};

/// Asks for a short EEVDF time slice for the calling thread (sched_setattr's sched_runtime for a
/// SCHED_OTHER thread, Linux 6.12 and later). The thread then gets an earlier deadline when it wakes
/// and may preempt the task that woke it (the writer of the file) instead of waiting behind it; its
/// share of the CPU is unchanged, and a thread that runs longer than the slice is simply preempted
/// sooner. Keeps the thread's nice value; does nothing to a thread under another policy (an operator's
/// SCHED_BATCH or SCHED_IDLE). Older kernels ignore the field: applied is then true but has no effect.
slice_result request_short_slice(std::chrono::microseconds slice);

}  // namespace scb::platform
