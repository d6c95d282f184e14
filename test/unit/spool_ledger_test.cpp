// The shared spool's ledger across destinations: examples, then generated sequences of writes,
// confirmations and releases by several destinations, checking after every step that no copy a
// destination lacks is ever deleted, and that a restart plans each leftover exactly for the
// destinations that lack it.
#include "backup/spool_ledger.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <sstream>

using scb::backup::spool_ledger;

namespace {

std::string v(int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "channel-%04d.backup", i);
    return buf;
}

}  // namespace

TEST_CASE("a copy stays until every destination has that version or a newer one", "[spool_ledger]") {
    spool_ledger l(2);
    CHECK(l.hold(v(1)));       // destination 0 needs a copy: write it
    l.written(v(1), true);
    CHECK_FALSE(l.hold(v(1)));  // destination 1 too: on disk already
    auto a = l.confirmed(0, v(1));
    CHECK(a.record);            // two destinations: the record must say 0 has it
    CHECK(a.delete_now.empty());
    CHECK(l.release({v(1)}).empty());  // 1 still lacks it
    auto b = l.confirmed(1, v(2));     // a newer version supersedes it
    CHECK(b.delete_now == std::vector<std::string>{v(1)});
    CHECK(l.copies().empty());
}

TEST_CASE("one destination needs no record, and its confirmation frees its copies", "[spool_ledger]") {
    spool_ledger l(1);
    CHECK(l.hold(v(3)));
    l.written(v(3), true);
    auto a = l.confirmed(0, v(3));
    CHECK_FALSE(a.record);
    CHECK(a.delete_now == std::vector<std::string>{v(3)});
    CHECK(l.release({v(3)}).empty());  // deleted already: not twice
}

TEST_CASE("a failed write is written again at the next need", "[spool_ledger]") {
    spool_ledger l(2);
    CHECK(l.hold(v(1)));
    l.written(v(1), false);
    CHECK(l.hold(v(1)));
}

TEST_CASE("restart: each leftover goes only to the destinations that lack it", "[spool_ledger]") {
    spool_ledger l(3);
    auto plan = l.start({v(3), v(1), v(2)}, {v(2), std::nullopt, v(3)});
    CHECK(plan.leftovers[0] == std::vector<std::string>{v(3)});
    CHECK(plan.leftovers[1] == std::vector<std::string>{v(1), v(2), v(3)});
    CHECK(plan.leftovers[2].empty());
    CHECK(plan.obsolete.empty());

    spool_ledger m(2);
    auto p2 = m.start({v(1), v(2)}, {v(2), v(1)});
    CHECK(p2.obsolete == std::vector<std::string>{v(1)});  // both have it: killed before its delete
    CHECK(p2.leftovers[1] == std::vector<std::string>{v(2)});
}

TEST_CASE("property: no copy a destination lacks is deleted; a restart plans what each lacks", "[spool_ledger][property]") {
    const int runs = 2000;
    for (int run = 0; run < runs; ++run) {
        std::mt19937_64 rng(static_cast<std::uint64_t>(run));
        const std::size_t n = 1 + rng() % 3;
        spool_ledger l(n);
        std::ostringstream trace;
        // The model: what is on disk, what each destination confirmed (by index), and the versions seen.
        std::set<std::string> disk;
        std::vector<int> confirmed(n, 0);
        int newest = 0;
        std::map<std::string, int> pending_write;  // name -> writes queued
        auto lacks = [&](std::size_t d, int i) { return i > confirmed[d]; };
        auto check = [&] {
            for (const auto& name : disk) (void)name;
            // Every version some destination lacks whose copy was written (and not failed since) is on disk.
            for (const auto& [name, on] : l.copies())
                if (on) REQUIRE(disk.count(name) == 1);
            for (int i = 1; i <= newest; ++i)
                for (std::size_t d = 0; d < n; ++d)
                    if (lacks(d, i) && disk.count(v(i))) {
                        INFO(trace.str());
                        REQUIRE(l.copies().count(v(i)) == 1);
                    }
        };
        for (int step = 0; step < 60; ++step) {
            switch (rng() % 5) {
            case 0:  // a new version
                ++newest;
                trace << "new " << newest << "; ";
                break;
            case 1: {  // destination d needs a copy of a version it lacks
                if (newest == 0) break;
                const std::size_t d = rng() % n;
                const int i = confirmed[d] + 1 + static_cast<int>(rng() % static_cast<unsigned>(newest - confirmed[d] + 1));
                if (i > newest) break;
                trace << "hold " << d << ":" << i << "; ";
                if (l.hold(v(i))) {
                    const bool ok = rng() % 4 != 0;
                    trace << (ok ? "written; " : "write failed; ");
                    if (ok) disk.insert(v(i));
                    l.written(v(i), ok);
                }
                break;
            }
            case 2: {  // destination d confirms a newer version
                const std::size_t d = rng() % n;
                if (confirmed[d] >= newest) break;
                const int i = confirmed[d] + 1 + static_cast<int>(rng() % static_cast<unsigned>(newest - confirmed[d]));
                confirmed[d] = i;
                trace << "confirm " << d << ":" << i << "; ";
                auto after = l.confirmed(d, v(i));
                REQUIRE(after.record == (n > 1));
                for (const auto& name : after.delete_now) {
                    for (std::size_t e = 0; e < n; ++e) {
                        INFO(trace.str() << " deleting " << name);
                        REQUIRE_FALSE(l.lacks(e, name));
                    }
                    disk.erase(name);
                }
                // The destination lets go of its copies up to i.
                std::vector<std::string> mine;
                for (int k = 1; k <= i; ++k) mine.push_back(v(k));
                for (const auto& name : l.release(mine)) {
                    for (std::size_t e = 0; e < n; ++e) REQUIRE(!lacks(e, std::stoi(name.substr(8, 4))));
                    disk.erase(name);
                }
                break;
            }
            case 3: {  // SIGKILL and restart: the plan from the disk and the record
                trace << "restart; ";
                spool_ledger fresh(n);
                auto plan = fresh.start({disk.begin(), disk.end()}, l.watermarks());
                for (std::size_t d = 0; d < n; ++d)
                    for (const auto& name : disk) {
                        const int i = std::stoi(name.substr(8, 4));
                        const bool planned =
                            std::find(plan.leftovers[d].begin(), plan.leftovers[d].end(), name) != plan.leftovers[d].end();
                        INFO(trace.str());
                        REQUIRE(planned == lacks(d, i));
                    }
                for (const auto& name : plan.obsolete) disk.erase(name);
                l = std::move(fresh);
                break;
            }
            default:
                break;
            }
            check();
        }
    }
}
