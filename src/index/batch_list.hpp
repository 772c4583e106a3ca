// A partition's batch entries as a checkpoint encodes them (docs/FORMAT.md,
// "The state"): four zigzag varints per entry, the first three as
// differences from the previous entry.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "index/partition_index.hpp"

namespace rivulet::index {

void encode_batch_list(const BatchEntries& entries, std::string* out);

// Reads `count` entries from [p, end), each with a base offset below
// `next_offset`. Appends them to `out` unless it is null (then only
// checks). Returns the byte after the last entry, or nullptr with `*why`
// saying what is wrong.
const char* decode_batch_list(const char* p, const char* end, size_t count, int64_t next_offset,
                              BatchEntries* out, const char** why);

}  // namespace rivulet::index
