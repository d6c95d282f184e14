#include "s3/credential_documents.hpp"

#include "common/utc_time.hpp"
#include "logging/escape.hpp"

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <nlohmann/json.hpp>

#include <sstream>

namespace scb::s3 {

namespace {

/// One required string field of a credentials answer.
std::string required_field(const nlohmann::json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string() || it->get_ref<const std::string&>().empty())
        throw credentials_error(std::string("the answer has no ") + name);
    return it->get<std::string>();
}

std::optional<std::string> optional_field(const nlohmann::json& j, const char* name) {
    auto it = j.find(name);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) throw credentials_error(std::string("the answer's ") + name + " is not a string");
    return it->get<std::string>();
}

nlohmann::json parse_object(std::string_view json) {
    auto j = nlohmann::json::parse(json, nullptr, false);
    // Never quote the body: it is full of secrets.
    if (j.is_discarded() || !j.is_object()) throw credentials_error("the answer is not a JSON object");
    return j;
}

expiring_credentials credentials_from(const nlohmann::json& j, bool token_required, bool expiration_required) {
    expiring_credentials out;
    out.creds.access_key_id = required_field(j, "AccessKeyId");
    out.creds.secret_access_key = secret(required_field(j, "SecretAccessKey"));
    auto token = token_required ? std::optional(required_field(j, "Token")) : optional_field(j, "Token");
    if (token) out.creds.session_token = secret(std::move(*token));
    auto exp = expiration_required ? std::optional(required_field(j, "Expiration")) : optional_field(j, "Expiration");
    if (exp) {
        out.expiration = utc::parse_iso8601(*exp);
        // A timestamp is no secret: quoting it (capped, escaped) helps whoever runs the endpoint.
        if (!out.expiration)
            throw credentials_error("the answer's Expiration '" + logging::printable(*exp, 40) + "' is not ISO 8601");
    }
    return out;
}

}  // namespace

expiring_credentials parse_container_credentials(std::string_view json) {
    return credentials_from(parse_object(json), false, false);
}

expiring_credentials parse_imds_credentials(std::string_view json) {
    auto j = parse_object(json);
    auto code = optional_field(j, "Code");
    if (!code) throw credentials_error("the answer has no Code");
    // IMDS' codes are fixed words ("Success", "AssumeRoleUnauthorizedAccess"): safe to show, capped and escaped.
    if (*code != "Success")
        throw credentials_error("the answer's Code is '" + logging::printable(*code, 64) + "', not Success");
    return credentials_from(j, true, true);
}

expiring_credentials parse_web_identity_credentials(std::string_view xml) {
    namespace pt = boost::property_tree;
    pt::ptree tree;
    try {
        std::istringstream in{std::string(xml)};
        pt::read_xml(in, tree, pt::xml_parser::trim_whitespace);
    } catch (const std::exception&) {
        throw credentials_error("STS's answer is not XML");
    }
    const auto creds = tree.get_child_optional("AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult.Credentials");
    if (!creds) throw credentials_error("STS's answer has no AssumeRoleWithWebIdentityResult/Credentials");
    auto field = [&](const char* name) {
        auto v = creds->get_optional<std::string>(name);
        if (!v || v->empty()) throw credentials_error(std::string("STS's answer has no ") + name);
        return *v;
    };
    expiring_credentials out;
    out.creds.access_key_id = field("AccessKeyId");
    out.creds.secret_access_key = scb::secret(field("SecretAccessKey"));
    out.creds.session_token = scb::secret(field("SessionToken"));
    const auto exp = field("Expiration");
    out.expiration = utc::parse_iso8601(exp);
    if (!out.expiration) throw credentials_error("STS's Expiration '" + logging::printable(exp, 40) + "' is not ISO 8601");
    return out;
}

sts_error parse_sts_error(std::string_view xml) {
    sts_error out;
    try {
        namespace pt = boost::property_tree;
        pt::ptree tree;
        std::istringstream in{std::string(xml)};
        pt::read_xml(in, tree, pt::xml_parser::trim_whitespace);
        out.code = logging::printable(tree.get<std::string>("ErrorResponse.Error.Code", ""), 100);
        out.message = logging::printable(tree.get<std::string>("ErrorResponse.Error.Message", ""), 300);
    } catch (const std::exception&) {
    }
    return out;
}

}  // namespace scb::s3
