// Encoding of a partition's batch entries in a checkpoint.
#include "index/batch_list.hpp"

#include <vector>

#include "util/varint.hpp"

namespace rivulet::index {

void encode_batch_entry(const BatchEntry& prev, const BatchEntry& e, std::string* out) {
  char buf[4 * varint::kMax64];
  char* p = buf;
  p = varint::put64(p, e.base_offset - prev.base_offset);
  p = varint::put64(p, e.max_timestamp_so_far - prev.max_timestamp_so_far);
  p = varint::put64(p, static_cast<int64_t>(e.position - prev.position));
  p = varint::put64(p, e.bytes);
  out->append(buf, static_cast<size_t>(p - buf));
}

const char* decode_batch_entry(const char* p, const char* end, const BatchEntry& prev, BatchEntry* e,
                               const char** why) {
  int64_t d_offset = 0, d_time = 0, d_pos = 0, bytes = 0;
  for (int64_t* v : {&d_offset, &d_time, &d_pos, &bytes}) {
    p = varint::get64(p, end, v);
    if (!p) {
      *why = "a batch entry runs past its end";
      return nullptr;
    }
  }
  if (d_offset < 0 || bytes < 0 || bytes > UINT32_MAX) {
    *why = "a batch entry with a value out of range";
    return nullptr;
  }
  // Unsigned sums: bad bytes may wrap, but never into undefined behaviour;
  // a wrapped offset fails the list's check, a wrong position the batch's
  // own checks when read.
  e->base_offset = static_cast<int64_t>(static_cast<uint64_t>(prev.base_offset) + static_cast<uint64_t>(d_offset));
  e->max_timestamp_so_far =
      static_cast<int64_t>(static_cast<uint64_t>(prev.max_timestamp_so_far) + static_cast<uint64_t>(d_time));
  e->position = prev.position + static_cast<uint64_t>(d_pos);
  e->bytes = static_cast<uint32_t>(bytes);
  return p;
}

const char* decode_batch_list(const char* p, const char* end, size_t count, int64_t next_offset,
                              EntryBlocks* out, const char** why) {
  // Into an empty `out`, whole blocks are taken as they are encoded (the
  // list's differences are what EntryBlocks keeps), the rest one by one.
  const bool by_block = out && out->empty();
  std::vector<BatchEntry> block;  // the entries of the block being read
  const char* block_begin = p;
  BatchEntry block_base;
  BatchEntry prev;
  for (size_t k = 0; k < count; ++k) {
    const char* entry_begin = p;
    BatchEntry e;
    p = decode_batch_entry(p, end, prev, &e, why);
    if (!p) return nullptr;
    if (e.base_offset < prev.base_offset || e.base_offset >= next_offset) {
      *why = "a batch entry past its partition's end";
      return nullptr;
    }
    if (by_block) {
      if (block.empty()) {
        block_begin = entry_begin;
        block_base = prev;
      }
      block.push_back(e);
      if (block.size() == EntryBlocks::kBlockEntries) {
        out->push_block({block_begin, static_cast<size_t>(p - block_begin)}, block_base, block.front(), e);
        block.clear();
      }
    } else if (out) {
      out->push_back(e);
    }
    prev = e;
  }
  for (const BatchEntry& e : block) out->push_back(e);  // the last, partial block
  return p;
}

}  // namespace rivulet::index
