#pragma once
// Test support: writes channel.backup exactly as lnd does (temp-dont-use.backup, fsync, rename).
#include <filesystem>
#include <string>

namespace scb::test {

class lnd_simulator {
public:
    /// `folder` plays <lnddir>/data/chain/bitcoin/<network>/ (created if missing).
    explicit lnd_simulator(std::filesystem::path folder);

    /// Writes `content` to temp-dont-use.backup, fsyncs it and renames it over channel.backup.
    void swap(const std::string& content) const;
    /// A distinct, valid-sized content for version number `n` (deterministic).
    static std::string content(int n, std::size_t size = 600);

    [[nodiscard]] std::filesystem::path file() const { return folder_ / "channel.backup"; }
    [[nodiscard]] const std::filesystem::path& folder() const noexcept { return folder_; }

private:
    std::filesystem::path folder_;
};

}  // namespace scb::test
