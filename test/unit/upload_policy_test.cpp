// The upload policy, driven by hand (examples) and by thousands of generated event sequences
// (properties). The harness plays the uploader: it keeps at most the state a real one would (one
// PUT, armed timers, a FIFO spool thread) and checks the invariants after every step.
#include "backup/upload_policy.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <sstream>

using namespace scb::backup;
using what = act::report::what;

namespace {

job_ref job(std::uint64_t seq, std::string sha, bool leftover = false) {
    return job_ref{seq, "v" + std::to_string(seq), std::move(sha), leftover};
}

template <class T>
std::vector<T> all_of(const std::vector<action>& actions) {
    std::vector<T> out;
    for (const auto& a : actions)
        if (auto* x = std::get_if<T>(&a)) out.push_back(*x);
    return out;
}

template <class T>
bool has(const std::vector<action>& actions) {
    return !all_of<T>(actions).empty();
}

std::vector<std::string> deleted(const std::vector<action>& actions) {
    std::vector<std::string> names;
    for (const auto& d : all_of<act::delete_copies>(actions)) names.insert(names.end(), d.names.begin(), d.names.end());
    return names;
}

policy_options fast() {
    policy_options o;
    o.retry_min = std::chrono::milliseconds(10);
    o.retry_max = std::chrono::milliseconds(100);
    o.fatal_retry_min = std::chrono::milliseconds(50);
    o.spool_delay = std::chrono::milliseconds(1000);
    o.grace = std::chrono::milliseconds(500);
    o.seed = 7;
    return o;
}

// ---- the property harness ----

struct harness {
    explicit harness(std::uint64_t seed, policy_options o) : rng(seed), policy(with_seed(o, seed)) {}
    static policy_options with_seed(policy_options o, std::uint64_t seed) {
        o.seed = seed;
        return o;
    }

    std::mt19937_64 rng;
    upload_policy policy;
    std::ostringstream trace;  // printed on failure: the events so far

    // What the uploader would hold.
    std::optional<job_ref> in_flight;
    std::set<timer_kind> armed;
    struct spool_op {
        bool write;
        std::uint64_t seq;
        std::vector<std::string> names;
    };
    std::deque<spool_op> spool_thread;
    std::set<std::string> files;  // on disk

    // The model.
    std::uint64_t next_seq = 1;
    std::map<std::string, std::uint64_t> seq_of;  // name -> seq
    std::map<std::uint64_t, std::string> sha_of;
    std::uint64_t s3_max_seq = 0;  // newest version whose content S3 holds
    std::set<std::string> s3_shas;
    std::optional<std::string> last_put_sha;
    std::optional<job_ref> newest;  // newest version submitted and accepted
    bool finishing = false, aborting = false, cancel_seen = false, write_failed = false;
    bool grace_usable = false;  // finishing, and neither a failure, the grace timer nor abort came
    std::size_t initial_leftovers = 0;

    bool chance(int percent) { return std::uniform_int_distribution<int>(0, 99)(rng) < percent; }
    std::string some_sha() { return "sha" + std::to_string(std::uniform_int_distribution<int>(0, 3)(rng)); }

    void feed(const event& e, const std::string& label) {
        trace << label << "\n";
        auto actions = policy.on(e);
        for (const auto& a : actions) perform(a);
        check();
    }

    void perform(const action& a) {
        if (auto* p = std::get_if<act::start_put>(&a)) {
            INFO(trace.str());
            REQUIRE_FALSE(in_flight);  // one PUT at a time
            if (finishing) {
                // In the grace period only the newest version gets one attempt, while time is left
                // and nothing failed.
                REQUIRE(grace_usable);
                REQUIRE(newest);
                REQUIRE(p->v.seq == newest->seq);
                REQUIRE(p->attempt == 0);
            }
            in_flight = p->v;
        } else if (std::get_if<act::cancel_put>(&a)) {
            cancel_seen = true;
        } else if (auto* w = std::get_if<act::write_copy>(&a)) {
            spool_thread.push_back({true, w->v.seq, {w->v.name}});
        } else if (auto* d = std::get_if<act::delete_copies>(&a)) {
            for (const auto& name : d->names) {
                INFO(trace.str() << "deleting " << name);
                // A copy is deleted only when its version or a newer one is in S3.
                REQUIRE(seq_of.count(name) == 1);
                REQUIRE(seq_of[name] <= s3_max_seq);
            }
            spool_thread.push_back({false, 0, d->names});
        } else if (auto* t = std::get_if<act::arm>(&a)) {
            armed.insert(t->timer);
        } else if (auto* dis = std::get_if<act::disarm>(&a)) {
            armed.erase(dis->timer);
        } else if (auto* r = std::get_if<act::report>(&a)) {
            if (r->kind == what::already_in_s3) {
                INFO(trace.str());
                REQUIRE(s3_shas.count(r->v.sha256_hex) == 1);
                s3_max_seq = std::max(s3_max_seq, r->v.seq);
            }
        }
    }

    void check() {
        INFO(trace.str());
        // At most one version waits beside the leftovers: memory stays flat whatever the burst.
        REQUIRE(policy.waiting() <= initial_leftovers + 1);
        if (policy.finished()) REQUIRE_FALSE(in_flight);
        // A clean stop (S3 answering, within the grace) leaves the newest version in S3, also one
        // submitted after the stop began (lnd's shutdown rewrite).
        if (policy.finished() && grace_usable && newest) REQUIRE(s3_max_seq >= newest->seq);
    }

    void leftovers(int n) {
        ev::leftovers_found f;
        for (int i = 0; i < n; ++i) {
            auto v = job(next_seq++, some_sha(), true);
            seq_of[v.name] = v.seq;
            sha_of[v.seq] = v.sha256_hex;
            files.insert(v.name);
            f.items.push_back(v);
        }
        initial_leftovers = static_cast<std::size_t>(n);
        feed(f, "leftovers " + std::to_string(n));
    }

    void submit(bool force) {
        auto v = job(next_seq++, some_sha());
        seq_of[v.name] = v.seq;
        sha_of[v.seq] = v.sha256_hex;
        const bool unchanged = !force && newest && newest->sha256_hex == v.sha256_hex;
        if (!unchanged) newest = v;
        // Forced (a read-back found the object gone): the same content may be confirmed again.
        if (force) last_put_sha.reset();
        feed(ev::submitted{v, force}, "submit " + v.name + " " + v.sha256_hex + (force ? " force" : ""));
    }

    void put_result(put_outcome o) {
        auto v = *in_flight;
        in_flight.reset();
        if (o == put_outcome::ok) {
            INFO(trace.str());
            // The same content is not confirmed twice in a row.
            if (last_put_sha) REQUIRE(*last_put_sha != v.sha256_hex);
            last_put_sha = v.sha256_hex;
            s3_max_seq = std::max(s3_max_seq, v.seq);
            s3_shas.insert(v.sha256_hex);
        }
        if (o != put_outcome::ok) grace_usable = false;
        feed(ev::put_done{v.seq, o}, "put " + v.name + " -> " + std::to_string(static_cast<int>(o)));
    }

    void spool_step(bool fail) {
        auto op = spool_thread.front();
        spool_thread.pop_front();
        if (op.write) {
            if (fail) write_failed = true;
            else files.insert(op.names.front());
            feed(ev::copy_done{op.seq, !fail}, "copy " + op.names.front() + (fail ? " failed" : " written"));
        } else {
            for (const auto& n : op.names) files.erase(n);
            feed(ev::delete_done{true}, "deleted");
        }
    }

    void fire(timer_kind t) {
        if (t == timer_kind::grace && armed.count(t)) grace_usable = false;
        armed.erase(t);
        if (t == timer_kind::retry) feed(ev::retry_timer_fired{}, "retry timer");
        if (t == timer_kind::spool) feed(ev::spool_timer_fired{}, "spool timer");
        if (t == timer_kind::grace) feed(ev::grace_timer_fired{}, "grace timer");
    }

    /// One random step; false when nothing can happen any more.
    void random_step() {
        const int pick = std::uniform_int_distribution<int>(0, 99)(rng);
        if (pick < 25) {
            submit(chance(5));
        } else if (pick < 55 && in_flight) {
            if (aborting && cancel_seen) put_result(chance(80) ? put_outcome::aborted : put_outcome::ok);
            else put_result(chance(45) ? put_outcome::ok : chance(75) ? put_outcome::retryable : put_outcome::needs_fix);
        } else if (pick < 70 && !spool_thread.empty()) {
            spool_step(chance(15));
        } else if (pick < 85 && !armed.empty()) {
            auto it = armed.begin();
            std::advance(it, std::uniform_int_distribution<std::size_t>(0, armed.size() - 1)(rng));
            fire(*it);
        } else if (pick < 88) {
            // A timer that fired just as it was cancelled: the policy must tell it is stale.
            const auto t = static_cast<timer_kind>(std::uniform_int_distribution<int>(0, 2)(rng));
            if (armed.count(t) == 0) fire(t);
        } else if (pick < 90 && !finishing) {
            finish();
        } else if (pick < 91) {
            grace_usable = false;
            finishing = aborting = true;
            feed(ev::abort{}, "abort");
            INFO(trace.str());
            if (in_flight) REQUIRE(cancel_seen);  // after abort, nothing stays in flight
        }
    }

    void finish() {
        finishing = true;
        grace_usable = armed.count(timer_kind::retry) == 0;  // between retries: S3 is failing
        feed(ev::finish{}, "finish");
    }

    /// Everything succeeds from now on until nothing is left to do.
    void settle() {
        for (int guard = 0; guard < 10'000; ++guard) {
            if (in_flight) put_result(aborting && cancel_seen ? put_outcome::aborted : put_outcome::ok);
            else if (!spool_thread.empty()) spool_step(false);
            else if (!armed.empty()) fire(*armed.begin());
            else return;
        }
        FAIL("the policy never settled\n" << trace.str());
    }
};

std::uint64_t base_seed() {
    if (const char* s = std::getenv("SCB_PROPERTY_SEED")) return std::strtoull(s, nullptr, 10);
    return 20261202;
}

}  // namespace

// ---- examples ----

TEST_CASE("policy: a version is PUT at once and its copy is never written when S3 confirms it first",
          "[unit][policy]") {
    upload_policy p(fast());
    auto a = p.on(ev::submitted{job(1, "x"), true});
    REQUIRE(all_of<act::start_put>(a).size() == 1);
    REQUIRE(has<act::arm>(a));  // the spool delay
    a = p.on(ev::put_done{1, put_outcome::ok});
    CHECK(has<act::disarm>(a));
    CHECK_FALSE(has<act::write_copy>(a));
    a = p.on(ev::spool_timer_fired{});  // fired as it was cancelled: not a tick
    CHECK(a.empty());
    CHECK(p.idle());
}

TEST_CASE("policy: a failed attempt spools the newest version at once and retries after a backoff",
          "[unit][policy]") {
    upload_policy p(fast());
    p.on(ev::submitted{job(1, "x"), true});
    auto a = p.on(ev::put_done{1, put_outcome::retryable});
    REQUIRE(all_of<act::write_copy>(a).size() == 1);
    auto arms = all_of<act::arm>(a);
    REQUIRE(arms.size() == 1);
    CHECK(arms[0].timer == timer_kind::retry);
    a = p.on(ev::retry_timer_fired{});
    REQUIRE(all_of<act::start_put>(a).size() == 1);
    CHECK(all_of<act::start_put>(a)[0].attempt == 1);
}

TEST_CASE("policy: an older version confirmed does not delete a newer version's copy (defect 7)", "[unit][policy]") {
    // B spooled, then the older A confirmed: B's copy must stay until B or a newer one is in S3.
    upload_policy p(fast());
    p.on(ev::leftovers_found{{job(1, "a", true)}});  // A in flight
    p.on(ev::submitted{job(2, "b"), true});           // B waits
    p.on(ev::spool_timer_fired{});                    // B's copy written
    p.on(ev::copy_done{2, true});
    p.on(ev::submitted{job(3, "c")});                 // C supersedes B before its upload started
    auto a = p.on(ev::put_done{1, put_outcome::ok});  // A confirmed
    CHECK(deleted(a) == std::vector<std::string>{"v1"});
    a = p.on(ev::put_done{3, put_outcome::ok});  // C confirmed: B's copy may go now
    CHECK(deleted(a) == std::vector<std::string>{"v2"});
}

TEST_CASE("policy: leftovers with the content of a newer version collapse into one upload (defect 13)",
          "[unit][policy]") {
    upload_policy p(fast());
    // Three restarts during an outage each spooled the same unchanged file.
    auto a = p.on(ev::leftovers_found{{job(1, "x", true), job(2, "x", true), job(3, "y", true)}});
    auto b = p.on(ev::submitted{job(4, "y"), true});  // the start-up version: the same as leftover 3
    CHECK_FALSE(has<act::start_put>(b));
    std::vector<std::string> puts;
    for (int i = 0; i < 10 && !p.idle(); ++i) {
        auto starts = all_of<act::start_put>(a);
        if (starts.empty()) break;
        puts.push_back(starts[0].v.sha256_hex);
        a = p.on(ev::put_done{starts[0].v.seq, put_outcome::ok});
    }
    CHECK(puts == std::vector<std::string>{"x", "y"});
    CHECK(p.copies().empty());
}

TEST_CASE("policy: finish lets the PUT in flight end within the grace period, then cancels it", "[unit][policy]") {
    upload_policy p(fast());
    p.on(ev::submitted{job(1, "x"), true});
    auto a = p.on(ev::finish{});
    REQUIRE(all_of<act::write_copy>(a).size() == 1);  // safe across the exit
    REQUIRE(all_of<act::arm>(a).size() == 1);
    CHECK(all_of<act::arm>(a)[0].timer == timer_kind::grace);
    CHECK(p.on(ev::submitted{job(2, "y")}).size() == 1);  // copied, never PUT
    a = p.on(ev::grace_timer_fired{});
    REQUIRE(has<act::cancel_put>(a));
    a = p.on(ev::put_done{1, put_outcome::aborted});
    CHECK_FALSE(has<act::start_put>(a));
    CHECK_FALSE(p.finished());  // two copies still being written
    p.on(ev::copy_done{1, true});
    a = p.on(ev::copy_done{2, true});
    CHECK(has<act::done>(a));
    CHECK(p.finished());
}

TEST_CASE("policy: a version submitted in the grace period (lnd's shutdown rewrite) is put after the one in flight",
          "[unit][policy]") {
    upload_policy p(fast());
    p.on(ev::submitted{job(1, "x"), true});
    auto a = p.on(ev::finish{});
    REQUIRE(all_of<act::arm>(a).size() == 1);
    a = p.on(ev::submitted{job(2, "y")});
    CHECK_FALSE(has<act::start_put>(a));  // one PUT at a time
    a = p.on(ev::put_done{1, put_outcome::ok});
    REQUIRE(all_of<act::start_put>(a).size() == 1);
    CHECK(all_of<act::start_put>(a)[0].v.seq == 2);
    CHECK(all_of<act::arm>(a).empty());  // the same grace period, not a new one
    a = p.on(ev::put_done{2, put_outcome::ok});
    bool confirmed = false;
    for (const auto& r : all_of<act::report>(a)) confirmed = confirmed || (r.kind == what::confirmed && r.v.seq == 2);
    CHECK(confirmed);
}

TEST_CASE("policy: once gives up after its attempts, and at once when the operator must fix something",
          "[unit][policy]") {
    auto o = fast();
    o.max_attempts = 2;
    o.give_up_on_needs_fix = true;
    upload_policy p(o);
    p.on(ev::submitted{job(1, "x"), true});
    p.on(ev::put_done{1, put_outcome::retryable});
    auto a = p.on(ev::retry_timer_fired{});
    REQUIRE(has<act::start_put>(a));
    a = p.on(ev::put_done{1, put_outcome::retryable});
    auto reports = all_of<act::report>(a);
    REQUIRE_FALSE(reports.empty());
    CHECK(reports.back().kind == what::gave_up);
    CHECK(p.idle());

    upload_policy q(o);
    q.on(ev::submitted{job(1, "x"), true});
    a = q.on(ev::put_done{1, put_outcome::needs_fix});
    CHECK(all_of<act::report>(a).back().kind == what::gave_up);
}

TEST_CASE("policy: unchanged content is not uploaded again, the start-up version always is", "[unit][policy]") {
    upload_policy p(fast());
    p.on(ev::submitted{job(1, "x"), true});
    p.on(ev::put_done{1, put_outcome::ok});
    auto a = p.on(ev::submitted{job(2, "x")});
    CHECK_FALSE(has<act::start_put>(a));
    CHECK(all_of<act::report>(a).at(0).kind == what::unchanged);
    a = p.on(ev::submitted{job(3, "y")});
    CHECK(has<act::start_put>(a));
}

// ---- properties ----

TEST_CASE("policy properties hold over generated event sequences", "[unit][policy][property]") {
    const std::uint64_t base = base_seed();
    const int runs = 3000;
    for (int run = 0; run < runs; ++run) {
        const std::uint64_t seed = base + static_cast<std::uint64_t>(run);
        INFO("replay with SCB_PROPERTY_SEED=" << seed << " (first run of the loop)");
        auto o = fast();
        if (run % 3 == 0) o.spool_delay = std::chrono::milliseconds(0);
        harness h(seed, o);
        h.leftovers(std::uniform_int_distribution<int>(0, 3)(h.rng));
        h.submit(true);  // the start-up version
        const int steps = std::uniform_int_distribution<int>(1, 120)(h.rng);
        for (int i = 0; i < steps && !h.policy.finished(); ++i) h.random_step();
        h.settle();

        INFO(h.trace.str());
        if (!h.finishing) {
            // Liveness: once attempts succeed, the newest version is in S3 and the spool is empty.
            REQUIRE(h.policy.idle());
            REQUIRE(h.newest);
            REQUIRE(h.last_put_sha);
            CHECK(*h.last_put_sha == h.newest->sha256_hex);
            CHECK(h.files.empty());
            CHECK(h.policy.copies().empty());
            // And a finish then ends it.
            h.finish();
            h.settle();
        }
        REQUIRE(h.policy.finished());
        REQUIRE_FALSE(h.in_flight);
        // Nothing lost: the newest version is in S3 or a copy of it (or a newer one) is on disk.
        if (h.newest && !h.write_failed && h.s3_max_seq < h.newest->seq) {
            bool kept = false;
            for (const auto& f : h.files) kept = kept || h.seq_of[f] >= h.newest->seq;
            CHECK(kept);
        }
    }
}
