// `rivulet FILE consume TOPIC`: print records.
//
// One Reader per partition (or just --partition's), polled in turn, so a busy
// partition cannot starve the others. Without --follow every poll has timeout
// 0 and a partition is finished the first time it comes back empty: the
// command prints what was committed when it reached each partition's end and
// exits. With --follow a round that found nothing sleeps in Db::wait_any
// until a commit (in any process) gives one of the partitions a record.
//
// With --group the command is a member of the group (rivulet::Consumer)
// and reads the partitions the group gives it.
//
// Output is flushed after every batch a poll returns, so `consume --follow`
// in a pipe shows records as they arrive. A closed stdout ends the command
// quietly with exit 0 (see main.cpp).
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "common.hpp"
#include "group/group_name.hpp"
#include "record_json.hpp"
#include "rivulet/consumer.hpp"

namespace rivulet::cli {

namespace {

constexpr size_t kMaxPoll = 1000;
constexpr std::chrono::seconds kIdleWait{3600};  // wait_any returns as soon as there is a record
// consume --group without --follow: how long it waits for partitions of
// its share that another member still holds, and how often it looks.
constexpr std::chrono::seconds kHandoverWait{10};
constexpr std::chrono::milliseconds kHandoverPoll{20};

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
  CLI::Option* group_opt = nullptr;
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

struct Printing {
  bool json = false;
  const std::string* separator = nullptr;
  int64_t remaining = -1;  // -1: no limit
};

Printing parse_printing(const ConsumeOptions& o) {
  Printing p;
  p.json = parse_format_is_json(o.format);
  bool has_separator = o.key_separator_opt->count() > 0;
  if (has_separator && o.key_separator.empty()) usage_error("--key-separator: must not be empty");
  if (has_separator && p.json) usage_error("--key-separator applies only to --format text");
  if (has_separator) p.separator = &o.key_separator;
  if (!o.limit.empty()) p.remaining = parse_int(o.limit, "--limit", 0, INT64_MAX);
  return p;
}

// Prints records (as many as the limit leaves) and flushes; returns how many.
template <class Records>
size_t print(Printing& p, std::string_view topic, const Records& records) {
  std::string& buf = out().buffer();
  size_t n = records.size();
  if (p.remaining >= 0) n = static_cast<size_t>(std::min<int64_t>(p.remaining, static_cast<int64_t>(n)));
  for (size_t i = 0; i < n; ++i) {
    const RecordView& r = records[i];
    std::string_view t = topic;
    if constexpr (std::is_same_v<typename Records::value_type, ConsumerRecord>) t = records[i].topic;
    if (p.json) {
      append_record_json(buf, t, r);
      buf += '\n';
    } else {
      append_text(buf, r, p.separator);
    }
  }
  out().flush();
  if (p.remaining >= 0) p.remaining -= static_cast<int64_t>(n);
  return n;
}

// --from OFFSET for one partition of a topic read whole: partitions seldom
// share an offset range, so where this one's records do not reach OFFSET it
// starts at their nearest end, as long as some partition holds OFFSET (if
// none does, OFFSET is wrong, and the reader says so).
StartAt within(StartAt start, const TopicInfo& t, int32_t partition) {
  if (start.kind != StartAt::Kind::offset || partition < 0 ||
      partition >= static_cast<int32_t>(t.partitions.size())) {
    return start;
  }
  if (!some_partition_holds(t, start.value)) return start;
  const PartitionInfo& p = t.partitions[static_cast<size_t>(partition)];
  return StartAt::offset(std::clamp(start.value, p.first_offset, p.next_offset));
}

// Without --group: one Reader per partition, polled in turn.
int run_readers(const std::string& file, const ConsumeOptions& o) {
  Printing printing = parse_printing(o);
  StartAt start = parse_from(o.from);
  std::unique_ptr<Db> db = open_read_only(file);
  // One partition named must hold OFFSET; of all, each starts within its own.
  std::vector<std::pair<int32_t, StartAt>> partitions;
  if (!o.partition.empty()) {
    partitions.emplace_back(static_cast<int32_t>(parse_int(o.partition, "--partition", 0, INT32_MAX)), start);
  } else {
    TopicInfo t = take(db->describe_topic(o.topic));
    for (const PartitionInfo& p : t.partitions) partitions.emplace_back(p.partition, within(start, t, p.partition));
  }
  // Readers are made up front so a bad --partition or --from fails before
  // anything is printed.
  std::vector<std::unique_ptr<Reader>> readers;
  for (const auto& [p, at] : partitions) readers.push_back(take(db->reader(o.topic, p, at)));
  if (printing.remaining == 0 || readers.empty()) return kExitOk;

  std::vector<bool> at_end(readers.size(), false);
  size_t ended = 0;
  std::vector<Reader*> waiting;
  for (const std::unique_ptr<Reader>& r : readers) waiting.push_back(r.get());
  for (;;) {
    bool got = false;
    for (size_t i = 0; i < readers.size(); i++) {
      if (at_end[i]) continue;
      size_t max = kMaxPoll;
      if (printing.remaining >= 0) max = static_cast<size_t>(std::min<int64_t>(printing.remaining, kMaxPoll));
      auto records = take(readers[i]->poll(std::chrono::milliseconds(0), max));
      if (records.empty()) {
        if (!o.follow) {
          at_end[i] = true;
          ended++;
        }
        continue;
      }
      got = true;
      print(printing, o.topic, records);
      if (printing.remaining == 0) return kExitOk;
    }
    if (ended == readers.size()) break;
    if (!got) take(db->wait_any(waiting, kIdleWait));
  }
  return kExitOk;
}

std::string still_held_message(const std::string& file, const std::string& group,
                               std::span<const TopicPartition> awaiting) {
  std::string names;
  for (const TopicPartition& tp : awaiting) {
    names += fmt::format("{}{}[{}]", names.empty() ? "" : ", ", tp.topic, tp.partition);
  }
  return fmt::format("{}: stopped without {}: another member of group '{}' has held {} for {} s without polling",
                     file, names, group, awaiting.size() == 1 ? "it" : "them", kHandoverWait.count());
}

// With --group: a member of the group, sharing the topic's partitions with
// the group's other members (other `consume --group` commands included).
// Printed first, then committed, exactly up to what was printed: at least
// once, as Kafka's consumers commit after processing.
int run_member(const std::string& file, const ConsumeOptions& o) {
  if (Status st = group::check_group_name(o.group); !st.ok()) usage_error("--group: " + message_of(st));
  if (!o.partition.empty()) usage_error("--partition cannot be used with --group: the group assigns partitions");
  Printing printing = parse_printing(o);
  StartAt start = parse_from(o.from);
  OpenOptions open;
  open.create_if_missing = false;
  std::unique_ptr<Db> db = open_for_write(file, open);
  take(db->describe_topic(o.topic));  // an unknown topic is an error here, not an endless wait
  if (printing.remaining == 0) return kExitOk;

  ConsumerOptions options;
  options.group = o.group;
  options.enable_auto_commit = false;
  options.auto_offset_reset = start.kind == StartAt::Kind::latest ? OffsetReset::latest : OffsetReset::earliest;
  Consumer* self = nullptr;
  Status seek_failed;  // in a callback; checked after each poll
  bool closing = false;
  // A partition that moves to another member: commit where this one is (it
  // printed and committed everything before it), or the newcomer would start
  // at --from again where the group has committed nothing, and with
  // --from latest skip what arrived meanwhile. Not when closing: a --limit
  // may have left records of the last poll unprinted. Otherwise every
  // position is printed through, and commit() (unlike committing positions
  // by name) leaves out a topic deleted and created again under its name.
  options.on_revoked = [&](std::span<const TopicPartition>) {
    if (closing || !seek_failed.ok()) return;
    seek_failed = self->commit();
  };
  // Where the group has committed nothing, --from says where to start.
  if (start.kind == StartAt::Kind::offset || start.kind == StartAt::Kind::timestamp) {
    options.on_assigned = [&](std::span<const TopicPartition> tps) {
      for (const TopicPartition& tp : tps) {
        if (!seek_failed.ok()) return;
        Result<std::optional<CommittedOffset>> c = self->committed(tp);
        if (!c.ok()) {
          seek_failed = c.status();
        } else if (!c->has_value()) {
          Result<TopicInfo> t = db->describe_topic(tp.topic);
          seek_failed = t.ok() ? self->seek(tp, within(start, *t, tp.partition)) : t.status();
        }
      }
    };
  }
  std::unique_ptr<Consumer> consumer = take(Consumer::create(*db, std::move(options)));
  self = consumer.get();
  // However the command ends, the consumer closes after this guard: when a
  // write to stdout fails (a closed pipe, a full disk) the last poll was not
  // printed, and the revocation at close must not commit past it.
  struct ClosingGuard {
    bool* closing;
    ~ClosingGuard() { *closing = true; }
  } closing_guard{&closing};
  check(consumer->subscribe({o.topic}));
  check(seek_failed);
  // Without --follow the command ends at its first empty poll, but not
  // while the group gives it partitions another member still holds (that
  // member lets go at its next poll, within milliseconds if it is polling):
  // it waits for those, up to kHandoverWait.
  std::chrono::milliseconds timeout = o.follow ? std::chrono::milliseconds(kIdleWait) : std::chrono::milliseconds(0);
  std::optional<std::chrono::steady_clock::time_point> handover_deadline;
  for (;;) {
    auto records = take(consumer->poll(timeout));
    check(seek_failed);
    if (records.empty()) {
      if (o.follow) continue;
      std::vector<TopicPartition> awaiting = consumer->awaiting();
      if (awaiting.empty()) break;
      const auto now = std::chrono::steady_clock::now();
      if (!handover_deadline) handover_deadline = now + kHandoverWait;
      if (now >= *handover_deadline) fail(still_held_message(file, o.group, awaiting));
      timeout = kHandoverPoll;
      continue;
    }
    size_t n = print(printing, {}, records);
    // The next offset of each partition printed from, in one commit.
    std::vector<OffsetCommit> offsets;
    for (size_t i = 0; i < n; ++i) {
      const ConsumerRecord& r = records[i];
      auto it = std::find_if(offsets.begin(), offsets.end(),
                             [&](const OffsetCommit& c) { return c.topic == r.topic && c.partition == r.partition; });
      if (it == offsets.end()) it = offsets.insert(offsets.end(), {std::string(r.topic), r.partition, 0, ""});
      it->offset = r.offset + 1;
    }
    check(consumer->commit(offsets));
    if (printing.remaining == 0) break;
  }
  closing = true;
  check(consumer->close());
  return kExitOk;
}

int run_consume(const std::string& file, const ConsumeOptions& o) {
  // Given, even empty: `--group ""` must not read as no group at all.
  return o.group_opt->count() > 0 ? run_member(file, o) : run_readers(file, o);
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
  o->group_opt = cmd->add_option("-g,--group", o->group,
                                 "consume as a member of group G: share the partitions with G's other members, "
                                 "start where G committed, commit after printing each batch")
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
      "Without --partition, partitions are read in turn; offsets are per partition,\n"
      "and a partition whose records do not reach --from OFFSET starts at their\n"
      "nearest end, as long as some partition holds OFFSET (a partition named with\n"
      "--partition must hold it).\n"
      "Without --follow, the command stops at the end of every partition. With\n"
      "--group, the command joins group G: G's members (other consume --group G\n"
      "commands, programs using rivulet::Consumer) share the topic's partitions,\n"
      "which move to the others when one stops or dies. A partition starts where G\n"
      "committed (--from applies where G has not) and G's offsets move as records\n"
      "are printed; without --follow it waits for partitions of its share that\n"
      "another member still holds (that member lets go at its next poll), up to\n"
      "10 s, then fails naming them. Where retention has deleted the records at G's\n"
      "committed offset or at the member's position, the member goes on at the\n"
      "partition's earliest record (its end with --from latest); without --group\n"
      "that is an error.\n"
      "--partition cannot be combined with --group. In text\n"
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
