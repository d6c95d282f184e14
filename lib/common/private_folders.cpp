#include "common/private_folders.hpp"

#include <sys/stat.h>

#include <cerrno>

namespace scb {

folder_result create_private_folders(const std::filesystem::path& dir) {
    const auto last_error = [] { return std::error_code(errno, std::generic_category()); };
    folder_result r;
    std::filesystem::path p;
    for (const auto& part : dir) {
        p /= part;
        if (part == p.root_path() || part.empty()) continue;
        if (::mkdir(p.c_str(), 0700) == 0) {
            r.created = true;
            if (::chmod(p.c_str(), 0700) != 0) return {last_error(), p, true, true};
        } else if (errno != EEXIST) {
            return {last_error(), p, false, r.created};
        }
    }
    return r;
}

}  // namespace scb
