#pragma once
// Test support for `list`, `restore` and `verify` through the real binary.
#include "daemon_fixture.hpp"

#include <string>
#include <vector>

namespace scb::test {

/// Runs a read-only command with a spool folder that must never be created.
inline run_result command(const daemon_fixture& f, std::vector<std::string> args) {
    return f.run_once(std::move(args), {"BACKUP_DIRECTORY=" + f.dir.path() + "/never-created"});
}

}  // namespace scb::test
