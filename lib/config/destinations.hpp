#pragma once
// Where backups go: the destinations of SCB_DESTINATIONS / --destination, and the one that
// S3_BUCKET_NAME + S3_BACKUP_PREFIX + the global AWS_* settings describe (the original service's).
//
//   s3://BUCKET/PREFIX?endpoint=URL&region=R&profile=P&addressing=path|virtual|auto&checksum=MODE
//        &sse=…&sse-kms-key-id=…&storage-class=…&object-lock-mode=…&object-lock-days=N
//        &ca-bundle=PATH&name=N
//   file:///ABSOLUTE/FOLDER/[?name=N]
//
// Every parameter is optional and defaults to the global setting of the same meaning (an s3:// URL
// without any path after the bucket keeps the global S3_BACKUP_PREFIX; "s3://b/" is the empty prefix).
// An empty value (endpoint=, sse=, storage-class=, object-lock-mode=, ca-bundle=…) switches the
// global setting off for this destination: AWS by region, the bucket's defaults, no Object Lock,
// the system trust store. Values are percent-decoded ('+' stays a plus; a space is %20).
#include "s3/endpoint.hpp"
#include "s3/object_options.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace scb::config {

enum class destination_kind { s3, folder };

struct destination {
    std::string name;  // short, unique: name=, else the bucket or the folder's last part (+ "-2", "-3"…)
    destination_kind kind = destination_kind::s3;
    // s3
    std::string bucket;
    std::string prefix;             // key prefix ("" or e.g. "node1/")
    s3::endpoint_config endpoint;   // region, URL, addressing style
    std::string ca_bundle;          // "" = system trust store
    std::string profile;            // "" = the global credential chain; else this shared-file profile
    s3::object_options object;      // checksum, SSE, storage class, Object Lock
    // folder
    std::filesystem::path folder;   // absolute; must exist when used (a vanished mount point is not recreated)
    // For messages: where it came from, without secrets ("S3_BUCKET_NAME", "SCB_DESTINATIONS #2",
    // "--destination #1").
    std::string origin;

    /// "s3://bucket/prefix" or "file:///folder/": for logs, `list` and messages (no secret in it).
    [[nodiscard]] std::string where() const;
};

/// What the global settings give every destination that does not set its own.
struct destination_defaults {
    std::string prefix;
    s3::endpoint_config endpoint;
    std::string ca_bundle;
    s3::object_options object;
};

/// A bad destination URL or parameter: what() is one line naming the destination (its origin and,
/// where known, its name) and the parameter, and how to fix it. Maps to exit 64.
struct destination_error : std::invalid_argument {
    using std::invalid_argument::invalid_argument;
};

/// Parses one destination URL. `origin` words where it came from in errors. Throws destination_error.
destination parse_destination(const std::string& url, const destination_defaults& defaults, const std::string& origin);

/// SCB_DESTINATIONS: URLs separated by whitespace (spaces, tabs, newlines).
std::vector<std::string> split_destinations(const std::string& text);

/// Gives every destination without a name= its default name (the bucket, or the folder's last
/// part), then makes names unique by appending "-2", "-3"… to later duplicates. An explicit name=
/// used twice is an error (destination_error). Names are [A-Za-z0-9._-]{1,64}.
/// Explicit names are reserved first: a default name that equals one gets the suffix, wherever it is.
/// A folder's last part is sanitised (other characters become '-', cut to 64); "/" gives "folder".
void assign_names(std::vector<destination>& list);

/// Whether `name` is a valid destination name: [A-Za-z0-9._-]{1,64}.
bool valid_destination_name(std::string_view name) noexcept;

/// A key prefix S3 stores as meant (S3_BACKUP_PREFIX and the PREFIX of an s3:// destination): no
/// leading '/' (S3 then answers with a confusing 404), at most 512 bytes (keys are at most 1024),
/// no "." or ".." segment (tools that map keys to paths trip on them). Throws std::invalid_argument
/// with a predicate ("must not start with '/' …").
void check_prefix(const std::string& prefix);

}  // namespace scb::config
