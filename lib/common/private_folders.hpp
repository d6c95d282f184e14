#pragma once
// mkdir -p for folders that hold secrets (the spool, a restored backup's folder): every folder it
// creates gets exactly 0700, whatever the umask; folders that exist are left as they are.
#include <filesystem>
#include <system_error>

namespace scb {

struct folder_result {
    std::error_code ec;
    std::filesystem::path at;  // the folder whose mkdir or chmod failed
    bool chmod = false;        // mkdir worked, chmod did not
    bool created = false;      // at least one folder was made
};

folder_result create_private_folders(const std::filesystem::path& dir);

}  // namespace scb
