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
    BatchEntries all;
    const char* why = "";
    const char* end = e.list.data() + e.list.size();
    const char* stop = decode_batch_list(e.list.data(), end, e.count, e.next_offset, &all, &why);
    if (stop == end) {
      int64_t before = all.empty() ? INT64_MIN : all.back().max_timestamp_so_far;
      for (BatchEntry added : entries_) {
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
  while (n < entries_.size()) {
    int64_t end = n + 1 < entries_.size() ? entries_[n + 1].base_offset : next_offset;
    if (end > offset) break;  // batch n still holds offset `offset` or later
    bytes += entries_[n].bytes;
    if (dropped) dropped(entries_[n]);
    ++n;
  }
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(n));
  return bytes;
}

std::optional<size_t> PartitionIndex::find_offset(int64_t offset) const {
  entries();
  // A reader following the tail asks for the last batch: no search.
  if (!entries_.empty() && offset >= entries_.back().base_offset) return entries_.size() - 1;
  auto it = std::upper_bound(entries_.begin(), entries_.end(), offset,
                             [](int64_t o, const BatchEntry& e) { return o < e.base_offset; });
  if (it == entries_.begin()) return std::nullopt;
  return static_cast<size_t>(it - entries_.begin() - 1);
}

std::optional<size_t> PartitionIndex::find_time(int64_t ms) const {
  entries();
  auto it = std::lower_bound(entries_.begin(), entries_.end(), ms,
                             [](const BatchEntry& e, int64_t t) { return e.max_timestamp_so_far < t; });
  if (it == entries_.end()) return std::nullopt;
  return static_cast<size_t>(it - entries_.begin());
}

}  // namespace rivulet::index
