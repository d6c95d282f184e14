#include "health/metrics.hpp"

#include "common/text.hpp"
#include "logging/escape.hpp"

#include "naming/object_name.hpp"

#include <algorithm>
#include <charconv>

namespace scb::health {

namespace {

/// Prometheus floats in plain decimal ("0.005", "1700000000", "2.5"): the shortest text that reads back
/// as the same double, never an exponent, so the output is stable and easy to read and to test.
std::string number(double v) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    if (ec != std::errc()) return "NaN";
    return std::string(buf, end);
}

/// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP scb_backup_").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE scb_backup_").append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, std::string_view labels, std::string_view value) {
    out.append("scb_backup_").append(name);
    if (!labels.empty()) out.append("{").append(labels).append("}");
    out.append(" ").append(value).append("\n");
}

double unix_seconds(wall_clock::time_point t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
}

/// Seconds from `since` to `now`; never negative, as the wall clock may step back (NTP).
double age_seconds(wall_clock::time_point since, wall_clock::time_point now) {
    return std::max(0.0, std::chrono::duration<double>(now - since).count());
}

/// "12 s": whole seconds, as the health line gives them.
std::string whole_seconds(double s) { return std::to_string(static_cast<long long>(s)) + " s"; }

/// A duration for the status line, rounded down to whole hours, minutes or seconds: "2h", "4m", "45s".
std::string rough_duration(double seconds) {
    auto s = static_cast<long long>(seconds);
    if (s >= 3600) s -= s % 3600;
    else if (s >= 60) s -= s % 60;
    return format_duration(std::chrono::seconds(s));
}

constexpr std::array all_conditions{file_condition::ok, file_condition::missing, file_condition::unreadable,
                                    file_condition::refused};

}  // namespace

std::string_view name(file_condition c) noexcept {
    switch (c) {
    case file_condition::ok: return "ok";
    case file_condition::missing: return "missing";
    case file_condition::unreadable: return "unreadable";
    case file_condition::refused: return "refused";
    }
    return "unknown";
}

void state::set_destinations(std::vector<std::string> names) {
    std::lock_guard lock(mutex_);
    std::vector<destination> fresh;
    for (auto& n : names) {
        if (std::any_of(fresh.begin(), fresh.end(), [&](const destination& d) { return d.name == n; })) continue;
        destination d;
        d.shown = logging::printable(n, 64);
        d.name = std::move(n);
        fresh.push_back(std::move(d));
    }
    if (fresh.empty()) fresh.emplace_back();
    destinations_ = std::move(fresh);
}

state::destination* state::find(std::string_view name) {
    for (auto& d : destinations_)
        if (d.name == name) return &d;
    return nullptr;
}

bool state::labelled() const { return destinations_.size() > 1 || !destinations_.front().name.empty(); }

void state::version_seen(std::string sha256_hex, wall_clock::time_point when) {
    std::lock_guard lock(mutex_);
    // The newest version seen again: a destination that confirmed it meanwhile still has it.
    const bool same = versions_seen_ > 0 && sha256_hex == newest_sha_;
    ++versions_seen_;
    newest_sha_ = std::move(sha256_hex);
    for (auto& d : destinations_) {
        if (same && !d.behind_since) continue;
        // Behind since the first change it did not get, not since the latest one.
        if (!d.behind_since || when < *d.behind_since) d.behind_since = when;
    }
}

void state::upload_succeeded(std::string_view destination_name, std::string_view sha256_hex, std::size_t bytes,
                             std::chrono::duration<double> took, wall_clock::time_point when) {
    std::lock_guard lock(mutex_);
    auto* d = find(destination_name);
    if (!d) return;
    ++d->uploads_succeeded;
    d->bytes_uploaded += bytes;
    const double seconds = std::max(0.0, took.count());
    // Counted in the first bucket that holds it; render_prometheus() makes the counts cumulative.
    auto it = std::lower_bound(duration_buckets.begin(), duration_buckets.end(), seconds);
    if (it != duration_buckets.end()) ++d->bucket_counts[static_cast<std::size_t>(it - duration_buckets.begin())];
    ++d->duration_count;
    d->duration_sum += seconds;
    d->last_success = when;
    d->failing.reset();
    d->failing_code.clear();
    d->failing_since.reset();
    // A leftover from an earlier run, or a version superseded meanwhile, does not confirm the newest one.
    if (sha256_hex == newest_sha_) d->behind_since.reset();
}

void state::upload_succeeded(std::string_view sha256_hex, std::size_t bytes, std::chrono::duration<double> took,
                             wall_clock::time_point when) {
    std::string first;
    {
        std::lock_guard lock(mutex_);
        first = destinations_.front().name;
    }
    upload_succeeded(first, sha256_hex, bytes, took, when);
}

namespace {

void count_failure(std::map<std::string, std::uint64_t, std::less<>>& by_code, std::string_view code_label) {
    auto it = by_code.find(code_label);
    if (it == by_code.end()) it = by_code.emplace(std::string(code_label), 0).first;
    ++it->second;
}

}  // namespace

void state::upload_failed(std::string_view destination_name, std::string_view code_label, std::string reason,
                          wall_clock::time_point when) {
    std::lock_guard lock(mutex_);
    auto* d = find(destination_name);
    if (!d) return;
    count_failure(d->uploads_failed, code_label);
    if (!d->failing || !d->failing_since) d->failing_since = when;  // the first failure in a row
    d->failing = logging::printable(reason);
    d->failing_code = logging::printable(code_label, 64);
}

void state::upload_failed(std::string_view code_label, std::string reason) {
    std::lock_guard lock(mutex_);
    auto& d = destinations_.front();
    count_failure(d.uploads_failed, code_label);
    d.failing = logging::printable(reason);
    d.failing_code = logging::printable(code_label, 64);
}

void state::file_state(file_condition c, std::string detail, wall_clock::time_point when) {
    std::lock_guard lock(mutex_);
    // From one problem to another (missing, then unreadable) S3 stays behind since the first.
    if (file_ == file_condition::ok && c != file_condition::ok) file_bad_since_ = when;
    file_ = c;
    file_detail_ = c == file_condition::ok ? std::string() : logging::printable(detail);
}

void state::spool_state(bool ok, std::string detail, wall_clock::time_point when) {
    std::lock_guard lock(mutex_);
    if (ok) {
        spool_broken_.reset();
        return;
    }
    if (!spool_broken_) spool_broken_since_ = when;  // still the same outage: keep its start
    spool_broken_ = logging::printable(detail);
}

void state::set_pending_spool_files(std::size_t n) {
    std::lock_guard lock(mutex_);
    pending_spool_files_ = n;
}

std::optional<wall_clock::time_point> state::unbacked_since(const destination& d) const {
    std::optional<wall_clock::time_point> since = d.behind_since;
    if (file_ != file_condition::ok && (!since || file_bad_since_ < *since)) since = file_bad_since_;
    return since;
}

std::optional<wall_clock::time_point> state::oldest_unbacked_since() const {
    std::optional<wall_clock::time_point> oldest;
    for (const auto& d : destinations_) {
        const auto since = unbacked_since(d);
        if (since && (!oldest || *since < *oldest)) oldest = since;
    }
    return oldest;
}

std::string state::render_prometheus(wall_clock::time_point now) const {
    std::lock_guard lock(mutex_);
    std::string out;
    out.reserve(3000 + 2500 * (destinations_.size() - 1));
    const bool per_destination = labelled();
    // The labels of one destination's sample: its destination label (when labelled), then `more`.
    const auto labels = [&](const destination& d, std::string_view more = {}) {
        std::string l;
        if (per_destination) l = "destination=\"" + label_value(d.name) + "\"";
        if (!more.empty()) {
            if (!l.empty()) l += ",";
            l.append(more);
        }
        return l;
    };

    header(out, "build_info", "gauge", "Always 1; the version label is the scb-backup release.");
    sample(out, "build_info", "version=\"" + label_value(SCB_VERSION) + "\"", "1");

    header(out, "versions_seen_total", "counter", "New versions of channel.backup read from disk.");
    sample(out, "versions_seen_total", "", std::to_string(versions_seen_));

    header(out, "uploads_succeeded_total", "counter", "Uploads confirmed by S3.");
    for (const auto& d : destinations_)
        sample(out, "uploads_succeeded_total", labels(d), std::to_string(d.uploads_succeeded));

    header(out, "uploads_failed_total", "counter", "Failed upload attempts, by error class.");
    for (const auto& d : destinations_)
        for (const auto& [code, n] : d.uploads_failed)
            sample(out, "uploads_failed_total", labels(d, "code=\"" + label_value(code) + "\""), std::to_string(n));

    header(out, "uploaded_bytes_total", "counter", "Bytes of uploads confirmed by S3.");
    for (const auto& d : destinations_)
        sample(out, "uploaded_bytes_total", labels(d), std::to_string(d.bytes_uploaded));

    header(out, "upload_duration_seconds", "histogram", "Duration of uploads confirmed by S3.");
    for (const auto& d : destinations_) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < duration_buckets.size(); ++i) {
            cumulative += d.bucket_counts[i];
            sample(out, "upload_duration_seconds_bucket", labels(d, "le=\"" + number(duration_buckets[i]) + "\""),
                   std::to_string(cumulative));
        }
        sample(out, "upload_duration_seconds_bucket", labels(d, "le=\"+Inf\""), std::to_string(d.duration_count));
        sample(out, "upload_duration_seconds_sum", labels(d), number(d.duration_sum));
        sample(out, "upload_duration_seconds_count", labels(d), std::to_string(d.duration_count));
    }

    header(out, "pending_spool_files", "gauge", "Versions in the local spool not yet confirmed by S3.");
    sample(out, "pending_spool_files", "", std::to_string(pending_spool_files_));

    header(out, "last_success_timestamp_seconds", "gauge",
           "Unix time of the last upload confirmed by S3 (0 before the first).");
    for (const auto& d : destinations_)
        sample(out, "last_success_timestamp_seconds", labels(d),
               d.last_success ? number(unix_seconds(*d.last_success)) : "0");

    const auto since = oldest_unbacked_since();
    header(out, "oldest_unbacked_change_age_seconds", "gauge",
           "Seconds since the oldest change of the file that S3 does not have yet (0 when S3 has its newest state).");
    sample(out, "oldest_unbacked_change_age_seconds", "", number(since ? age_seconds(*since, now) : 0));

    header(out, "upload_failing", "gauge", "1 while the last upload attempt failed, else 0.");
    for (const auto& d : destinations_) sample(out, "upload_failing", labels(d), d.failing ? "1" : "0");

    if (per_destination) {
        header(out, "destination_current", "gauge",
               "1 while the destination has the newest version seen (or none was seen yet), else 0.");
        for (const auto& d : destinations_) sample(out, "destination_current", labels(d), d.behind_since ? "0" : "1");

        header(out, "destination_behind_seconds", "gauge",
               "Seconds since the oldest version seen that the destination has not confirmed (0 while current).");
        for (const auto& d : destinations_)
            sample(out, "destination_behind_seconds", labels(d),
                   number(d.behind_since ? age_seconds(*d.behind_since, now) : 0));
    }

    header(out, "file_state", "gauge", "1 for the watched file's current state, 0 for the others.");
    for (auto c : all_conditions)
        sample(out, "file_state", "reason=\"" + std::string(name(c)) + "\"", c == file_ ? "1" : "0");

    header(out, "spool_ok", "gauge", "1 while the spool folder works, 0 while it is broken.");
    sample(out, "spool_ok", "", spool_broken_ ? "0" : "1");
    return out;
}

std::pair<bool, std::string> state::health(wall_clock::time_point now, std::chrono::seconds stale_after) const {
    std::lock_guard lock(mutex_);
    const auto limit = static_cast<double>(stale_after.count());
    const std::string stale = ", stale after " + std::to_string(stale_after.count()) + " s)";
    const auto since = oldest_unbacked_since();
    if (since && age_seconds(*since, now) > limit) {
        // One rule for every cause; the cause, most telling first, only words the line.
        // The file concerns every destination: one line, as old as the oldest change missing anywhere.
        if (file_ != file_condition::ok)
            return {false, "channel.backup " + std::string(name(file_)) + ": " + file_detail_ + " (not in S3 for " +
                               whole_seconds(age_seconds(*since, now)) + stale};
        const bool several = destinations_.size() > 1;
        std::string line;
        for (const auto& d : destinations_) {
            const auto behind = unbacked_since(d);
            if (!behind || age_seconds(*behind, now) <= limit) continue;
            const auto age = whole_seconds(age_seconds(*behind, now));
            std::string how_long = " (not in S3 for ";
            how_long.append(age).append(stale);
            if (!line.empty()) line += "; ";
            if (several) line.append("destination ").append(d.shown).append(": ");
            if (d.failing) line += "upload failing: " + *d.failing + how_long;
            else if (spool_broken_) line += "spool broken: " + *spool_broken_ + how_long;
            else
                line += "newest version (sha256 " + naming::short_sha256(newest_sha_) + ") not in S3 after " + age +
                        " (stale after " + std::to_string(stale_after.count()) + " s)";
        }
        return {false, line};
    }
    // A broken spool is an alarm of its own: the next outage of S3 would lose versions.
    if (spool_broken_ && age_seconds(spool_broken_since_, now) > limit)
        return {false, "spool broken: " + *spool_broken_ + " (for " +
                           whole_seconds(age_seconds(spool_broken_since_, now)) + stale};
    return {true, "ok"};
}

std::string state::status_line(wall_clock::time_point now) const {
    std::lock_guard lock(mutex_);
    if (destinations_.size() < 2) return {};
    std::size_t current = 0;
    std::string behind;
    for (const auto& d : destinations_) {
        if (!d.behind_since) {
            ++current;
            continue;
        }
        const auto since = d.failing && d.failing_since ? *d.failing_since : *d.behind_since;
        behind += "; " + d.shown + ": " + (d.failing ? d.failing_code : std::string("behind")) + " for " +
                  rough_duration(age_seconds(since, now));
    }
    return std::to_string(current) + "/" + std::to_string(destinations_.size()) + " destinations current" + behind;
}

bool state::all_current() const {
    std::lock_guard lock(mutex_);
    return std::all_of(destinations_.begin(), destinations_.end(), [](const destination& d) { return !d.behind_since; });
}

}  // namespace scb::health
