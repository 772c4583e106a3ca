// `rivulet FILE produce TOPIC [VALUE]`: append records.
//
// With VALUE, one record from the command line. Without, one record per line
// of standard input, bytes kept exactly (no '\r' stripping, an empty line is
// an empty value, the final newline ends the last record rather than starting
// an empty one).
//
// Batching: stdin is read with read(2) in large chunks and records collect in
// a WriteBatch, which is committed when 1000 records are pending or when no
// more input is immediately available (poll(2) with timeout 0). A fast pipe
// thus gets few, large commits, while a slow one (a person typing, a
// `while sleep` loop) sees every line committed as soon as it arrives. Each
// commit is atomic, so a reader never sees half a batch.
//
// Errors in a line (no key separator, bad JSON, a partition that does not
// exist) name the line number; the lines before it are committed first, so
// what ends up in the file does not depend on how the input was chunked.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "common.hpp"
#include "record_json.hpp"

namespace rivulet::cli {

namespace {

constexpr size_t kMaxPendingRecords = 1000;
// Lines of input per commit at most, in bytes (unless one line is more), so
// that large lines make commits of a few MiB, not of a whole segment (a
// batch add() finds full is committed and the line added again, below).
constexpr size_t kMaxPendingBytes = 4u << 20;
constexpr size_t kReadChunk = 1u << 20;

struct ProduceOptions {
  std::string topic;
  std::string value;
  std::string key;
  std::string partition;
  std::vector<std::string> headers;
  std::string timestamp;
  bool create = false;
  std::string partitions;
  std::string sync = "normal";
  std::string key_separator;
  std::string format = "text";
  // Set once CLI11 has parsed, to tell "absent" from "empty string".
  CLI::Option* value_opt = nullptr;
  CLI::Option* key_opt = nullptr;
  CLI::Option* key_separator_opt = nullptr;
  CLI::Option* partitions_opt = nullptr;
  CLI::Option* partition_opt = nullptr;
  CLI::Option* timestamp_opt = nullptr;
};

// Everything about a record that comes from flags rather than from the line.
struct Defaults {
  std::optional<std::string> key;
  std::optional<int32_t> partition;
  std::optional<int64_t> timestamp_ms;
  std::vector<std::pair<std::string, std::string>> headers;
};

class Producer {
 public:
  Producer(Db& db, const ProduceOptions& o, Defaults defaults, bool json)
      : db_(db), o_(o), defaults_(std::move(defaults)), json_(json), batch_(db) {}

  // Adds the record that `line` describes. `line_no` is 0 for the VALUE
  // argument (no line to name in errors).
  void add_line(std::string_view line, uint64_t line_no) {
    if (pending_bytes_ + line.size() > kMaxPendingBytes) commit();
    pending_bytes_ += line.size();
    if (json_) {
      add_json_line(line, line_no);
    } else {
      add_text_line(line, line_no);
    }
    if (batch_.size() >= kMaxPendingRecords) commit();
  }

  void commit() {
    pending_bytes_ = 0;
    if (batch_.empty()) return;
    check(db_.commit(batch_));
    batch_.clear();
  }

  bool pending() const { return !batch_.empty(); }

  // The longest line a record of the topic can come from. Reading a longer
  // one whole (a stray binary file holds no newline) could take all memory
  // before the record is refused.
  size_t longest_line() const {
    Result<TopicInfo> topic = db_.describe_topic(o_.topic);
    uint64_t record = topic.ok() ? topic->config.max_message_bytes : TopicConfig().max_message_bytes;
    Result<DbStats> stats = db_.stat();
    if (stats.ok()) record = std::min<uint64_t>(record, stats->segment_size);  // a commit fits in a segment
    // JSON spells a byte in at most 6 (a control character, escaped), beside
    // a few named fields.
    return json_ ? 6 * record + (64u << 10) : record + o_.key_separator.size();
  }

  [[noreturn]] void too_long(uint64_t line_no, size_t longest) {
    line_error(line_no, fmt::format("longer than {} bytes, more than a record of topic '{}' can take", longest,
                                    o_.topic));
  }

 private:
  // A failing line: commit the lines before it (see the file comment), then
  // report it with its number.
  [[noreturn]] void line_error(uint64_t line_no, const std::string& message) {
    commit();
    if (line_no == 0) fail(fmt::format("VALUE: {}", message));
    fail(fmt::format("standard input line {}: {}", line_no, message));
  }

  void add_text_line(std::string_view line, uint64_t line_no) {
    Bytes key;
    if (defaults_.key) key = *defaults_.key;
    std::string_view value = line;
    if (!o_.key_separator.empty()) {
      size_t at = line.find(o_.key_separator);
      if (at == std::string_view::npos) {
        line_error(line_no, fmt::format("no key separator '{}'", o_.key_separator));
      }
      key = line.substr(0, at);
      value = line.substr(at + o_.key_separator.size());
    }
    add(key, value, {}, std::nullopt, std::nullopt, line_no);
  }

  void add_json_line(std::string_view line, uint64_t line_no) {
    JsonRecord r;
    std::string error;
    if (!parse_record_json(line, &r, &error)) line_error(line_no, error);
    std::vector<Header> headers;
    headers.reserve(r.headers.size());
    for (const auto& [k, v] : r.headers) headers.push_back(Header{k, v ? Bytes(*v) : std::nullopt});
    add(r.key ? Bytes(*r.key) : std::nullopt, r.value ? Bytes(*r.value) : std::nullopt, headers,
        r.partition, r.timestamp_ms, line_no);
  }

  // Fields from the line win over the flags; --header headers come after the
  // line's own.
  void add(Bytes key, Bytes value, std::vector<Header> headers, std::optional<int32_t> partition,
           std::optional<int64_t> timestamp_ms, uint64_t line_no) {
    for (const auto& [k, v] : defaults_.headers) headers.push_back(Header{k, Bytes(v)});
    ProducerRecord record;
    record.topic = o_.topic;
    record.key = key;
    record.value = value;
    record.headers = headers;
    record.partition = partition ? partition : defaults_.partition;
    record.timestamp_ms = timestamp_ms ? timestamp_ms : defaults_.timestamp_ms;
    Status st = batch_.add(record);
    // The batch may be full (a commit fits in a segment): commit it, try again.
    if (st.code() == Code::too_large && !batch_.empty()) {
      commit();
      st = batch_.add(record);
    }
    if (st.ok()) return;
    // An unknown topic is not the line's fault, and the library's message
    // already says how to create it.
    // The VALUE argument needs no "where": there is only one record.
    if (st.code() == Code::not_found || line_no == 0) {
      commit();
      fail(st);
    }
    line_error(line_no, message_of(st));
  }

  Db& db_;
  const ProduceOptions& o_;
  Defaults defaults_;
  bool json_;
  WriteBatch batch_;
  size_t pending_bytes_ = 0;  // of the lines in batch_
};

// True when a read(2) on stdin would not block: either data or end of input
// is there. Errors count as "nothing ready", which makes us commit.
bool stdin_ready() {
  pollfd p{STDIN_FILENO, POLLIN, 0};
  for (;;) {
    int n = ::poll(&p, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

void produce_stdin(Producer& producer) {
  std::string buf;
  size_t begin = 0;  // start of the first unconsumed byte in buf
  uint64_t line_no = 0;
  const size_t longest = producer.longest_line();
  for (;;) {
    // Keep only the unfinished line, then read after it.
    buf.erase(0, begin);
    begin = 0;
    size_t old = buf.size();
    buf.resize(old + kReadChunk);
    ssize_t n = ::read(STDIN_FILENO, buf.data() + old, kReadChunk);
    if (n < 0) {
      buf.resize(old);
      if (errno == EINTR) continue;
      producer.commit();
      fail(fmt::format("standard input: {}", std::strerror(errno)));
    }
    buf.resize(old + static_cast<size_t>(n));
    if (n == 0) break;
    // The unfinished line kept from before holds no newline: look only in
    // what was just read (a long line is not scanned again per chunk).
    for (size_t from = old;;) {
      size_t nl = buf.find('\n', from);
      if (nl == std::string::npos) break;
      producer.add_line(std::string_view(buf).substr(begin, nl - begin), ++line_no);
      begin = from = nl + 1;
    }
    if (buf.size() - begin > longest) producer.too_long(line_no + 1, longest);
    if (producer.pending() && !stdin_ready()) producer.commit();
  }
  // A last line without a newline is still a record.
  if (begin < buf.size()) producer.add_line(std::string_view(buf).substr(begin), ++line_no);
  producer.commit();
}

int run_produce(const std::string& file, const ProduceOptions& o) {
  bool json = parse_format_is_json(o.format);
  bool has_key = o.key_opt->count() > 0;
  bool has_separator = o.key_separator_opt->count() > 0;
  if (has_separator && o.key_separator.empty()) usage_error("--key-separator: must not be empty");
  if (json && (has_key || has_separator)) {
    usage_error("--key and --key-separator do not apply to --format json (put \"key\" in the JSON)");
  }
  if (has_key && has_separator) usage_error("--key and --key-separator cannot be used together");
  if (o.partitions_opt->count() > 0 && !o.create) {
    usage_error("--partitions applies only with --create (to size an auto-created topic)");
  }

  OpenOptions options;
  options.sync = parse_sync(o.sync);
  if (o.create) {
    options.auto_create_topics = true;
    if (o.partitions_opt->count() > 0) {
      options.auto_create_partitions =
          static_cast<int32_t>(parse_int(o.partitions, "--partitions", 1, TopicConfig::kMaxPartitions));
    }
  }

  Defaults defaults;
  if (has_key) defaults.key = o.key;
  // Given but empty is a bad number (parse_int says so), not "absent".
  if (o.partition_opt->count() > 0) {
    defaults.partition = static_cast<int32_t>(parse_int(o.partition, "--partition", 0, INT32_MAX));
  }
  if (o.timestamp_opt->count() > 0) {
    defaults.timestamp_ms = parse_int(o.timestamp, "--timestamp", INT64_MIN, INT64_MAX);
  }
  for (const std::string& h : o.headers) {
    size_t eq = h.find('=');
    if (eq == std::string::npos) usage_error(fmt::format("--header: expected K=V, got '{}'", h));
    defaults.headers.emplace_back(h.substr(0, eq), h.substr(eq + 1));
  }

  // A new file holds no topic, so without --create the produce would fail
  // after creating it: a mistyped path must not leave a new file behind.
  options.create_if_missing = o.create;
  options.read_only = false;
  Result<std::unique_ptr<Db>> opened = Db::open(file, options);
  if (!opened.ok() && opened.status().code() == Code::not_found) {
    fail(fmt::format("{}: no such file (create it with: rivulet {} topic create {}, or produce with --create)", file,
                     file, o.topic));
  }
  std::unique_ptr<Db> db = take(std::move(opened));
  Producer producer(*db, o, std::move(defaults), json);
  if (o.value_opt->count() > 0) {
    producer.add_line(o.value, 0);
    producer.commit();
  } else {
    produce_stdin(producer);
  }
  close_db(*db);
  return kExitOk;
}

}  // namespace

void add_produce_command(CLI::App& app, const std::string& file, Registry& registry) {
  auto o = std::make_shared<ProduceOptions>();
  CLI::App* cmd =
      app.add_subcommand("produce", "append VALUE, or one record per line of standard input");
  cmd->add_option("TOPIC", o->topic, "topic to append to")->required()->type_name("");
  o->value_opt = cmd->add_option("VALUE", o->value,
                                 "the record, read like one line of input (default: read stdin)")
                     ->type_name("");
  o->key_opt = cmd->add_option("-k,--key", o->key, "key of every record (default: null)")
                   ->type_name("K");
  o->partition_opt = cmd->add_option("-p,--partition", o->partition,
                                     "partition of every record (default: Kafka's key hash; round-robin if no key)")
                         ->type_name("P");
  cmd->add_option("-H,--header", o->headers, "add a header to every record (repeatable)")
      ->type_name("K=V")
      ->expected(1)  // one pair per -H (a second is VALUE), so no "..." in --help
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  o->timestamp_opt = cmd->add_option("--timestamp", o->timestamp, "timestamp in Unix ms (default: now)")
                         ->type_name("MS");
  cmd->add_flag("--create", o->create, "create the topic, and the file, if they do not exist");
  o->partitions_opt =
      cmd->add_option("--partitions", o->partitions, "partitions of a topic made by --create (default 1)")
          ->type_name("N");
  cmd->add_option("--sync", o->sync,
                  "off, normal (default) or full (each commit survives a power cut)")
      ->type_name("MODE");
  o->key_separator_opt =
      cmd->add_option("-K,--key-separator", o->key_separator,
                      "split each line at the first SEP into key and value")
          ->type_name("SEP");
  cmd->add_option("--format", o->format,
                  "text (default: a line is a value) or json (a line is a record, see below)")
      ->type_name("FMT");
  cmd->footer(
      "Without VALUE, each line of standard input is one record, its bytes kept exactly\n"
      "(an empty line is an empty value). Records are committed in batches of up to\n"
      "1000, and at once whenever the input pauses. VALUE, when given, is read like\n"
      "one such line (split by --key-separator, parsed as JSON with --format json).\n"
      "A line that cannot be a record stops the command with an error naming its\n"
      "line number; every line before it is committed.\n"
      "\n"
      "With --format json a line is\n"
      "  {\"key\":..,\"value\":..,\"headers\":[{\"key\":..,\"value\":..}],\"partition\":..,\"timestamp\":..}\n"
      "with every field optional; other fields (topic, offset) are ignored, so the\n"
      "output of consume --format json can be fed back. Keys, values and headers are\n"
      "a string, null, or {\"base64\":\"...\"} for bytes that are not UTF-8. Fields of\n"
      "the line win over --partition and --timestamp; --header adds to its headers.\n"
      "\n"
      "Examples:\n"
      "  rivulet app.rvl produce orders 'order shipped' --key customer-7 --header source=cli\n"
      "  printf 'one\\ntwo\\n' | rivulet app.rvl produce orders\n"
      "  printf 'customer-1|{\"total\":12}\\n' | rivulet app.rvl produce orders --key-separator '|'\n"
      "  rivulet a.rvl consume orders --format json |\n"
      "      rivulet b.rvl produce orders --format json --create --partitions 3");
  registry[cmd] = [file, o] { return run_produce(file, *o); };
}

}  // namespace rivulet::cli
