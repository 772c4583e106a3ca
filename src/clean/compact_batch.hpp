// Compaction of one record batch, as Kafka's log cleaner does it: keep only
// the latest record of each key (by the pass's OffsetMap) and the tombstones
// that are not yet old enough to go. Pure: bytes in, bytes out.
//
// How a cleaning pass over a partition uses it (the caller's duties):
// 1. map_batches() over the batches from the partition's first dirty offset
//    on gives the OffsetMap and map_end_offset;
// 2. every batch from the partition's log start up to map_end_offset goes
//    through compact_batch() with that map and one tombstone cutoff. Starting
//    at the log start, not at the dirty offset, matters: a tombstone may go
//    only once no older record of its key is left anywhere below it, and a
//    pass that maps the tombstone removes those older records in the same
//    sweep (later passes find them gone).
// 3. `empty` means every record went: the caller drops the batch but must
//    keep the partition's next offset (the catalog tracks next_offset apart
//    from the batches; Kafka instead keeps an empty batch at the end of the
//    log for this).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "clean/offset_map.hpp"
#include "rivulet/status.hpp"

namespace rivulet::clean {

enum class Compacted {
  unchanged,  // no record goes: keep the batch as it is (*out is left empty)
  rewritten,  // some go: *out holds the batch with the survivors
  empty,      // every record goes: drop the batch (*out is left empty)
};

// Compacts the batch at the start of `batch` (at `position` in the file, for
// error messages). A record survives when any of these holds, else it goes:
//  - its offset is >= map_end_offset (not mapped in this pass);
//  - its key is null: never compacted. Kafka refuses null keys on compacted
//    topics at produce time and its cleaner drops them; here they are kept,
//    since a topic altered from delete to compact may hold them and dropping
//    records nobody asked to drop would lose data;
//  - the map has no later offset for its key (map.latest(key) is absent or
//    <= the record's offset: Kafka's test, which equals "latest == offset"
//    whenever the record was mapped, and never drops the newest known);
//  - and if it is a tombstone (non-null key, null value): the batch's
//    maxTimestamp is >= tombstone_cutoff_ms (the caller passes now -
//    delete.retention.ms; INT64_MIN keeps every tombstone). Kafka counts
//    delete.retention.ms from when the segment holding the tombstone was
//    first cleaned; with no per-batch cleaning time in the format, the batch's
//    newest timestamp stands in, so a tombstone stays at least
//    delete.retention.ms after its own timestamp (a producer timestamp far
//    in the past shortens that, as it does retention.ms).
// A rewritten batch keeps every header field (baseOffset, lastOffsetDelta, so
// the partition's next offset is unchanged, baseTimestamp, maxTimestamp,
// attributes, producer id/epoch, baseSequence) except batchLength,
// recordsCount (the survivors) and the CRC; each survivor's bytes are copied
// as they are, so it keeps its offset and timestamp deltas, key, value and
// headers, and the batch never grows. Its offsets then have gaps
// (recordsCount <= lastOffsetDelta + 1), which RecordDecoder accepts.
//
// The batch's CRC is checked first (corruption otherwise), so compaction never
// re-seals damaged bytes under a fresh CRC. Compressed batches give
// `unsupported`, as in RecordDecoder. Control and transactional batches, which
// Rivulet never writes, are `unchanged`: Kafka needs the transaction index to
// clean them, and keeping records is always safe.
Result<Compacted> compact_batch(std::string_view batch, uint64_t position, const OffsetMap& map,
                                int64_t map_end_offset, int64_t tombstone_cutoff_ms, std::string* out);

}  // namespace rivulet::clean
