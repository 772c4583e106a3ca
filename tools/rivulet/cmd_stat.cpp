// `rivulet FILE stat`: what the file holds, from Db::stat() — sizes and log
// position for someone wondering where the disk went, then every topic's
// partitions with offsets and record counts. Opens the file read-only.
#include <memory>
#include <string>

#include "commands.hpp"
#include "common.hpp"

namespace rivulet::cli {

namespace {

struct StatOptions {
  bool json = false;
  bool segments = false;
};

int run_stat(const std::string& file, const StatOptions& o) {
  auto db = open_read_only(file);
  DbStats s = take(db->stat());
  if (o.json) {
    Json topics = Json::array();
    for (const TopicInfo& t : s.topics) topics.push_back(topic_json(t));
    Json segments = Json::array();
    for (const SegmentInfo& g : s.segments) {
      segments.push_back({{"index", g.index},
                          {"seq", g.seq},
                          {"state", g.state == SegmentInfo::State::free ? "free" : "in use"},
                          {"live_bytes", g.live_bytes},
                          {"dead_bytes", g.dead_bytes}});
    }
    print_json(Json{{"path", s.path},
                    {"format_version", s.format_version},
                    {"file_size", s.file_size},
                    {"disk_bytes", s.disk_bytes},
                    {"log_end", s.log_end},
                    {"segment_size", s.segment_size},
                    {"segments_used", s.segments_used},
                    {"checkpoint_position", s.checkpoint_position},
                    {"segments", std::move(segments)},
                    {"frames", s.frames},
                    {"open_handles", s.open_handles},
                    {"lowest_read_mark", s.lowest_read_mark == UINT64_MAX ? Json(nullptr) : Json(s.lowest_read_mark)},
                    {"topics", std::move(topics)}});
    return kExitOk;
  }
  out().append(render_fields({
      {"path", s.path},
      {"format version", std::to_string(s.format_version)},
      {"file size", std::to_string(s.file_size) + " bytes"},
      {"on disk", std::to_string(s.disk_bytes) + " bytes"},
      {"log end", std::to_string(s.log_end)},
      {"segment size", std::to_string(s.segment_size) + " bytes"},
      {"segments used", std::to_string(s.segments_used) + " of " + std::to_string(s.segments.size())},
      {"checkpoint", s.checkpoint_position ? "at " + std::to_string(s.checkpoint_position) : "none yet"},
      {"frames", std::to_string(s.frames)},
      {"open handles", s.open_handles ? std::to_string(s.open_handles) : "unknown (no shared area)"},
      {"lowest read mark", s.lowest_read_mark == UINT64_MAX ? "none" : "segment " + std::to_string(s.lowest_read_mark)},
      {"topics", std::to_string(s.topics.size())},
  }));
  if (!s.topics.empty()) {
    // One table for all topics, so columns line up across them.
    out().append("\n");
    out().append(partition_table(s.topics, true).render());
  }
  if (o.segments) {
    Table t({"SEGMENT", "SEQ", "STATE", "LIVE BYTES", "DEAD BYTES"});
    for (const SegmentInfo& g : s.segments) {
      t.add({std::to_string(g.index), std::to_string(g.seq), g.state == SegmentInfo::State::free ? "free" : "in use",
             std::to_string(g.live_bytes), std::to_string(g.dead_bytes)});
    }
    out().append("\n");
    out().append(t.render());
  }
  return kExitOk;
}

}  // namespace

void add_stat_command(CLI::App& app, const std::string& file, Registry& registry) {
  auto o = std::make_shared<StatOptions>();
  CLI::App* cmd = app.add_subcommand(
      "stat", "sizes, log end, segments, and every partition's offsets");
  cmd->add_flag("--json", o->json, "one JSON object instead of text (segments included)");
  cmd->add_flag("--segments", o->segments, "also list every segment with its live and dead bytes");
  cmd->footer(
      "Per partition: FIRST is the earliest offset still readable, NEXT the offset\n"
      "the next record gets, RECORDS their difference (in a compacted topic fewer\n"
      "records remain: compaction leaves gaps in the offsets), BYTES the live\n"
      "batches' size and DEAD BYTES that of batches retention or delete left behind\n"
      "until cleaning reuses their space.\n"
      "\n"
      "Examples:\n"
      "  rivulet app.rvl stat\n"
      "  rivulet app.rvl stat --segments\n"
      "  rivulet app.rvl stat --json");
  registry[cmd] = [file, o] { return run_stat(file, *o); };
}

}  // namespace rivulet::cli
