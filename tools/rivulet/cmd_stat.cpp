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
};

int run_stat(const std::string& file, const StatOptions& o) {
  auto db = open_read_only(file);
  DbStats s = take(db->stat());
  if (o.json) {
    Json topics = Json::array();
    for (const TopicInfo& t : s.topics) topics.push_back(topic_json(t));
    print_json(Json{{"path", s.path},
                    {"format_version", s.format_version},
                    {"file_size", s.file_size},
                    {"log_end", s.log_end},
                    {"segment_size", s.segment_size},
                    {"segments_used", s.segments_used},
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
      {"log end", std::to_string(s.log_end)},
      {"segment size", std::to_string(s.segment_size) + " bytes"},
      {"segments used", std::to_string(s.segments_used)},
      {"frames", std::to_string(s.frames)},
      {"open handles", s.open_handles ? std::to_string(s.open_handles) : "unknown (no shared area)"},
      {"lowest read mark", s.lowest_read_mark == UINT64_MAX ? "none" : std::to_string(s.lowest_read_mark)},
      {"topics", std::to_string(s.topics.size())},
  }));
  if (s.topics.empty()) return kExitOk;
  // One table for all topics, so columns line up across them.
  out().append("\n");
  out().append(partition_table(s.topics, true).render());
  return kExitOk;
}

}  // namespace

void add_stat_command(CLI::App& app, const std::string& file, Registry& registry) {
  auto o = std::make_shared<StatOptions>();
  CLI::App* cmd = app.add_subcommand(
      "stat", "sizes, log end, segments, and every partition's offsets");
  cmd->add_flag("--json", o->json, "one JSON object instead of text");
  cmd->footer(
      "Examples:\n"
      "  rivulet app.rvl stat\n"
      "  rivulet app.rvl stat --json");
  registry[cmd] = [file, o] { return run_stat(file, *o); };
}

}  // namespace rivulet::cli
