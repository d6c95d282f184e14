// printable(): outside text made into one printable line of bounded length.
#include "logging/escape.hpp"

#include <catch2/catch.hpp>

#include <string>

using scb::logging::printable;
using namespace std::string_literals;

TEST_CASE("printable() escapes control bytes and keeps everything else", "[unit][logging]") {
    CHECK(printable("plain text: /var/lib/lnd/channel.backup") == "plain text: /var/lib/lnd/channel.backup");
    CHECK(printable("") == "");
    CHECK(printable("a\nb\rc\td") == "a\\x0ab\\x0dc\\x09d");
    CHECK(printable("\x1b[31mred\x1b[0m") == "\\x1b[31mred\\x1b[0m");
    CHECK(printable("del\x7f") == "del\\x7f");
    CHECK(printable("nul\0byte"s) == "nul\\x00byte");
    CHECK(printable("\x1f") == "\\x1f");
    CHECK(printable(" ~") == " ~");                     // 0x20 and 0x7e are printable
    CHECK(printable("caf\xc3\xa9 \xe2\x82\xac") == "caf\xc3\xa9 \xe2\x82\xac");  // UTF-8 passes
    CHECK(printable("back\\slash") == "back\\slash");
}

TEST_CASE("printable() caps the length without splitting an escape or a character", "[unit][logging]") {
    CHECK(printable(std::string(512, 'a')) == std::string(512, 'a'));  // exactly the cap: whole
    const auto long_text = printable(std::string(2000, 'a'));
    CHECK(long_text.size() == 512);
    CHECK(long_text == std::string(509, 'a') + "...");

    CHECK(printable("abcdef", 6) == "abcdef");
    CHECK(printable("abcdefg", 6) == "abc...");
    // An escape is 4 bytes: "a\x0a" does not fit in 3 + "...", so only "a" is kept.
    CHECK(printable("a\nbcdef", 7) == "a...");
    CHECK(printable("ab\ncdef", 9) == "ab\\x0a...");
    // A 3-byte character is kept whole or left out whole.
    CHECK(printable("a\xe2\x82\xac" "bcdef", 6) == "a...");
    CHECK(printable("a\xe2\x82\xac" "bcdef", 7) == "a\xe2\x82\xac...");
    // Every output within the cap, for every cap.
    const std::string mixed = "x\x1b\xc3\xa9y\n\xe2\x82\xacz" + std::string(20, 'q');
    for (std::size_t cap = 0; cap < 40; ++cap) {
        CAPTURE(cap);
        CHECK(printable(mixed, cap).size() <= cap);
    }
    CHECK(printable("abc", 2) == "ab");  // below the room for "...": a plain cut
}
