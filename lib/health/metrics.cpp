#include "health/metrics.hpp"

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

void state::version_seen(std::string sha256_hex, wall_clock::time_point when) {
    std::lock_guard lock(mutex_);
    ++versions_seen_;
    newest_sha_ = std::move(sha256_hex);
    // S3 has been behind since the first change it did not get, not since the latest one.
    if (!version_waiting_since_ || when < *version_waiting_since_) version_waiting_since_ = when;
}

void state::upload_succeeded(std::string_view sha256_hex, std::size_t bytes, std::chrono::duration<double> took,
                             wall_clock::time_point when) {
    std::lock_guard lock(mutex_);
    ++uploads_succeeded_;
    bytes_uploaded_ += bytes;
    const double seconds = std::max(0.0, took.count());
    // Counted in the first bucket that holds it; render_prometheus() makes the counts cumulative.
    auto it = std::lower_bound(duration_buckets.begin(), duration_buckets.end(), seconds);
    if (it != duration_buckets.end()) ++bucket_counts_[static_cast<std::size_t>(it - duration_buckets.begin())];
    ++duration_count_;
    duration_sum_ += seconds;
    last_success_ = when;
    failing_.reset();
    // A leftover from an earlier run, or a version superseded meanwhile, does not confirm the newest one.
    if (sha256_hex == newest_sha_) version_waiting_since_.reset();
}

void state::upload_failed(std::string_view code_label, std::string reason) {
    std::lock_guard lock(mutex_);
    auto it = uploads_failed_.find(code_label);
    if (it == uploads_failed_.end()) it = uploads_failed_.emplace(std::string(code_label), 0).first;
    ++it->second;
    failing_ = logging::printable(reason);
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

std::optional<wall_clock::time_point> state::unbacked_since() const {
    std::optional<wall_clock::time_point> since = version_waiting_since_;
    if (file_ != file_condition::ok && (!since || file_bad_since_ < *since)) since = file_bad_since_;
    return since;
}

std::string state::render_prometheus(wall_clock::time_point now) const {
    std::lock_guard lock(mutex_);
    std::string out;
    out.reserve(3000);

    header(out, "build_info", "gauge", "Always 1; the version label is the scb-backup release.");
    sample(out, "build_info", "version=\"" + label_value(SCB_VERSION) + "\"", "1");

    header(out, "versions_seen_total", "counter", "New versions of channel.backup read from disk.");
    sample(out, "versions_seen_total", "", std::to_string(versions_seen_));

    header(out, "uploads_succeeded_total", "counter", "Uploads confirmed by S3.");
    sample(out, "uploads_succeeded_total", "", std::to_string(uploads_succeeded_));

    header(out, "uploads_failed_total", "counter", "Failed upload attempts, by error class.");
    for (const auto& [code, n] : uploads_failed_)
        sample(out, "uploads_failed_total", "code=\"" + label_value(code) + "\"", std::to_string(n));

    header(out, "uploaded_bytes_total", "counter", "Bytes of uploads confirmed by S3.");
    sample(out, "uploaded_bytes_total", "", std::to_string(bytes_uploaded_));

    header(out, "upload_duration_seconds", "histogram", "Duration of uploads confirmed by S3.");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < duration_buckets.size(); ++i) {
        cumulative += bucket_counts_[i];
        sample(out, "upload_duration_seconds_bucket", "le=\"" + number(duration_buckets[i]) + "\"",
               std::to_string(cumulative));
    }
    sample(out, "upload_duration_seconds_bucket", "le=\"+Inf\"", std::to_string(duration_count_));
    sample(out, "upload_duration_seconds_sum", "", number(duration_sum_));
    sample(out, "upload_duration_seconds_count", "", std::to_string(duration_count_));

    header(out, "pending_spool_files", "gauge", "Versions in the local spool not yet confirmed by S3.");
    sample(out, "pending_spool_files", "", std::to_string(pending_spool_files_));

    header(out, "last_success_timestamp_seconds", "gauge",
           "Unix time of the last upload confirmed by S3 (0 before the first).");
    sample(out, "last_success_timestamp_seconds", "", last_success_ ? number(unix_seconds(*last_success_)) : "0");

    const auto since = unbacked_since();
    header(out, "oldest_unbacked_change_age_seconds", "gauge",
           "Seconds since the oldest change of the file that S3 does not have yet (0 when S3 has its newest state).");
    sample(out, "oldest_unbacked_change_age_seconds", "", number(since ? age_seconds(*since, now) : 0));

    header(out, "upload_failing", "gauge", "1 while the last upload attempt failed, else 0.");
    sample(out, "upload_failing", "", failing_ ? "1" : "0");

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
    const auto since = unbacked_since();
    if (since && age_seconds(*since, now) > limit) {
        // One rule for every cause; the cause, most telling first, only words the line.
        const std::string how_long = " (not in S3 for " + whole_seconds(age_seconds(*since, now)) + stale;
        if (file_ != file_condition::ok)
            return {false, "channel.backup " + std::string(name(file_)) + ": " + file_detail_ + how_long};
        if (failing_) return {false, "upload failing: " + *failing_ + how_long};
        if (spool_broken_) return {false, "spool broken: " + *spool_broken_ + how_long};
        return {false, "newest version (sha256 " + naming::short_sha256(newest_sha_) + ") not in S3 after " +
                           whole_seconds(age_seconds(*since, now)) + " (stale after " +
                           std::to_string(stale_after.count()) + " s)"};
    }
    // A broken spool is an alarm of its own: the next outage of S3 would lose versions.
    if (spool_broken_ && age_seconds(spool_broken_since_, now) > limit)
        return {false, "spool broken: " + *spool_broken_ + " (for " +
                           whole_seconds(age_seconds(spool_broken_since_, now)) + stale};
    return {true, "ok"};
}

}  // namespace scb::health
