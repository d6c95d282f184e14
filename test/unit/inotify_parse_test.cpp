#include "watch/inotify_events.hpp"

#include <catch2/catch.hpp>

#include <sys/inotify.h>

#include <cstring>
#include <string>
#include <vector>

using namespace scb::watch;

namespace {

constexpr int wd = 1;
constexpr std::string_view file = "channel.backup";

// Appends one record as the kernel lays it out: header, then the name NUL-padded to `len` bytes
// (the kernel rounds len up to a multiple of 16; by default we do the same).
void add(std::vector<std::byte>& buf, int ev_wd, std::uint32_t mask, std::string_view name = {},
         std::size_t len = std::size_t(-1)) {
    if (len == std::size_t(-1)) len = name.empty() ? 0 : (name.size() + 1 + 15) / 16 * 16;
    inotify_event ev{};
    ev.wd = ev_wd;
    ev.mask = mask;
    ev.len = static_cast<std::uint32_t>(len);
    auto at = buf.size();
    buf.resize(at + sizeof ev + len);
    std::memcpy(buf.data() + at, &ev, sizeof ev);
    // An empty string_view's data() may be null, which memcpy must not get even for 0 bytes.
    if (auto n = std::min(name.size(), len); n > 0) std::memcpy(buf.data() + at + sizeof ev, name.data(), n);
}

event_summary parse(const std::vector<std::byte>& buf, std::string_view name = file) {
    return parse_events(buf, wd, name);
}

bool nothing(const event_summary& s) {
    return !s.file_changed && !s.overflow && !s.folder_gone && !s.child_appeared && !s.moved_to && !s.close_write &&
           !s.temp_written && !s.entry_changed;
}

}  // namespace

TEST_CASE("parse_events: lnd's rename onto channel.backup is a change", "[unit][watch]") {
    std::vector<std::byte> buf;
    add(buf, wd, IN_MOVED_TO, "channel.backup");
    auto s = parse(buf);
    CHECK(s.file_changed);
    CHECK(s.moved_to);
    CHECK_FALSE(s.close_write);
    CHECK_FALSE(s.overflow);
    CHECK_FALSE(s.folder_gone);
}

TEST_CASE("parse_events: other names are ignored", "[unit][watch]") {
    for (std::string_view other : {"temp-dont-use.backup", "chan-backup-archives", "channel.backup.old",
                                   "channel.backu", "xchannel.backup"}) {
        CAPTURE(other);
        std::vector<std::byte> buf;
        add(buf, wd, IN_MOVED_TO, other);
        add(buf, wd, IN_CLOSE_WRITE, other);
        add(buf, wd, IN_CREATE | IN_ISDIR, other);
        CHECK(nothing(parse(buf)));
    }
}

TEST_CASE("parse_events: a cp-style close after writing is a change, a create alone is not", "[unit][watch]") {
    std::vector<std::byte> buf;
    add(buf, wd, IN_CREATE, "channel.backup");
    auto created = parse(buf);
    CHECK_FALSE(created.file_changed);
    CHECK(created.child_appeared);

    add(buf, wd, IN_CLOSE_WRITE, "channel.backup");
    auto s = parse(buf);
    CHECK(s.file_changed);
    CHECK(s.close_write);
    CHECK_FALSE(s.moved_to);
}

TEST_CASE("parse_events: a queue overflow is reported whatever its wd", "[unit][watch]") {
    std::vector<std::byte> buf;
    add(buf, -1, IN_Q_OVERFLOW);
    auto s = parse(buf);
    CHECK(s.overflow);
    CHECK_FALSE(s.file_changed);
    CHECK_FALSE(s.folder_gone);
}

TEST_CASE("parse_events: the folder going away", "[unit][watch]") {
    for (std::uint32_t mask : {IN_DELETE_SELF, IN_MOVE_SELF, IN_IGNORED, IN_UNMOUNT}) {
        CAPTURE(mask);
        std::vector<std::byte> buf;
        add(buf, wd, mask);
        CHECK(parse(buf).folder_gone);
        // The same event from another (stale) watch is not ours.
        std::vector<std::byte> other;
        add(other, wd + 1, mask);
        CHECK(nothing(parse(other)));
    }
    std::vector<std::byte> buf;
    add(buf, wd, IN_DELETE_SELF);
    add(buf, wd, IN_IGNORED);
    CHECK(parse(buf).folder_gone);
}

TEST_CASE("parse_events: only the given wd counts", "[unit][watch]") {
    std::vector<std::byte> buf;
    add(buf, wd + 7, IN_MOVED_TO, "channel.backup");
    CHECK(nothing(parse(buf)));
}

TEST_CASE("parse_events: ancestor mode sees the awaited folder appear", "[unit][watch]") {
    std::vector<std::byte> buf;
    add(buf, wd, IN_CREATE | IN_ISDIR, "mainnet");
    CHECK(parse(buf, "mainnet").child_appeared);
    std::vector<std::byte> moved;
    add(moved, wd, IN_MOVED_TO | IN_ISDIR, "mainnet");
    CHECK(parse(moved, "mainnet").child_appeared);
    CHECK(nothing(parse(moved, "testnet")));
}

TEST_CASE("parse_events: a symlink of the path made, re-pointed or removed changes its entry", "[unit][watch]") {
    // ln -s (IN_CREATE), ln -sfn (a temp link renamed over it: IN_MOVED_TO), rm (IN_DELETE), mv away.
    for (std::uint32_t mask : {IN_CREATE, IN_MOVED_TO, IN_DELETE, IN_MOVED_FROM}) {
        CAPTURE(mask);
        std::vector<std::byte> buf;
        add(buf, wd, mask, "lnd");
        CHECK(parse(buf, "lnd").entry_changed);
        CHECK(nothing(parse(buf, "lnd.tmp")));  // the temp link ln -sfn makes first is not the link
    }
    // Writes through the link, and reads of it, do not change where it leads.
    std::vector<std::byte> buf;
    add(buf, wd, IN_CLOSE_WRITE, "lnd");
    add(buf, wd, IN_CLOSE_NOWRITE, "lnd");
    CHECK_FALSE(parse(buf, "lnd").entry_changed);
}

TEST_CASE("parse_events: several records, padded names, in any alignment", "[unit][watch]") {
    std::vector<std::byte> buf;
    add(buf, wd, IN_CLOSE_WRITE, "temp-dont-use.backup");
    add(buf, wd, IN_MOVED_TO, "channel.backup", 64);  // much longer than strlen + 1
    add(buf, wd, IN_CREATE | IN_ISDIR, "chan-backup-archives");
    auto s = parse(buf);
    CHECK(s.moved_to);
    CHECK_FALSE(s.close_write);

    // A name filling its whole len without a NUL still compares exactly.
    std::vector<std::byte> tight;
    add(tight, wd, IN_MOVED_TO, "channel.backup", file.size());
    CHECK(parse(tight).moved_to);
    std::vector<std::byte> cut;
    add(cut, wd, IN_MOVED_TO, "channel.backup", file.size() - 1);  // "channel.backu"
    CHECK(nothing(parse(cut)));

    // The same bytes starting at an odd address.
    std::vector<std::byte> shifted(1);
    shifted.insert(shifted.end(), buf.begin(), buf.end());
    auto t = parse_events(std::span<const std::byte>(shifted).subspan(1), wd, file);
    CHECK(t.moved_to);
}

TEST_CASE("parse_events: truncated input is ignored safely", "[unit][watch]") {
    std::vector<std::byte> buf;
    add(buf, wd, IN_CLOSE_WRITE, "channel.backup");
    add(buf, wd, IN_MOVED_TO, "channel.backup");
    auto first_len = sizeof(inotify_event) + 16;
    // Every prefix: the first record counts only once complete, the second never (it is cut).
    for (std::size_t n = 0; n < buf.size(); ++n) {
        CAPTURE(n);
        // A copy of exactly n bytes, so ASan would catch a read past the end.
        std::vector<std::byte> part(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
        auto s = parse_events(part, wd, file);
        CHECK(s.close_write == (n >= first_len));
        CHECK_FALSE(s.moved_to);
    }
    CHECK(parse(buf).moved_to);

    // A header claiming a huge name.
    std::vector<std::byte> lying;
    add(lying, wd, IN_MOVED_TO, "channel.backup", 16);
    inotify_event ev{};
    std::memcpy(&ev, lying.data(), sizeof ev);
    ev.len = 0xFFFFFFF0u;
    std::memcpy(lying.data(), &ev, sizeof ev);
    CHECK(nothing(parse(lying)));
    CHECK(nothing(parse_events({}, wd, file)));
}

TEST_CASE("parse_events: lnd closing its temp file is reported apart from a change of the file", "[unit][watch]") {
    constexpr std::string_view temp = "temp-dont-use.backup";
    SECTION("close_write of the temp file alone") {
        std::vector<std::byte> buf;
        add(buf, wd, IN_CLOSE_WRITE, temp);
        auto s = parse_events(buf, wd, file, temp);
        CHECK(s.temp_written);
        CHECK_FALSE(s.file_changed);
        CHECK_FALSE(s.child_appeared);
        // Without a temp name it is just another name.
        CHECK(nothing(parse_events(buf, wd, file)));
    }
    SECTION("the temp file's close and its rename in one read: both reported") {
        std::vector<std::byte> buf;
        add(buf, wd, IN_CLOSE_WRITE, temp);
        add(buf, wd, IN_MOVED_FROM, temp);
        add(buf, wd, IN_MOVED_TO, file);
        auto s = parse_events(buf, wd, file, temp);
        CHECK(s.temp_written);
        CHECK(s.moved_to);
        CHECK(s.file_changed);
    }
    SECTION("other events of the temp file, or of another watch, are not a close") {
        std::vector<std::byte> buf;
        add(buf, wd, IN_CREATE, temp);
        add(buf, wd, IN_MOVED_TO, temp);
        add(buf, wd + 1, IN_CLOSE_WRITE, temp);
        add(buf, wd, IN_CLOSE_WRITE, "temp-dont-use.backup.old");
        CHECK(nothing(parse_events(buf, wd, file, temp)));
    }
}
