#include "watch/inotify_events.hpp"

#include <sys/inotify.h>

#include <cstring>

namespace scb::watch {

event_summary parse_events(std::span<const std::byte> bytes, int wd, std::string_view name,
                           std::string_view temp_name) {
    event_summary s;
    std::size_t pos = 0;
    constexpr std::size_t header = sizeof(inotify_event);
    while (bytes.size() - pos >= header) {
        // memcpy, not a cast: the buffer may not be aligned for inotify_event.
        inotify_event ev{};
        std::memcpy(&ev, bytes.data() + pos, header);
        if (ev.len > bytes.size() - pos - header) break;  // truncated record
        std::string_view ev_name;
        if (ev.len > 0) {
            // The kernel pads the name with NULs up to `len`.
            const char* p = reinterpret_cast<const char*>(bytes.data() + pos + header);
            ev_name = std::string_view(p, ::strnlen(p, ev.len));
        }
        pos += header + ev.len;

        // The queue overflowed: its wd is -1, and whatever it hid may have concerned us.
        if (ev.mask & IN_Q_OVERFLOW) {
            s.overflow = true;
            continue;
        }
        if (ev.wd != wd) continue;  // a watch we removed, or another one
        if (ev.len == 0) {
            // Events about the watched folder itself. IN_IGNORED also follows an unmount or our own
            // inotify_rm_watch; either way this wd no longer watches anything useful.
            if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)) s.folder_gone = true;
            continue;
        }
        if (!temp_name.empty() && ev_name == temp_name) {
            if (ev.mask & IN_CLOSE_WRITE) s.temp_written = true;
            continue;
        }
        if (ev_name != name) continue;
        if (ev.mask & (IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM)) s.entry_changed = true;
        if (ev.mask & IN_MOVED_TO) {
            s.moved_to = s.file_changed = s.child_appeared = true;
        }
        if (ev.mask & IN_CLOSE_WRITE) {
            s.close_write = s.file_changed = true;
        }
        if (ev.mask & IN_CREATE) s.child_appeared = true;
    }
    return s;
}

}  // namespace scb::watch
