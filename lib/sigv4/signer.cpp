#include "sigv4/signer.hpp"

#include "common/utc_time.hpp"

#include <openssl/crypto.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <ostream>
#include <span>
#include <stdexcept>
#include <utility>

namespace scb::sigv4 {
namespace {

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view hex_upper = "0123456789ABCDEF";

// One table lookup per byte instead of a chain of comparisons: the encoder runs over every path and query.
constexpr std::array<bool, 256> make_unreserved() {
    std::array<bool, 256> t{};
    for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
    for (char c : {'-', '_', '.', '~'}) t[static_cast<unsigned char>(c)] = true;
    return t;
}
constexpr auto unreserved = make_unreserved();

void append_encoded_byte(std::string& out, unsigned char b, bool encode_slash) {
    if (unreserved[b] || (b == '/' && !encode_slash)) {
        out.push_back(static_cast<char>(b));
    } else {
        out.push_back('%');
        out.push_back(hex_upper[b >> 4]);
        out.push_back(hex_upper[b & 0xF]);
    }
}

void append_uri_encoded(std::string& out, std::string_view s, bool encode_slash) {
    for (char c : s) append_encoded_byte(out, static_cast<unsigned char>(c), encode_slash);
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decoding and re-encoding in one pass gives the same text as decode-then-encode without a temporary.
// "%2f" and "%2F" both come out as "%2F", and an already-canonical string comes out unchanged.
std::string decode_reencode(std::string_view s) {
    std::string out;
    out.reserve(s.size() + s.size() / 2);
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto b = static_cast<unsigned char>(s[i]);
        if (b == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
            b = static_cast<unsigned char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        }
        append_encoded_byte(out, b, true);
    }
    return out;
}

char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequal(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

// Orders as the lower-cased names would order bytewise, without building lower-cased copies.
bool iless(std::string_view a, std::string_view b) noexcept {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
        return static_cast<unsigned char>(ascii_lower(x)) < static_cast<unsigned char>(ascii_lower(y));
    });
}

bool is_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Trims and folds every whitespace run to one space. CR and LF count as whitespace so that an obs-folded
// (multi-line) value signs as the single line a server unfolds it to, and so that no value can inject a
// line into the canonical request.
void append_folded(std::string& out, std::string_view value) {
    bool pending_space = false;
    bool wrote = false;
    for (char c : value) {
        if (is_space(c)) {
            pending_space = wrote;
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(c);
        wrote = true;
    }
}

void append_lower(std::string& out, std::string_view s) {
    for (char c : s) out.push_back(ascii_lower(c));
}

// Removes "." and ".." segments and empty segments, as botocore and aws-c-auth do for generic SigV4.
// A trailing slash survives when the path had one and something is left besides the root.
std::string normalize_path(std::string_view p) {
    std::vector<std::string_view> segments;
    segments.reserve(8);
    std::size_t pos = 0;
    while (pos <= p.size()) {
        std::size_t slash = p.find('/', pos);
        if (slash == std::string_view::npos) slash = p.size();
        std::string_view seg = p.substr(pos, slash - pos);
        if (seg == "..") {
            if (!segments.empty()) segments.pop_back();
        } else if (!seg.empty() && seg != ".") {
            segments.push_back(seg);
        }
        pos = slash + 1;
    }
    std::string out;
    out.reserve(p.size() + 1);
    for (auto seg : segments) {
        out.push_back('/');
        out.append(seg);
    }
    if (segments.empty() || p.ends_with('/')) out.push_back('/');
    return out;
}

void append_canonical_path(std::string& out, std::string_view path, rules how) {
    if (path.empty()) path = "/";
    std::string normalized;
    if (how.normalize_path) {
        normalized = normalize_path(path);
        path = normalized;
    }
    if (how.double_encode_path)
        append_uri_encoded(out, path, false);
    else
        out.append(path);
}

void append_canonical_query(std::string& out, std::string_view raw) {
    if (raw.empty()) return;
    std::vector<std::pair<std::string, std::string>> params;
    params.reserve(static_cast<std::size_t>(std::count(raw.begin(), raw.end(), '&')) + 1);
    std::size_t pos = 0;
    while (pos <= raw.size()) {
        std::size_t amp = raw.find('&', pos);
        if (amp == std::string_view::npos) amp = raw.size();
        std::string_view piece = raw.substr(pos, amp - pos);
        pos = amp + 1;
        if (piece.empty()) continue;  // "a&&b": nothing between the separators, no parameter
        std::size_t eq = piece.find('=');
        std::string_view name = piece.substr(0, eq);
        std::string_view value = eq == std::string_view::npos ? std::string_view{} : piece.substr(eq + 1);
        params.emplace_back(decode_reencode(name), decode_reencode(value));
    }
    // Sort the *encoded* forms (AWS: "sort the encoded parameters by name, then by value"); repeated names
    // therefore order by value, as get-vanilla-query-order-key expects.
    std::sort(params.begin(), params.end());
    bool first = true;
    for (const auto& [name, value] : params) {
        if (!first) out.push_back('&');
        first = false;
        out.append(name);
        out.push_back('=');
        out.append(value);
    }
}

// Header indices in signing order: by lower-cased name, stable so repeated names keep their order.
std::vector<const header*> sorted_headers(const request& r) {
    std::vector<const header*> order;
    order.reserve(r.headers.size());
    for (const auto& h : r.headers) order.push_back(&h);
    std::stable_sort(order.begin(), order.end(),
                     [](const header* a, const header* b) { return iless(a->name, b->name); });
    return order;
}

void append_signed_headers(std::string& out, const std::vector<const header*>& order) {
    for (std::size_t i = 0; i < order.size(); ++i) {
        if (i > 0 && iequal(order[i - 1]->name, order[i]->name)) continue;
        if (i > 0) out.push_back(';');
        append_lower(out, order[i]->name);
    }
}

// Builds the canonical request and the signed-headers list together, so sign() sorts the headers once.
std::string build_canonical_request(const request& r, rules how, std::string& signed_list) {
    auto order = sorted_headers(r);

    std::size_t header_bytes = 0;
    for (const auto& h : r.headers) header_bytes += h.name.size() + h.value.size() + 2;
    signed_list.clear();
    signed_list.reserve(header_bytes);
    append_signed_headers(signed_list, order);

    std::string out;
    out.reserve(r.method.size() + (how.double_encode_path ? 3 : 1) * r.path.size() + 2 * r.query.size() +
                header_bytes + signed_list.size() + r.payload_hash.size() + 16);
    out.append(r.method).push_back('\n');
    append_canonical_path(out, r.path, how);
    out.push_back('\n');
    append_canonical_query(out, r.query);
    out.push_back('\n');
    for (std::size_t i = 0; i < order.size(); ++i) {
        bool continues = i > 0 && iequal(order[i - 1]->name, order[i]->name);
        if (continues) {
            out.push_back(',');  // a repeated header: values joined in the order they were given
        } else {
            if (i > 0) out.push_back('\n');
            append_lower(out, order[i]->name);
            out.push_back(':');
        }
        append_folded(out, order[i]->value);
    }
    if (!order.empty()) out.push_back('\n');
    out.push_back('\n');
    out.append(signed_list).push_back('\n');
    out.append(r.payload_hash);
    return out;
}

// Sets a header to one value: the first header of that name (any case) is overwritten, later ones removed,
// so a request signed twice (a retry) carries one fresh x-amz-date, not two.
void set_header(std::vector<header>& headers, std::string_view name, std::string_view value) {
    auto same = [name](const header& h) { return iequal(h.name, name); };
    auto it = std::find_if(headers.begin(), headers.end(), same);
    if (it == headers.end()) {
        headers.push_back(header{std::string(name), std::string(value)});
        return;
    }
    it->value.assign(value);
    headers.erase(std::remove_if(std::next(it), headers.end(), same), headers.end());
}

std::span<const std::uint8_t> bytes_of(std::string_view s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const credentials& c) {
    // scb::secret prints "***" (or nothing when empty), so this line is safe to log.
    return os << "credentials{access_key_id=" << c.access_key_id
              << ", secret_access_key=" << c.secret_access_key << ", session_token=" << c.session_token
              << '}';
}

std::string scope::to_string() const {
    constexpr std::string_view terminator = "aws4_request";
    std::string out;
    out.reserve(date.size() + region.size() + service.size() + terminator.size() + 3);
    out.append(date).append(1, '/').append(region).append(1, '/');
    out.append(service).append(1, '/').append(terminator);
    return out;
}

std::string uri_encode(std::string_view s, bool encode_slash) {
    std::string out;
    out.reserve(s.size() + s.size() / 2);
    append_uri_encoded(out, s, encode_slash);
    return out;
}

std::string canonical_query(std::string_view raw_query) {
    std::string out;
    out.reserve(raw_query.size() + raw_query.size() / 2 + 1);
    append_canonical_query(out, raw_query);
    return out;
}

std::string canonical_request(const request& r, rules how) {
    std::string signed_list;
    return build_canonical_request(r, how, signed_list);
}

std::string signed_headers(const request& r) {
    std::string out;
    append_signed_headers(out, sorted_headers(r));
    return out;
}

std::string string_to_sign(std::string_view amz_date, const scope& s, std::string_view canonical_request) {
    std::string out;
    out.reserve(algorithm.size() + amz_date.size() + s.date.size() + s.region.size() + s.service.size() +
                100);
    out.append(algorithm).push_back('\n');
    out.append(amz_date).push_back('\n');
    out.append(s.to_string()).push_back('\n');
    out.append(crypto::sha256_hex(canonical_request));
    return out;
}

namespace {
/// A derived signing key, wiped when it goes out of scope: also when an exception (bad_alloc while
/// building the Authorization value) passes, so no copy is left for a core dump or a later heap reuse.
/// An aggregate, so the key signing_key() returns is built in place: no unwiped temporary copy.
struct wiped_key {
    crypto::sha256_digest bytes;
    ~wiped_key() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};
}  // namespace

crypto::sha256_digest signing_key(const scb::secret& secret_access_key, const scope& s) {
    // Built at its final size, so no reallocation leaves an unwiped copy of the secret on the heap.
    std::string k_secret;
    k_secret.reserve(4 + secret_access_key.reveal().size());
    k_secret.append("AWS4").append(secret_access_key.reveal());
    auto k_date = crypto::hmac_sha256(bytes_of(k_secret), s.date);
    OPENSSL_cleanse(k_secret.data(), k_secret.size());
    auto k_region = crypto::hmac_sha256(k_date, s.region);
    OPENSSL_cleanse(k_date.data(), k_date.size());
    auto k_service = crypto::hmac_sha256(k_region, s.service);
    OPENSSL_cleanse(k_region.data(), k_region.size());
    auto k_signing = crypto::hmac_sha256(k_service, "aws4_request");
    OPENSSL_cleanse(k_service.data(), k_service.size());
    return k_signing;
}

std::string signature(const crypto::sha256_digest& key, std::string_view string_to_sign) {
    return crypto::hex(crypto::hmac_sha256(key, string_to_sign));
}

std::string authorization(const credentials& c, const scope& s, std::string_view signed_headers,
                          std::string_view signature) {
    constexpr std::string_view credential = " Credential=";
    constexpr std::string_view signed_label = ", SignedHeaders=";
    constexpr std::string_view signature_label = ", Signature=";
    std::string out;
    out.reserve(algorithm.size() + credential.size() + c.access_key_id.size() + 1 + s.date.size() +
                s.region.size() + s.service.size() + 16 + signed_label.size() + signed_headers.size() +
                signature_label.size() + signature.size());
    out.append(algorithm).append(credential).append(c.access_key_id).append(1, '/').append(s.to_string());
    out.append(signed_label).append(signed_headers);
    out.append(signature_label).append(signature);
    return out;
}

std::string sign(request& r, const credentials& c, const scope& s, std::string_view amz_date, rules how) {
    if (amz_date.size() != 16 || s.date.size() != 8 || amz_date.substr(0, 8) != s.date)
        throw std::invalid_argument("sigv4::sign: x-amz-date does not fall on the scope's date");
    if (std::none_of(r.headers.begin(), r.headers.end(),
                     [](const header& h) { return iequal(h.name, "host"); }))
        throw std::invalid_argument("sigv4::sign: the request has no host header");

    set_header(r.headers, "x-amz-date", amz_date);
    // S3 wants the token signed (unlike the suite's post-sts-header-after, which adds it afterwards).
    if (!c.session_token.empty()) set_header(r.headers, "x-amz-security-token", c.session_token.reveal());

    std::string signed_list;
    const std::string creq = build_canonical_request(r, how, signed_list);
    const std::string sts = string_to_sign(amz_date, s, creq);
    const wiped_key key{signing_key(c.secret_access_key, s)};
    return authorization(c, s, signed_list, signature(key.bytes, sts));
}

std::string amz_date(std::chrono::system_clock::time_point t) { return utc::format(t, utc::layout::basic); }

std::string date_stamp(std::chrono::system_clock::time_point t) { return amz_date(t).substr(0, 8); }

}  // namespace scb::sigv4
