#pragma once
// Test support for `list`, `restore` and `verify` through the real binary.
#include "daemon_fixture.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace scb::test {

/// Runs a read-only command with a spool folder that must never be created.
inline run_result command(const daemon_fixture& f, std::vector<std::string> args) {
    return f.run_once(std::move(args), {"BACKUP_DIRECTORY=" + f.dir.path() + "/never-created"});
}

/// The whole content of a file.
inline std::string slurp(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream os;
    os << in.rdbuf();
    return os.str();
}

}  // namespace scb::test
