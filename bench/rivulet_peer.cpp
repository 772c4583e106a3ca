#include "rivulet_peer.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "profile_gate.hpp"
#include "rivulet/rivulet.hpp"

namespace bench {
namespace {

std::unique_ptr<rivulet::Db> create_db(const std::string& path, rivulet::Sync sync, int partitions) {
  rivulet::OpenOptions options;
  options.sync = sync;
  auto db = take(rivulet::Db::open(path, options), "Db::open");
  rivulet::TopicConfig config;
  config.partitions = partitions;
  check(db->create_topic(kTopic, config), "create_topic");
  return db;
}

std::string per_record(uint64_t bytes, uint64_t records) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / static_cast<double>(records ? records : 1));
  return buf;
}

// Stats before close (what the engine says about itself), the file after.
void finish(std::unique_ptr<rivulet::Db> db, const std::string& path, ProduceRun& run) {
  auto stats = take(db->stat(), "Db::stat");
  Stopwatch close_watch;
  check(db->close(), "Db::close");
  db.reset();
  run.close_seconds = close_watch.seconds();
  run.disk = file_usage(path);
  run.disk.detail = "file " + std::to_string(run.disk.apparent) + " B (allocated " +
                    std::to_string(run.disk.allocated) + " B); Db::stat: file_size " +
                    std::to_string(stats.file_size) + ", log_end " + std::to_string(stats.log_end) + " (" +
                    per_record(stats.log_end, run.records) + " B/record), frames " +
                    std::to_string(stats.frames) + ", segments " + std::to_string(stats.segments_used) +
                    " x " + std::to_string(stats.segment_size) + " B";
}

}  // namespace

DiskUsage file_usage(const std::string& path) {
  DiskUsage u;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    u.apparent = static_cast<uint64_t>(st.st_size);
    u.allocated = static_cast<uint64_t>(st.st_blocks) * 512;
  }
  return u;
}

ProduceRun RivuletPeer::produce_batched(const Dataset& ds, size_t n, const std::string& path,
                                        size_t per_commit) const {
  ProduceRun run;
  auto db = create_db(path, rivulet::Sync::off, partitions);
  rivulet::WriteBatch batch(*db);
  rivulet::ProducerRecord rec;
  rec.topic = kTopic;
  int32_t partition = 0;

  std::optional<ProfileGate> gate(std::in_place);
  Stopwatch watch;
  for (size_t i = 0; i < n; ++i) {
    rec.key = ds.key(i);
    rec.value = ds.value(i);
    rec.partition = partition;
    rec.timestamp_ms = ds.ts(i);
    if (++partition == partitions) partition = 0;
    check(batch.add(rec), "WriteBatch::add");
    if (batch.size() == per_commit) {
      check(db->commit(batch), "Db::commit");
      batch.clear();
    }
  }
  if (!batch.empty()) {
    check(db->commit(batch), "Db::commit");
    batch.clear();
  }
  run.seconds = watch.seconds();
  gate.reset();
  run.records = n;
  finish(std::move(db), path, run);
  return run;
}

ProduceRun RivuletPeer::produce_single(const Dataset& ds, size_t n, const std::string& path) const {
  ProduceRun run;
  auto db = create_db(path, rivulet::Sync::normal, partitions);
  rivulet::ProducerRecord rec;
  rec.topic = kTopic;
  int32_t partition = 0;

  std::optional<ProfileGate> gate(std::in_place);
  Stopwatch watch;
  for (size_t i = 0; i < n; ++i) {
    rec.key = ds.key(i);
    rec.value = ds.value(i);
    rec.partition = partition;
    rec.timestamp_ms = ds.ts(i);
    if (++partition == partitions) partition = 0;
    auto appended = db->produce(rec);
    if (!appended.ok()) check(appended.status(), "Db::produce");
  }
  run.seconds = watch.seconds();
  gate.reset();
  run.records = n;
  finish(std::move(db), path, run);
  return run;
}

ReadRun RivuletPeer::read_all(const std::string& path, size_t per_poll) const {
  ReadRun run;
  Stopwatch open_watch;
  auto db = take(rivulet::Db::open(path, rivulet::OpenOptions{}), "Db::open");
  run.open_seconds = open_watch.seconds();

  Checksum sum;
  std::optional<ProfileGate> gate(std::in_place);
  Stopwatch read_watch;
  for (int32_t p = 0; p < partitions; ++p) {
    auto reader = take(db->reader(kTopic, p, rivulet::StartAt::earliest()), "Db::reader");
    for (;;) {
      auto polled = reader->poll(std::chrono::milliseconds(0), per_poll);
      if (!polled.ok()) check(polled.status(), "Reader::poll");
      std::span<const rivulet::RecordView> records = polled.value();
      if (records.empty()) break;
      for (const rivulet::RecordView& r : records) {
        sum.add(r.key ? *r.key : std::string_view(), r.value ? *r.value : std::string_view());
      }
    }
  }
  run.read_seconds = read_watch.seconds();
  gate.reset();
  run.sum = sum;
  check(db->close(), "Db::close");
  return run;
}

}  // namespace bench
