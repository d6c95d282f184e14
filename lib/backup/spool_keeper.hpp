#pragma once
// Performs the spool ledger's decisions (spool_ledger.hpp) for every destination's uploader: spool
// writes, deletes and the confirmations record run in order on one spool thread, off the io_context
// thread (an fsync can take long); their results come back on the io_context thread.
#include "backup/spool_ledger.hpp"
#include "spool/spool.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace scb::backup {

/// The record of which version each destination confirmed last, in the spool folder.
inline constexpr const char* confirmations_file_name = "confirmed.json";

/// Applies the spool cap (spool::trim) and warns with the names it dropped. Blocking: spool thread.
void trim_spool(const spool::spool& store, std::size_t max_files);

class spool_keeper {
public:
    /// `store` null: no spool (another process owns it); writes and deletes then succeed without
    /// touching anything. `destinations`: the destinations' names, by index (the record's keys).
    spool_keeper(boost::asio::any_io_executor ex, const spool::spool* store, std::vector<std::string> destinations,
                 std::size_t max_files);
    ~spool_keeper();  ///< waits for the queued writes and deletes
    spool_keeper(const spool_keeper&) = delete;
    spool_keeper& operator=(const spool_keeper&) = delete;

    /// Start-up (blocking): lists the spool and reads the record; returns, per destination, the
    /// leftovers it lacks (oldest first), and deletes those every destination has. `ec`: the folder
    /// could not be listed.
    std::vector<std::vector<spool::entry>> start(std::error_code& ec);

    /// A destination needs a durable copy of `name`: written unless it is on disk already.
    /// `done(ok)` on the io_context thread.
    void write(std::string name, std::shared_ptr<const std::string> data, std::function<void(bool)> done);
    /// A destination no longer needs these copies: those every destination has are deleted. `done(ok)`.
    void release(std::vector<std::string> names, std::function<void(bool)> done);
    /// Destination `d` confirmed version `name`: recorded durably when there are several destinations.
    void confirmed(std::size_t d, const std::string& name);
    /// Reads a spooled version (blocking: start-up and leftovers, a few KB).
    std::error_code read(const std::string& name, std::string& out) const;

    [[nodiscard]] const spool::spool* store() const noexcept { return store_; }
    /// Versions in the spool now (blocking; 0 without a spool).
    [[nodiscard]] std::size_t pending() const;

    /// Called on the io_context thread after each spool write or delete: whether the spool works,
    /// the failure if not, and how many versions it holds.
    std::function<void(bool ok, const std::string& problem, std::size_t pending)> on_change;

private:
    void save_record();
    /// Deletes copies on the spool thread; `done(ok)` on the io_context thread.
    void remove(std::vector<std::string> names, std::function<void(bool)> done);

    boost::asio::any_io_executor ex_;
    const spool::spool* store_;
    std::vector<std::string> names_;
    std::size_t max_files_;
    spool_ledger ledger_;
    boost::asio::thread_pool io_{1};
};

}  // namespace scb::backup
