#pragma once
// Pure parsing of what read() on an inotify descriptor returns: bytes in, a summary out.
#include <cstddef>
#include <span>
#include <string_view>

namespace scb::watch {

/// What one read() of the inotify fd said, for one watch and one name in it.
struct event_summary {
    bool file_changed = false;    ///< `name` got IN_MOVED_TO or IN_CLOSE_WRITE (IN_CREATE alone does not
                                  ///< count: the writer has not finished)
    bool overflow = false;        ///< IN_Q_OVERFLOW: events were lost, treat as a change
    bool folder_gone = false;     ///< the watch `wd` itself got IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT or IN_IGNORED
    bool child_appeared = false;  ///< (ancestor mode) `name` got IN_CREATE or IN_MOVED_TO
    bool moved_to = false;        ///< the IN_MOVED_TO part of file_changed (lnd's rename)
    bool close_write = false;     ///< the IN_CLOSE_WRITE part of file_changed (a cp-style write)
    bool temp_written = false;    ///< `temp_name` got IN_CLOSE_WRITE: lnd wrote its temp file, the rename follows
    bool entry_changed = false;   ///< `name` was created, deleted, or renamed to or away (a symlink of the
                                  ///< path made, re-pointed by ln -sfn, or removed)
};

/// Parses a buffer of struct inotify_event records. Only events of watch `wd` whose name equals `name`
/// count (chan-backup-archives and other names are ignored), plus the watch's own events (no name),
/// IN_Q_OVERFLOW and, when `temp_name` is not empty, IN_CLOSE_WRITE of `temp_name`. Names may be
/// NUL-padded. A truncated last record is ignored; never reads outside `bytes`, whatever their alignment.
event_summary parse_events(std::span<const std::byte> bytes, int wd, std::string_view name,
                           std::string_view temp_name = {});

}  // namespace scb::watch
