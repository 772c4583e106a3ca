// What each segment of the file holds, as far as reclaiming space needs to
// know: the segment_seq of its current use, and how many bytes of user
// record batches in it are live (still at or after their partition's
// earliest offset, in a topic not deleted) or dead. Replayed from the log
// like the rest of the catalog, so every handle agrees on which segments
// are free. Internal batches (metadata, committed offsets, checkpoints)
// never count as live: a checkpoint restates them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rivulet::meta {

struct SegmentState {
  enum class Use : uint8_t { unused, in_use, free };
  Use use = Use::unused;
  uint64_t seq = 0;   // segment_seq of its current (or last) use
  uint64_t live = 0;  // bytes of live user batches
  uint64_t dead = 0;  // bytes of user batches retention or deletion dropped
  // Which partitions the dead bytes belonged to, so their dead-byte counts
  // drop when the segment is freed.
  struct DeadShare {
    uint32_t topic_id;
    uint32_t partition;
    uint64_t bytes;
  };
  std::vector<DeadShare> dead_shares;
};

class SegmentTable {
 public:
  void set_segment_size(uint32_t size) { segment_size_ = size; }
  uint32_t segment_size() const { return segment_size_; }

  // The chain entered segment `index` as its `seq`-th segment.
  void enter(uint32_t index, uint64_t seq);
  void add_live(uint64_t position, uint64_t bytes);
  // kill and move_out return false, changing nothing, when `position` is
  // not in a segment of the table: a batch list from a damaged checkpoint.
  [[nodiscard]] bool kill(uint64_t position, uint64_t bytes, uint32_t topic_id, uint32_t partition);
  // The batch at `position` was copied elsewhere by cleaning: dead here, but
  // no partition lost anything.
  [[nodiscard]] bool move_out(uint64_t position, uint64_t bytes);

  // Marks free every segment in use with nothing live whose seq is below
  // `before_seq` (the segment holding the newest checkpoint), and returns
  // their dead shares, which the caller takes off its partitions.
  std::vector<SegmentState::DeadShare> free_dead_before(uint64_t before_seq);

  size_t size() const { return segments_.size(); }
  const SegmentState& at(size_t index) const { return segments_[index]; }
  SegmentState& at(size_t index) { return segments_[index]; }
  uint32_t index_of(uint64_t position) const;
  // segment_seq of the segment holding `position`.
  uint64_t seq_of(uint64_t position) const;
  // For decoding a checkpoint.
  void restore(std::vector<SegmentState> segments) { segments_ = std::move(segments); }

 private:
  SegmentState& grow_to(uint32_t index);
  // The entry of the segment holding `position` if the table has one.
  SegmentState* find(uint64_t position);

  uint32_t segment_size_ = 0;
  std::vector<SegmentState> segments_;
};

}  // namespace rivulet::meta
