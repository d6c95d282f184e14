#include "health/probe.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace scb::health {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

probe_result probe(tcp::endpoint target, std::chrono::milliseconds timeout) {
    if (target.address().is_unspecified())
        target.address(target.address().is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                                                : asio::ip::address(asio::ip::address_v4::loopback()));
    asio::io_context ioc(1);
    beast::tcp_stream stream(ioc);
    beast::flat_buffer buffer(64 * 1024);  // /healthz answers are one line
    http::request<http::empty_body> req(http::verb::get, "/healthz", 11);
    req.set(http::field::host, target.address().to_string());
    req.set(http::field::user_agent, "scb-backup-healthcheck");
    req.keep_alive(false);
    http::response<http::string_body> res;
    probe_result out;
    boost::system::error_code failure;

    // Plain callbacks: one short exchange, and the stream's deadline covers every step.
    stream.expires_after(timeout);
    stream.async_connect(target, [&](boost::system::error_code ec) {
        if (ec) return void(failure = ec);
        http::async_write(stream, req, [&](boost::system::error_code wec, std::size_t) {
            if (wec) return void(failure = wec);
            http::async_read(stream, buffer, res, [&](boost::system::error_code rec, std::size_t) {
                if (rec) return void(failure = rec);
                out.status = res.result_int();
            });
        });
    });
    ioc.run();
    if (out.status == 0) {
        out.text = "no answer from http://" + target.address().to_string() + ":" + std::to_string(target.port()) +
                   "/healthz: " + (failure ? failure.message() : std::string("unknown error"));
        return out;
    }
    out.healthy = out.status == 200;
    out.text = res.body();
    while (!out.text.empty() && (out.text.back() == '\n' || out.text.back() == '\r')) out.text.pop_back();
    return out;
}

}  // namespace scb::health
