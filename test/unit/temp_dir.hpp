#pragma once
// A fresh folder under the system temp dir for one unit test, removed with its content at the end
// (write permission is given back first: some tests take it away).
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace scb::unit {

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::string templ = (std::filesystem::temp_directory_path() / "scb-unit-XXXXXX").string();
        REQUIRE(::mkdtemp(templ.data()) != nullptr);
        path = templ;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::permissions(path, std::filesystem::perms::owner_all, std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace scb::unit
