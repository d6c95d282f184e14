#pragma once
// A local folder as a destination (a USB disk, an NFS mount): file:///ABSOLUTE/FOLDER/.
//
// Objects are files named like the S3 keys' last part, written atomically (temporary name, full
// write, fsync, rename, fsync of the folder) with mode 0600. The folder must exist: it is never
// created, because a mount point that vanished (an unplugged disk) would otherwise be recreated on
// the root file system and the copies would silently land there.
//
// The blocking work runs on a one-thread pool of its own, so that a hung NFS server stalls this
// destination only, never the io_context thread, the spool or another destination.
#include "destination/target.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include <filesystem>
#include <string>
#include <system_error>

namespace scb::destination {

/// Blocking building blocks (tested directly).
namespace folder_io {
/// Writes `data` as `folder/name` atomically and durably, mode 0600. `name` must be a plain file
/// name (no '/', not "." or ".."): EINVAL otherwise. The folder must exist and be a folder: ENOENT
/// / ENOTDIR otherwise (never created). No temporary file is left on failure.
std::error_code write(const std::filesystem::path& folder, const std::string& name, std::string_view data);
/// Regular files directly in `folder` whose names end in ".backup" (not temporary files), with
/// size and last_modified (mtime, ISO 8601 UTC with milliseconds); sorted by name.
std::error_code list(const std::filesystem::path& folder, std::vector<s3::object_info>& out);
/// Reads `folder/name` (at most `max_size` bytes: EFBIG beyond).
std::error_code read(const std::filesystem::path& folder, const std::string& name, std::string& out,
                     std::uintmax_t max_size);
/// s3::error for a failed folder operation on `what` ("PUT name", "LIST", "GET name"): ENOENT/ENOTDIR
/// of the folder -> no_such_bucket with a message naming the folder ("does not exist: is the disk
/// mounted?"); ENOENT of a file -> no_such_key; EACCES/EPERM/EROFS -> access_denied; anything else
/// (ENOSPC, EIO…) -> server_error (retried). message holds strerror and the path.
s3::error to_error(std::error_code ec, const std::filesystem::path& folder, const std::string& what,
                   bool folder_level);
}  // namespace folder_io

class folder_target final : public target {
public:
    folder_target(boost::asio::any_io_executor ex, std::string name, std::filesystem::path folder,
                  std::uintmax_t max_object_size);
    ~folder_target() override;

    [[nodiscard]] const std::string& name() const noexcept override { return name_; }
    [[nodiscard]] std::string where() const override;  // "file:///folder/"
    [[nodiscard]] const std::string& prefix() const noexcept override { return prefix_; }

    boost::asio::awaitable<s3::error> put(std::string key, std::shared_ptr<const std::string> data,
                                          crypto::sha256_digest sha) override;
    boost::asio::awaitable<s3::result<std::vector<s3::object_info>>> list(std::string prefix) override;
    boost::asio::awaitable<s3::result<s3::object_info>> head(std::string key) override;
    boost::asio::awaitable<s3::result<std::string>> get(std::string key) override;

private:
    friend struct folder_target_testing;  // unit tests: hold io_ busy to test cancellation

    boost::asio::any_io_executor ex_;
    std::string name_;
    std::filesystem::path folder_;
    std::uintmax_t max_object_size_;
    std::string prefix_;  // always ""
    boost::asio::thread_pool io_{1};
};

}  // namespace scb::destination
