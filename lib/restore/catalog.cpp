#include "restore/catalog.hpp"

#include "common/utc_time.hpp"
#include "logging/escape.hpp"
#include "s3/error.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace scb::restore {

std::optional<naming::parsed_name> parse_backup_key(std::string_view key, std::string_view prefix) {
    if (!key.starts_with(prefix)) return std::nullopt;
    const std::string_view rest = key.substr(prefix.size());
    auto parsed = naming::parse_object_name(rest);
    if (!parsed) return std::nullopt;
    // parse_object_name() accepts anything before "channel-"; ours is exactly PREFIX + name, so the
    // rest must be the very name object_name() (or the Python service) makes (this rejects
    // "node1/old/channel-…" under "node1/" and "node10/channel-…" under "node1", which belong to
    // someone else).
    if (naming::name_of(*parsed) != rest) return std::nullopt;
    return parsed;
}

std::vector<backup_entry> catalog(std::vector<s3::object_info> objects, std::string_view prefix) {
    std::vector<backup_entry> out;
    out.reserve(objects.size());
    for (auto& o : objects) {
        auto name = parse_backup_key(o.key, prefix);
        // The one ISO 8601 parser of the project; it keeps whole seconds, which is all S3 gives.
        auto stored = utc::parse_iso8601(o.last_modified);
        out.push_back(backup_entry{std::move(o), std::move(name), stored});
    }
    // S3's clock first: the name's time is the node's clock, which may have been wrong.
    const auto when = [](const backup_entry& e) { return e.stored.value_or(e.name->time); };
    std::sort(out.begin(), out.end(), [&](const backup_entry& a, const backup_entry& b) {
        if (a.is_backup() != b.is_backup()) return a.is_backup();
        if (!a.is_backup()) return a.object.key < b.object.key;
        if (when(a) != when(b)) return when(a) > when(b);
        if (a.name->time != b.name->time) return a.name->time > b.name->time;
        return a.object.key > b.object.key;
    });
    return out;
}

std::optional<clock_report> clock_mismatch(const std::vector<backup_entry>& entries) {
    clock_report r;
    for (const auto& e : entries) {
        if (!e.is_backup() || !e.stored) continue;
        const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(e.name->time - *e.stored);
        if (std::chrono::abs(gap) <= clock_tolerance) continue;
        ++r.count;
        if (!r.worst || std::chrono::abs(gap) > std::chrono::abs(r.name_ahead_by)) {
            r.worst = &e;
            r.name_ahead_by = gap;
        }
    }
    if (r.count == 0) return std::nullopt;
    return r;
}

namespace {
/// "365 days", "7 hours", "12 min": the size of a clock error, not its exact value.
std::string rough(std::chrono::milliseconds d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::abs(d)).count();
    if (s >= 2 * 86400) return std::to_string((s + 43200) / 86400) + " days";
    if (s >= 2 * 3600) return std::to_string((s + 1800) / 3600) + " hours";
    return std::to_string(s / 60) + " min";
}
}  // namespace

std::string describe(const clock_report& report) {
    const auto& e = *report.worst;
    const bool ahead = report.name_ahead_by.count() > 0;
    std::string out = std::to_string(report.count) + " backup name(s) differ from S3's LastModified by more than " +
                      std::to_string(clock_tolerance.count()) + " min: the node's clock was wrong when it named them (" +
                      (report.count > 1 ? "worst: " : "") + e.object.key + " is named " + format_time(*e.name) +
                      " but S3 stored it at " + logging::printable(e.object.last_modified, s3::outside_text_cap) +
                      ", the clock was " + rough(report.name_ahead_by);
    // A name earlier than its upload can also be a version that waited in the spool while S3 was down.
    out += ahead ? " ahead" : " behind, or the upload waited that long";
    out += "); list, restore and verify order backups by S3's LastModified, not by their names; fix the node's clock (NTP)";
    return out;
}

const backup_entry* newest(const std::vector<backup_entry>& entries) noexcept {
    if (entries.empty() || !entries.front().is_backup()) return nullptr;
    return &entries.front();
}

std::string format_time(const naming::parsed_name& name) {
    return utc::format(name.time, utc::layout::extended_millis);
}

std::string format_table(const std::vector<backup_entry>& entries) {
    struct row {
        std::string key, size, time, sha;
    };
    std::vector<row> rows;
    rows.push_back({"KEY", "SIZE", "TIME (UTC)", "SHA256"});
    // Keys are anyone's text (whoever can write to the bucket): one printable cell each, so that a
    // key cannot move the cursor, retitle the terminal or forge rows.
    for (const auto& e : entries)
        rows.push_back({logging::printable(e.object.key, s3::outside_text_cap), std::to_string(e.object.size),
                        e.name ? format_time(*e.name) : "-",
                        e.name ? e.name->sha256_suffix : "-"});
    std::size_t wk = 0, ws = 0, wt = 0;
    for (const auto& r : rows) {
        wk = std::max(wk, r.key.size());
        ws = std::max(ws, r.size.size());
        wt = std::max(wt, r.time.size());
    }
    std::string out;
    for (const auto& r : rows) {
        out += r.key + std::string(wk - r.key.size() + 2, ' ');
        out += std::string(ws - r.size.size(), ' ') + r.size + "  ";
        out += r.time + std::string(wt - r.time.size() + 2, ' ');
        out += r.sha + "\n";
    }
    return out;
}

std::string format_json(const std::vector<backup_entry>& entries) {
    auto out = nlohmann::json::array();
    for (const auto& e : entries) {
        nlohmann::json j;
        j["key"] = e.object.key;
        j["size"] = e.object.size;
        j["time"] = e.name ? nlohmann::json(format_time(*e.name)) : nlohmann::json(nullptr);
        j["sha256_suffix"] = e.name ? nlohmann::json(e.name->sha256_suffix) : nlohmann::json(nullptr);
        j["last_modified"] = e.object.last_modified;
        // ListObjectsV2 gives the ETag in its HTTP form, quotes included; scripts want the bare value.
        std::string_view etag = e.object.etag;
        if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
        j["etag"] = etag;
        out.push_back(std::move(j));
    }
    // JSON keeps each key exact (its escapes make control characters harmless); a key that is not
    // UTF-8 gets U+FFFD where it is broken instead of ending the listing with an exception.
    return out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace scb::restore
