// Planning the steps of cleaning and compaction (see cleaner.hpp).
#include "db/cleaner.hpp"

#include <random>

#include <fmt/format.h>

#include "clean/compact_batch.hpp"
#include "clean/map_batches.hpp"
#include "format/file_layout.hpp"
#include "format/frame.hpp"
#include "format/record_batch.hpp"
#include "util/endian.hpp"

namespace rivulet::db {

namespace {

// Memory for one compaction pass's offset map: 524,287 keys (3/4 of its
// 699,050 slots). A partition with more distinct keys is compacted over
// several passes, as Kafka's cleaner does with its dedupe buffer.
constexpr size_t kOffsetMapBytes = 16u << 20;
// What walking past one frame counts against a step's budget.
constexpr uint64_t kFrameLookCost = 64;

const meta::PartitionState* live_partition(const meta::Catalog& catalog, uint32_t topic_id, uint32_t partition) {
  const meta::TopicState* t = catalog.by_id(topic_id);
  if (!t || t->deleted || catalog.is_internal_id(topic_id) || partition >= t->partitions.size()) return nullptr;
  return &t->partitions[partition];
}

// Whether the batch at `position` is the one its partition's index points
// at (an index that does not decode answers nothing).
Result<bool> is_live(const meta::Catalog& catalog, const format::BatchRef& b) {
  const meta::PartitionState* p = live_partition(catalog, b.topic_id, b.partition);
  if (!p) return false;
  RIVULET_TRY(p->index.load());
  std::optional<size_t> i = p->index.find_offset(b.header.base_offset);
  if (!i) return false;
  index::BatchEntry e = p->index.at(*i);
  return e.base_offset == b.header.base_offset && e.position == b.position;
}

bool is_compact(const TopicConfig& c) {
  return c.cleanup_policy == CleanupPolicy::compact || c.cleanup_policy == CleanupPolicy::compact_delete;
}

Result<std::string_view> batch_bytes(log::FileMap& map, const index::BatchEntry& e) {
  Result<std::string_view> v = map.view(e.position, e.position + e.bytes, e.bytes);
  if (!v.ok()) return v.status();
  if (v->size() != e.bytes) return Status(Code::corruption, "batch runs past the end of the file", e.position);
  // Not covered by the batch CRC: a copy of a batch the list does not
  // name would carry other offsets into the log.
  if (v->size() < 8 || load_be<int64_t>(v->data()) != e.base_offset) {
    return Status(Code::corruption,
                  fmt::format("record batch at position {} is not the one its partition's batch list records "
                              "there (offset {})",
                              e.position, e.base_offset),
                  e.position);
  }
  return v;
}

}  // namespace

std::optional<Cleaner::SegmentJob> Cleaner::pick_segment(const meta::Catalog& catalog, uint64_t head_pos,
                                                         const CleanerLimits& limits) const {
  const meta::SegmentTable& table = catalog.segments();
  const uint32_t head = table.index_of(head_pos);
  const double room = static_cast<double>(table.segment_size() - format::kSegmentHeaderSize);
  // A partition near its retention.bytes loses its oldest batches next:
  // copying them would be wasted (and rewrite much of what a bounded topic
  // holds). The segments holding those are left to retention.
  std::set<uint32_t> dying;
  for (uint32_t id = 1; id < catalog.next_topic_id(); ++id) {
    const meta::TopicState* t = catalog.by_id(id);
    if (!t || t->deleted || catalog.is_internal_id(id) || t->config.retention_bytes < 0 ||
        t->config.cleanup_policy == CleanupPolicy::compact) {
      continue;
    }
    for (const meta::PartitionState& p : t->partitions) {
      if (p.index.size() > 0 && p.bytes * 4 >= static_cast<uint64_t>(t->config.retention_bytes) * 3) {
        dying.insert(table.index_of(p.index.at(0).position));
      }
    }
  }
  std::optional<SegmentJob> best;
  for (uint32_t i = 0; i < table.size(); ++i) {
    const meta::SegmentState& s = table.at(i);
    if (i == head || s.use != meta::SegmentState::Use::in_use || s.live == 0 || s.seq >= limits.below_seq) continue;
    if (limits.spare_retention && dying.count(i)) continue;
    if (static_cast<double>(s.live) >= limits.max_live_fraction * room || walked_.count({i, s.seq})) continue;
    if (!best || s.live < table.at(best->index).live) {
      best = SegmentJob{i, s.seq, format::segment_start(i, table.segment_size()) + format::kSegmentHeaderSize};
    }
  }
  return best;
}

uint64_t Cleaner::dirty_bytes(const meta::Catalog& catalog, PartitionKey key) const {
  const meta::PartitionState& p = catalog.by_id(key.first)->partitions[key.second];
  auto it = clean_end_.find(key);
  int64_t from = std::max(p.first_offset, it == clean_end_.end() ? p.first_offset : it->second);
  // Visible batches that begin at or after it (a pass ends at a batch's
  // end unless its map filled up; it never reads past the visible end).
  uint64_t dirty = 0;
  auto c = p.index.cursor(p.index.find_offset(from).value_or(0));
  for (; c.valid() && c->base_offset < p.visible_end; c.next()) {
    if (c->base_offset >= from) dirty += c->bytes;
  }
  return dirty;
}

std::optional<Cleaner::PartitionKey> Cleaner::pick_partition(const meta::Catalog& catalog,
                                                             const CleanerLimits& limits) const {
  std::optional<PartitionKey> best;
  uint64_t best_dirty = 0;
  for (uint32_t id = 1; id < catalog.next_topic_id(); ++id) {
    const meta::TopicState* t = catalog.by_id(id);
    if (!t || t->deleted || catalog.is_internal_id(id) || !is_compact(t->config)) continue;
    for (uint32_t i = 0; i < t->partitions.size(); ++i) {
      if (limits.set_damage_aside && damaged_.count({id, i})) continue;
      uint64_t dirty = dirty_bytes(catalog, {id, i});
      double share = static_cast<double>(dirty) / static_cast<double>(std::max<uint64_t>(1, t->partitions[i].bytes));
      if (dirty < limits.min_dirty_bytes || share < limits.min_dirty_fraction || dirty <= best_dirty) continue;
      best = PartitionKey{id, i};
      best_dirty = dirty;
    }
  }
  return best;
}

Status Cleaner::start_partition(const meta::Catalog& catalog, log::FileMap& map, PartitionKey key, int64_t now_ms) {
  const meta::TopicState* t = catalog.by_id(key.first);
  const meta::PartitionState& p = t->partitions[key.second];
  RIVULET_TRY(p.index.load());
  auto it = clean_end_.find(key);
  int64_t from = std::max(p.first_offset, it == clean_end_.end() ? p.first_offset : it->second);
  std::vector<clean::BatchRef> batches;
  uint64_t records = 0;
  // Only what readers can see: under full a frame is written before its
  // sync ends, and a newer value nobody can see yet must not compact away
  // the one they can.
  for (auto c = p.index.cursor(p.index.find_offset(from).value_or(0)); c.valid() && c->base_offset < p.visible_end;
       c.next()) {
    Result<std::string_view> bytes = batch_bytes(map, *c);
    if (!bytes.ok()) return format::in_partition(bytes.status(), t->name, key.second);
    format::BatchHeader h;
    Status parsed = format::parse_batch_header(*bytes, c->position, &h);
    RIVULET_TRY(format::in_partition(parsed, t->name, key.second));
    records += static_cast<uint64_t>(std::max(0, h.records_count));
    batches.push_back({*bytes, c->position});
  }
  // A map for this pass's records (twice the slots, for short probes), up
  // to kOffsetMapBytes: clearing the largest map for a small pass would
  // cost more than the pass. A new map draws a new hash key; one reused
  // for a pass of the same size keeps its key (it never leaves the
  // process, so the collision bound of offset_map.hpp holds per pass).
  size_t capacity = static_cast<size_t>(std::min<uint64_t>(kOffsetMapBytes, std::max<uint64_t>(4096, records * 2 * clean::OffsetMap::kSlotBytes)));
  capacity -= capacity % clean::OffsetMap::kSlotBytes;  // whole slots, as memory_bytes() counts: else never reused
  if (!map_ || map_->memory_bytes() != capacity) {
    std::random_device rd;
    map_ = std::make_unique<clean::OffsetMap>(capacity, SipKey{(uint64_t{rd()} << 32) | rd(),
                                                              (uint64_t{rd()} << 32) | rd()});
  } else {
    map_->clear();
  }
  Result<int64_t> map_end = clean::map_batches(batches, from, map_.get());
  if (!map_end.ok()) return format::in_partition(map_end.status(), t->name, key.second);
  int64_t retention = t->config.delete_retention_ms;
  // From the start of the batch holding the earliest offset, which
  // delete_records may have put inside a batch: plan_partition skips a batch
  // that begins before the cursor as one already compacted.
  int64_t cursor = p.first_offset;
  if (std::optional<size_t> first = p.index.find_offset(p.first_offset)) {
    cursor = std::min(cursor, p.index.at(*first).base_offset);
  }
  partition_job_ = PartitionJob{key.first, key.second, cursor, *map_end,
                                retention < 0 ? INT64_MIN : now_ms - retention};
  return Status::OK();
}

Status Cleaner::plan_segment(const meta::Catalog& catalog, log::FileMap& map, uint64_t budget,
                             std::vector<Relocation>* out, uint64_t* read) {
  SegmentJob& job = *segment_job_;
  const meta::SegmentTable& table = catalog.segments();
  const meta::SegmentState& seg = table.at(job.index);
  if (seg.use != meta::SegmentState::Use::in_use || seg.seq != job.seq || seg.live == 0) {
    segment_job_.reset();
    return Status::OK();
  }
  const uint64_t end = format::segment_start(job.index + 1, table.segment_size());
  for (uint64_t looked = 0; looked < budget;) {
    Result<std::string_view> head = map.view(job.cursor, end, format::kFrameHeaderSize);
    if (!head.ok()) return head.status();
    format::ParsedFrame f;
    bool whole = head->size() >= format::kFrameHeaderSize && format::has_frame_magic(head->data());
    if (whole) {
      uint32_t length = format::peek_frame_header(head->data()).frame_length;
      Result<std::string_view> bytes = map.view(job.cursor, end, length);
      if (!bytes.ok()) return bytes.status();
      whole = format::parse_frame(*bytes, job.cursor, nullptr, &f, nullptr) && !f.segment_end();
    }
    if (!whole) {  // the segment's last frame is behind us
      if (walked_.size() > 4096) walked_.clear();
      walked_.insert({job.index, job.seq});
      step_walked_.push_back({job.index, job.seq});
      segment_job_.reset();
      return Status::OK();
    }
    // Copying costs a write; passing a dead batch only a look at its
    // header: the budget counts the one fully and the other a little.
    uint64_t cost = kFrameLookCost;
    for (const format::BatchRef& b : f.checkpoint() ? std::span<const format::BatchRef>() : f.batches) {
      Result<bool> live = is_live(catalog, b);
      if (!live.ok()) return live.status();
      if (!*live) continue;
      out->push_back({b.topic_id, b.partition, std::string(b.bytes)});
      cost += b.bytes.size();
    }
    looked += cost;
    *read += cost;
    job.cursor += format::align8(f.header.frame_length);
  }
  return Status::OK();
}

Status Cleaner::plan_partition(const meta::Catalog& catalog, log::FileMap& map, uint64_t budget,
                               std::vector<Relocation>* out, uint64_t* read) {
  PartitionJob& job = *partition_job_;
  const meta::PartitionState* p = live_partition(catalog, job.topic_id, job.partition);
  if (!p) {
    partition_job_.reset();
    return Status::OK();
  }
  RIVULET_TRY(p->index.load());
  uint64_t looked = 0;
  // The first batch at or after the cursor: the batch there may be gone
  // since the last step (another handle's compaction emptied it,
  // delete_records or retention dropped it).
  auto c = p->index.cursor(p->index.find_offset(job.cursor).value_or(0));
  while (c.valid() && c->base_offset < job.cursor) c.next();
  for (; c.valid() && c->base_offset < job.map_end && looked < budget; c.next()) {
    const index::BatchEntry e = *c;
    const std::string& topic = catalog.by_id(job.topic_id)->name;
    Result<std::string_view> bytes = batch_bytes(map, e);
    if (!bytes.ok()) return format::in_partition(bytes.status(), topic, job.partition);
    std::string kept;
    Result<clean::Compacted> r = clean::compact_batch(*bytes, e.position, *map_, job.map_end, job.cutoff_ms, &kept);
    if (!r.ok()) return format::in_partition(r.status(), topic, job.partition);
    if (*r == clean::Compacted::empty) {
      kept.assign(bytes->substr(0, format::kBatchHeaderSize));
      format::reseal_batch(&kept, 0);
    }
    if (*r != clean::Compacted::unchanged) out->push_back({job.topic_id, job.partition, std::move(kept)});
    looked += e.bytes;
    *read += e.bytes;
  }
  // Done when no batch the map covers is left to compact.
  if (!c.valid() || c->base_offset >= job.map_end) {
    const PartitionKey key{job.topic_id, job.partition};
    auto it = clean_end_.find(key);
    step_clean_ends_.push_back({key, it == clean_end_.end() ? std::nullopt : std::optional(it->second)});
    clean_end_[key] = job.map_end;
    partition_job_.reset();
  } else {
    job.cursor = c->base_offset;
  }
  return Status::OK();
}

Status Cleaner::plan(const meta::Catalog& catalog, log::FileMap& map, uint64_t head_pos, const CleanerLimits& limits,
                     uint64_t budget, int64_t now_ms, std::vector<Relocation>* out, uint64_t* read) {
  out->clear();
  step_walked_.clear();
  step_clean_ends_.clear();
  // Job after job until the budget is spent (a segment may take little of
  // it: its dead frames cost only a look).
  const uint64_t start = *read;
  auto damage = [&](const Status& st) { return st.code() == Code::corruption && limits.set_damage_aside; };
  for (int jobs = 0; jobs < 64 && *read - start < budget; ++jobs) {
    if (!segment_job_ && !partition_job_) {
      if (std::optional<PartitionKey> key = pick_partition(catalog, limits)) {
        if (Status st = start_partition(catalog, map, *key, now_ms); !st.ok()) {
          if (!damage(st)) return st;
          damaged_.insert(*key);
          partition_job_.reset();
          continue;
        }
      } else {
        segment_job_ = pick_segment(catalog, head_pos, limits);
      }
    }
    uint64_t left = budget - (*read - start);
    if (partition_job_) {
      // Alone in its step: a segment job after it would plan copies of the
      // batches it compacts, which applied after them would undo it (and
      // could bring back records of a tombstone it dropped).
      if (!out->empty()) break;
      const PartitionKey key{partition_job_->topic_id, partition_job_->partition};
      if (Status st = plan_partition(catalog, map, left, out, read); !st.ok()) {
        if (!damage(st)) return st;
        damaged_.insert(key);  // and no more of this pass's batches is written
        partition_job_.reset();
        out->clear();
      }
      // A pass that ended with nothing to write leaves the rest of the
      // budget to the next job (under vacuum a step that reads nothing is
      // the last).
      if (partition_job_ || !out->empty()) break;
    } else if (segment_job_) {
      const size_t before = out->size();
      if (Status st = plan_segment(catalog, map, left, out, read); !st.ok()) {
        if (!damage(st)) return st;
        walked_.insert({segment_job_->index, segment_job_->seq});  // not picked again in this use
        segment_job_.reset();
        out->resize(before);  // the copies of segments walked before it still go
        break;
      }
    } else {
      break;  // nothing (more) to clean
    }
  }
  return Status::OK();
}

void Cleaner::step_done(bool written) {
  if (!written) {
    for (const auto& w : step_walked_) walked_.erase(w);
    for (auto it = step_clean_ends_.rbegin(); it != step_clean_ends_.rend(); ++it) {
      if (it->second) {
        clean_end_[it->first] = *it->second;
      } else {
        clean_end_.erase(it->first);
      }
    }
    // Start over: the next segment job walks its segment from the start,
    // the next pass maps again (the offset map may be another pass's now).
    segment_job_.reset();
    partition_job_.reset();
  }
  step_walked_.clear();
  step_clean_ends_.clear();
}

void Cleaner::forget_passes() {
  clean_end_.clear();
  partition_job_.reset();
}

uint64_t Cleaner::pending_bytes(const meta::Catalog& catalog, uint64_t head_pos, const CleanerLimits& limits) const {
  uint64_t total = 0;
  const meta::SegmentTable& table = catalog.segments();
  const uint32_t head = table.index_of(head_pos);
  const double room = static_cast<double>(table.segment_size() - format::kSegmentHeaderSize);
  for (uint32_t i = 0; i < table.size(); ++i) {
    const meta::SegmentState& s = table.at(i);
    if (i == head || s.use != meta::SegmentState::Use::in_use || s.seq >= limits.below_seq) continue;
    if (static_cast<double>(s.live) < limits.max_live_fraction * room) total += s.live;
  }
  for (uint32_t id = 1; id < catalog.next_topic_id(); ++id) {
    const meta::TopicState* t = catalog.by_id(id);
    if (!t || t->deleted || catalog.is_internal_id(id) || !is_compact(t->config)) continue;
    for (uint32_t i = 0; i < t->partitions.size(); ++i) total += t->partitions[i].bytes;
  }
  return total;
}

}  // namespace rivulet::db
