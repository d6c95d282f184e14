#include "backup/spool_ledger.hpp"

#include <algorithm>

namespace scb::backup {

spool_ledger::spool_ledger(std::size_t destinations) : count_(destinations), watermarks_(destinations) {}

bool spool_ledger::lacks(std::size_t d, const std::string& name) const {
    return !watermarks_.at(d) || name > *watermarks_[d];
}

bool spool_ledger::needed(const std::string& name) const {
    for (std::size_t d = 0; d < count_; ++d)
        if (lacks(d, name)) return true;
    return false;
}

spool_ledger::start_plan spool_ledger::start(std::vector<std::string> spooled,
                                             const std::vector<std::optional<std::string>>& watermarks) {
    for (std::size_t d = 0; d < count_ && d < watermarks.size(); ++d) watermarks_[d] = watermarks[d];
    std::sort(spooled.begin(), spooled.end());
    start_plan plan;
    plan.leftovers.resize(count_);
    for (const auto& name : spooled) {
        if (!needed(name)) {
            plan.obsolete.push_back(name);
            continue;
        }
        on_disk_[name] = true;
        for (std::size_t d = 0; d < count_; ++d)
            if (lacks(d, name)) plan.leftovers[d].push_back(name);
    }
    return plan;
}

bool spool_ledger::hold(const std::string& name) {
    auto [it, added] = on_disk_.try_emplace(name, false);
    return !it->second;
}

void spool_ledger::written(const std::string& name, bool ok) {
    // (Absent: deleted meanwhile, after the write in the spool thread's order.)
    if (auto it = on_disk_.find(name); it != on_disk_.end()) it->second = ok;
}

std::vector<std::string> spool_ledger::release(const std::vector<std::string>& names) {
    std::vector<std::string> gone;
    for (const auto& name : names) {
        // Unknown: deleted already (when the last destination confirmed it). Needed: another
        // destination lacks it, so it stays.
        if (on_disk_.count(name) == 0 || needed(name)) continue;
        on_disk_.erase(name);
        gone.push_back(name);
    }
    return gone;
}

spool_ledger::after_confirmation spool_ledger::confirmed(std::size_t d, const std::string& name) {
    after_confirmation out;
    auto& w = watermarks_.at(d);
    if (w && *w >= name) return out;
    w = name;
    out.record = count_ > 1;
    // Copies kept for this destination alone may go now.
    for (auto it = on_disk_.begin(); it != on_disk_.end();) {
        if (needed(it->first)) {
            ++it;
            continue;
        }
        out.delete_now.push_back(it->first);
        it = on_disk_.erase(it);
    }
    return out;
}

}  // namespace scb::backup
