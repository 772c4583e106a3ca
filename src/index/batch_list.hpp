// A partition's batch entries as a checkpoint encodes them (docs/FORMAT.md,
// "The state"): four zigzag varints per entry, the first three as
// differences from the previous entry. EntryBlocks keeps its blocks in the
// same encoding, and writes a list with EntryBlocks::encode_list.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "index/entry_blocks.hpp"

namespace rivulet::index {

// Appends `e`, as the entry after `prev` (a zero entry for the first).
void encode_batch_entry(const BatchEntry& prev, const BatchEntry& e, std::string* out);
// Reads the entry after `prev` from [p, end) into *e (its `checked` is left
// alone). Returns the byte after it, or nullptr with `*why` saying what is
// wrong.
const char* decode_batch_entry(const char* p, const char* end, const BatchEntry& prev, BatchEntry* e,
                               const char** why);

// Reads `count` entries from [p, end), each with a base offset below
// `next_offset`. Appends them to `out` unless it is null (then only
// checks). Returns the byte after the last entry, or nullptr with `*why`
// saying what is wrong.
const char* decode_batch_list(const char* p, const char* end, size_t count, int64_t next_offset,
                              EntryBlocks* out, const char** why);

}  // namespace rivulet::index
