// Helpers every command of the `rivulet` tool shares: how failures travel to
// main() and become one line on stderr plus an exit code, how the file is
// opened (read-only commands must never create or touch it), strict number
// parsing for flag values, unbuffered-but-batched stdout, and plain-text
// tables.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rivulet/db.hpp"
#include "rivulet/options.hpp"
#include "rivulet/status.hpp"

namespace rivulet::cli {

// Exit codes, as documented in `rivulet --help`.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // runtime error (the library said no)
inline constexpr int kExitUsage = 2;  // bad command line

// Thrown by commands and caught in main(), which prints "rivulet: <message>"
// and exits with `exit_code`. An exception keeps the command code linear:
// every helper can give up without threading an error back by hand. It is
// never thrown through library code (the library promises not to throw, and
// makes no promise about exceptions passing through its callbacks).
class Failure : public std::runtime_error {
 public:
  Failure(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Thrown when stdout is a closed pipe (`rivulet f consume t | head`): the
// reader has what it wanted, so main() exits 0 without a word, as `cat` does.
struct BrokenPipe {};

[[noreturn]] void fail(const Status& status);
[[noreturn]] void fail(std::string message);
[[noreturn]] void usage_error(std::string message);

// The library's message names the file, topic or position already; fall back
// to the code's name only if a message is somehow empty.
std::string message_of(const Status& status);

inline void check(const Status& status) {
  if (!status.ok()) fail(status);
}
template <typename T>
T take(Result<T>&& result) {
  if (!result.ok()) fail(result.status());
  return std::move(result).value();
}

// stat, check, dump, consume, topic list/describe: never create the file and
// never write, so a mistyped path is an error instead of a new empty file.
std::unique_ptr<Db> open_read_only(const std::string& path);
// topic create (and produce, which opens by itself: it creates the file
// only with --create): create the file if it is missing. topic delete
// writes but passes create_if_missing = false: there is nothing to delete in
// a new file, and a mistyped path should not leave an empty file behind.
std::unique_ptr<Db> open_for_write(const std::string& path, OpenOptions options = {});
OpenOptions read_only_options();
// Closes and reports a failed close (the last sync can fail with ENOSPC/EIO;
// a write command must not exit 0 then).
void close_db(Db& db);

// Strict decimal parsing for flag values: the whole text must be a number in
// [min, max] ("12x", " 1", "1e3", "0x10" and overflow are usage errors).
// `what` names the flag in the message ("--partitions").
int64_t parse_int(std::string_view text, std::string_view what, int64_t min, int64_t max);
// Same rule, but returns false instead of failing (for data, not flags).
bool parse_int_to(std::string_view text, int64_t min, int64_t max, int64_t* out);
// Whether some partition of `t` holds `offset` (its end counts): an OFFSET
// for a whole topic then starts each partition within its own records.
bool some_partition_holds(const TopicInfo& t, int64_t offset);

Sync parse_sync(std::string_view text);
// Returns true for "json", false for "text"; anything else is a usage error.
bool parse_format_is_json(std::string_view text);

// Everything the tool prints to stdout goes through here: text collects in a
// buffer and flush() hands it to write(2) in one piece, so a consumer can
// flush after each batch of records and a pipe sees them promptly, without a
// syscall per line. EPIPE becomes BrokenPipe; other write errors fail.
class Output {
 public:
  std::string& buffer() { return buf_; }
  void append(std::string_view s) { buf_.append(s); }
  void flush();
  // Flushes when the buffer has grown large, to bound memory.
  void maybe_flush() {
    if (buf_.size() >= (1u << 20)) flush();
  }

 private:
  std::string buf_;
};
Output& out();

// A plain-text table: a header row, then rows; columns padded to the widest
// cell, numeric columns right-aligned. For humans; --json is for programs.
class Table {
 public:
  explicit Table(std::vector<std::string> header, std::vector<bool> right_align = {});
  void add(std::vector<std::string> row);
  bool empty() const { return rows_.empty(); }
  std::string render() const;

 private:
  std::vector<std::string> header_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

// "name  value" lines with the names padded to one width.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields);

const char* timestamp_type_name(TimestampType type);

// JSON output keeps the field order we document, hence ordered_json.
using Json = nlohmann::ordered_json;
// A topic config's text form by its Kafka name ("" if there is none).
std::string config_value(const TopicConfig& config, std::string_view key);
// A topic as `topic describe --json`, `topic list --json` and `stat --json`
// show it: name, id, config, and partitions with offsets and counts.
Json topic_json(const TopicInfo& topic);
// The human form of a topic's partitions (stat, topic describe).
// BYTES are the live bytes of the batches still readable; DEAD BYTES those
// below the first offset (retention), in the file until cleaning.
Table partition_table(std::span<const TopicInfo> topics, bool topic_column);
// Prints `j` on one line. Invalid UTF-8 (say, in a path) becomes U+FFFD
// instead of an exception: these documents are reports, not data to copy.
void print_json(const Json& j);

}  // namespace rivulet::cli
