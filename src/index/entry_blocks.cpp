// Batch entries in encoded blocks.
#include "index/entry_blocks.hpp"

#include <algorithm>
#include <cstdlib>

#include "index/batch_list.hpp"

namespace rivulet::index {

namespace {

// Our own encoding, in memory: it cannot fail to decode.
const char* decode_own(const char* p, const char* end, const BatchEntry& prev, BatchEntry* e) {
  const char* why = "";
  p = decode_batch_entry(p, end, prev, e, &why);
  if (!p) std::abort();
  return p;
}

bool same_values(const BatchEntry& a, const BatchEntry& b) {
  return a.base_offset == b.base_offset && a.max_timestamp_so_far == b.max_timestamp_so_far &&
         a.position == b.position && a.bytes == b.bytes;
}

}  // namespace

EntryBlocks::Block EntryBlocks::encode(const std::vector<BatchEntry>& entries, size_t start, const BatchEntry& base) {
  Block b;
  b.start = start;
  b.count = static_cast<uint32_t>(entries.size());
  b.base = base;
  b.first = entries.front();
  b.last = entries.back();
  BatchEntry prev = base;
  for (size_t k = 0; k < entries.size(); ++k) {
    encode_batch_entry(prev, entries[k], &b.bytes);
    if (entries[k].checked) b.checked |= uint64_t{1} << k;
    prev = entries[k];
  }
  b.bytes.shrink_to_fit();
  return b;
}

void EntryBlocks::decode(const Block& b, std::vector<BatchEntry>* out) {
  out->clear();
  const char* p = b.bytes.data();
  const char* end = p + b.bytes.size();
  BatchEntry prev = b.base;
  for (uint32_t k = 0; k < b.count; ++k) {
    BatchEntry e;
    p = decode_own(p, end, prev, &e);
    e.checked = (b.checked >> k) & 1;
    out->push_back(e);
    prev = e;
  }
}

void EntryBlocks::push_back(const BatchEntry& e) {
  tail_.push_back(e);
  ++size_;
  if (tail_.size() == kBlockEntries) {
    blocks_.push_back(encode(tail_, popped_ + size_ - tail_.size(), blocks_.empty() ? BatchEntry{} : blocks_.back().last));
    tail_.clear();
  }
}

void EntryBlocks::push_block(std::string_view bytes, const BatchEntry& base, const BatchEntry& first,
                             const BatchEntry& last) {
  Block b;
  b.bytes.assign(bytes);
  b.base = base;
  b.first = first;
  b.last = last;
  b.start = popped_ + size_;
  b.count = kBlockEntries;
  blocks_.push_back(std::move(b));
  size_ += kBlockEntries;
}

size_t EntryBlocks::block_of(size_t abs) const {
  if (abs >= popped_ + size_ - tail_.size()) return blocks_.size();
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), abs,
                             [](size_t a, const Block& b) { return a < b.start; });
  return static_cast<size_t>(it - blocks_.begin()) - 1;
}

BatchEntry EntryBlocks::at(size_t i) const {
  Cursor c = cursor(i);
  return *c;
}

EntryBlocks::Cursor EntryBlocks::cursor(size_t i) const {
  Cursor c(this);
  c.at_ = i;
  if (i < size_) c.load();
  return c;
}

void EntryBlocks::Cursor::load() {
  const size_t abs = at_ + owner_->popped_;
  block_ = owner_->block_of(abs);
  if (block_ == owner_->blocks_.size()) {
    entry_ = owner_->tail_[at_ - (owner_->size_ - owner_->tail_.size())];
    return;
  }
  const Block& b = owner_->blocks_[block_];
  in_block_ = static_cast<uint32_t>(abs - b.start);
  p_ = b.bytes.data();
  const char* end = p_ + b.bytes.size();
  BatchEntry prev = b.base;
  for (uint32_t k = 0; k <= in_block_; ++k) {
    p_ = decode_own(p_, end, prev, &entry_);
    prev = entry_;
  }
  entry_.checked = (b.checked >> in_block_) & 1;
}

void EntryBlocks::Cursor::next() {
  ++at_;
  if (!valid()) return;
  if (block_ < owner_->blocks_.size()) {
    const Block& b = owner_->blocks_[block_];
    if (in_block_ + 1 < b.count) {
      ++in_block_;
      BatchEntry prev = entry_;
      p_ = decode_own(p_, b.bytes.data() + b.bytes.size(), prev, &entry_);
      entry_.checked = (b.checked >> in_block_) & 1;
      return;
    }
  }
  load();  // the next block, or the tail
}

template <class Change>
void EntryBlocks::rewrite(size_t k, Change change) {
  std::vector<BatchEntry> entries;
  decode(blocks_[k], &entries);
  const size_t before = entries.size();
  const size_t start = blocks_[k].start;
  change(entries);
  const size_t removed = before - entries.size();
  const BatchEntry old_last = blocks_[k].last;
  const BatchEntry base = blocks_[k].base;
  if (entries.empty()) {
    blocks_.erase(blocks_.begin() + static_cast<std::ptrdiff_t>(k));
  } else {
    blocks_[k] = encode(entries, start, base);
    ++k;
  }
  // The next block's differences start from the entry before it (the
  // first block's may start from any entry).
  if (k > 0 && k < blocks_.size() && !same_values(blocks_[k - 1].last, old_last)) {
    std::vector<BatchEntry> next;
    decode(blocks_[k], &next);
    blocks_[k] = encode(next, blocks_[k].start, blocks_[k - 1].last);
  }
  // Entries after the removed ones move down; the numbers of the blocks
  // after it with them.
  for (; removed > 0 && k < blocks_.size(); ++k) blocks_[k].start -= removed;
}

void EntryBlocks::set(size_t i, const BatchEntry& e) {
  size_t k = block_of(i + popped_);
  if (k == blocks_.size()) {
    tail_[i - (size_ - tail_.size())] = e;
    return;
  }
  const size_t at = i + popped_ - blocks_[k].start;
  rewrite(k, [&](std::vector<BatchEntry>& entries) { entries[at] = e; });
}

void EntryBlocks::erase(size_t i) {
  size_t k = block_of(i + popped_);
  if (k == blocks_.size()) {
    tail_.erase(tail_.begin() + static_cast<std::ptrdiff_t>(i - (size_ - tail_.size())));
  } else {
    const size_t at = i + popped_ - blocks_[k].start;
    rewrite(k, [&](std::vector<BatchEntry>& entries) {
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(at));
    });
  }
  --size_;
}

void EntryBlocks::pop_front(size_t n) {
  n = std::min(n, size_);
  while (n > 0 && !blocks_.empty()) {
    Block& first = blocks_.front();  // it starts at entry number popped_
    if (n >= first.count) {
      n -= first.count;
      size_ -= first.count;
      popped_ += first.count;
      blocks_.pop_front();
      continue;
    }
    const size_t drop = n;
    std::vector<BatchEntry> entries;
    decode(first, &entries);
    entries.erase(entries.begin(), entries.begin() + static_cast<std::ptrdiff_t>(drop));
    first = encode(entries, first.start + drop, BatchEntry{});
    size_ -= drop;
    popped_ += drop;
    n = 0;
  }
  if (n > 0) {
    tail_.erase(tail_.begin(), tail_.begin() + static_cast<std::ptrdiff_t>(n));
    size_ -= n;
    popped_ += n;
  }
}

void EntryBlocks::clear() {
  blocks_.clear();
  tail_ = {};
  popped_ = 0;
  size_ = 0;
}

template <class Fn>
void EntryBlocks::for_each_list_piece(Fn fn) const {
  std::string one;  // an entry encoded afresh
  auto entry = [&](const BatchEntry& prev, const BatchEntry& e) {
    one.clear();
    encode_batch_entry(prev, e, &one);
    fn(std::string_view(one));
  };
  BatchEntry prev;
  if (!blocks_.empty()) {
    // The first entry from a zero one, as a list starts; the rest of the
    // blocks as they are (each from the one before it).
    const Block& b = blocks_.front();
    const char* end = b.bytes.data() + b.bytes.size();
    BatchEntry first;
    const char* rest = decode_own(b.bytes.data(), end, b.base, &first);
    entry(BatchEntry{}, first);
    fn(std::string_view(rest, static_cast<size_t>(end - rest)));
    for (size_t k = 1; k < blocks_.size(); ++k) fn(std::string_view(blocks_[k].bytes));
    prev = blocks_.back().last;
  }
  for (const BatchEntry& e : tail_) {
    entry(prev, e);
    prev = e;
  }
}

void EntryBlocks::encode_list(std::string* out) const {
  for_each_list_piece([out](std::string_view piece) { out->append(piece); });
}

size_t EntryBlocks::encoded_list_size() const {
  size_t size = 0;
  for_each_list_piece([&size](std::string_view piece) { size += piece.size(); });
  return size;
}

size_t EntryBlocks::memory_bytes() const {
  size_t bytes = tail_.capacity() * sizeof(BatchEntry) + blocks_.size() * sizeof(Block);
  for (const Block& b : blocks_) bytes += b.bytes.capacity();
  return bytes;
}

}  // namespace rivulet::index
