#pragma once
// The upload policy of one destination as a sans-io state machine (after Boost.Redis's writer_fsm
// and Boost.MySQL's sans-io algorithms): events in, actions out. It owns no socket, file, clock or
// timer; the uploader (uploader.hpp) performs the actions and feeds back what they produced.
//
// What it decides: which version to PUT next (leftovers oldest first, then the newest submitted
// version; a newer version replaces an older one still waiting), when to retry, when a version's
// spool copy is written (after spool_delay, at once when an attempt fails, at finish), and which
// copies may be deleted: only those whose version, or a newer one, S3 confirmed (every SCB is a
// complete snapshot of all channels, so a newer version supersedes an older one).
#include "backup/backoff.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace scb::backup {

/// A version as the policy sees it: its order and identity, never its bytes.
struct job_ref {
    std::uint64_t seq = 0;   // strictly increasing in the order versions were seen (leftovers first)
    std::string name;        // spool file name and key suffix
    std::string sha256_hex;  // content
    bool leftover = false;   // found in the spool at start (its copy exists)
};

/// How an upload attempt ended.
enum class put_outcome {
    ok,         // S3 confirmed the version
    retryable,  // network, timeout, 5xx, throttling: try again after a backoff
    needs_fix,  // credentials, bucket, access: retried slowly, logged as an error
    aborted,    // cancelled by cancel_put (shutdown)
    unreadable  // a leftover whose spool copy could not be read: dropped from the queue
};

namespace ev {
struct leftovers_found { std::vector<job_ref> items; };   ///< oldest first; their copies exist
struct submitted { job_ref v; bool force = false; };       ///< force: upload even if unchanged or confirmed (start-up, read-back failed)
struct put_done { std::uint64_t seq = 0; put_outcome outcome = put_outcome::ok; };
struct copy_done { std::uint64_t seq = 0; bool ok = true; };  ///< a write_copy finished
struct delete_done { bool ok = true; };                      ///< a delete_copies finished
struct retry_timer_fired {};
struct spool_timer_fired {};
struct grace_timer_fired {};
/// Shutdown, step one: the grace period starts. The PUT in flight may finish, then the newest
/// version (also one submitted now: lnd rewrites the file as it stops) gets one attempt if time is
/// left; nothing is retried and no leftover is started. What is not in S3 stays in the spool.
struct finish {};
struct abort {};   ///< shutdown, step two: cancel the PUT in flight
}  // namespace ev
using event = std::variant<ev::leftovers_found, ev::submitted, ev::put_done, ev::copy_done, ev::delete_done,
                           ev::retry_timer_fired, ev::spool_timer_fired, ev::grace_timer_fired, ev::finish, ev::abort>;

enum class timer_kind { retry, spool, grace };

namespace act {
struct start_put { job_ref v; unsigned attempt = 0; };
struct cancel_put {};
struct write_copy { job_ref v; };
struct delete_copies { std::vector<std::string> names; };
struct arm { timer_kind timer; std::chrono::milliseconds after{0}; };
struct disarm { timer_kind timer; };
/// Something to log and count; nothing to perform.
struct report {
    enum class what {
        confirmed,       // v is in S3 (health: uploaded)
        already_in_s3,   // v has the content S3 confirmed last: no PUT needed
        unchanged,       // submitted with the content of the newest version: ignored
        superseded,      // v (waiting, or between retries) replaced by the newer `by`
        collapsed,       // leftover v has the content of a newer version: not uploaded on its own
        failed,          // an attempt for v failed; retry_in set unless it gave up
        gave_up,         // the attempt limit was reached (once): v stays in the spool
        not_retrying,    // shutdown: v stays in the spool
        copy_failed,     // v's spool copy could not be written: retried at the next trigger
        delete_failed,
        grace_over,      // the PUT in flight is cancelled
        unreadable       // leftover v could not be read: skipped
    } kind;
    job_ref v;
    std::optional<job_ref> by;
    unsigned attempt = 0;
    std::optional<std::chrono::milliseconds> retry_in;
};
struct done {};  ///< shutdown complete: nothing in flight, every spool write and delete finished
}  // namespace act
using action = std::variant<act::start_put, act::cancel_put, act::write_copy, act::delete_copies, act::arm,
                            act::disarm, act::report, act::done>;

struct policy_options {
    std::chrono::milliseconds retry_min{1000};
    std::chrono::milliseconds retry_max{300'000};
    std::chrono::milliseconds fatal_retry_min{60'000};  // needs_fix failures: no faster than this
    std::chrono::milliseconds spool_delay{1000};        // 0: write the copy at once
    std::chrono::milliseconds grace{10'000};            // the PUT in flight at finish
    unsigned max_attempts = 0;                           // 0: forever; else give up after this many (once)
    bool give_up_on_needs_fix = false;                   // once: a needs_fix failure ends at once
    std::uint64_t seed = 0;                              // backoff jitter (tests replay a seed)
};

class upload_policy {
public:
    explicit upload_policy(policy_options opts);

    /// Feeds one event; returns the actions to perform, in order.
    std::vector<action> on(const event& e);

    /// Nothing waits, nothing is in flight or between retries.
    [[nodiscard]] bool idle() const noexcept;
    /// act::done was returned.
    [[nodiscard]] bool finished() const noexcept { return phase_ == phase::done; }
    /// Whether the uploader must still hold version `seq`'s bytes (waiting, in flight, between
    /// retries, or its spool copy still to be written).
    [[nodiscard]] bool needs_bytes(std::uint64_t seq) const noexcept;
    /// The content of the newest version accepted (waiting, in flight or confirmed); empty if none.
    [[nodiscard]] const std::string& newest_sha() const noexcept { return newest_sha_; }
    /// Versions waiting for a PUT (leftovers and the one newest version), for the invariants.
    [[nodiscard]] std::size_t waiting() const noexcept { return leftovers_.size() + (waiting_ ? 1 : 0); }
    /// Spool copies the policy knows of (written or being written), by name.
    [[nodiscard]] std::vector<std::string> copies() const;

private:
    enum class phase { running, finishing, aborting, done };
    enum class copy_state { writing, written };
    struct copy {
        job_ref v;
        copy_state state;
    };

    void on_event(const ev::leftovers_found& e);
    void on_event(const ev::submitted& e);
    void on_event(const ev::put_done& e);
    void on_event(const ev::copy_done& e);
    void on_event(const ev::delete_done& e);
    void on_event(const ev::retry_timer_fired& e);
    void on_event(const ev::spool_timer_fired& e);
    void on_event(const ev::grace_timer_fired& e);
    void on_event(const ev::finish& e);
    void on_event(const ev::abort& e);

    void maybe_start();
    /// During the grace period: one attempt for the newest waiting version, if nothing is in flight.
    void start_newest_in_grace();
    void start(job_ref v);
    /// S3 holds v (or its content): delete every copy of it or an older version.
    void confirm(const job_ref& v, act::report::what how);
    /// Writes the copy of the newest unconfirmed version now, if it has none.
    void spool_now();
    /// Drops leftovers whose content a newer version waiting (leftover or submitted) also has.
    void collapse_leftovers();
    void check_done();
    void emit(action a) { out_.push_back(std::move(a)); }
    void report(act::report::what kind, const job_ref& v, std::optional<job_ref> by = std::nullopt);

    policy_options opts_;
    backoff backoff_;
    phase phase_ = phase::running;

    std::deque<job_ref> leftovers_;
    std::optional<job_ref> waiting_;
    std::optional<job_ref> in_flight_;
    std::optional<job_ref> backing_off_;  // failed, waiting for the retry timer
    unsigned attempt_ = 0;                // attempts so far for the current job (kept across supersession)
    bool cancel_sent_ = false;
    bool grace_armed_ = false;
    bool grace_open_ = false;             // finishing: a new PUT may still start (no failure, time left)

    std::map<std::uint64_t, copy> copies_;   // by seq
    std::optional<job_ref> copy_candidate_;  // newest submitted version without a copy, not confirmed
    bool spool_timer_armed_ = false;
    std::size_t spool_ops_ = 0;              // write_copy and delete_copies not finished yet

    std::uint64_t confirmed_seq_ = 0;  // highest seq whose version (or content) S3 holds
    std::string confirmed_sha_;        // content S3 confirmed last
    std::string newest_sha_;

    std::vector<action> out_;
};

}  // namespace scb::backup
