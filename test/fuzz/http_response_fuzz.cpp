// The HTTP/1.1 response parser exactly as s3::connection reads answers: Beast's response_parser with
// the same body and header limits, fed the bytes in arbitrary pieces, then end of stream.
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
    const std::size_t piece = 1 + data[1] % 64;  // how the bytes arrive from the socket
    data += 2;
    size -= 2;

    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024 + 64 * 1024);
    parser.header_limit(64 * 1024);
    if (head) parser.skip(true);
    parser.eager(true);

    boost::beast::flat_buffer buffer;
    boost::system::error_code ec;
    std::size_t fed = 0;
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
        if (used == 0 && !ec && !parser.is_done()) ec = http::error::need_more;  // never spin
    }
    if (!ec && parser.is_done()) {
        auto res = parser.release();
        (void)res.result_int();
        (void)res.keep_alive();
        (void)res.body().size();
    }
    return 0;
}
