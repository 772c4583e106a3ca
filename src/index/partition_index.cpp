// Sparse per-partition index.
#include "index/partition_index.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "index/batch_list.hpp"

namespace rivulet::index {

void PartitionIndex::restore(Encoded encoded) {
  entries_.clear();
  lazy_ = std::make_unique<Lazy>();
  lazy_->encoded = std::move(encoded);
}

Status PartitionIndex::load() const {
  if (!lazy_) return Status::OK();
  if (lazy_->decoded.load(std::memory_order_acquire)) return lazy_->status;
  std::lock_guard lock(lazy_->mu);
  if (!lazy_->decoded.load(std::memory_order_relaxed)) {
    Encoded& e = lazy_->encoded;
    EntryBlocks all;
    const char* why = "";
    const char* end = e.list.data() + e.list.size();
    const char* stop = decode_batch_list(e.list.data(), end, e.count, e.next_offset, &all, &why);
    if (stop == end) {
      int64_t before = all.empty() ? INT64_MIN : all.back().max_timestamp_so_far;
      for (EntryBlocks::Cursor c = entries_.cursor(0); c.valid(); c.next()) {
        BatchEntry added = *c;
        added.max_timestamp_so_far = std::max(before, added.max_timestamp_so_far);
        all.push_back(added);
      }
      entries_ = std::move(all);
    } else {
      if (stop) why = "bytes after a partition's batch entries";
      lazy_->lost_added = !entries_.empty();
      entries_.clear();
      lazy_->status = {Code::corruption,
                       fmt::format("checkpoint at position {} is damaged: the batch list of topic '{}' "
                                   "partition {}: {}",
                                   e.position, e.topic, e.partition, why),
                       e.position};
    }
    if (lazy_->status.ok()) e = Encoded();  // a damaged one is kept for copy_encoded
    lazy_->decoded.store(true, std::memory_order_release);
  }
  return lazy_->status;
}

bool PartitionIndex::copy_encoded(std::string* list, size_t* count) const {
  if (!lazy_) return false;
  if (lazy_->decoded.load(std::memory_order_acquire) && lazy_->status.ok()) return false;
  std::lock_guard lock(lazy_->mu);
  // Entries are only added with the index to oneself, so none can come now.
  // A list that failed to decode is carried on as it was, damage and all:
  // failing instead would fail every checkpoint, and with them the commits
  // to every partition, for as long as the file is open. Not if batches
  // added after it were lost with it: the old checkpoint and the log after
  // it still hold those.
  const bool damaged = lazy_->decoded.load(std::memory_order_relaxed);
  if ((damaged && lazy_->lost_added) || !entries_.empty()) return false;
  list->assign(lazy_->encoded.list);
  *count = lazy_->encoded.count;
  return true;
}

void PartitionIndex::add(int64_t base_offset, int64_t max_timestamp, uint64_t position, uint32_t bytes) {
  // Still encoded: goes after what decoding will give (see entries_).
  if (!lazy_ || lazy_->decoded.load(std::memory_order_relaxed)) mutable_entries();
  int64_t so_far = entries_.empty() ? max_timestamp : std::max(entries_.back().max_timestamp_so_far, max_timestamp);
  entries_.push_back({base_offset, so_far, position, bytes, true});
}

uint64_t PartitionIndex::drop_before(int64_t offset, int64_t next_offset,
                                     const std::function<void(const BatchEntry&)>& dropped) {
  mutable_entries();
  size_t n = 0;
  uint64_t bytes = 0;
  for (EntryBlocks::Cursor c = entries_.cursor(0); c.valid(); ++n) {
    const BatchEntry e = *c;
    c.next();
    int64_t end = c.valid() ? c->base_offset : next_offset;
    if (end > offset) break;  // batch n still holds offset `offset` or later
    bytes += e.bytes;
    if (dropped) dropped(e);
  }
  entries_.pop_front(n);
  return bytes;
}

std::optional<size_t> PartitionIndex::find_offset(int64_t offset) const {
  entries();
  // A reader following the tail asks for the last batch: no search.
  if (!entries_.empty() && offset >= entries_.back().base_offset) return entries_.size() - 1;
  size_t after = entries_.partition_point([offset](const BatchEntry& e) { return e.base_offset <= offset; });
  if (after == 0) return std::nullopt;
  return after - 1;
}

std::optional<size_t> PartitionIndex::find_time(int64_t ms) const {
  entries();
  size_t i = entries_.partition_point([ms](const BatchEntry& e) { return e.max_timestamp_so_far < ms; });
  if (i == entries_.size()) return std::nullopt;
  return i;
}

}  // namespace rivulet::index
