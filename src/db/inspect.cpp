// `check` and `dump`: walk the whole log read-only, verifying or describing
// every frame, batch and record.
#include "rivulet/inspect.hpp"

#include <unordered_set>

#include <fmt/format.h>

#include "db/db_impl.hpp"
#include "db/frame_apply.hpp"
#include "log/file_start.hpp"
#include "log/log_scanner.hpp"

namespace rivulet {

namespace {

// The parts every walk needs: the open file, its start, a map and a scanner.
struct Walk {
  std::unique_ptr<io::File> file;
  log::FileStart start;
  std::unique_ptr<log::FileMap> map;
  std::unique_ptr<log::LogScanner> scanner;
  meta::Catalog catalog;
  std::unique_ptr<db::Replay> replay;
  log::ChainPos pos;

  // Applies frame `f` at pos and moves pos past it.
  Status apply(const format::ParsedFrame& f) {
    log::ChainPos next = scanner->advance(pos, f);
    RIVULET_TRY(replay->apply(f, pos, next));
    pos = next;
    return Status::OK();
  }
};

Status open_walk(const std::string& path, const OpenOptions& options, Walk* w) {
  io::Env* env = options.env ? options.env : io::Env::posix();
  Result<std::unique_ptr<io::File>> f = env->open(path, io::OpenMode::read_only);
  if (!f.ok()) {
    if (f.status().code() == Code::not_found) return {Code::not_found, fmt::format("{}: no such file", path)};
    return f.status();
  }
  w->file = std::move(f).value();
  Result<log::FileStart> start = log::read_file_start(*w->file, env->boot_tag());
  if (!start.ok()) {
    const Status& st = start.status();
    return {st.code(), fmt::format("{}: {}", path, st.message()), st.position()};
  }
  w->start = *start;
  w->map = std::make_unique<log::FileMap>(w->file.get());
  w->scanner = std::make_unique<log::LogScanner>(w->map.get(), w->start.header.segment_size,
                                                 w->start.header.format_version);
  w->pos = log::chain_start(w->start);
  w->catalog.segments().set_segment_size(w->start.header.segment_size);
  bool from_checkpoint = w->start.superblock.checkpoint_pos != 0;
  w->replay = std::make_unique<db::Replay>(&w->catalog, from_checkpoint, w->pos.pos);
  if (!from_checkpoint) w->catalog.enter_segment(w->catalog.segments().index_of(w->pos.pos), w->pos.segment_seq);
  return Status::OK();
}

std::string topic_name(const meta::Catalog& catalog, uint32_t id) {
  const meta::TopicState* t = catalog.by_id(id);
  return t ? t->name : fmt::format("#{}", id);
}

// Checks the segment header when a frame is the first of its segment.
void check_segment_header(Walk& w, const format::ParsedFrame& f, CheckReport* report) {
  uint32_t seg = w.start.header.segment_size;
  uint64_t start = format::segment_start(format::segment_index(f.position, seg), seg);
  if (f.position != start + format::kSegmentHeaderSize) return;
  Result<std::string_view> bytes = w.map->view(start, start + format::kSegmentHeaderSize);
  format::SegmentHeader h;
  if (!bytes.ok() || !format::decode_segment_header(*bytes, &h) || h.first_frame_seq != f.header.seq) {
    report->warnings.push_back(fmt::format("segment header at position {} is damaged or does not match its "
                                           "first frame (the frames themselves are intact)",
                                           start));
  }
}

// Every partition's batch list: each batch's header where the list says,
// the batches in offset order without overlap, the last ending where the
// partition ends (compaction keeps a partition's last batch, emptied or
// not), and every batch not met on the walk with its CRC and records holding.
Status check_indexed_batches(Walk& w, const std::unordered_set<uint64_t>& walked, CheckReport* report) {
  for (uint32_t id = 0; id < w.catalog.next_topic_id(); ++id) {
    const meta::TopicState* t = w.catalog.by_id(id);
    if (!t || t->deleted) continue;
    for (uint32_t partition = 0; partition < t->partitions.size(); ++partition) {
      const meta::PartitionState& p = t->partitions[partition];
      RIVULET_TRY(p.index.load());
      int64_t end = p.first_offset;  // where the batches so far end
      uint64_t last_position = 0;
      for (auto c = p.index.cursor(0); c.valid(); c.next()) {
        const index::BatchEntry& e = *c;
        Result<std::string_view> bytes = w.map->view(e.position, e.position + e.bytes, e.bytes);
        if (!bytes.ok()) return bytes.status();
        format::BatchRef b{id, partition, e.position, {}, *bytes};
        Status parsed = format::parse_batch_header(*bytes, e.position, &b.header);
        RIVULET_TRY(format::in_partition(parsed, t->name, partition));
        if (b.header.base_offset != e.base_offset) {
          return {Code::corruption,
                  fmt::format("record batch of '{}' partition {} at position {} starts at offset {}, but the "
                              "partition's batch list records offset {} for it",
                              t->name, partition, e.position, b.header.base_offset, e.base_offset),
                  e.position};
        }
        // The first may start below first_offset: delete_records cuts a batch.
        if (last_position != 0 && b.header.base_offset < end) {
          return {Code::corruption,
                  fmt::format("record batch of '{}' partition {} at position {} overlaps the offsets of the batch "
                              "before it",
                              t->name, partition, e.position),
                  e.position};
        }
        end = std::max(end, b.header.last_offset() + 1);
        last_position = e.position;
        if (walked.count(e.position)) continue;  // its checksum and records were checked on the walk
        if (b.header.total_size() != e.bytes || !format::batch_crc_ok(*bytes, b.header)) {
          return {Code::corruption,
                  fmt::format("record batch of '{}' partition {} at position {} fails its checksum", t->name,
                              partition, e.position),
                  e.position};
        }
        ++report->batches;
        RIVULET_TRY(db::for_each_record(b, t->name, [&](const format::DecodedRecord&) {
          ++report->records;
          return Status::OK();
        }));
      }
      // Readers would wait for offsets no batch holds.
      if (end != p.next_offset) {
        return {Code::corruption,
                fmt::format("'{}' partition {} ends at offset {}, but its batches end at offset {}", t->name,
                            partition, p.next_offset, end),
                last_position};
      }
    }
  }
  return Status::OK();
}

}  // namespace

Result<CheckReport> check_file(const std::string& path, const OpenOptions& options) {
  RIVULET_TRY(io::check_path(path));
  Walk w;
  CheckReport report;
  Status opened = open_walk(path, options, &w);
  if (!opened.ok()) {
    if (opened.code() != Code::corruption) return opened;
    report.ok = false;
    report.problems.push_back(opened.message());
    return report;
  }
  for (int i = 0; i < 2; ++i) {
    if (!w.start.slots.valid[i] && !w.start.slot_blank[i]) {
      report.warnings.push_back(fmt::format("superblock at position {} is damaged or was being rewritten when "
                                            "its writer stopped (the other one is used)",
                                            format::kSuperblockPos[i]));
    } else if (w.start.slots.valid[i] && i != w.start.choice.use &&
               w.start.slots.slot[i].generation > w.start.superblock.generation) {
      report.warnings.push_back(fmt::format("superblock at position {} was written without a sync before the "
                                            "machine restarted; the log is read from the synced one at {}",
                                            format::kSuperblockPos[i], format::kSuperblockPos[w.start.choice.use]));
    }
  }
  std::string why;
  std::unordered_set<uint64_t> walked_batches;
  Status walked = w.scanner->walk(
      w.pos,
      [&](const format::ParsedFrame& f) {
        check_segment_header(w, f, &report);
        RIVULET_TRY(w.apply(f));
        for (const format::BatchRef& b : f.batches) {
          walked_batches.insert(b.position);
          ++report.batches;
          RIVULET_TRY(db::for_each_record(b, topic_name(w.catalog, b.topic_id), [&](const format::DecodedRecord&) {
            ++report.records;
            return Status::OK();
          }));
        }
        ++report.frames;
        return Status::OK();
      },
      &why);
  if (walked.ok()) walked = w.replay->finish();
  // Batches from before the checkpoint the log starts at are not on the
  // walk: verify those still live through the index.
  if (walked.ok()) walked = check_indexed_batches(w, walked_batches, &report);
  report.log_end = w.pos.pos;
  // Every problem names the file, as a refused file start does.
  if (!walked.ok()) {
    if (walked.code() != Code::corruption && walked.code() != Code::unsupported) return walked;
    report.tail = "not reached (the walk stopped at the problem)";
    report.problems.push_back(fmt::format("{}: {}", path, walked.message()));
  } else {
    Result<log::TailInfo> tail = log::classify_tail(w.map.get(), w.start.header.segment_size, w.pos,
                                                    w.start.superblock.durable_seq, why);
    if (!tail.ok()) return tail.status();
    if (tail->kind == log::TailInfo::Kind::corrupt) {
      report.tail = "damaged frame at position " + std::to_string(tail->position);
      report.problems.push_back(fmt::format("{}: {}", path, tail->detail));
    } else {
      report.tail = tail->detail;
    }
  }
  report.ok = report.problems.empty();
  return report;
}

// Every error names the file, as check's problems do.
static Status dump_walk(const std::string& path, const std::function<void(const FrameInfo&)>& visit,
                        const OpenOptions& options) {
  Walk w;
  RIVULET_TRY(open_walk(path, options, &w));
  std::string why;
  RIVULET_TRY(w.scanner->walk(
      w.pos,
      [&](const format::ParsedFrame& f) {
        RIVULET_TRY(w.apply(f));
        FrameInfo info;
        info.position = f.position;
        info.seq = f.header.seq;
        info.length = f.header.frame_length;
        info.segment_end = f.segment_end();
        for (const format::BatchRef& b : f.batches) {
          info.batches.push_back({b.topic_id, topic_name(w.catalog, b.topic_id), static_cast<int32_t>(b.partition),
                                  b.header.base_offset, b.header.records_count, b.header.max_timestamp, b.position,
                                  static_cast<uint32_t>(b.header.total_size()), b.header.compression(),
                                  b.header.last_offset()});
        }
        visit(info);
        return Status::OK();
      },
      &why));
  RIVULET_TRY(w.replay->finish());
  Result<log::TailInfo> tail =
      log::classify_tail(w.map.get(), w.start.header.segment_size, w.pos, w.start.superblock.durable_seq, why);
  if (!tail.ok()) return tail.status();
  if (tail->kind == log::TailInfo::Kind::corrupt) return {Code::corruption, tail->detail, tail->position};
  return Status::OK();
}

Status dump_file(const std::string& path, const std::function<void(const FrameInfo&)>& visit,
                 const OpenOptions& options) {
  RIVULET_TRY(io::check_path(path));  // not named: the path is what is wrong
  return with_path(path, dump_walk(path, visit, options));
}

}  // namespace rivulet
