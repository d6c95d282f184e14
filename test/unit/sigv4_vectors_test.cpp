// The official AWS SigV4 test suite (botocore's copy), read in place from SCB_SIGV4_SUITE_DIR. Each vector is
// checked in stages, as aws-c-auth does: canonical request, then string to sign, then Authorization, so a
// failure points at the stage that broke. Generic SigV4 rules apply here; S3's rules are in
// sigv4_s3_test.cpp.
#include "sigv4/signer.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fs = std::filesystem;
namespace sigv4 = scb::sigv4;

namespace {

const fs::path suite_dir{SCB_SIGV4_SUITE_DIR};

constexpr std::string_view suite_amz_date = "20150830T123600Z";
const sigv4::scope suite_scope{"20150830", "us-east-1", "service"};

// Vectors we would skip, with the reason printed in the WARN. Empty on purpose: all 34 pass. (botocore skips
// normalize-path/get-space, whose request line has a raw space in the path, and the three repeated-key query
// cases, which need a sort by name *then value*.)
const std::map<std::string, std::string> skipped{};

sigv4::credentials suite_credentials(std::string token = {}) {
    return {"AKIDEXAMPLE", scb::secret("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            scb::secret(std::move(token))};
}

// Byte for byte: no newline translation, and a missing final newline stays missing.
std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Every folder holding a .req named after itself, as a path relative to the suite
// ("normalize-path/get-space").
std::vector<std::string> vector_names() {
    std::vector<std::string> names;
    for (const auto& entry : fs::recursive_directory_iterator(suite_dir)) {
        if (!entry.is_directory()) continue;
        const fs::path& dir = entry.path();
        if (fs::exists(dir / (dir.filename().string() + ".req")))
            names.push_back(fs::relative(dir, suite_dir).generic_string());
    }
    std::sort(names.begin(), names.end());
    return names;
}

struct raw_request {
    sigv4::request request;
    std::string body;
};

// Parses the suite's .req/.sreq format: "METHOD TARGET HTTP/1.1", header lines "Name:value" (value
// untrimmed), continuation lines starting with whitespace, a blank line, then the body to the end of the
// file. The target is everything between the first and the last space, because get-space has a raw space in
// its path.
raw_request parse_request(std::string_view text) {
    std::size_t pos = 0;
    auto next_line = [&](std::string_view& line) {
        if (pos > text.size()) return false;
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        line = text.substr(pos, nl - pos);
        if (line.ends_with('\r')) line.remove_suffix(1);
        pos = nl + 1;
        return true;
    };

    raw_request out;
    std::string_view line;
    if (!next_line(line)) throw std::runtime_error("empty request");
    const std::size_t first = line.find(' ');
    const std::size_t last = line.rfind(' ');
    if (first == std::string_view::npos || last == first) throw std::runtime_error("bad request line");
    out.request.method = std::string(line.substr(0, first));
    const std::string_view target = line.substr(first + 1, last - first - 1);
    const std::size_t q = target.find('?');
    out.request.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) out.request.query = std::string(target.substr(q + 1));

    while (next_line(line) && !line.empty()) {
        if (line.front() == ' ' || line.front() == '\t') {
            // An obs-folded continuation: kept raw (with the line break) so the signer's folding is what
            // turns "value1\n  value2\n     value3" into "value1 value2 value3".
            if (out.request.headers.empty()) throw std::runtime_error("continuation before any header");
            out.request.headers.back().value.append("\n").append(line);
            continue;
        }
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) throw std::runtime_error("header without ':'");
        out.request.headers.push_back(
            {std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
    }
    if (pos <= text.size()) out.body = std::string(text.substr(pos));
    out.request.payload_hash = scb::crypto::sha256_hex(out.body);
    return out;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

const sigv4::header* find_header(const std::vector<sigv4::header>& headers, std::string_view lower_name) {
    for (const auto& h : headers) {
        if (lower(h.name) == lower_name) return &h;
    }
    return nullptr;
}

// Headers as a sorted list of (lower-case name, value), to compare requests whatever the name case or order.
std::vector<std::pair<std::string, std::string>> normalized(const std::vector<sigv4::header>& headers) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& h : headers) {
        out.emplace_back(lower(h.name), h.value);
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    return out;
}

// The last line of post-sts-token/readme.txt is the suite's example session token.
std::string readme_token() {
    std::string text = slurp(suite_dir / "post-sts-token" / "readme.txt");
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return text.substr(text.rfind('\n') + 1);
}

}  // namespace

TEST_CASE("sigv4: the official test suite is present and complete", "[unit][sigv4]") {
    if (!fs::is_directory(suite_dir)) {
        WARN("SigV4 test suite not found at " << suite_dir.string() << " (SCB_SIGV4_SUITE_DIR); skipping");
        return;
    }
    const auto names = vector_names();
    CAPTURE(names.size());
    REQUIRE(names.size() >= 30);
    CHECK(std::count_if(names.begin(), names.end(),
                        [](const std::string& n) { return n.starts_with("normalize-path/"); }) > 0);
    CHECK(std::count_if(names.begin(), names.end(),
                        [](const std::string& n) { return n.starts_with("post-sts-token/"); }) == 2);
}

TEST_CASE("sigv4: every official vector matches byte for byte", "[unit][sigv4]") {
    if (!fs::is_directory(suite_dir)) {
        WARN("SigV4 test suite not found at " << suite_dir.string() << " (SCB_SIGV4_SUITE_DIR); skipping");
        return;
    }
    static const auto names = vector_names();
    REQUIRE(names.size() >= 30);  // GENERATE below needs a non-empty range

    const std::string name = GENERATE(from_range(names));
    CAPTURE(name);
    if (auto skip = skipped.find(name); skip != skipped.end()) {
        WARN("skipping SigV4 vector " << name << ": " << skip->second);
        return;
    }

    const fs::path dir = suite_dir / name;
    const std::string base = dir.filename().string();
    const raw_request raw = parse_request(slurp(dir / (base + ".req")));
    const std::string creq = slurp(dir / (base + ".creq"));
    const std::string sts = slurp(dir / (base + ".sts"));
    const std::string authz = slurp(dir / (base + ".authz"));
    const raw_request signed_raw = parse_request(slurp(dir / (base + ".sreq")));

    // The token is signed only where the .creq shows it. Its value comes from the .sreq, because
    // get-vanilla-with-session-token uses a token of its own, not the one in post-sts-token/readme.txt.
    const bool token_signed = creq.find("\nx-amz-security-token:") != std::string::npos;
    const sigv4::header* sent_token = find_header(signed_raw.request.headers, "x-amz-security-token");
    if (token_signed) REQUIRE(sent_token != nullptr);
    if (name.starts_with("post-sts-token/")) {
        REQUIRE(sent_token != nullptr);
        CHECK(sent_token->value == readme_token());
    }
    const auto creds = suite_credentials(token_signed ? sent_token->value : std::string{});

    sigv4::request req = raw.request;
    if (token_signed && find_header(req.headers, "x-amz-security-token") == nullptr)
        req.headers.push_back({"X-Amz-Security-Token", sent_token->value});

    // Stage 1: canonical request.
    const std::string actual_creq = sigv4::canonical_request(req, sigv4::generic_rules);
    REQUIRE(actual_creq == creq);

    // Stage 2: string to sign.
    const std::string actual_sts = sigv4::string_to_sign(suite_amz_date, suite_scope, actual_creq);
    REQUIRE(actual_sts == sts);

    // Stage 3: Authorization.
    const auto key = sigv4::signing_key(creds.secret_access_key, suite_scope);
    const std::string actual_authz = sigv4::authorization(creds, suite_scope, sigv4::signed_headers(req),
                                                          sigv4::signature(key, actual_sts));
    REQUIRE(actual_authz == authz);

    // And the one-call path: sign() on the raw .req gives the same Authorization and, once a token that is
    // not signed has been added afterwards (post-sts-header-after), the same headers as the .sreq.
    sigv4::request via_sign = raw.request;
    CHECK(sigv4::sign(via_sign, creds, suite_scope, suite_amz_date, sigv4::generic_rules) == authz);
    if (!token_signed && sent_token != nullptr) via_sign.headers.push_back(*sent_token);
    // The .sreq's own Authorization line is not compared: in get-vanilla-with-session-token it carries a
    // signature (5fa00f…) that is not the one in its .authz, an inconsistency of the upstream suite.
    auto expected_headers = signed_raw.request.headers;
    std::erase_if(expected_headers, [](const sigv4::header& h) { return h.name == "Authorization"; });
    CHECK(normalized(via_sign.headers) == normalized(expected_headers));
}
