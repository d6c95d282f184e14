#pragma once
// The shared spool's policy across destinations, as a sans-io state machine: which copies must be
// written, which may be deleted, and what must be recorded so that a restart sends a leftover only
// to the destinations that lack it. It owns no file; the spool keeper (spool_keeper.hpp) performs
// what it decides.
//
// Each destination's upload_policy decides, for itself, when it needs a copy of a version (write)
// and when it no longer does (release: it confirmed that version or a newer one). What a
// destination has is one watermark: the newest version (by name: names sort in the order versions
// were seen) it confirmed; every SCB holds all channels, so a newer version supersedes older ones.
// The rule: a copy is deleted only once every destination's watermark has reached it.
//
// The watermarks are also the durable record: a leftover named after a destination's watermark is
// one that destination lacks.
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace scb::backup {

class spool_ledger {
public:
    /// Destinations are 0 .. count-1.
    explicit spool_ledger(std::size_t destinations);

    struct start_plan {
        std::vector<std::vector<std::string>> leftovers;  ///< per destination: the copies it lacks, oldest first
        std::vector<std::string> obsolete;                ///< copies every destination has: delete them
    };
    /// Start-up: the spool's copies (any order) and the recorded watermarks (by destination; nullopt:
    /// nothing confirmed, or no record).
    start_plan start(std::vector<std::string> spooled, const std::vector<std::optional<std::string>>& watermarks);

    /// A destination needs a copy of `name`. True when it must be written now; false when it is on
    /// disk already (the caller reports it written at once).
    bool hold(const std::string& name);
    /// A write of `name` finished.
    void written(const std::string& name, bool ok);
    /// A destination no longer needs these copies: those still on record that every destination has
    /// now, to delete.
    std::vector<std::string> release(const std::vector<std::string>& names);

    struct after_confirmation {
        bool record = false;              ///< the watermarks changed: write the record (several destinations)
        std::vector<std::string> delete_now;  ///< copies every destination has now
    };
    /// Destination `d` confirmed version `name` (or its content).
    after_confirmation confirmed(std::size_t d, const std::string& name);

    [[nodiscard]] const std::vector<std::optional<std::string>>& watermarks() const noexcept { return watermarks_; }
    /// Whether destination `d` lacks version `name` (its watermark is older).
    [[nodiscard]] bool lacks(std::size_t d, const std::string& name) const;
    /// Whether some destination lacks `name`.
    [[nodiscard]] bool needed(const std::string& name) const;
    /// Copies the ledger knows of, and whether each is on disk.
    [[nodiscard]] const std::map<std::string, bool>& copies() const noexcept { return on_disk_; }

private:
    std::size_t count_;
    std::map<std::string, bool> on_disk_;  // by name: the last write succeeded (or found at start)
    std::vector<std::optional<std::string>> watermarks_;
};

}  // namespace scb::backup
