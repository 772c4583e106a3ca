// A partition's batch entries, kept compact: whole blocks of entries are
// stored encoded (varint differences, as a checkpoint's batch list), only
// the newest few decoded. One-record commits make one batch each, and every
// handle indexes every partition it replays: 32 bytes a batch decoded was
// most of a long-lived process's memory; encoded it is about 8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace rivulet::index {

struct BatchEntry {
  int64_t base_offset = 0;
  // Highest timestamp of this batch and every batch before it: monotonic,
  // so "first record with timestamp >= T" is a binary search.
  int64_t max_timestamp_so_far = 0;
  uint64_t position = 0;  // of the batch in the file
  uint32_t bytes = 0;     // the batch's size
  // Whether this handle checked the batch's CRC as it took it in (replay
  // checks every batch; a writer's own were checksummed from its memory).
  // Batches decoded from a checkpoint's list were not: readers check those.
  bool checked = false;
};

// Entries numbered 0 .. size() - 1 in the order added. Reading an entry
// decodes at most one block; walking them in order is a Cursor.
// Thread-safety: const members may run at once in several threads.
class EntryBlocks {
 public:
  static constexpr uint32_t kBlockEntries = 64;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void push_back(const BatchEntry& e);
  // Appends kBlockEntries entries, none of them checked, given as a list
  // encodes them: `bytes`, differences from `base`, which must be the last
  // entry so far (a zero entry if none); first and last decoded. Only when
  // every entry so far is in a full block. Copies the bytes: taking in a
  // checkpoint's list costs a decode, not a decode and an encode.
  void push_block(std::string_view bytes, const BatchEntry& base, const BatchEntry& first, const BatchEntry& last);
  BatchEntry at(size_t i) const;
  BatchEntry back() const { return tail_.empty() ? blocks_.back().last : tail_.back(); }
  void set(size_t i, const BatchEntry& e);
  void erase(size_t i);
  void pop_front(size_t n);
  void clear();
  // Bytes held (encoded blocks, their bookkeeping and the decoded tail).
  size_t memory_bytes() const;
  // Appends the entries as a checkpoint's batch list (batch_list.hpp):
  // mostly the blocks' bytes as they are.
  void encode_list(std::string* out) const;
  // The bytes encode_list appends.
  size_t encoded_list_size() const;

  // The first entry for which `pred` is false, where it is true for a
  // prefix of the entries and false after (size() if true for all).
  template <class Pred>
  size_t partition_point(Pred pred) const;

  // Walks entries from one on, decoding as it goes.
  class Cursor {
   public:
    bool valid() const { return at_ < owner_->size_; }
    size_t index() const { return at_; }
    const BatchEntry& operator*() const { return entry_; }
    const BatchEntry* operator->() const { return &entry_; }
    void next();

   private:
    friend class EntryBlocks;
    explicit Cursor(const EntryBlocks* owner) : owner_(owner) {}
    void load();  // entry_ for at_, from the start of its block

    const EntryBlocks* owner_;
    size_t at_ = 0;
    size_t block_ = 0;  // blocks_.size(): in the tail
    uint32_t in_block_ = 0;
    const char* p_ = nullptr;  // the next entry's bytes in the block
    BatchEntry entry_;
  };
  Cursor cursor(size_t i) const;

 private:
  // A block's entries are encoded as differences from the entry before
  // them: `base`, which is the previous block's last entry (any entry for
  // the first block), so that the blocks' bytes in a row are the list.
  struct Block {
    std::string bytes;
    BatchEntry base, first, last;
    size_t start = 0;   // number of the first entry, counting popped ones
    uint32_t count = 0;
    uint64_t checked = 0;  // bit k: entry k's `checked`
  };
  static Block encode(const std::vector<BatchEntry>& entries, size_t start, const BatchEntry& base);
  static void decode(const Block& b, std::vector<BatchEntry>* out);
  // Calls fn with each piece of the list encoding, in order.
  template <class Fn>
  void for_each_list_piece(Fn fn) const;
  // The block holding entry number `abs` (counting popped ones), or
  // blocks_.size() if the tail does.
  size_t block_of(size_t abs) const;
  // Decodes block k, lets `change` edit its entries, and stores them again
  // (or drops the block if none are left); the block after it is encoded
  // again if the entry before it changed.
  template <class Change>
  void rewrite(size_t k, Change change);

  std::deque<Block> blocks_;
  std::vector<BatchEntry> tail_;  // fewer than kBlockEntries, decoded
  size_t popped_ = 0;             // entries pop_front removed: entry i is number i + popped_
  size_t size_ = 0;
};

template <class Pred>
size_t EntryBlocks::partition_point(Pred pred) const {
  // Blocks whose first entry passes: the answer is in the last of them (or
  // at the start of the next, or in the tail).
  size_t lo = 0, hi = blocks_.size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (pred(blocks_[mid].first)) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0) {
    const Block& b = blocks_[lo - 1];
    if (!pred(b.last)) {
      for (Cursor c = cursor(b.start - popped_); c.valid(); c.next()) {
        if (!pred(*c)) return c.index();
      }
    }
    if (lo < blocks_.size()) return blocks_[lo].start - popped_;
  } else if (!blocks_.empty()) {
    return 0;
  }
  size_t tail_start = size_ - tail_.size();
  size_t k = 0;
  while (k < tail_.size() && pred(tail_[k])) ++k;
  return tail_start + k;
}

}  // namespace rivulet::index
