// Per-segment live and dead bytes.
#include "meta/segment_table.hpp"

#include <algorithm>

#include "format/file_layout.hpp"

namespace rivulet::meta {

SegmentState& SegmentTable::grow_to(uint32_t index) {
  if (index >= segments_.size()) segments_.resize(size_t{index} + 1);
  return segments_[index];
}

uint32_t SegmentTable::index_of(uint64_t position) const {
  // A catalog outside a file (unit tests, fuzzing) counts all as segment 0.
  if (segment_size_ == 0 || position < format::kFirstSegmentPos) return 0;
  return static_cast<uint32_t>(format::segment_index(position, segment_size_));
}

uint64_t SegmentTable::seq_of(uint64_t position) const {
  uint32_t i = index_of(position);
  return i < segments_.size() ? segments_[i].seq : 0;
}

void SegmentTable::enter(uint32_t index, uint64_t seq) {
  SegmentState& s = grow_to(index);
  // A reused segment was free: nothing of its last use is left in it.
  s = SegmentState{};
  s.use = SegmentState::Use::in_use;
  s.seq = seq;
}

void SegmentTable::add_live(uint64_t position, uint64_t bytes) { grow_to(index_of(position)).live += bytes; }

SegmentState* SegmentTable::find(uint64_t position) {
  // Outside a file every batch counts in segment 0, as in add_live.
  if (segment_size_ == 0) return &grow_to(0);
  if (position < format::kFirstSegmentPos) return nullptr;
  uint64_t index = format::segment_index(position, segment_size_);
  return index < segments_.size() ? &segments_[index] : nullptr;
}

bool SegmentTable::kill(uint64_t position, uint64_t bytes, uint32_t topic_id, uint32_t partition) {
  SegmentState* found = find(position);
  if (!found) return false;
  SegmentState& s = *found;
  s.live -= std::min(s.live, bytes);
  s.dead += bytes;
  // One share per partition: a segment holds batches of few partitions.
  for (SegmentState::DeadShare& d : s.dead_shares) {
    if (d.topic_id == topic_id && d.partition == partition) {
      d.bytes += bytes;
      return true;
    }
  }
  s.dead_shares.push_back({topic_id, partition, bytes});
  return true;
}

bool SegmentTable::move_out(uint64_t position, uint64_t bytes) {
  SegmentState* s = find(position);
  if (!s) return false;
  s->live -= std::min(s->live, bytes);
  s->dead += bytes;
  return true;
}

std::vector<SegmentState::DeadShare> SegmentTable::free_dead_before(uint64_t before_seq) {
  std::vector<SegmentState::DeadShare> shares;
  for (SegmentState& s : segments_) {
    if (s.use != SegmentState::Use::in_use || s.live != 0 || s.seq >= before_seq) continue;
    s.use = SegmentState::Use::free;
    shares.insert(shares.end(), s.dead_shares.begin(), s.dead_shares.end());
    s.dead_shares.clear();
    s.dead = 0;
  }
  return shares;
}

}  // namespace rivulet::meta
