// The HTTP/1.1 response parser exactly as http::connection reads answers: Beast's response_parser with
// the same header limit, the caller's body limit until the header is in, then the limit for its
// status (an error answer: at most small_body_limit), fed the bytes in arbitrary pieces, then end
// of stream.
#include "http/connection.hpp"

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const bool head = data[0] & 1u;              // a HEAD request: no body expected
    const bool get_object = data[0] & 2u;        // a GET object (max-size) or any other request
    const std::size_t piece = 1 + data[1] % 64;  // how the bytes arrive from the socket
    data += 2;
    size -= 2;

    const std::size_t body_limit = get_object ? 1024 * 1024 : scb::http::small_body_limit;
    http::response_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(64 * 1024);
    if (head) parser.skip(true);
    parser.eager(true);

    boost::beast::flat_buffer buffer;
    boost::system::error_code ec;
    std::size_t fed = 0;
    bool limited = false;
    while (!parser.is_done()) {
        if (buffer.size() == 0 || ec == http::error::need_more) {
            if (fed == size) {
                parser.put_eof(ec);
                break;
            }
            const std::size_t n = std::min(piece, size - fed);
            auto dst = buffer.prepare(n);
            std::copy_n(data + fed, n, static_cast<std::uint8_t*>(dst.data()));
            buffer.commit(n);
            fed += n;
        }
        ec = {};
        const auto used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec && ec != http::error::need_more) break;
        if (parser.is_header_done() && !limited && !parser.is_done()) {
            // As connection::exchange does between async_read_header and async_read.
            limited = true;
            std::size_t limit = body_limit;
            if (parser.get().result_int() >= 300) limit = std::min(limit, scb::http::small_body_limit);
            if (parser.content_length() && *parser.content_length() > limit) break;
            parser.body_limit(limit);
        }
        if (used == 0 && !ec && !parser.is_done()) ec = http::error::need_more;  // never spin
    }
    if (!ec && parser.is_done()) {
        auto res = parser.release();
        (void)res.result_int();
        (void)res.keep_alive();
        if (res.body().size() > body_limit) __builtin_trap();  // never more than the caller allowed
    }
    return 0;
}
