#include "backup/upload_policy.hpp"

#include <algorithm>

namespace scb::backup {

using what = act::report::what;

upload_policy::upload_policy(policy_options opts)
    : opts_(opts), backoff_(opts_.retry_min, opts_.retry_max, opts_.seed) {}

std::vector<action> upload_policy::on(const event& e) {
    out_.clear();
    if (phase_ != phase::done) std::visit([this](const auto& x) { on_event(x); }, e);
    return std::move(out_);
}

bool upload_policy::idle() const noexcept { return !in_flight_ && !backing_off_ && !waiting_ && leftovers_.empty(); }

bool upload_policy::needs_bytes(std::uint64_t seq) const noexcept {
    auto is = [seq](const std::optional<job_ref>& j) { return j && j->seq == seq; };
    return is(waiting_) || is(in_flight_) || is(backing_off_) || is(copy_candidate_);
}

std::vector<std::string> upload_policy::copies() const {
    std::vector<std::string> names;
    for (const auto& [seq, c] : copies_) names.push_back(c.v.name);
    return names;
}

void upload_policy::report(what kind, const job_ref& v, std::optional<job_ref> by) {
    act::report r{kind, v, std::move(by), attempt_, std::nullopt};
    emit(std::move(r));
}

// ---- events ----

void upload_policy::on_event(const ev::leftovers_found& e) {
    for (const auto& item : e.items) {
        copies_[item.seq] = copy{item, copy_state::written};
        leftovers_.push_back(item);
    }
    collapse_leftovers();
    maybe_start();
}

void upload_policy::on_event(const ev::submitted& e) {
    const job_ref& v = e.v;
    if (!e.force && v.sha256_hex == newest_sha_) {
        report(what::unchanged, v);
        return;
    }
    newest_sha_ = v.sha256_hex;
    // Forced: S3 may not have what it confirmed (the start-up, a read-back that failed).
    if (e.force) confirmed_sha_.clear();
    // The newest version is the one whose copy matters; an older one without a copy is superseded
    // by it (a copy already written stays until a version at least as new is confirmed).
    copy_candidate_ = v;
    if (waiting_) report(what::superseded, *waiting_, v);
    waiting_ = v;
    if (phase_ != phase::running) {  // shutdown: safe for the next start, and one attempt if time is left
        spool_now();
        start_newest_in_grace();
        return;
    }
    collapse_leftovers();
    if (opts_.spool_delay.count() == 0) {
        spool_now();
    } else if (!spool_timer_armed_) {
        spool_timer_armed_ = true;
        emit(act::arm{timer_kind::spool, opts_.spool_delay});
    }
    maybe_start();
}

void upload_policy::on_event(const ev::put_done& e) {
    if (!in_flight_ || in_flight_->seq != e.seq) return;  // not ours (cannot happen with one PUT at a time)
    job_ref job = std::move(*in_flight_);
    in_flight_.reset();
    switch (e.outcome) {
    case put_outcome::ok:
        confirm(job, what::confirmed);
        if (phase_ == phase::running) maybe_start();
        else start_newest_in_grace();
        break;
    case put_outcome::unreadable:
        report(what::unreadable, job);
        if (phase_ == phase::running) maybe_start();
        break;
    case put_outcome::aborted:
    case put_outcome::retryable:
    case put_outcome::needs_fix: {
        // From now on S3 may be down for long: the newest version lives in the spool.
        spool_now();
        if (phase_ != phase::running || e.outcome == put_outcome::aborted) {
            grace_open_ = false;  // S3 is failing or we are aborting: the rest waits in the spool
            report(what::not_retrying, job);
            break;
        }
        const bool needs_fix = e.outcome == put_outcome::needs_fix;
        if ((opts_.max_attempts != 0 && attempt_ + 1 >= opts_.max_attempts) ||
            (needs_fix && opts_.give_up_on_needs_fix)) {
            report(what::gave_up, job);
            break;
        }
        auto wait = backoff_.delay(attempt_);
        if (needs_fix) wait = std::max(wait, std::min(opts_.fatal_retry_min, opts_.retry_max));
        act::report r{what::failed, job, std::nullopt, attempt_, wait};
        emit(std::move(r));
        backing_off_ = std::move(job);
        // New versions do not cut the backoff short: a burst during an outage must not hammer S3.
        emit(act::arm{timer_kind::retry, wait});
        break;
    }
    }
    check_done();
}

void upload_policy::on_event(const ev::copy_done& e) {
    if (spool_ops_ > 0) --spool_ops_;
    auto it = copies_.find(e.seq);
    if (it != copies_.end()) {  // (absent: deleted after a confirmation while it was being written)
        if (e.ok) {
            it->second.state = copy_state::written;
        } else {
            job_ref v = it->second.v;
            copies_.erase(it);
            report(what::copy_failed, v);
            // Tried again at the next failed attempt or at finish, unless a newer version took its place.
            if (v.seq > confirmed_seq_ && (!copy_candidate_ || copy_candidate_->seq < v.seq)) copy_candidate_ = v;
        }
    }
    check_done();
}

void upload_policy::on_event(const ev::delete_done& e) {
    if (spool_ops_ > 0) --spool_ops_;
    if (!e.ok) report(what::delete_failed, job_ref{});
    check_done();
}

void upload_policy::on_event(const ev::retry_timer_fired&) {
    if (!backing_off_ || phase_ != phase::running) return;  // stale: the job left meanwhile
    job_ref job = std::move(*backing_off_);
    backing_off_.reset();
    ++attempt_;
    // A newer version waiting replaces this one and every older leftover: it holds all channels.
    if (waiting_ && waiting_->seq > job.seq) {
        report(what::superseded, job, *waiting_);
        for (const auto& old : leftovers_) report(what::superseded, old, *waiting_);
        leftovers_.clear();
        job = std::move(*waiting_);
        waiting_.reset();
    }
    if (job.sha256_hex == confirmed_sha_) {
        confirm(job, what::already_in_s3);
        maybe_start();
        return;
    }
    start(std::move(job));
}

void upload_policy::on_event(const ev::spool_timer_fired&) {
    if (!spool_timer_armed_) return;  // disarmed meanwhile: not a tick
    spool_timer_armed_ = false;
    spool_now();
}

void upload_policy::on_event(const ev::grace_timer_fired&) {
    if (!grace_armed_) return;  // disarmed meanwhile: not a tick
    grace_armed_ = false;
    grace_open_ = false;
    if (phase_ != phase::finishing || !in_flight_) return;
    report(what::grace_over, *in_flight_);
    phase_ = phase::aborting;
    cancel_sent_ = true;
    emit(act::cancel_put{});
}

void upload_policy::on_event(const ev::finish&) {
    if (phase_ != phase::running) return;
    phase_ = phase::finishing;
    spool_now();  // what is not in S3 by now must survive the exit
    if (spool_timer_armed_) {
        spool_timer_armed_ = false;
        emit(act::disarm{timer_kind::spool});
    }
    // A version between retries means S3 is failing: nothing more is tried.
    grace_open_ = !backing_off_;
    if (backing_off_) {
        report(what::not_retrying, *backing_off_);
        backing_off_.reset();
        emit(act::disarm{timer_kind::retry});
    }
    if (in_flight_) {
        grace_armed_ = true;
        emit(act::arm{timer_kind::grace, opts_.grace});
    }
    start_newest_in_grace();
    check_done();
}

void upload_policy::on_event(const ev::abort&) {
    if (phase_ == phase::running) on_event(ev::finish{});
    if (phase_ == phase::done) return;
    if (grace_armed_) {
        grace_armed_ = false;
        emit(act::disarm{timer_kind::grace});
    }
    grace_open_ = false;
    phase_ = phase::aborting;
    if (in_flight_ && !cancel_sent_) {
        cancel_sent_ = true;
        emit(act::cancel_put{});
    }
    check_done();
}

// ---- helpers ----

void upload_policy::maybe_start() {
    while (phase_ == phase::running && !in_flight_ && !backing_off_) {
        std::optional<job_ref> next;
        if (!leftovers_.empty()) {
            next = std::move(leftovers_.front());
            leftovers_.pop_front();
        } else if (waiting_) {
            next = std::move(waiting_);
            waiting_.reset();
        } else {
            return;
        }
        attempt_ = 0;
        // The same content twice in a row: S3 has it already, under the previous name.
        if (next->sha256_hex == confirmed_sha_) {
            confirm(*next, what::already_in_s3);
            continue;
        }
        start(std::move(*next));
    }
}

void upload_policy::start_newest_in_grace() {
    if (phase_ != phase::finishing || !grace_open_ || in_flight_ || !waiting_) return;
    job_ref next = std::move(*waiting_);
    waiting_.reset();
    attempt_ = 0;
    if (next.sha256_hex == confirmed_sha_) {
        confirm(next, what::already_in_s3);
        return;
    }
    if (!grace_armed_) {
        grace_armed_ = true;
        emit(act::arm{timer_kind::grace, opts_.grace});
    }
    start(std::move(next));
}

void upload_policy::start(job_ref v) {
    in_flight_ = v;
    cancel_sent_ = false;
    emit(act::start_put{std::move(v), attempt_});
}

void upload_policy::confirm(const job_ref& v, what how) {
    if (v.seq >= confirmed_seq_) {
        confirmed_seq_ = v.seq;
        confirmed_sha_ = v.sha256_hex;
    }
    report(how, v);
    act::delete_copies del;
    for (auto it = copies_.begin(); it != copies_.end() && it->first <= confirmed_seq_;) {
        del.names.push_back(it->second.v.name);
        it = copies_.erase(it);
    }
    if (!del.names.empty()) {
        ++spool_ops_;
        emit(std::move(del));
    }
    if (copy_candidate_ && copy_candidate_->seq <= confirmed_seq_) {
        copy_candidate_.reset();
        if (spool_timer_armed_) {
            spool_timer_armed_ = false;
            emit(act::disarm{timer_kind::spool});
        }
    }
}

void upload_policy::spool_now() {
    if (!copy_candidate_) return;
    job_ref v = std::move(*copy_candidate_);
    copy_candidate_.reset();
    if (spool_timer_armed_) {
        spool_timer_armed_ = false;
        emit(act::disarm{timer_kind::spool});
    }
    if (v.seq <= confirmed_seq_ || copies_.count(v.seq) != 0) return;
    copies_[v.seq] = copy{v, copy_state::writing};
    ++spool_ops_;
    emit(act::write_copy{std::move(v)});
}

void upload_policy::collapse_leftovers() {
    auto newer_with_same_content = [this](const job_ref& old) -> std::optional<job_ref> {
        for (const auto& l : leftovers_)
            if (l.seq > old.seq && l.sha256_hex == old.sha256_hex) return l;
        for (const auto* j : {&waiting_, &in_flight_, &backing_off_})
            if (*j && (*j)->seq > old.seq && (*j)->sha256_hex == old.sha256_hex) return **j;
        return std::nullopt;
    };
    for (auto it = leftovers_.begin(); it != leftovers_.end();) {
        if (auto by = newer_with_same_content(*it)) {
            report(what::collapsed, *it, by);
            it = leftovers_.erase(it);  // its copy goes when the newer one is confirmed
        } else {
            ++it;
        }
    }
}

void upload_policy::check_done() {
    if ((phase_ == phase::finishing || phase_ == phase::aborting) && !in_flight_ && spool_ops_ == 0) {
        if (grace_armed_) {
            grace_armed_ = false;
            emit(act::disarm{timer_kind::grace});
        }
        phase_ = phase::done;
        emit(act::done{});
    }
}

}  // namespace scb::backup
