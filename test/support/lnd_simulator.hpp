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
    void swap(const std::string& content) const { write_temp(content), rename_temp(); }
    /// swap()'s two halves, for tests that act between them: create/truncate, write, fsync, close
    /// temp-dont-use.backup; then rename it over channel.backup.
    void write_temp(const std::string& content) const;
    void rename_temp() const;
    /// A distinct, valid-sized content for version number `n` (deterministic).
    static std::string content(int n, std::size_t size = 600);

    [[nodiscard]] std::filesystem::path file() const { return folder_ / "channel.backup"; }
    [[nodiscard]] std::filesystem::path temp() const { return folder_ / "temp-dont-use.backup"; }
    [[nodiscard]] const std::filesystem::path& folder() const noexcept { return folder_; }

private:
    std::filesystem::path folder_;
};

}  // namespace scb::test
