#include "logging/escape.hpp"

#include <algorithm>

namespace scb::logging {

namespace {

/// Appends `text` escaped, one whole character at a time, while it fits in `budget` bytes; false
/// when something was left out.
bool append_escaped(std::string& out, std::string_view text, std::size_t budget) {
    static constexpr char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        std::size_t next = i + 1;
        // A UTF-8 lead byte goes with its continuation bytes, so a cut never leaves half a character.
        if (c >= 0xc0)
            while (next < text.size() && (static_cast<unsigned char>(text[next]) & 0xc0) == 0x80) ++next;
        const bool control = c < 0x20 || c == 0x7f;
        const std::size_t size = control ? 4 : next - i;
        if (out.size() + size > budget) return false;
        if (control) out.append({'\\', 'x', hex[c >> 4], hex[c & 0xf]});
        else out.append(text.substr(i, size));
        i = next;
    }
    return true;
}

}  // namespace

std::string printable(std::string_view text, std::size_t cap) {
    std::string out;
    out.reserve(std::min(cap, text.size() + 16));
    if (append_escaped(out, text, cap)) return out;
    constexpr std::string_view cut = "...";
    out.clear();
    if (cap < cut.size()) {
        append_escaped(out, text, cap);
        return out;
    }
    append_escaped(out, text, cap - cut.size());
    out.append(cut);
    return out;
}

}  // namespace scb::logging
