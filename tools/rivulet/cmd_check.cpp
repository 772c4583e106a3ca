// `rivulet FILE check` and `rivulet FILE dump`: offline inspection, both
// read-only.
//
// check prints what rivulet::check_file verified and every problem it found,
// and fails (exit 1) when there is one, so it can guard a backup script.
//
// dump walks the log with rivulet::dump_file: frames (one per commit) and the
// record batches inside them. dump_file reports batches, not records, so
// --records opens the file as a Db too and reads each batch's records back
// through a Reader positioned at the batch's base offset. Metadata batches
// (topics named "__rivulet...") have no Reader and are listed without records.
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "commands.hpp"
#include "common.hpp"
#include "record_json.hpp"
#include "rivulet/inspect.hpp"

namespace rivulet::cli {

namespace {

struct InspectOptions {
  bool json = false;
  bool records = false;
};

int run_check(const std::string& file, const InspectOptions& o) {
  CheckReport r = take(check_file(file, read_only_options()));
  // A refused file start (header, superblocks) leaves no log to describe.
  bool walked = r.log_end != 0;
  if (o.json) {
    Json problems = Json::array();
    for (const std::string& p : r.problems) problems.push_back(p);
    Json warnings = Json::array();
    for (const std::string& w : r.warnings) warnings.push_back(w);
    print_json(Json{{"path", file},
                    {"ok", r.ok},
                    {"frames", r.frames},
                    {"batches", r.batches},
                    {"records", r.records},
                    {"log_end", walked ? Json(r.log_end) : Json(nullptr)},
                    {"tail", walked ? Json(r.tail) : Json(nullptr)},
                    {"problems", std::move(problems)},
                    {"warnings", std::move(warnings)}});
  } else {
    out().append(render_fields({
        {"file", file},
        {"frames", std::to_string(r.frames)},
        {"batches", std::to_string(r.batches)},
        {"records", std::to_string(r.records)},
        {"log end", walked ? std::to_string(r.log_end) : "unknown (the file's start was refused)"},
        {"tail", walked ? r.tail : "unknown"},
        {"problems", r.problems.empty() ? "none" : std::to_string(r.problems.size())},
    }));
    for (const std::string& p : r.problems) out().append("  " + p + "\n");
    for (const std::string& w : r.warnings) out().append("warning: " + w + "\n");
    out().append(r.ok ? "ok\n" : "NOT OK\n");
  }
  if (r.ok) return kExitOk;
  // The report is on stdout; stderr gets the one-line verdict that every
  // failing command gives, with the first problem so it is useful alone.
  if (r.problems.empty()) fail(fmt::format("{}: check failed", file));
  // The problem names the file.
  fail(fmt::format("{} problem{} found, the first: {}", r.problems.size(), r.problems.size() == 1 ? "" : "s",
                   r.problems.front()));
}

// Reads the records of batches for `dump --records`, reusing one Reader per
// partition (a seek is cheaper than a new Reader for every batch).
class BatchRecords {
 public:
  explicit BatchRecords(const std::string& file) : db_(open_read_only(file)) {}

  // Appends the batch's records (JSON objects, comma-separated, for json; one
  // indented line each otherwise). Returns a note instead when they cannot be
  // read, e.g. because the topic was deleted since.
  std::optional<std::string> append(const BatchInfo& b, bool json, std::string& out) {
    // A batch of a deleted topic whose name was reused must not be read
    // through the new topic of that name: compare ids.
    auto id = topic_id(b.topic);
    if (!id || *id != b.topic_id) return "topic deleted; records not readable";
    auto key = std::make_pair(b.topic_id, b.partition);
    auto it = readers_.find(key);
    if (it == readers_.end()) {
      auto reader = db_->reader(b.topic, b.partition, StartAt::offset(b.base_offset));
      if (!reader.ok()) return message_of(reader.status());
      it = readers_.emplace(key, std::move(reader).value()).first;
    } else if (Status st = it->second->seek(StartAt::offset(b.base_offset)); !st.ok()) {
      return message_of(st);
    }
    // Not base + count: a compacted batch's records have gaps.
    const int64_t end = b.last_offset + 1;
    bool first = true;
    while (it->second->position() < end) {
      auto polled = it->second->poll(std::chrono::milliseconds(0),
                                     static_cast<size_t>(end - it->second->position()));
      if (!polled.ok()) return message_of(polled.status());
      if (polled.value().empty()) return "records not readable (no longer in the partition)";
      for (const RecordView& r : polled.value()) {
        if (r.offset >= end) break;
        if (json) {
          if (!first) out += ',';
          out += fmt::format("{{\"offset\":{},\"timestamp\":{},\"key\":", r.offset, r.timestamp_ms);
          append_json_bytes(out, r.key);
          out += ",\"value\":";
          append_json_bytes(out, r.value);
          out += ",\"headers\":";
          append_json_headers(out, r.headers);
          out += '}';
        } else {
          out += fmt::format("    offset {} timestamp {} key ", r.offset, r.timestamp_ms);
          append_json_bytes(out, r.key);
          out += " value ";
          append_json_bytes(out, r.value);
          if (!r.headers.empty()) {
            out += " headers ";
            append_json_headers(out, r.headers);
          }
          out += '\n';
        }
        first = false;
      }
    }
    return std::nullopt;
  }

 private:
  std::optional<uint32_t> topic_id(const std::string& name) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    std::optional<uint32_t> id;
    if (auto info = db_->describe_topic(name); info.ok()) id = info.value().id;
    ids_.emplace(name, id);
    return id;
  }

  std::unique_ptr<Db> db_;
  std::map<std::string, std::optional<uint32_t>> ids_;
  std::map<std::pair<uint32_t, int32_t>, std::unique_ptr<Reader>> readers_;
};

bool is_metadata(const std::string& topic) { return topic.rfind("__rivulet", 0) == 0; }

void append_frame(const FrameInfo& f, const InspectOptions& o, BatchRecords* records,
                  std::string& out) {
  if (o.json) {
    out += fmt::format("{{\"position\":{},\"seq\":{},\"length\":{},\"segment_end\":{},\"batches\":[",
                       f.position, f.seq, f.length, f.segment_end);
  } else {
    out += fmt::format("frame {} at {}: {} bytes, {} batch{}{}\n", f.seq, f.position, f.length,
                       f.batches.size(), f.batches.size() == 1 ? "" : "es",
                       f.segment_end ? " (segment end)" : "");
  }
  bool first = true;
  for (const BatchInfo& b : f.batches) {
    if (o.json) {
      if (!first) out += ',';
      out += "{\"topic\":";
      append_json_bytes(out, Bytes(b.topic));
      out += fmt::format(
          ",\"topic_id\":{},\"partition\":{},\"base_offset\":{},\"last_offset\":{},\"record_count\":{},"
          "\"max_timestamp\":{},\"position\":{},\"bytes\":{},\"compression\":{}",
          b.topic_id, b.partition, b.base_offset, b.last_offset, b.record_count, b.max_timestamp_ms, b.position,
          b.bytes, b.compression);
      if (records != nullptr && !is_metadata(b.topic)) {
        std::string recs;
        auto note = records->append(b, true, recs);
        if (note) {
          out += ",\"records_note\":";
          append_json_bytes(out, Bytes(*note));
        } else {
          out += ",\"records\":[" + recs + "]";
        }
      }
      out += '}';
    } else {
      out += "  batch at " + std::to_string(b.position) + ": topic " + b.topic;
      out += fmt::format(" partition {} offsets {}-{} records {} max timestamp {} bytes {}", b.partition,
                         b.base_offset, b.last_offset, b.record_count, b.max_timestamp_ms, b.bytes);
      if (b.compression != 0) out += fmt::format(" compression {}", b.compression);
      out += '\n';
      if (records != nullptr && !is_metadata(b.topic)) {
        auto note = records->append(b, false, out);
        if (note) out += "    (" + *note + ")\n";
      }
    }
    first = false;
  }
  if (o.json) out += "]}\n";
}

int run_dump(const std::string& file, const InspectOptions& o) {
  std::unique_ptr<BatchRecords> records;
  if (o.records) records = std::make_unique<BatchRecords>(file);
  // The visitor runs inside the library, which must not see our exceptions
  // (a closed stdout, a write error): keep the first one and stop working.
  std::exception_ptr error;
  Status st = dump_file(
      file,
      [&](const FrameInfo& f) {
        if (error) return;
        try {
          append_frame(f, o, records.get(), out().buffer());
          out().maybe_flush();
        } catch (...) {
          error = std::current_exception();
        }
      },
      read_only_options());
  if (error) std::rethrow_exception(error);
  check(st);  // dump_file's messages name the file
  return kExitOk;
}

}  // namespace

void add_check_commands(CLI::App& app, const std::string& file, Registry& registry) {
  auto check_opts = std::make_shared<InspectOptions>();
  CLI::App* chk = app.add_subcommand(
      "check", "verify every checksum and record; exit 1 if anything is wrong");
  chk->add_flag("--json", check_opts->json, "one JSON object instead of text");
  chk->footer(
      "Checks the header, superblocks, every frame and batch checksum, and decodes\n"
      "every record. The report goes to stdout; on a problem the exit status is 1.\n"
      "\n"
      "Examples:\n"
      "  rivulet app.rvl check\n"
      "  rivulet app.rvl check --json");
  registry[chk] = [file, check_opts] { return run_check(file, *check_opts); };

  auto dump_opts = std::make_shared<InspectOptions>();
  CLI::App* dump = app.add_subcommand(
      "dump", "list the frames (commits) and batches of the log");
  dump->add_flag("--json", dump_opts->json, "one JSON object per frame, one per line");
  dump->add_flag("--records", dump_opts->records,
                 "also print each record (offset, timestamp, key, value, headers)");
  dump->footer(
      "Frames are listed in log order, from the checkpoint the log starts at, with\n"
      "position, sequence number and length; each batch with topic, partition,\n"
      "offsets (base to last: a compacted batch has gaps), record count, max\n"
      "timestamp and size. --records reads each batch's records as a reader sees\n"
      "them now (a batch cleaning replaced shows its live copy's). Keys and values\n"
      "print as in consume --format json. Stops with exit status 1 at the first\n"
      "corrupt frame.\n"
      "\n"
      "Examples:\n"
      "  rivulet app.rvl dump\n"
      "  rivulet app.rvl dump --records\n"
      "  rivulet app.rvl dump --json --records");
  registry[dump] = [file, dump_opts] { return run_dump(file, *dump_opts); };
}

}  // namespace rivulet::cli
