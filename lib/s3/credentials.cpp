#include "s3/credentials.hpp"

#include "common/small_file.hpp"

#include <boost/property_tree/ini_parser.hpp>
#include <boost/property_tree/ptree.hpp>

#include <cstdlib>
#include <filesystem>
#include <sstream>

namespace scb::s3 {

env_lookup process_environment() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        if (!v || !*v) return std::nullopt;
        return std::string(v);
    };
}

std::optional<sigv4::credentials> parse_shared_credentials(const std::string& text, const std::string& profile,
                                                           const std::string& file_name) {
    namespace pt = boost::property_tree;
    pt::ptree tree;
    try {
        std::istringstream in(text);
        pt::read_ini(in, tree);
    } catch (const pt::ini_parser_error& e) {
        // The parser's message names a line, not a value: safe to show.
        throw credentials_error("shared credentials file " + file_name + " is malformed at line " +
                                std::to_string(e.line()) + ": " + e.message());
    }
    auto section = tree.get_child_optional(pt::ptree::path_type(profile, '\0'));
    if (!section) return std::nullopt;
    auto id = section->get_optional<std::string>("aws_access_key_id");
    auto key = section->get_optional<std::string>("aws_secret_access_key");
    if (!id || id->empty() || !key || key->empty())
        throw credentials_error("profile [" + profile + "] in " + file_name +
                                " needs both aws_access_key_id and aws_secret_access_key");
    sigv4::credentials c;
    c.access_key_id = *id;
    c.secret_access_key = secret(*key);
    if (auto token = section->get_optional<std::string>("aws_session_token")) c.session_token = secret(*token);
    return c;
}

namespace {

/// Both public loaders: `required` throws where find_static_credentials returns nullopt.
std::optional<resolved_credentials> static_credentials_from(const env_lookup& env, const credentials_options& opts,
                                                            bool required) {
    auto id = env("AWS_ACCESS_KEY_ID");
    auto key = env("AWS_SECRET_ACCESS_KEY");
    if (id && key) {
        resolved_credentials r;
        r.creds.access_key_id = *id;
        r.creds.secret_access_key = secret(*key);
        if (auto token = env("AWS_SESSION_TOKEN")) r.creds.session_token = secret(*token);
        r.source = "environment (AWS_ACCESS_KEY_ID)";
        return r;
    }
    if (id || key)
        throw credentials_error(std::string(id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID") +
                                " is not set but " + (id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY") +
                                " is: set both, or neither to use the shared credentials file");

    const auto env_profile = env("AWS_PROFILE");
    const bool named_profile = !opts.profile.empty() || env_profile;
    std::string profile = !opts.profile.empty() ? opts.profile : env_profile.value_or("default");
    std::string file = opts.credentials_file;
    bool named = !file.empty();
    if (!named) {
        if (auto f = env("AWS_SHARED_CREDENTIALS_FILE")) {
            file = *f;
            named = true;
        } else if (auto home = env("HOME")) {
            file = *home + "/.aws/credentials";
        }
    }
    // A default file that is not there lets later sources apply; one that is there must be readable.
    std::error_code ec;
    if (file.empty() || (!named && !std::filesystem::exists(file, ec))) {
        if (!required) return std::nullopt;
        throw credentials_error("no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put a [" +
                                profile + "] profile in " + (file.empty() ? "~/.aws/credentials" : file));
    }
    // read_small_file: a FIFO, device or huge file fails at once instead of blocking or eating memory.
    auto text = read_small_file(file);
    if (!text)
        throw credentials_error("shared credentials file " + file + ": " + text.problem +
                                " (AWS_SHARED_CREDENTIALS_FILE / --credentials-file)");
    auto creds = parse_shared_credentials(text.text, profile, file);
    if (!creds) {
        // A default profile that is not there lets later sources (container, instance metadata) apply;
        // a profile somebody asked for by name must exist.
        if (!required && !named_profile) return std::nullopt;
        throw credentials_error("profile [" + profile + "] not found in " + file + " (AWS_PROFILE / --profile)");
    }
    return resolved_credentials{std::move(*creds), "shared credentials file " + file + " [" + profile + "]"};
}

}  // namespace

resolved_credentials load_static_credentials(const env_lookup& env, const credentials_options& opts) {
    return *static_credentials_from(env, opts, true);
}

std::optional<resolved_credentials> find_static_credentials(const env_lookup& env, const credentials_options& opts) {
    return static_credentials_from(env, opts, false);
}

}  // namespace scb::s3
