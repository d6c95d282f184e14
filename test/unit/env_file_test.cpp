// config::parse_env_file / read_env_file: an env file means what systemd's EnvironmentFile= makes of it
// (src/basic/env-file.c), lines systemd would drop are refused, no message quotes a value, and only a
// small regular file is read.
#include "config/env_file.hpp"
#include "config/settings.hpp"
#include "temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace scb::config;
using Catch::Contains;

namespace {

std::string warnings_of(const env_file_contents& c) {
    std::string all;
    for (const auto& w : c.warnings) all += w + "\n";
    return all;
}

/// The message of the env_file_error that parsing `text` throws ("" when it does not throw).
std::string error_of(const std::string& text) {
    try {
        (void)parse_env_file(text, "f.env");
    } catch (const env_file_error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_CASE("env file: an unquoted ' #' is part of the value, as for systemd, with a warning", "[unit][config][env_file]") {
    auto c = parse_env_file("S3_BUCKET_NAME=b\nS3_BACKUP_PREFIX=node1/ # prod\n", "/etc/default/scb-backup");
    CHECK(c.vars.at("S3_BACKUP_PREFIX") == "node1/ # prod");
    REQUIRE(c.warnings.size() == 1);
    CHECK_THAT(c.warnings[0], Contains("env file /etc/default/scb-backup line 2 (S3_BACKUP_PREFIX)") &&
                                  Contains("' #' is part of the value for systemd") && !Contains("node1") &&
                                  !Contains("prod"));
    // After a closing quote systemd goes on reading: the '#' and what follows join the value.
    auto q = parse_env_file("A=\"quoted\" # note\nB= #only\n", "f.env");
    CHECK(q.vars.at("A") == "quoted# note");
    CHECK(q.vars.at("B") == "#only");
    CHECK(q.warnings.size() == 2);
    CHECK_THAT(warnings_of(q), Contains("line 1 (A)") && Contains("line 2 (B)") && !Contains("note"));
}

TEST_CASE("env file: comments only at the start of a line, whitespace as systemd strips it", "[unit][config][env_file]") {
    auto c = parse_env_file("# comment\n  ; indented comment\n\n  KEY  =   value with  spaces  \t\n"
                            "lower_case=1\nEMPTY=\nEMPTY_QUOTES=\"\"\nA=1\nA=2\n",
                            "f.env");
    CHECK(c.vars.at("KEY") == "value with  spaces");
    CHECK(c.vars.at("lower_case") == "1");
    CHECK(c.vars.at("EMPTY").empty());
    CHECK(c.vars.at("EMPTY_QUOTES").empty());
    CHECK(c.vars.at("A") == "2");  // the last assignment wins
    CHECK(c.lines.at("A") == 9);
    CHECK(c.vars.size() == 5);
    CHECK(c.warnings.empty());
}

TEST_CASE("env file: quotes and backslashes mean what they mean to systemd", "[unit][config][env_file]") {
    auto c = parse_env_file("DQ=\"a \\\"b\\\" c \\\\ \\$HOME \\`x\\`\"\n"  // \" \\ \$ \` are escapes in double quotes
                            "DQ_OTHER=\"line1\\nline2\"\n"                  // \n is not: the backslash stays
                            "SQ='x \\n y'\n"                                // single quotes: all literal
                            "MULTI=\"one\ntwo\"\n"                          // a quoted newline is kept
                            "JOINED='a' \"b\"\n"                            // quoted parts join, blanks between dropped
                            "ESC=a\\ b\\\\c\n"                              // unquoted: \x is x
                            "CONT=one \\\n  two\n"                          // backslash-newline continues the value
                            "TRAIL=x\\ \n"                                  // an escaped blank is not trailing
                            "DQ_CONT=\"p\\\nq\"\n"
                            "MID=a\"b c\"\n",                               // a quote inside a value is literal
                            "f.env");
    CHECK(c.vars.at("DQ") == "a \"b\" c \\ $HOME `x`");
    CHECK(c.vars.at("DQ_OTHER") == "line1\\nline2");
    CHECK(c.vars.at("SQ") == "x \\n y");
    CHECK(c.vars.at("MULTI") == "one\ntwo");
    CHECK(c.vars.at("JOINED") == "ab");
    CHECK(c.vars.at("ESC") == "a b\\c");
    CHECK(c.vars.at("CONT") == "one   two");
    CHECK(c.vars.at("TRAIL") == "x ");
    CHECK(c.vars.at("DQ_CONT") == "pq");
    CHECK(c.vars.at("MID") == "a\"b c\"");
    CHECK(c.lines.at("MID") == 13);
    // Where dotenv reads these differently, the operator hears about it (never the value).
    const auto w = warnings_of(c);
    CHECK_THAT(w, Contains("line 2 (DQ_OTHER)") && Contains("line 6 (JOINED)") && Contains("line 7 (ESC)") &&
                      !Contains("line1") && !Contains("HOME"));
}

TEST_CASE("env file: CRLF line ends and a UTF-8 byte-order mark are accepted", "[unit][config][env_file]") {
    auto crlf = parse_env_file("A=1\r\nB=\"two\"\r\n", "f.env");
    CHECK(crlf.vars.at("A") == "1");
    CHECK(crlf.vars.at("B") == "two");
    CHECK(crlf.warnings.empty());
    auto bom = parse_env_file("\xEF\xBB\xBFS3_BUCKET_NAME=b\nS3_BACKUP_PREFIX=p/\n", "f.env");
    CHECK(bom.vars.at("S3_BUCKET_NAME") == "b");
    CHECK(bom.vars.at("S3_BACKUP_PREFIX") == "p/");
    // systemd does not skip the mark: its first name is then invalid and the line ignored.
    CHECK_THAT(warnings_of(bom), Contains("byte-order mark") && Contains("line 1 (S3_BUCKET_NAME)"));
    auto bom_comment = parse_env_file("\xEF\xBB\xBF# settings\nA=1\n", "f.env");
    CHECK(bom_comment.vars.at("A") == "1");
}

TEST_CASE("env file: what systemd ignores or refuses is refused, naming the line and the key", "[unit][config][env_file]") {
    CHECK_THAT(error_of("export S3_BUCKET_NAME=bucket-x\n"),
               Contains("f.env line 1 (S3_BUCKET_NAME)") && Contains("export") && !Contains("bucket-x"));
    CHECK_THAT(error_of("A=1\nno equals here\n"), Contains("f.env line 2") && Contains("no '='") && !Contains("equals"));
    CHECK_THAT(error_of("1BAD=x\n"), Contains("line 1") && Contains("not a valid variable name"));
    CHECK_THAT(error_of("=value\n"), Contains("line 1") && !Contains("value"));
    CHECK_THAT(error_of("A=\"open\nB=2\n"), Contains("line 1 (A)") && Contains("quote"));
    CHECK_THAT(error_of("A=ok\nB=bad\xFF\n"), Contains("line 2 (B)") && Contains("UTF-8"));
    CHECK_THAT(error_of(std::string("A=1\nB=x") + '\0' + "y\n"), Contains("NUL"));
    CHECK(error_of("A=1\n").empty());
}

TEST_CASE("env file: a malformed line never puts a secret in the error", "[unit][config][env_file]") {
    const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const std::string token = "FQoGZXIvYXdzEXAMPLEtoken/abc+def";
    for (const std::string& text :
         {"AWS_SECRET_ACCESS_KEY: " + secret + "=\n", "AWS_SESSION_TOKEN " + token + "\n", secret + "=\n",
          "A=1\n" + secret + "\n", "AWS_SECRET_ACCESS_KEY=\"" + secret + "\n", "export AWS_SECRET_ACCESS_KEY=" + secret + "\n",
          "AWS SECRET=" + secret + "\n"}) {
        const auto e = error_of(text);
        CAPTURE(e);
        CHECK_FALSE(e.empty());
        CHECK_THAT(e, !Contains("wJalr") && !Contains("FQoG") && !Contains("EXAMPLE"));
    }
    CHECK_THAT(error_of("AWS_SESSION_TOKEN " + token + "\n"), Contains("line 1"));
}

TEST_CASE("env file: comment continuation and the warnings of old systemd", "[unit][config][env_file]") {
    // systemd 254 and later end a comment at the newline; older ones (Debian 12 has 252) also skip
    // the next line when the comment ends in a backslash.
    auto c = parse_env_file("# a comment \\\nA=1\n", "f.env");
    CHECK(c.vars.at("A") == "1");
    CHECK_THAT(warnings_of(c), Contains("line 1") && Contains("254"));
}

TEST_CASE("env file: only a small regular file is read", "[unit][config][env_file]") {
    scb::unit::temp_dir dir;
    const auto folder = dir.path / "folder";
    std::filesystem::create_directory(folder);
    CHECK_THROWS_WITH(read_env_file(folder.string()), Contains(folder.string()) && Contains("not a regular file"));
    CHECK_THROWS_WITH(read_env_file("/dev/null"), Contains("not a regular file"));

    const auto big = dir.path / "big.env";
    std::ofstream(big) << "A=" << std::string(1024 * 1024, 'x') << "\n";
    CHECK_THROWS_WITH(read_env_file(big.string()), Contains("larger than"));

    // A FIFO must not block the read: try it in a child that an alarm ends if it does.
    const auto fifo = dir.path / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::alarm(5);
        try {
            (void)read_env_file(fifo.string());
        } catch (const env_file_error&) {
            ::_exit(0);
        } catch (...) {
            ::_exit(2);
        }
        ::_exit(1);
    }
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);

    const auto good = dir.path / "good.env";
    std::ofstream(good) << "\xEF\xBB\xBF" "A=1\n";
    CHECK(read_env_file(good.string()).vars.at("A") == "1");
}

TEST_CASE("The env file: a folder is refused in one line naming --env-file", "[unit][config][env_file]") {
    scb::unit::temp_dir dir;
    const std::string path = dir.path.string();
    std::vector<const char*> argv{"scb-backup", "--bucket", "b-1", "--env-file", path.c_str()};
    auto no_env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
    CHECK_THROWS_WITH(parse(static_cast<int>(argv.size()), argv.data(), no_env),
                      Contains("--env-file") && Contains("not a regular file") && !Contains("\n"));
}
