// The sparse index of one partition: one entry per record batch (never per
// record), from offset to the batch's position in the file and from time to
// offset. Memory grows with batches; finding an offset is a binary search
// that never walks other partitions' frames.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace rivulet::index {

struct BatchEntry {
  int64_t base_offset = 0;
  // Highest timestamp of this batch and every batch before it: monotonic,
  // so "first record with timestamp >= T" is a binary search.
  int64_t max_timestamp_so_far = 0;
  uint64_t position = 0;  // of the batch in the file
  uint32_t bytes = 0;     // the batch's size
};

class PartitionIndex {
 public:
  void add(int64_t base_offset, int64_t max_timestamp, uint64_t position, uint32_t bytes);
  // Forgets the leading batches whose every offset is below `offset` (the
  // partition's new earliest offset; `next_offset` ends the last batch) and
  // returns their bytes.
  // `dropped`, if given, sees each forgotten entry.
  uint64_t drop_before(int64_t offset, int64_t next_offset,
                       const std::function<void(const BatchEntry&)>& dropped = {});
  // Replaces every entry (decoding a checkpoint).
  void restore(std::vector<BatchEntry> entries) { entries_ = std::move(entries); }
  size_t size() const { return entries_.size(); }
  const BatchEntry& at(size_t i) const { return entries_[i]; }
  BatchEntry& at(size_t i) { return entries_[i]; }
  // Forgets entry i (a batch compaction emptied); the running maximum
  // timestamps of later entries stay as they are, which is still right
  // for finding times (they only ever overstate nothing new).
  void erase(size_t i) { entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i)); }

  // The batch that holds `offset`: the last entry with base_offset <= offset.
  std::optional<size_t> find_offset(int64_t offset) const;
  // The first batch holding a record with timestamp >= ms.
  std::optional<size_t> find_time(int64_t ms) const;

  size_t memory_bytes() const { return entries_.capacity() * sizeof(BatchEntry); }

 private:
  std::vector<BatchEntry> entries_;
};

}  // namespace rivulet::index
