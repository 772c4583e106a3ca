// `rivulet FILE group list|describe|reset|delete`: consumer groups' members
// and committed offsets, in the manner of kafka-consumer-groups. list and describe open the
// file read-only; reset and delete write.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "common.hpp"

namespace rivulet::cli {

namespace {

struct GroupOptions {
  std::string group;
  std::string topic;
  std::string partition;
  std::string to;
  bool json = false;
};

Json group_json(const GroupInfo& g) {
  Json partitions = Json::array();
  for (const GroupPartitionInfo& p : g.partitions) {
    partitions.push_back({{"topic", p.topic},
                          {"partition", p.partition},
                          {"committed", p.committed.offset},
                          {"end", p.end_offset < 0 ? Json(nullptr) : Json(p.end_offset)},
                          {"lag", p.lag < 0 ? Json(nullptr) : Json(p.lag)},
                          {"metadata", p.committed.metadata},
                          {"commit_ms", p.committed.commit_ms}});
  }
  Json members = Json::array();
  for (const GroupMemberInfo& m : g.members) {
    Json assignment = Json::array();
    for (const TopicPartition& tp : m.assignment) assignment.push_back({{"topic", tp.topic}, {"partition", tp.partition}});
    members.push_back({{"member_id", m.member_id},
                       {"pid", m.pid},
                       {"subscription", m.subscription},
                       {"assignment", std::move(assignment)}});
  }
  return {{"group", g.name}, {"members", std::move(members)}, {"partitions", std::move(partitions)}};
}

int run_list(const std::string& file, const GroupOptions& o) {
  auto db = open_read_only(file);
  auto groups = take(db->list_groups());
  if (o.json) {
    Json list = Json::array();
    for (const GroupInfo& g : groups) list.push_back(group_json(g));
    print_json(list);
  } else {
    for (const GroupInfo& g : groups) out().append(g.name + "\n");
  }
  return kExitOk;
}

int run_describe(const std::string& file, const GroupOptions& o) {
  auto db = open_read_only(file);
  GroupInfo g = take(db->describe_group(o.group));
  if (o.json) {
    print_json(group_json(g));
    return kExitOk;
  }
  // A row per partition the group committed or a member is assigned, as
  // kafka-consumer-groups --describe; a member with nothing assigned gets a
  // row of its own.
  struct Row {
    std::string committed = "-", end = "-", lag = "-", member = "-", metadata;
  };
  std::map<TopicPartition, Row> rows;
  auto num = [](int64_t v) { return v < 0 ? std::string("-") : std::to_string(v); };
  for (const GroupPartitionInfo& p : g.partitions) {
    rows[{p.topic, p.partition}] = {std::to_string(p.committed.offset), num(p.end_offset), num(p.lag), "-",
                                    p.committed.metadata};
  }
  std::vector<std::string> idle;
  for (const GroupMemberInfo& m : g.members) {
    if (m.assignment.empty()) idle.push_back(m.member_id);
    for (const TopicPartition& tp : m.assignment) {
      auto [it, fresh] = rows.try_emplace(tp);
      it->second.member = m.member_id;
      if (!fresh) continue;
      Result<TopicInfo> t = db->describe_topic(tp.topic);
      if (t.ok() && static_cast<size_t>(tp.partition) < t->partitions.size()) {
        it->second.end = std::to_string(t->partitions[static_cast<size_t>(tp.partition)].next_offset);
      }
    }
  }
  Table table({"TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER", "METADATA"},
              {false, true, true, true, true, false, false});
  for (const auto& [tp, r] : rows) {
    table.add({tp.topic, std::to_string(tp.partition), r.committed, r.end, r.lag, r.member, r.metadata});
  }
  for (const std::string& m : idle) table.add({"-", "-", "-", "-", "-", m, ""});
  out().append(table.render());
  return kExitOk;
}

// Where --to puts one partition: earliest, latest, an offset, or the first
// record at or after a time. An offset outside the partition is an error,
// or its nearest end (`clamp`: resetting all partitions to an offset some
// of them hold, as partitions seldom share an offset range).
int64_t target_offset(const std::string& file, Db& db, const std::string& topic, const PartitionInfo& p,
                      const std::string& to, bool clamp) {
  if (to == "earliest") return p.first_offset;
  if (to == "latest") return p.next_offset;
  int64_t v = 0;
  if (!to.empty() && to[0] == '@' && parse_int_to(to.substr(1), 0, INT64_MAX, &v)) {
    auto reader = take(db.reader(topic, p.partition, StartAt::timestamp(v)));
    return reader->position();
  }
  if (!parse_int_to(to, 0, INT64_MAX, &v)) {
    usage_error(fmt::format("--to: expected earliest, latest, an offset or @UNIX_MS, got '{}'", to));
  }
  if (clamp) return std::clamp(v, p.first_offset, p.next_offset);
  if (v < p.first_offset || v > p.next_offset) {
    fail(fmt::format("{}: --to {}: out of range for '{}' partition {} (offsets {} to {})", file, v, topic,
                     p.partition, p.first_offset, p.next_offset));
  }
  return v;
}

int run_reset(const std::string& file, const GroupOptions& o) {
  OpenOptions options;
  options.create_if_missing = false;
  auto db = open_for_write(file, options);
  TopicInfo topic = take(db->describe_topic(o.topic));
  // As kafka-consumer-groups: live members would neither see the new
  // offsets nor keep them (they commit their own positions).
  Result<GroupInfo> g = db->describe_group(o.group);
  if (g.ok() && !g->members.empty()) {
    fail(fmt::format("{}: group '{}' has {} live member(s); stop them before resetting its offsets", file,
                     o.group, g->members.size()));
  }
  std::vector<OffsetCommit> offsets;
  int64_t v = 0;
  const bool clamp = o.partition.empty() && parse_int_to(o.to, 0, INT64_MAX, &v) && some_partition_holds(topic, v);
  for (const PartitionInfo& p : topic.partitions) {
    if (!o.partition.empty() && p.partition != parse_int(o.partition, "--partition", 0, INT32_MAX)) continue;
    offsets.push_back({topic.name, p.partition, target_offset(file, *db, topic.name, p, o.to, clamp), ""});
  }
  if (offsets.empty()) fail(fmt::format("{}: topic '{}' has no partition {}", file, topic.name, o.partition));
  check(db->commit_offsets(o.group, offsets));
  close_db(*db);
  return kExitOk;
}

int run_delete(const std::string& file, const GroupOptions& o) {
  OpenOptions options;
  options.create_if_missing = false;
  auto db = open_for_write(file, options);
  check(db->delete_group(o.group));
  close_db(*db);
  return kExitOk;
}

}  // namespace

void add_group_commands(CLI::App& app, const std::string& file, Registry& registry) {
  CLI::App* group = app.add_subcommand("group", "list, describe, reset and delete consumer groups");
  group->require_subcommand(1);
  auto o = std::make_shared<GroupOptions>();

  CLI::App* list = group->add_subcommand("list", "groups with committed offsets or live members, one name per line");
  list->add_flag("--json", o->json, "a JSON array of groups with their offsets");
  registry[list] = [file, o] { return run_list(file, *o); };

  CLI::App* describe =
      group->add_subcommand("describe", "per partition: a group's committed offset, end offset, lag and member");
  describe->add_option("GROUP", o->group, "group name")->required()->type_name("");
  describe->add_flag("--json", o->json, "one JSON object instead of a table");
  registry[describe] = [file, o] { return run_describe(file, *o); };

  CLI::App* reset = group->add_subcommand("reset", "move a group's offsets for a topic");
  reset->add_option("GROUP", o->group, "group name")->required()->type_name("");
  reset->add_option("-t,--topic", o->topic, "the topic whose offsets move")->required()->type_name("TOPIC");
  reset->add_option("--to", o->to, "earliest, latest, OFFSET, or @UNIX_MS (first record at/after it)")
      ->required()
      ->type_name("WHERE");
  reset->add_option("-p,--partition", o->partition, "only this partition (default: all)")->type_name("P");
  reset->footer(
      "Without --partition, an OFFSET that some partition holds moves each other\n"
      "partition to the nearest end of its records; otherwise it is an error.\n"
      "\n"
      "Examples:\n"
      "  rivulet app.rvl group reset billing --topic orders --to earliest\n"
      "  rivulet app.rvl group reset billing --topic orders --partition 0 --to 42");
  registry[reset] = [file, o] { return run_reset(file, *o); };

  CLI::App* del = group->add_subcommand("delete", "forget every committed offset of a group");
  del->add_option("GROUP", o->group, "group name")->required()->type_name("");
  registry[del] = [file, o] { return run_delete(file, *o); };

  group->footer(
      "A group's members are `consume TOPIC --group G` commands and programs using\n"
      "rivulet::Consumer, in any process on this host; they share the partitions and\n"
      "commit offsets, which are kept in the file. reset and delete refuse a group\n"
      "that has live members. Examples:\n"
      "  rivulet app.rvl group list\n"
      "  rivulet app.rvl group describe billing\n"
      "  rivulet app.rvl group delete billing");
}

}  // namespace rivulet::cli
