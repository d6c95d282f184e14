#pragma once
// The service: back up at start, then watch the file and hand every new version to each
// destination's uploader until SIGTERM/SIGINT; or back up once and exit.
#include "backup/spool_keeper.hpp"
#include "backup/uploader.hpp"
#include "destination/target.hpp"
#include "health/http_server.hpp"
#include "health/metrics.hpp"
#include "heartbeat/pinger.hpp"
#include "notify/sd_notify.hpp"
#include "snapshot/file_snapshot.hpp"
#include "watch/watcher.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace scb::backup {

struct daemon_options {
    std::filesystem::path file;
    std::uint64_t max_size = 64ull * 1024 * 1024;
    std::chrono::milliseconds reconcile_interval{std::chrono::minutes(5)};
    uploader_options upload;     // upload.policy.grace is the shutdown grace period
    // After each spool write, the oldest spool files beyond this many are deleted (never the newest).
    std::size_t spool_max_files = 100;
    // Optional, owned by main; null when unused.
    health::state* health = nullptr;         // counters and the /healthz verdict
    health::http_server* http = nullptr;     // served while run() runs
    notify::notifier* notifier = nullptr;    // READY/STATUS/STOPPING/WATCHDOG to systemd
    heartbeat::pinger* heartbeat = nullptr;  // dead man's switch, pinged only while healthy
    std::chrono::milliseconds heartbeat_interval{std::chrono::minutes(5)};
    // Read-back verification (--verify-interval): 0 is off. Otherwise, after the first confirmed
    // upload and then at this interval, each destination's newest confirmed object is read back.
    std::chrono::milliseconds verify_interval{0};
    std::vector<destination::target*> verify_readers;  // one per destination, on connections of their own
    std::chrono::seconds stale_after{std::chrono::minutes(5)};  // the health verdict's limit
};

class daemon {
public:
    /// `targets`: the destinations, at least one, owned by the caller. `store` null: no spool of our
    /// own (`once` beside a running daemon that owns it).
    daemon(boost::asio::any_io_executor ex, std::vector<destination::target*> targets, const spool::spool* store,
           daemon_options opts);
    ~daemon();

    /// Runs until SIGTERM/SIGINT (exit 0) or an unrecoverable watch failure; returns the exit code.
    boost::asio::awaitable<int> run();
    /// Backs up the current file, waits until every destination confirmed it; returns the exit code
    /// (exit_code::partial when some did and others did not).
    boost::asio::awaitable<int> once();

private:
    enum class origin { startup, watch, reconcile };
    /// Reads the file; a new version is submitted to the uploader and returned.
    std::optional<version> consider(origin why, const char* detail);
    /// Reads the file as it is now: a version (not submitted yet), or nullopt with health and log told why.
    std::optional<version> read_file();
    /// lnd closed its temp file: read it now and have its PUT signed, so that when the rename makes
    /// it the file, consider() only checks that it is the same inode, size and mtime and submits it.
    boost::asio::awaitable<void> stage(std::filesystem::path temp);
    /// The staged version, if the file is now the temp file that stage() read (it is used once).
    std::optional<version> take_staged(origin why);
    /// The object name of a new version: its time is S3's (the client's corrected clock), always
    /// after the previous name's, so that names sort in the order versions were seen.
    std::string next_name(const std::string& sha256_hex);
    /// What follows a new version off the upload's critical path: the log line and health.
    void record(const version& v, const char* detail);
    /// consider() then record(); true for a new version.
    bool take_and_record(origin why, const char* detail);
    /// The file exists and is not the one read last (another inode, size or time): a new version
    /// may be there whose event was not read.
    [[nodiscard]] bool written_since_last_read() const;
    boost::asio::awaitable<void> watch_loop();
    boost::asio::awaitable<int> wait_for_stop_signal(boost::asio::signal_set& signals);
    /// run()'s stop: wait_for_stop_signal, then one last look at the file before the uploaders
    /// finish, so that a version written just before the signal (lnd's shutdown rewrite) whose event
    /// is still unread gets the grace period.
    boost::asio::awaitable<int> stop_after_last_look(boost::asio::signal_set& signals);
    boost::asio::awaitable<void> abort_on_second_signal(boost::asio::signal_set& signals);
    boost::asio::awaitable<void> heartbeat_loop();
    /// --verify-interval: wakes at the first confirmation, then at each interval, and verifies.
    boost::asio::awaitable<void> verify_loop();
    /// Reads back each destination's newest confirmed object; a missing or different one makes the
    /// destination fail (health, metric) and the newest version is uploaded again.
    boost::asio::awaitable<void> verify_uploads();
    /// The destinations learn their clocks together, until one knows S3's (a stalled one must not
    /// delay the start) or all have tried.
    boost::asio::awaitable<void> learn_clocks();
    /// Whether some destination's clock is S3's (naming_clock() then follows it).
    [[nodiscard]] bool naming_clock_known() const;
    /// Start-up: the clocks, or a stop signal first (then its number; else 0).
    boost::asio::awaitable<int> learn_clocks_or_stop(boost::asio::signal_set& signals);
    /// Every uploader, together, until all have finished (the cancellation reaches each).
    boost::asio::awaitable<void> run_uploaders();
    /// The time to name versions by: the first destination whose clock an answer taught (S3's
    /// Date), else the local clock.
    [[nodiscard]] std::chrono::system_clock::time_point naming_clock() const;
    /// The health module's name for destination i: "" when there is only one (unlabelled output).
    [[nodiscard]] std::string health_name(std::size_t i) const;
    void on_upload(const upload_event& ev);
    /// The log's label for a change the watch reported ("moved_to"; the first soon after the start
    /// also says it is most likely lnd's start-up rewrite).
    std::string describe_change(watch::change_reason reason);
    /// Whether every destination has the newest version (for the heartbeat).
    [[nodiscard]] bool all_current() const;

    boost::asio::any_io_executor ex_;
    std::vector<destination::target*> targets_;
    const spool::spool* spool_;
    daemon_options opts_;
    spool_keeper keeper_;
    std::vector<std::unique_ptr<uploader>> uploaders_;
    std::optional<snapshot::identity> last_identity_;
    std::chrono::system_clock::time_point last_name_time_{};
    struct staged_version {
        snapshot::identity id;  // of the temp file when it was read
        version v;
    };
    std::optional<staged_version> staged_;
    snapshot::problem last_problem_ = snapshot::problem::none;  // logged once per kind in a row
    // lnd rewrites the file at every start: the first change the watch sees soon after our own start
    // (the unit is ordered Before=lnd.service, so lnd starts right after us) is logged as such.
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
    bool first_change_seen_ = false;
    // Background tasks that live as long as run(): stopped by cancellation at its end.
    boost::asio::cancellation_signal watchdog_stop_, heartbeat_stop_, second_signal_stop_, verify_stop_;
    boost::asio::steady_timer heartbeat_wake_, verify_wake_;
    // What read-back verification checks: each destination's newest confirmed key and its content,
    // and the newest version (uploaded again when a read-back fails).
    struct confirmed_object {
        std::string key;
        std::string sha256_hex;
    };
    std::vector<std::optional<confirmed_object>> confirmed_;
    std::optional<version> newest_;
    bool first_verify_requested_ = false;
};

}  // namespace scb::backup
