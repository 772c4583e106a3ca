// See compact_batch.hpp. One walk decodes (and so validates) every record and
// notes the byte ranges of the survivors; only if some record goes and some
// stay is a new batch written: the old header, then the ranges.
#include "clean/compact_batch.hpp"

#include <utility>
#include <vector>

#include "format/record_batch.hpp"
#include "format/record_decoder.hpp"

namespace rivulet::clean {

Result<Compacted> compact_batch(std::string_view batch, uint64_t position, const OffsetMap& map,
                                int64_t map_end_offset, int64_t tombstone_cutoff_ms, std::string* out) {
  out->clear();
  format::BatchHeader h;
  RIVULET_TRY(format::parse_batch_header(batch, position, &h));
  batch = batch.substr(0, h.total_size());
  if (!format::batch_crc_ok(batch, h)) {
    return Status(Code::corruption,
                  "record batch at position " + std::to_string(position) + ": checksum mismatch", position);
  }
  format::RecordDecoder decoder(batch, h, position);
  format::DecodedRecord r;
  if (h.compression() != 0 && !decoder.next(&r)) return decoder.status();  // its `unsupported`
  if ((h.attributes & (format::kAttrControl | format::kAttrTransactional)) != 0) return Compacted::unchanged;
  if (h.base_offset >= map_end_offset) return Compacted::unchanged;  // nothing in it was mapped

  const bool tombstones_expired = h.max_timestamp < tombstone_cutoff_ms;
  auto survives = [&](const format::DecodedRecord& rec) {
    if (rec.offset >= map_end_offset || !rec.key()) return true;
    const std::optional<int64_t> latest = map.latest(*rec.key());
    if (latest && *latest > rec.offset) return false;
    return rec.value().has_value() || !tombstones_expired;
  };

  // Survivors' bytes, adjacent ones merged: [begin, end) within the batch.
  std::vector<std::pair<size_t, size_t>> keep;
  int32_t kept = 0;
  int32_t dropped = 0;
  for (size_t begin = decoder.cursor();; begin = decoder.cursor()) {
    if (!decoder.next(&r)) {
      RIVULET_TRY(decoder.status());
      break;
    }
    if (!survives(r)) {
      ++dropped;
      continue;
    }
    ++kept;
    if (!keep.empty() && keep.back().second == begin) {
      keep.back().second = decoder.cursor();
    } else {
      keep.emplace_back(begin, decoder.cursor());
    }
  }
  if (dropped == 0) return Compacted::unchanged;
  if (kept == 0) return Compacted::empty;

  out->reserve(batch.size());
  out->assign(batch.substr(0, format::kBatchHeaderSize));
  for (const auto& [begin, end] : keep) out->append(batch.substr(begin, end - begin));
  format::reseal_batch(out, kept);
  return Compacted::rewritten;
}

}  // namespace rivulet::clean
