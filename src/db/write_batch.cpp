// WriteBatch: partition choice and encoding at add() time.
#include <fmt/format.h>

#include "db/db_impl.hpp"
#include "db/write_batch_rep.hpp"
#include "group/group_name.hpp"
#include "util/clock.hpp"
#include "util/murmur2.hpp"
#include "util/utf8.hpp"

namespace rivulet {

static uint64_t part_key(uint32_t topic_id, int32_t partition) {
  return uint64_t{topic_id} << 32 | static_cast<uint32_t>(partition);
}

WriteBatch::Rep::Part* WriteBatch::Rep::find_other_part(uint32_t topic_id, int32_t partition) {
  if (parts.size() < kIndexedParts) {
    for (uint32_t i = 0; i < parts.size(); ++i) {
      if (parts[i].topic_id == topic_id && parts[i].partition == partition) {
        last_part = i;
        return &parts[i];
      }
    }
    return nullptr;
  }
  auto it = part_of.find(part_key(topic_id, partition));
  if (it == part_of.end()) return nullptr;
  last_part = it->second;
  return &parts[last_part];
}

Status WriteBatch::Rep::check_new_part() const {
  if (parts.size() < kMaxParts) return Status::OK();
  return {Code::too_large, fmt::format("{}: a commit may hold records for at most {} partitions; commit this batch "
                                       "first",
                                       db->path(), kMaxParts)};
}

uint64_t WriteBatch::Rep::room() const {
  const uint64_t max = db->max_frame_bytes();
  return frame_bytes < max ? max - frame_bytes : 0;
}

Status WriteBatch::Rep::no_room(size_t size) const {
  const uint64_t max = db->max_frame_bytes();
  // Alone in a commit (its frame header, partition and batch header).
  if (format::kFrameHeaderSize + format::kSummaryEntrySize + format::kBatchHeaderSize + size > max) {
    return {Code::too_large, fmt::format("{}: record of {} bytes is larger than a commit can hold (a segment: {} "
                                         "bytes at most)",
                                         db->path(), size, max)};
  }
  return {Code::too_large, fmt::format("{}: record of {} bytes does not fit in this batch of {} bytes: a commit "
                                       "fits in a segment ({} bytes at most); commit the batch first",
                                       db->path(), size, frame_bytes, max)};
}

WriteBatch::Rep::Part& WriteBatch::Rep::add_part(uint32_t topic_id, int32_t partition, bool log_append_time) {
  frame_bytes += format::kSummaryEntrySize + format::kBatchHeaderSize;
  last_part = static_cast<uint32_t>(parts.size());
  if (parts.size() + 1 == kIndexedParts) {
    for (uint32_t i = 0; i < parts.size(); ++i) part_of.emplace(part_key(parts[i].topic_id, parts[i].partition), i);
  }
  if (parts.size() + 1 >= kIndexedParts) part_of.emplace(part_key(topic_id, partition), last_part);
  // A spare builder is moved in, not assigned over a new one: a new one
  // allocates its buffer.
  if (spare.empty()) {
    parts.push_back(Part{topic_id, partition, log_append_time, format::BatchBuilder(), -1});
  } else {
    parts.push_back(Part{topic_id, partition, log_append_time, std::move(spare.back()), -1});
    spare.pop_back();
  }
  return parts.back();
}

void WriteBatch::Rep::recycle(Part& p) {
  p.builder.reset();
  spare.push_back(std::move(p.builder));
}

void WriteBatch::Rep::drop_last_part() {
  Part& p = parts.back();
  frame_bytes -= format::kSummaryEntrySize + format::kBatchHeaderSize;
  part_of.erase(part_key(p.topic_id, p.partition));
  recycle(p);
  parts.pop_back();
  last_part = 0;
}

WriteBatch::WriteBatch(Db& db) : rep_(std::make_unique<Rep>()) { rep_->db = db.impl_.get(); }
WriteBatch::WriteBatch(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

// A moved-from batch has no Rep: it is empty, and add() refuses.
static Status moved_from() { return {Code::invalid_argument, "this batch was moved from"}; }

size_t WriteBatch::size() const { return rep_ ? rep_->slots.size() : 0; }

void WriteBatch::clear() {
  if (!rep_) return;
  for (Rep::Part& p : rep_->parts) rep_->recycle(p);
  rep_->parts.clear();
  rep_->part_of.clear();
  rep_->slots.clear();
  rep_->last_part = 0;
  rep_->frame_bytes = format::kFrameHeaderSize;
  rep_->committed = false;
}

Status WriteBatch::Rep::add_offset_record(const format::OffsetKey& key,
                                          const std::optional<format::OffsetValue>& value) {
  if (committed) return {Code::invalid_argument, "this batch was already committed; clear() it first"};
  if (offsets_topic_id == 0) RIVULET_TRY(db->resolve_offsets_topic(&offsets_topic_id));
  Part* part = find_part(offsets_topic_id, 0);
  const bool new_part = part == nullptr;
  if (new_part) {
    RIVULET_TRY(check_new_part());
    part = &add_part(offsets_topic_id, 0, false);
  }
  std::string k = format::encode_offset_key(key);
  std::optional<std::string> v;
  if (value) v = format::encode_offset_value(*value);
  Bytes vb = v ? Bytes(*v) : Bytes();
  size_t size = 0;
  if (!part->builder.add(Bytes(k), vb, {}, now_ms(), room(), &size)) {
    if (new_part) drop_last_part();  // a failed add leaves the batch as it was
    return no_room(size);
  }
  frame_bytes += size;
  return Status::OK();
}

Status WriteBatch::add_offset(std::string_view group, const OffsetCommit& offset) {
  if (!rep_) return moved_from();
  RIVULET_TRY(rep_->db->fork_error());
  return rep_->add_offset(group, offset);
}

Status WriteBatch::Rep::add_offset(std::string_view group, const OffsetCommit& offset) {
  Rep& r = *this;
  RIVULET_TRY(with_path(r.db->path(), group::check_group_name(group)));
  if (!is_valid_utf8(offset.metadata)) {
    return {Code::invalid_argument, fmt::format("offset metadata for group '{}' is not valid UTF-8", group)};
  }
  if (offset.offset < 0) {
    return {Code::invalid_argument, fmt::format("offset {} for group '{}' is negative", offset.offset, group)};
  }
  Rep::CachedTopic t;
  RIVULET_TRY(r.db->resolve_topic(offset.topic, &t, /*create=*/false));
  if (offset.partition < 0 || offset.partition >= t.partitions) {
    return {Code::out_of_range, fmt::format("{}: topic '{}' has no partition {} (it has {})", r.db->path(), t.name,
                                            offset.partition, t.partitions)};
  }
  return r.add_offset_record({std::string(group), offset.topic, offset.partition},
                             format::OffsetValue{offset.offset, offset.metadata});
}

Status WriteBatch::add(const ProducerRecord& record) {
  if (!rep_) [[unlikely]] return moved_from();
  Rep& r = *rep_;
  // The topic lookup below may answer from the inherited catalog.
  RIVULET_TRY(r.db->fork_error());
  if (r.committed) return {Code::invalid_argument, "this batch was already committed; clear() it first"};
  if (!r.cached.current(record.topic)) {
    RIVULET_TRY(r.db->resolve_topic(record.topic, &r.cached));
  }
  const Rep::CachedTopic& t = r.cached;
  int32_t partition;
  if (record.partition) {
    partition = *record.partition;
    if (partition < 0 || partition >= t.partitions) {
      return {Code::out_of_range, fmt::format("{}: topic '{}' has no partition {} (it has {})", r.db->path(),
                                              t.name, partition, t.partitions)};
    }
  } else if (record.key) {
    partition = kafka_partition_for_key(*record.key, t.partitions);
  } else {
    partition = static_cast<int32_t>(t.round_robin->fetch_add(1, std::memory_order_relaxed) %
                                     static_cast<uint32_t>(t.partitions));
  }
  // The producer's time even for a LogAppendTime topic: the commit decides
  // by the topic's config then, which another handle may have changed.
  // Not value_or(now_ms()): that would read the clock for every record.
  int64_t ts = record.timestamp_ms ? *record.timestamp_ms : now_ms();

  Rep::Part* part = r.find_part(t.id, partition);
  bool new_part = part == nullptr;
  if (new_part) {
    RIVULET_TRY(r.check_new_part());
    part = &r.add_part(t.id, partition, t.config.timestamp_type == TimestampType::log_append_time);
  }
  uint32_t index = part->builder.count();
  size_t size = 0;
  // A commit is one frame in one segment: a record that would not fit is
  // refused here, where the batch stays usable, not by commit().
  if (!part->builder.add(record.key, record.value, record.headers, ts,
                         std::min<uint64_t>(t.config.max_message_bytes, r.room()), &size)) {
    if (new_part) r.drop_last_part();  // a failed add leaves the batch as it was
    if (size <= t.config.max_message_bytes) return r.no_room(size);
    return {Code::too_large, fmt::format("{}: record of {} bytes is larger than max_message_bytes ({}) of topic '{}'",
                                         r.db->path(), size, t.config.max_message_bytes, t.name)};
  }
  r.frame_bytes += size;
  r.slots.push_back({r.last_part, index, ts});
  return Status::OK();
}

Appended WriteBatch::appended(size_t i) const {
  if (!rep_ || i >= rep_->slots.size()) return {-1, -1, -1};
  const Rep::Slot& s = rep_->slots[i];
  const Rep::Part& p = rep_->parts[s.part];
  return {p.partition, p.base_offset + s.index, p.log_append_time ? rep_->append_time : s.timestamp};
}

}  // namespace rivulet
