#include "backup/spool_keeper.hpp"

#include "common/atomic_file.hpp"
#include "common/small_file.hpp"
#include "logging/logger.hpp"

#include <boost/asio/post.hpp>

#include <nlohmann/json.hpp>

#include <map>

namespace scb::backup {

namespace asio = boost::asio;

void trim_spool(const spool::spool& store, std::size_t max_files) {
    auto dropped = store.trim(max_files);
    if (dropped.empty()) return;
    std::string names;
    for (const auto& n : dropped) names += (names.empty() ? "" : ", ") + n;
    // Every version holds all channels, so a newer one makes these redundant once it is stored;
    // until then they were the fallback, hence a warning.
    logging::warn("spool holds more than ", max_files, " versions (SCB_SPOOL_MAX_FILES / --spool-max-files): dropped ",
                  dropped.size(), " oldest not yet confirmed everywhere: ", names);
}

spool_keeper::spool_keeper(asio::any_io_executor ex, const spool::spool* store, std::vector<std::string> destinations,
                           std::size_t max_files)
    : ex_(std::move(ex)), store_(store), names_(std::move(destinations)), max_files_(max_files), ledger_(names_.size()) {}

spool_keeper::~spool_keeper() { io_.join(); }

std::size_t spool_keeper::pending() const {
    if (!store_) return 0;
    std::error_code ec;
    return store_->pending(ec).size();
}

std::error_code spool_keeper::read(const std::string& name, std::string& out) const {
    if (!store_) return std::make_error_code(std::errc::no_such_file_or_directory);
    return store_->read(name, out);
}

std::vector<std::vector<spool::entry>> spool_keeper::start(std::error_code& ec) {
    std::vector<std::vector<spool::entry>> out(names_.size());
    if (!store_) return out;
    const auto entries = store_->pending(ec);
    // The record: {"confirmed": {"<destination>": "<newest version it confirmed>"}}. Absent (one
    // destination, or a spool from before there were several) or unreadable: every leftover goes
    // everywhere, which loses nothing.
    std::vector<std::optional<std::string>> marks(names_.size());
    if (names_.size() > 1) {
        const auto path = store_->dir() / confirmations_file_name;
        auto record = read_small_file(path.string());
        if (record) {
            try {
                const auto j = nlohmann::json::parse(record.text).at("confirmed");
                for (std::size_t d = 0; d < names_.size(); ++d)
                    if (j.contains(names_[d]) && j[names_[d]].is_string()) marks[d] = j[names_[d]].get<std::string>();
            } catch (const std::exception&) {
                logging::warn("spool: ", path.string(), " is not a valid record: every leftover goes to every destination");
            }
        }
    }
    std::vector<std::string> spooled;
    std::map<std::string, spool::entry> by_name;
    for (const auto& e : entries) {
        spooled.push_back(e.name);
        by_name[e.name] = e;
    }
    auto plan = ledger_.start(std::move(spooled), marks);
    for (std::size_t d = 0; d < names_.size(); ++d)
        for (const auto& n : plan.leftovers[d]) out[d].push_back(by_name[n]);
    for (const auto& n : plan.obsolete) {
        logging::info("spooled version ", n, " is confirmed by every destination already: deleted");
        if (auto rec = store_->remove(n)) logging::warn("spool: cannot delete ", n, ": ", rec.message());
    }
    return out;
}

void spool_keeper::write(std::string name, std::shared_ptr<const std::string> data,
                         std::function<void(bool)> done) {
    if (!store_ || !ledger_.hold(name)) {
        // No spool of our own (its owner keeps the copies), or the copy is on disk already.
        asio::post(ex_, [done = std::move(done)] { done(true); });
        return;
    }
    // The one spool thread runs in order: a later delete of the same name comes after this write.
    asio::post(io_, [this, name = std::move(name), data = std::move(data), done = std::move(done)]() mutable {
        bool ok = false;
        std::string problem;
        std::size_t left = 0;
        try {
            if (auto ec = store_->write(name, *data)) {
                problem = "cannot write " + (store_->dir() / name).string() + ": " + ec.message();
                logging::error("spool: ", problem,
                               " - the upload goes on from memory, but this version is not safe across a restart");
            } else {
                ok = true;
                trim_spool(*store_, max_files_);
            }
            left = pending();
        } catch (const std::exception& e) {  // never let a spool failure end the process
            problem = e.what();
            logging::error("spool: ", problem);
        }
        asio::post(ex_, [this, name = std::move(name), ok, problem = std::move(problem), left,
                         done = std::move(done)] {
            ledger_.written(name, ok);
            if (on_change) on_change(ok, problem, left);
            done(ok);
        });
    });
}

void spool_keeper::release(std::vector<std::string> names, std::function<void(bool)> done) {
    // Whose release it is does not matter: a copy goes once every destination has it.
    remove(store_ ? ledger_.release(names) : std::vector<std::string>{}, std::move(done));
}

void spool_keeper::remove(std::vector<std::string> names, std::function<void(bool)> done) {
    if (names.empty()) {
        // Nothing of ours, but a delete the ledger ordered at a confirmation may still be queued:
        // answer after it (the spool thread runs in order), so that "done" means the spool is final.
        asio::post(io_, [this, done = std::move(done)]() mutable {
            asio::post(ex_, [done = std::move(done)] { done(true); });
        });
        return;
    }
    asio::post(io_, [this, gone = std::move(names), done = std::move(done)]() mutable {
        bool ok = true;
        std::string problem;
        std::size_t left = 0;
        try {
            for (const auto& name : gone)
                if (auto ec = store_->remove(name)) {
                    ok = false;
                    problem = "cannot delete the confirmed copy " + name + ": " + ec.message();
                    logging::warn("spool: ", problem);
                }
            left = pending();
        } catch (const std::exception& e) {
            ok = false;
            problem = e.what();
            logging::error("spool: ", problem);
        }
        asio::post(ex_, [this, ok, problem = std::move(problem), left, done = std::move(done)] {
            if (on_change) on_change(true, problem, left);  // a failed delete loses nothing
            done(ok);
        });
    });
}

void spool_keeper::confirmed(std::size_t d, const std::string& name) {
    auto after = ledger_.confirmed(d, name);
    if (!store_) return;
    if (after.record) save_record();
    remove(std::move(after.delete_now), [](bool) {});
}

void spool_keeper::save_record() {
    nlohmann::json marks = nlohmann::json::object();
    for (std::size_t d = 0; d < names_.size(); ++d)
        if (const auto& w = ledger_.watermarks()[d]) marks[names_[d]] = *w;
    std::string text = nlohmann::json{{"confirmed", marks}}.dump() + "\n";
    // In order with the writes and deletes: a copy written after a confirmation is never older
    // than the record that says which destinations have it.
    asio::post(io_, [this, text = std::move(text)] {
        const auto path = store_->dir() / confirmations_file_name;
        if (auto err = write_file_atomically(path, text, {.replace = true, .reclaim_temp = true}))
            logging::warn("spool: cannot write ", path.string(), " (", err.step, ": ", err.ec.message(),
                          "): after a restart, leftovers may go again to destinations that have them");
    });
}

}  // namespace scb::backup
