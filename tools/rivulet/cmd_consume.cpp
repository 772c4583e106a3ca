// `rivulet FILE consume TOPIC`: print records.
//
// One Reader per partition (or just --partition's), polled in turn, so a busy
// partition cannot starve the others. Without --follow every poll has timeout
// 0 and a partition is finished the first time it comes back empty: the
// command prints what was committed when it reached each partition's end and
// exits. With --follow a round that found nothing sleeps in Db::wait_any
// until a commit (in any process) gives one of the partitions a record.
//
// Output is flushed after every batch a poll returns, so `consume --follow`
// in a pipe shows records as they arrive. A closed stdout ends the command
// quietly with exit 0 (see main.cpp).
#include <algorithm>
#include <chrono>
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

constexpr size_t kMaxPoll = 1000;
constexpr std::chrono::seconds kIdleWait{3600};  // wait_any returns as soon as there is a record

struct ConsumeOptions {
  std::string topic;
  std::string partition;
  std::string from = "earliest";
  std::string limit;
  bool follow = false;
  std::string format = "text";
  std::string key_separator;
  CLI::Option* key_separator_opt = nullptr;
  std::string group;
};

StartAt parse_from(const std::string& from) {
  if (from == "earliest") return StartAt::earliest();
  if (from == "latest") return StartAt::latest();
  int64_t v = 0;
  if (!from.empty() && from[0] == '@' && parse_int_to(from.substr(1), 0, INT64_MAX, &v)) {
    return StartAt::timestamp(v);
  }
  if (parse_int_to(from, 0, INT64_MAX, &v)) return StartAt::offset(v);
  usage_error(fmt::format(
      "--from: expected earliest, latest, an offset or @UNIX_MS (e.g. @1700000000000), got '{}'",
      from));
}

void append_text(std::string& out, const RecordView& r, const std::string* separator) {
  // Null prints as nothing: text output cannot tell null from empty; use
  // --format json when that matters.
  if (separator != nullptr) {
    if (r.key) out += *r.key;
    out += *separator;
  }
  if (r.value) out += *r.value;
  out += '\n';
}

int run_consume(const std::string& file, const ConsumeOptions& o) {
  bool json = parse_format_is_json(o.format);
  bool has_separator = o.key_separator_opt->count() > 0;
  if (has_separator && o.key_separator.empty()) usage_error("--key-separator: must not be empty");
  if (has_separator && json) usage_error("--key-separator applies only to --format text");
  StartAt start = parse_from(o.from);
  int64_t remaining = -1;  // -1: no limit
  if (!o.limit.empty()) remaining = parse_int(o.limit, "--limit", 0, INT64_MAX);

  // With a group the command commits offsets, so it writes (but never
  // creates the file).
  std::unique_ptr<Db> db;
  if (o.group.empty()) {
    db = open_read_only(file);
  } else {
    OpenOptions options;
    options.create_if_missing = false;
    db = open_for_write(file, options);
  }
  std::vector<int32_t> partitions;
  if (!o.partition.empty()) {
    partitions.push_back(static_cast<int32_t>(parse_int(o.partition, "--partition", 0, INT32_MAX)));
  } else {
    for (const PartitionInfo& p : take(db->describe_topic(o.topic)).partitions) {
      partitions.push_back(p.partition);
    }
  }
  // Readers are made up front so a bad --partition or --from fails before
  // anything is printed.
  std::vector<std::unique_ptr<Reader>> readers;
  for (int32_t p : partitions) {
    // A group resumes where it committed; --from applies where it has not.
    std::optional<CommittedOffset> committed;
    if (!o.group.empty()) committed = take(db->committed(o.group, o.topic, p));
    readers.push_back(take(db->reader(o.topic, p, committed ? StartAt::offset(committed->offset) : start)));
  }
  if (remaining == 0 || readers.empty()) return kExitOk;

  const std::string* separator = has_separator ? &o.key_separator : nullptr;
  std::vector<bool> at_end(readers.size(), false);
  size_t ended = 0;
  std::vector<Reader*> waiting;
  for (const std::unique_ptr<Reader>& r : readers) waiting.push_back(r.get());
  std::string& buf = out().buffer();
  for (;;) {
    bool got = false;
    for (size_t i = 0; i < readers.size(); i++) {
      if (at_end[i]) continue;
      size_t max = kMaxPoll;
      if (remaining >= 0) max = static_cast<size_t>(std::min<int64_t>(remaining, kMaxPoll));
      auto records = take(readers[i]->poll(std::chrono::milliseconds(0), max));
      if (records.empty()) {
        if (!o.follow) {
          at_end[i] = true;
          ended++;
        }
        continue;
      }
      got = true;
      for (const RecordView& r : records) {
        if (json) {
          append_record_json(buf, o.topic, r);
          buf += '\n';
        } else {
          append_text(buf, r, separator);
        }
      }
      out().flush();
      if (!o.group.empty()) {
        // Printed first, then committed: at least once, as Kafka's
        // auto-commit after processing.
        OffsetCommit c{o.topic, readers[i]->partition(), readers[i]->position(), ""};
        check(db->commit_offsets(o.group, {&c, 1}));
      }
      if (remaining >= 0) {
        remaining -= static_cast<int64_t>(records.size());
        if (remaining <= 0) return kExitOk;
      }
    }
    if (ended == readers.size()) break;
    if (!got) take(db->wait_any(waiting, kIdleWait));
  }
  return kExitOk;
}

}  // namespace

void add_consume_command(CLI::App& app, const std::string& file, Registry& registry) {
  auto o = std::make_shared<ConsumeOptions>();
  CLI::App* cmd = app.add_subcommand("consume", "print a topic's records, or wait for new ones");
  cmd->add_option("TOPIC", o->topic, "topic to read")->required()->type_name("");
  cmd->add_option("-p,--partition", o->partition, "read only this partition (default: all)")
      ->type_name("P");
  cmd->add_option("-o,--from", o->from,
                  "earliest (default), latest, OFFSET, or @UNIX_MS (first record at/after it)")
      ->type_name("WHERE");
  cmd->add_option("-c,--limit", o->limit, "stop after N records in all")->type_name("N");
  cmd->add_option("-g,--group", o->group,
                  "consume as group G: start where G committed, commit after printing each batch")
      ->type_name("G");
  cmd->add_flag("-f,--follow", o->follow,
                "keep waiting for new records instead of stopping at the end");
  cmd->add_option("--format", o->format,
                  "text (default: the value, one per line) or json (one object per line)")
      ->type_name("FMT");
  o->key_separator_opt = cmd->add_option("-K,--key-separator", o->key_separator,
                                         "text format: print key SEP value")
                             ->type_name("SEP");
  cmd->footer(
      "Without --partition, partitions are read in turn; offsets are per partition.\n"
      "Without --follow, the command stops at the end of every partition. With\n"
      "--group, partitions the group has committed start there (--from applies to\n"
      "the others) and the group's offsets move as records are printed. In text\n"
      "format a null key or value prints as nothing. A JSON line is\n"
      "  {\"topic\":..,\"partition\":..,\"offset\":..,\"timestamp\":..,\"key\":..,\"value\":..,\n"
      "   \"headers\":[{\"key\":..,\"value\":..}]}\n"
      "where a key, value or header is null, a string, or {\"base64\":\"...\"} for bytes\n"
      "that are not UTF-8; produce --format json reads the same lines back.\n"
      "\n"
      "Examples:\n"
      "  rivulet app.rvl consume orders\n"
      "  rivulet app.rvl consume orders --partition 2 --from 100 --limit 10\n"
      "  rivulet app.rvl consume orders --from @1700000000000 --key-separator ': '\n"
      "  rivulet app.rvl consume orders --from latest --follow --format json\n"
      "  rivulet app.rvl consume orders --group billing --follow");
  registry[cmd] = [file, o] { return run_consume(file, *o); };
}

}  // namespace rivulet::cli
