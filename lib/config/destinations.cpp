#include "config/destinations.hpp"

#include "common/text.hpp"
#include "http/url.hpp"
#include "logging/escape.hpp"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <string_view>

namespace scb::config {

void check_prefix(const std::string& p) {
    if (!p.empty() && p[0] == '/') throw std::invalid_argument("must not start with '/' (write 'node1/', not '/node1/')");
    if (p.size() > 512) throw std::invalid_argument("is longer than 512 bytes");
    for (std::size_t start = 0; start <= p.size();) {
        const auto end = std::min(p.find('/', start), p.size());
        const auto segment = std::string_view(p).substr(start, end - start);
        if (segment == "." || segment == "..")
            throw std::invalid_argument("must not have a '.' or '..' segment (S3 keys are not paths)");
        start = end + 1;
    }
}

bool valid_destination_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > 64) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
    });
}

std::string destination::where() const {
    if (kind == destination_kind::folder) {
        std::string f = folder.string();
        if (f.empty() || f.back() != '/') f += '/';
        return "file://" + f;
    }
    return "s3://" + bucket + "/" + prefix;
}

namespace {

constexpr std::array<std::string_view, 12> s3_parameters = {
    "endpoint", "region",        "profile",          "addressing",       "checksum",  "sse",
    "sse-kms-key-id", "storage-class", "object-lock-mode", "object-lock-days", "ca-bundle", "name"};

constexpr std::string_view forms =
    "write s3://BUCKET/PREFIX?PARAMETER=VALUE&... or file:///ABSOLUTE/FOLDER/ (see --help, Destinations)";

std::string joined(const auto& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + std::string(n);
    return out;
}

bool has_control(std::string_view s) noexcept {
    return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

/// Where an error happened: "<origin> (<label>): ".
struct context {
    std::string origin;
    std::string label;

    [[noreturn]] void fail(std::string_view parameter, std::string_view what, std::string_view fix) const {
        std::string line = origin + " (" + label + "): " + std::string(parameter) + ": " + std::string(what);
        if (!fix.empty()) line += "; " + std::string(fix);
        throw destination_error(logging::printable(line, 2048));
    }
};

/// The URL without its query and fragment, user:password hidden: safe to show.
std::string shown_url(const std::string& url) {
    // Redacted first: a password may hold an unencoded '?' or '#'.
    std::string shown = http::redacted(url);
    return shown.substr(0, shown.find_first_of("?#"));
}

/// One URL's parameters, decoded ('+' stays a plus: a space is %20). Refuses duplicates.
std::map<std::string, std::string> parameters(const boost::urls::url_view& u, const context& where) {
    std::map<std::string, std::string> out;
    if (!u.has_query()) return out;
    for (const auto& p : u.params(boost::urls::encoding_opts(false, false, false))) {
        if (p.key.empty() && !p.has_value) continue;  // "?", "&&", a trailing '&'
        const std::string key = p.key;
        if (!p.has_value) where.fail(key, "has no value", "write " + key + "=VALUE");
        if (!out.emplace(key, p.value).second)
            where.fail(key, "is given twice", "keep one " + key + "=");
        if (has_control(p.value))
            where.fail(key, "holds a control character", "percent-encode only printable characters");
    }
    return out;
}

/// Takes name= out of `params` (checked) and makes it the label of later errors.
std::string take_name(std::map<std::string, std::string>& params, context& where) {
    auto it = params.find("name");
    if (it == params.end()) return {};
    std::string name = it->second;
    params.erase(it);
    if (!valid_destination_name(name))
        where.fail("name", "must be 1 to 64 characters A-Z a-z 0-9 . _ -", "e.g. name=b2");
    where.label = name;
    return name;
}

destination parse_folder(const boost::urls::url_view& u, context& where) {
    if (!u.has_authority())
        where.fail("path", "is not written file:///ABSOLUTE/FOLDER/", "write three slashes: file:///mnt/usb/scb/");
    if (!u.encoded_host().empty() || u.has_userinfo() || u.has_port())
        where.fail("host", "file:// URLs take no host (only local folders)",
                   "write file:///ABSOLUTE/FOLDER/ with three slashes, e.g. file:///mnt/usb/scb/");
    if (u.has_fragment()) where.fail("URL", "has a '#'", "write a '#' in the path as %23");
    auto params = parameters(u, where);
    destination d;
    d.kind = destination_kind::folder;
    d.origin = where.origin;
    d.name = take_name(params, where);
    if (!params.empty())
        where.fail(params.begin()->first, "is no parameter of a file:// destination", "the only one is name=");
    const std::string path = u.path();  // percent-decoded
    if (path.empty() || path[0] != '/')
        where.fail("path", "is empty", "write file:///ABSOLUTE/FOLDER/, e.g. file:///mnt/usb/scb/");
    if (has_control(path)) where.fail("path", "holds a control character", "name a folder without one");
    for (std::size_t start = 1; start <= path.size();) {
        const auto end = std::min(path.find('/', start), path.size());
        const auto segment = std::string_view(path).substr(start, end - start);
        if (segment == "." || segment == "..")
            where.fail("path", "has a '.' or '..' segment", "write the folder's absolute path without them");
        start = end + 1;
    }
    std::string folder = std::filesystem::path(path).lexically_normal().string();  // "//" -> "/"
    while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
    d.folder = folder;
    return d;
}

destination parse_s3(const boost::urls::url_view& u, const destination_defaults& defaults,
                     context& where) {
    if (!u.has_authority() || u.encoded_host().empty())
        where.fail("bucket", "is missing", "write s3://BUCKET/PREFIX, e.g. s3://my-bucket/node1/");
    const std::string bucket(u.encoded_host());
    where.label = bucket;
    auto params = parameters(u, where);
    destination d;
    d.origin = where.origin;
    d.kind = destination_kind::s3;
    d.bucket = bucket;
    d.name = take_name(params, where);
    if (u.has_userinfo())
        where.fail("bucket", "an s3:// URL takes no user:password",
                   "credentials come from profile= or the AWS_* variables, never from the URL");
    if (u.has_port()) where.fail("bucket", "an s3:// URL takes no port", "put a custom server in endpoint=URL");
    if (u.has_fragment()) where.fail("URL", "has a '#'", "write a '#' in a value as %23");
    if (auto why = s3::bucket_name_problem(bucket))
        where.fail("bucket", "'" + bucket + "' " + *why, "S3 bucket names are 3-63 of a-z 0-9 . -");
    for (const auto& [key, value] : params)
        if (std::find(s3_parameters.begin(), s3_parameters.end(), key) == s3_parameters.end())
            where.fail(key, "is no parameter", "known: " + joined(s3_parameters));

    auto given = [&](const char* key) -> const std::string* {
        auto it = params.find(key);
        return it == params.end() ? nullptr : &it->second;
    };
    // The parameter's name in a message, with the global setting it came from when not given here.
    auto named = [&](const char* key, const char* global) {
        return given(key) ? std::string(key) : std::string(key) + " (from " + global + ")";
    };

    // Prefix: the path after the bucket; none at all ("s3://b") keeps the global S3_BACKUP_PREFIX.
    d.prefix = defaults.prefix;
    const bool own_prefix = !u.encoded_path().empty();
    if (own_prefix) d.prefix = u.path().substr(1);
    try {
        check_prefix(d.prefix);
        if (has_control(d.prefix)) throw std::invalid_argument("holds a control character");
    } catch (const std::invalid_argument& e) {
        where.fail(own_prefix ? "prefix" : "prefix (from S3_BACKUP_PREFIX)", e.what(),
                   "e.g. s3://" + bucket + "/node1/");
    }

    d.endpoint = defaults.endpoint;
    d.ca_bundle = defaults.ca_bundle;
    d.object = defaults.object;
    if (auto v = given("region")) d.endpoint.region = *v;
    if (d.endpoint.region.empty())
        where.fail(named("region", "AWS_REGION"), "is empty", "give the bucket's region, e.g. region=eu-central-1");
    if (!std::all_of(d.endpoint.region.begin(), d.endpoint.region.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        }))
        where.fail(named("region", "AWS_REGION"), "must be letters, digits, '-', '_' or '.'",
                   "e.g. region=us-west-004");
    if (auto v = given("addressing")) {
        auto style = s3::parse_addressing_style(*v);
        if (!style) where.fail("addressing", "must be auto, path or virtual", "e.g. addressing=path");
        d.endpoint.style = *style;
    }
    if (auto v = given("endpoint")) d.endpoint.url = *v;  // empty: AWS by region
    try {
        (void)s3::resolve_endpoint(d.endpoint, bucket);
    } catch (const s3::endpoint_error& e) {
        std::string what = e.what();  // shows the URL through http::redacted
        if (what.rfind("endpoint URL ", 0) == 0) what.erase(0, 13);
        where.fail(named("endpoint", "AWS_ENDPOINT_URL_S3"), what,
                   "write the server's URL like https://s3.example.com:9000 (credentials go in profile= or "
                   "AWS_* variables)");
    }
    if (auto v = given("ca-bundle")) d.ca_bundle = *v;  // empty: the system trust store
    if (auto v = given("profile")) {
        // A section name of the shared credentials file.
        if (v->empty() || v->size() > 128 || v->find_first_of(" \t[]#;") != std::string::npos)
            where.fail("profile", "must be a profile name of the shared credentials file (no blank, [, ], # or ;)",
                       "e.g. profile=b2; leave it out for the global credentials");
        d.profile = *v;
    }

    auto& o = d.object;
    if (auto v = given("checksum")) {
        auto mode = s3::parse_checksum_mode(*v);
        if (!mode) where.fail("checksum", "must be both, md5, sha256 or none", "e.g. checksum=both");
        o.checksum = *mode;
    }
    // Empty values switch a global option off for this destination; a mode and its companion go together.
    if (auto v = given("sse")) {
        o.sse = *v;
        if (!given("sse-kms-key-id") && o.sse != "aws:kms") o.sse_kms_key_id.clear();
    }
    if (auto v = given("sse-kms-key-id")) o.sse_kms_key_id = *v;
    if (auto v = given("storage-class")) o.storage_class = *v;
    if (auto v = given("object-lock-mode")) {
        o.lock_mode = *v;
        if (v->empty() && !given("object-lock-days")) o.lock_days = 0;
    }
    if (auto v = given("object-lock-days")) {
        if (v->empty()) {
            o.lock_days = 0;
            if (!given("object-lock-mode")) o.lock_mode.clear();
        } else {
            const bool digits = v->size() <= 5 && std::all_of(v->begin(), v->end(), [](char c) {
                                    return c >= '0' && c <= '9';
                                });
            const unsigned long days = digits ? std::stoul(*v) : 0;
            if (days < 1 || days > 36500)
                where.fail("object-lock-days", "must be a whole number of days from 1 to 36500", "e.g. object-lock-days=30");
            o.lock_days = static_cast<unsigned>(days);
        }
    }
    if (!o.sse.empty() && o.sse != "AES256" && o.sse != "aws:kms")
        where.fail(named("sse", "SCB_SSE"), "must be AES256 or aws:kms", "or sse= for the bucket's default");
    if (!o.sse_kms_key_id.empty() && o.sse != "aws:kms")
        where.fail(named("sse-kms-key-id", "SCB_SSE_KMS_KEY_ID"), "needs sse=aws:kms", "add sse=aws:kms");
    for (char c : o.storage_class)
        if (!(std::isupper(static_cast<unsigned char>(c)) || c == '_'))
            where.fail(named("storage-class", "SCB_STORAGE_CLASS"), "must be an S3 class name",
                       "e.g. storage-class=STANDARD_IA, or storage-class= for the bucket's default");
    if (!o.lock_mode.empty() && o.lock_mode != "GOVERNANCE" && o.lock_mode != "COMPLIANCE")
        where.fail(named("object-lock-mode", "SCB_OBJECT_LOCK_MODE"), "must be GOVERNANCE or COMPLIANCE",
                   "or object-lock-mode= for none");
    if (o.lock_mode.empty() != (o.lock_days == 0))
        where.fail(o.lock_mode.empty() ? named("object-lock-days", "SCB_OBJECT_LOCK_DAYS")
                                       : named("object-lock-mode", "SCB_OBJECT_LOCK_MODE"),
                   "Object Lock needs both a mode and days", "set object-lock-mode= and object-lock-days= together");
    if (!o.lock_mode.empty() && o.checksum == s3::checksum_mode::none)
        where.fail(named("checksum", "SCB_CHECKSUM"), "Object Lock needs an integrity header",
                   "use checksum=both, md5 or sha256");
    // Whatever the checks above missed (they mirror it): one implementation has the last word.
    if (auto problem = s3::object_options_problem(o)) where.fail("object options", *problem, "");
    return d;
}

}  // namespace

destination parse_destination(const std::string& url, const destination_defaults& defaults, const std::string& origin) {
    context where{origin, shown_url(url)};
    if (url.empty()) where.fail("URL", "is empty", forms);
    const auto colon = url.find(':');
    const std::string scheme = colon == std::string::npos ? std::string() : url.substr(0, colon);
    const bool s3 = iequals(scheme, "s3");
    const bool plain_scheme = !scheme.empty() && std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.';
    });
    if (!s3 && !iequals(scheme, "file"))
        where.fail("URL", !plain_scheme ? "is not a URL" : "has scheme '" + scheme + "', neither s3 nor file",
                   forms);
    auto parsed = boost::urls::parse_uri(boost::urls::string_view(url.data(), url.size()));
    if (!parsed)
        where.fail("URL", "is not a valid URL",
                   "percent-encode a space as %20, '%' as %25, '#' as %23 (and '&' or '=' inside a value)");
    return s3 ? parse_s3(*parsed, defaults, where) : parse_folder(*parsed, where);
}

std::vector<std::string> split_destinations(const std::string& text) {
    std::vector<std::string> out;
    constexpr std::string_view blanks = " \t\r\n\v\f";
    for (std::size_t i = text.find_first_not_of(blanks); i != std::string::npos; i = text.find_first_not_of(blanks, i)) {
        const auto end = text.find_first_of(blanks, i);
        out.push_back(text.substr(i, end == std::string::npos ? std::string::npos : end - i));
        i = end;
        if (i == std::string::npos) break;
    }
    return out;
}

namespace {

std::string default_name(const destination& d) {
    if (d.kind == destination_kind::s3) return d.bucket;
    std::string last = d.folder.filename().string();
    for (char& c : last)
        if (!valid_destination_name(std::string_view(&c, 1))) c = '-';
    if (last.size() > 64) last.resize(64);
    return last.empty() ? "folder" : last;
}

}  // namespace

void assign_names(std::vector<destination>& list) {
    // Explicit names are taken first: a default name gives way to them, whatever the order.
    std::set<std::string> taken;
    for (const auto& d : list)
        if (!d.name.empty() && !taken.insert(d.name).second)
            throw destination_error(logging::printable(d.origin + " (" + d.name + "): name: '" + d.name +
                                                       "' is used by another destination; give each its own name="));
    for (auto& d : list) {
        if (!d.name.empty()) continue;
        const std::string base = default_name(d);
        std::string name = base;
        for (unsigned n = 2; taken.count(name); ++n) {
            const std::string suffix = "-" + std::to_string(n);
            name = base.substr(0, 64 - suffix.size()) + suffix;
        }
        taken.insert(name);
        d.name = name;
    }
}

}  // namespace scb::config
