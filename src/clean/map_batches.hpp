// The first half of a compaction pass: fill the OffsetMap from a partition's
// batches, as Kafka's cleaner builds its offset map from the dirty segments.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "clean/offset_map.hpp"
#include "rivulet/status.hpp"

namespace rivulet::clean {

// One batch: its bytes (from the start of the batch; anything after it is
// ignored) and its position in the file, for error messages.
struct BatchRef {
  std::string_view bytes;
  uint64_t position = 0;
};

// Puts the key and offset of every keyed record at or after `start_offset`
// (the partition's first dirty offset) into *map, in order, and stops at the
// first one the map has no room for. `batches` are one partition's, in offset
// order (gaps between them are fine); those ending before `start_offset` are
// skipped unread.
//
// Returns map_end_offset, the first offset the map does not cover: the
// offset of the record that did not fit, else the offset after the last
// batch (its last offset + 1), else `start_offset` when there is nothing to
// map. Every keyed record in [start_offset, map_end_offset) is in the map and
// none after. Null keys are never mapped (compaction keeps them).
//
// Checks each batch's header, order and CRC and decodes every record it
// maps: corruption names the position; compressed batches give
// `unsupported`. Control and transactional batches (Rivulet writes neither)
// are not mapped, as compact_batch leaves them as they are.
Result<int64_t> map_batches(std::span<const BatchRef> batches, int64_t start_offset, OffsetMap* map);

}  // namespace rivulet::clean
