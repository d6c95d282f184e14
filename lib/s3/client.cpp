#include "s3/client.hpp"

#include "crypto/hash.hpp"
#include "logging/escape.hpp"
#include "logging/logger.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>

#include <algorithm>
#include <ctime>
#include <iomanip>
#include <locale>
#include <sstream>
#include <stdexcept>

namespace scb::s3 {

namespace asio = boost::asio;

std::optional<checksum_mode> parse_checksum_mode(std::string_view text) {
    if (text == "both") return checksum_mode::both;
    if (text == "md5") return checksum_mode::md5;
    if (text == "sha256") return checksum_mode::sha256;
    if (text == "none") return checksum_mode::none;
    return std::nullopt;
}

asio::awaitable<result<sigv4::credentials>> static_credentials::current() {
    co_return result<sigv4::credentials>{creds_, {}};
}

std::chrono::seconds next_clock_offset(std::chrono::seconds current, std::chrono::seconds measured) noexcept {
    if (std::chrono::abs(measured - current) < clock_noise) return current;
    return std::chrono::abs(measured) < clock_noise ? std::chrono::seconds{0} : measured;
}

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
    std::tm tm{};
    std::istringstream in{std::string(text)};
    in.imbue(std::locale::classic());
    std::string zone;
    in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S") >> zone;
    if (in.fail() || zone != "GMT" || !in.eof()) return std::nullopt;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

list_page parse_list_objects(std::string_view xml) {
    namespace pt = boost::property_tree;
    pt::ptree tree;
    std::istringstream in{std::string(xml)};
    try {
        pt::read_xml(in, tree, pt::xml_parser::trim_whitespace);
    } catch (const pt::xml_parser_error& e) {
        throw std::runtime_error(std::string("malformed ListObjectsV2 response: ") + e.message());
    }
    auto root = tree.get_child_optional("ListBucketResult");
    if (!root) throw std::runtime_error("ListObjectsV2 response has no ListBucketResult element");
    list_page page;
    for (const auto& [name, node] : *root) {
        if (name != "Contents") continue;
        object_info o;
        o.key = node.get<std::string>("Key", "");
        o.size = node.get<std::uint64_t>("Size", 0);
        o.last_modified = node.get<std::string>("LastModified", "");
        o.etag = node.get<std::string>("ETag", "");
        page.objects.push_back(std::move(o));
    }
    if (root->get<std::string>("IsTruncated", "false") == "true") {
        page.next_continuation_token = root->get<std::string>("NextContinuationToken", "");
        if (page.next_continuation_token.empty())
            throw std::runtime_error("ListObjectsV2 response is truncated but has no NextContinuationToken");
    }
    return page;
}

namespace {

std::string unquote(std::string_view etag) {
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
    return std::string(etag);
}

std::string header(const http::response& res, std::string_view name) {
    auto it = res.find(name);
    return it == res.end() ? std::string() : std::string(it->value());
}

/// x-amz-bucket-region when it looks like a region name ("eu-west-3"): it goes into the advice
/// `AWS_REGION=...`, which must be something the operator can paste.
std::string bucket_region(const http::response& res) {
    std::string r = header(res, "x-amz-bucket-region");
    const bool plausible = !r.empty() && r.size() <= 32 && std::all_of(r.begin(), r.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
    return plausible ? r : std::string();
}

/// The body limit of a ListObjectsV2 page: room for max_keys entries of up to 1 KiB keys (S3's
/// maximum) with their metadata, XML-escaped, plus the page's own elements.
std::size_t list_body_limit(int max_keys) {
    return http::small_body_limit + static_cast<std::size_t>(std::clamp(max_keys, 1, 1000)) * 4096;
}

}  // namespace

client::client(asio::any_io_executor ex, endpoint ep, std::shared_ptr<credentials_provider> creds, client_options opts)
    : ep_(std::move(ep)),
      creds_(std::move(creds)),
      opts_(std::move(opts)),
      conn_(ex, ep_.host, ep_.port, ep_.tls ? http::make_tls_context(opts_.ca_bundle) : nullptr, opts_.io, opts_.proxy) {}

void client::learn_clock_from(const http::response& res) {
    const auto date = parse_http_date(header(res, "Date"));
    if (!date) return;
    clock_known_ = true;
    // Date is truncated to the second: S3's time was on average half a second later than it says.
    const auto measured = std::chrono::round<std::chrono::seconds>(*date + std::chrono::milliseconds(500) -
                                                                   std::chrono::system_clock::now());
    const auto next = next_clock_offset(clock_offset_, measured);
    if (next == clock_offset_) return;
    clock_offset_ = next;
    if (next == std::chrono::seconds{0}) {
        if (warned_offset_) logging::info("the local clock agrees with S3's again; naming versions and signing with it");
        warned_offset_.reset();
        return;
    }
    // One warning per real change: an offset moving by seconds is the same wrong clock, drifting.
    if (warned_offset_ && std::chrono::abs(next - *warned_offset_) <= std::chrono::minutes(1)) {
        logging::debug("clock offset to S3 now ", next.count(), " s");
        return;
    }
    warned_offset_ = next;
    logging::warn("the local clock is ", std::chrono::abs(next).count(), " s ", next.count() > 0 ? "behind" : "ahead of",
                  " S3's (by its Date header); naming versions and signing with S3's time; fix the local clock (NTP)");
}

namespace {
constexpr std::string_view clock_probe_key = ".scb-backup-clock-probe";  // never written
}  // namespace

asio::awaitable<void> client::learn_clock() {
    if (clock_known_) co_return;
    // Any answer carries S3's Date, even a 404 or a 403 (the daemon's policy need not allow reading):
    // HEAD of an object that is not there costs S3 a lookup, where HEAD of a bucket may list it.
    const call c{http::verb::head, ep_.object_path(clock_probe_key), {}, {}, {}, "HEAD (to learn S3's clock)"};
    auto r = co_await execute_once(c);
    if (!clock_known_)
        logging::debug("S3's clock is not known yet (", r.err ? r.err.describe() : std::string("no Date header"),
                       "): naming with the local clock until an answer corrects it");
}

http::request client::signed_request(const call& c, const sigv4::credentials& creds) const {
    const auto now = this->now();
    sigv4::request sr;
    sr.method = std::string(boost::beast::http::to_string(c.method));
    sr.path = c.path;
    sr.query = c.query;
    sr.payload_hash = c.payload_hash.empty() ? crypto::sha256_hex(c.body) : c.payload_hash;
    sr.headers.reserve(c.headers.size() + 4);
    sr.headers.push_back({"host", ep_.host_header});
    sr.headers.push_back({"x-amz-content-sha256", sr.payload_hash});
    for (const auto& [name, value] : c.headers) sr.headers.push_back({name, value});
    const sigv4::scope scope{sigv4::date_stamp(now), ep_.region, "s3"};
    const std::string authorization = sigv4::sign(sr, creds, scope, sigv4::amz_date(now), sigv4::s3_rules);

    http::request req{c.method, c.query.empty() ? c.path : c.path + "?" + c.query, 11};
    for (const auto& h : sr.headers) req.set(h.name, h.value);
    req.set(http::field::authorization, authorization);
    req.set(http::field::user_agent, "scb-backup/" SCB_VERSION);
    req.body() = boost::beast::span<const char>(c.body.data(), c.body.size());
    if (c.method == http::verb::put || !c.body.empty()) req.prepare_payload();
    return req;
}

asio::awaitable<result<http::response>> client::deliver(http::request& req, const std::string& operation,
                                                       std::size_t body_limit) {
    auto ex = co_await conn_.send(req, body_limit);
    if (ex.err) {
        auto err = from_transport(std::move(ex.err));
        if (ex.body_limit_hit)
            err.message = "S3's answer to " + std::string(req.method_string()) + " was larger than " +
                          http::describe_size(ex.body_limit_hit) + " (from " + ep_.host + "); the connection was dropped";
        err.operation = operation;
        co_return result<http::response>{{}, std::move(err)};
    }
    // Every answer, error or not, tells S3's time: names and signatures follow it.
    const auto offset_before = clock_offset_;
    learn_clock_from(ex.response);
    const unsigned status = ex.response.result_int();
    if (status >= 300) {
        auto err = parse_error_response(status, ex.response.body());
        err.operation = operation;
        err.bucket = ep_.bucket;
        if (err.code == errc::wrong_region) err.bucket_region = bucket_region(ex.response);
        // The retry in execute() is signed with the offset just learned.
        if (err.code == errc::clock_skew && clock_offset_ == offset_before)
            logging::warn("S3 refused the request time (RequestTimeTooSkewed) but its Date header ",
                          parse_http_date(header(ex.response, "Date")) ? "agrees with the clock in use"
                                                                       : "is missing or unreadable",
                          ": check the local clock (NTP)");
        co_return result<http::response>{std::move(ex.response), std::move(err)};
    }
    co_return result<http::response>{std::move(ex.response), {}};
}

asio::awaitable<result<http::response>> client::execute_once(const call& c) {
    auto creds = co_await creds_->current();
    if (!creds) co_return result<http::response>{{}, std::move(creds.err)};
    auto req = signed_request(c, creds.value);
    co_return co_await deliver(req, c.operation, c.body_limit);
}

asio::awaitable<result<http::response>> client::execute(call c) {
    auto r = co_await execute_once(c);
    // A skewed clock is fixed by the offset we just learned: try once more at once.
    if (r.err.code == errc::clock_skew) r = co_await execute_once(c);
    co_return r;
}

client::call client::put_call(const std::string& key, std::string_view body, const put_options& opts,
                             const crypto::sha256_digest& sha, const crypto::md5_digest& md5) const {
    // One SHA-256 of the body serves x-amz-content-sha256, the checksum header and the check.
    call c{http::verb::put, ep_.object_path(key), {}, body, {}, "PUT " + key, crypto::hex(sha)};
    c.headers.emplace_back("content-type", opts.content_type);
    if (opts.checksum == checksum_mode::both || opts.checksum == checksum_mode::md5)
        c.headers.emplace_back("content-md5", crypto::base64(md5));
    if (opts.checksum == checksum_mode::both || opts.checksum == checksum_mode::sha256)
        c.headers.emplace_back("x-amz-checksum-sha256", crypto::base64(sha));
    for (const auto& h : opts.extra_headers) c.headers.push_back(h);
    return c;
}

asio::awaitable<void> client::prepare_put(std::string key, std::string_view body, put_options opts) {
    prepared_.reset();
    auto creds = co_await creds_->current();
    if (!creds) co_return;
    prepared_put p;
    p.sha = opts.body_sha256 ? *opts.body_sha256 : crypto::sha256(body);
    p.md5 = crypto::md5(body);
    p.request = signed_request(put_call(key, body, opts, p.sha, p.md5), creds.value);
    p.key = std::move(key);
    p.body_data = body.data();
    p.body_size = body.size();
    p.made = std::chrono::steady_clock::now();
    p.clock_offset = clock_offset_;
    prepared_ = std::move(p);
    conn_.take_back();
}

asio::awaitable<result<put_result>> client::put_object(std::string key, std::string_view body, put_options opts) {
    const auto sha = opts.body_sha256 ? *opts.body_sha256 : crypto::sha256(body);
    std::optional<prepared_put> ready = std::exchange(prepared_, std::nullopt);
    // The signature is good for 15 minutes; a minute keeps well inside it.
    if (ready && !(ready->key == key && ready->body_data == body.data() && ready->body_size == body.size() &&
                   ready->sha == sha && ready->clock_offset == clock_offset_ &&
                   std::chrono::steady_clock::now() - ready->made < std::chrono::minutes(1)))
        ready.reset();
    const auto md5 = ready ? ready->md5 : crypto::md5(body);
    // (Each call is built before its co_await: g++ 12 destroys temporaries inside one twice.)
    result<http::response> r;
    if (ready) {
        logging::debug("http: PUT ", key, " was signed ahead (prepare_put)");
        const std::string operation = "PUT " + key;
        auto send = deliver(ready->request, operation, http::small_body_limit);
        r = co_await std::move(send);
    }
    // Not prepared, or signed with a clock S3 refused: sign now.
    if (!ready || r.err.code == errc::clock_skew) {
        auto send = execute(put_call(key, body, opts, sha, md5));
        r = co_await std::move(send);
    }
    result<put_result> out;
    if (r.err) {
        out.err = std::move(r.err);
        co_return out;
    }
    out.value.sha256_hex = crypto::hex(sha);
    out.value.etag = unquote(header(r.value, "ETag"));
    const std::string echoed = header(r.value, "x-amz-checksum-sha256");
    const bool kms = header(r.value, "x-amz-server-side-encryption").starts_with("aws:kms");
    // Trust a 200 only when what S3 says it stored matches what we sent: its SHA-256 echo when it
    // gives one, else the ETag, which is the MD5 of the body for a single PUT without SSE-KMS.
    std::string problem;
    if (!echoed.empty()) {
        if (echoed != crypto::base64(sha)) problem = "S3 stored a body whose SHA-256 differs from the one sent";
    } else if (out.value.etag.empty()) {
        problem = "S3 answered 200 without an ETag";
    } else if (!kms && out.value.etag.size() == 32 && out.value.etag != crypto::hex(md5)) {
        problem = "S3's ETag " + logging::printable(out.value.etag, outside_text_cap) +
                  " is not the MD5 of the body sent";
    }
    if (!problem.empty()) out.err = error{errc::integrity_mismatch, 200, {}, problem, {}, "PUT " + key};
    co_return out;
}

asio::awaitable<result<std::string>> client::get_object(std::string key) {
    call c{http::verb::get, ep_.object_path(key), {}, {}, {}, "GET " + key};
    c.body_limit = opts_.max_object_size;  // the one answer that carries an object
    auto r = co_await execute(std::move(c));
    result<std::string> out;
    if (r.err)
        out.err = std::move(r.err);
    else
        out.value = std::move(r.value.body());
    co_return out;
}

asio::awaitable<result<object_info>> client::head_object(std::string key) {
    call c{http::verb::head, ep_.object_path(key), {}, {}, {}, "HEAD " + key};
    // Ask for the stored checksum too (S3 returns it only on request).
    c.headers.emplace_back("x-amz-checksum-mode", "ENABLED");
    auto r = co_await execute(std::move(c));
    result<object_info> out;
    if (r.err) {
        out.err = std::move(r.err);
        co_return out;
    }
    out.value.key = key;
    const auto length = header(r.value, "Content-Length");
    out.value.size = length.empty() ? 0 : std::stoull(length);
    // Header values may reach the user (restore's and verify's messages): kept short and printable.
    out.value.etag = logging::printable(unquote(header(r.value, "ETag")), outside_text_cap);
    out.value.last_modified = logging::printable(header(r.value, "Last-Modified"), outside_text_cap);
    out.value.checksum_sha256 = logging::printable(header(r.value, "x-amz-checksum-sha256"), outside_text_cap);
    co_return out;
}

asio::awaitable<result<list_page>> client::list_objects_page(std::string prefix, std::string continuation, int max_keys) {
    // The query as sent must already be in canonical form: sorted, every value strictly encoded.
    std::string query;
    if (!continuation.empty()) query += "continuation-token=" + sigv4::uri_encode(continuation, true) + "&";
    query += "list-type=2&max-keys=" + std::to_string(max_keys);
    if (!prefix.empty()) query += "&prefix=" + sigv4::uri_encode(prefix, true);
    call c{http::verb::get, ep_.bucket_path(), std::move(query), {}, {}, "LIST " + prefix};
    c.body_limit = list_body_limit(max_keys);
    auto r = co_await execute(std::move(c));
    result<list_page> out;
    if (r.err) {
        out.err = std::move(r.err);
        co_return out;
    }
    try {
        out.value = parse_list_objects(r.value.body());
    } catch (const std::exception& e) {
        out.err = error{errc::protocol_error, 200, {}, e.what(), {}, "LIST " + prefix};
    }
    co_return out;
}

asio::awaitable<result<std::vector<object_info>>> client::list_objects(std::string prefix, int page_size) {
    result<std::vector<object_info>> out;
    std::string token;
    do {
        // Build the call before awaiting it: g++ 12 destroys by-value temporaries made inside a
        // co_await expression twice.
        auto next_page = list_objects_page(prefix, std::move(token), page_size);
        auto page = co_await std::move(next_page);
        if (page.err) {
            out.err = std::move(page.err);
            co_return out;
        }
        for (auto& o : page.value.objects) out.value.push_back(std::move(o));
        token = std::move(page.value.next_continuation_token);
    } while (!token.empty());
    co_return out;
}

}  // namespace scb::s3
