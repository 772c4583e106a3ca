// The sparse index of one partition: one entry per record batch (never per
// record), from offset to the batch's position in the file and from time to
// offset. Memory grows with batches (about 8 bytes each: entry_blocks.hpp);
// finding an offset is a binary search that never walks other partitions'
// frames.
#pragma once

#include <cstdint>
#include <functional>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "index/entry_blocks.hpp"
#include "rivulet/status.hpp"

namespace rivulet::index {

// Thread-safety: const members may run at once in several threads (readers
// under a shared lock); the others need the index to themselves.
class PartitionIndex {
 public:
  // Entries still encoded as a checkpoint holds them (index/batch_list.hpp),
  // decoded on first use: opening a file then costs nothing per batch, and
  // partitions nobody reads are never decoded. Batches replayed after the
  // checkpoint are added without decoding them. `owner` keeps `list` alive;
  // `position` (the checkpoint's), topic and partition are named if the
  // list turns out damaged.
  struct Encoded {
    std::shared_ptr<const void> owner;
    std::string_view list;
    size_t count = 0;
    int64_t next_offset = 0;  // every entry's base offset is below it
    uint64_t position = 0;
    // Whose list it is, for errors: the topic's name (a view of the
    // TopicState's, which outlives its partitions' indexes) and partition.
    std::string_view topic;
    uint32_t partition = 0;
  };

  // Replaces every entry with the encoded ones.
  void restore(Encoded encoded);
  // Decodes the entries if they are still encoded. Corruption if they do
  // not decode; the index then stays empty, and callers that must not act
  // on a wrong index (readers, the writer, `check`) ask this first.
  Status load() const;
  // If the entries are still exactly what a checkpoint encoded (not decoded,
  // or failed to decode; nothing added), sets *list to that encoding and
  // *count to their number: a new checkpoint copies it as it is, so a
  // writer decodes only the partitions it touches, and damage stays what
  // it was.
  bool copy_encoded(std::string* list, size_t* count) const;

  void add(int64_t base_offset, int64_t max_timestamp, uint64_t position, uint32_t bytes);
  // Forgets the leading batches whose every offset is below `offset` (the
  // partition's new earliest offset; `next_offset` ends the last batch) and
  // returns their bytes.
  // `dropped`, if given, sees each forgotten entry.
  uint64_t drop_before(int64_t offset, int64_t next_offset,
                       const std::function<void(const BatchEntry&)>& dropped = {});
  size_t size() const { return entries().size(); }
  // Reading one entry decodes at most one block; to walk many, cursor().
  BatchEntry at(size_t i) const { return entries().at(i); }
  EntryBlocks::Cursor cursor(size_t i) const { return entries().cursor(i); }
  // Replaces entry i (a batch cleaning moved).
  void set(size_t i, const BatchEntry& e) { mutable_entries().set(i, e); }
  const EntryBlocks& entries() const {
    if (lazy_) (void)load();
    return entries_;
  }
  // Forgets entry i (a batch compaction emptied). The running maximum
  // timestamps of later entries stay as they are: with timestamps out of
  // order they may now overstate, so find_time() can point at a batch
  // before the answer, never after it; the reader's search by time scans
  // on from there (ReaderImpl::offset_for_time).
  void erase(size_t i) { mutable_entries().erase(i); }

  // The batch that holds `offset`: the last entry with base_offset <= offset.
  std::optional<size_t> find_offset(int64_t offset) const;
  // The first batch whose running maximum reaches ms: the one holding the
  // first record with timestamp >= ms, or (after compaction) one before it.
  std::optional<size_t> find_time(int64_t ms) const;

  // The bytes the entries take.
  size_t memory_bytes() const { return entries_.memory_bytes(); }

 private:
  struct Lazy {
    std::mutex mu;  // decoding happens once, under it
    std::atomic<bool> decoded{false};
    Encoded encoded;  // its owner is released once decoded (kept if damaged)
    Status status;
    bool lost_added = false;  // damaged, and batches added before decoding were dropped
  };
  // With the index to itself, a decoded index can let go of its Lazy (a
  // failed one keeps it, to go on saying why).
  EntryBlocks& mutable_entries() {
    if (lazy_ && load().ok()) lazy_.reset();
    return entries_;
  }

  // While lazy_ is not decoded: the entries added since (their running
  // maximum timestamps counting only each other). Decoding, under
  // lazy_->mu by whichever const caller comes first, puts the encoded
  // ones before them.
  mutable EntryBlocks entries_;
  std::unique_ptr<Lazy> lazy_;  // null when nothing is left to decode
};

}  // namespace rivulet::index
