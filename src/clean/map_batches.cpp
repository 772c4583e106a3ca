// See map_batches.hpp.
#include "clean/map_batches.hpp"

#include <algorithm>
#include <limits>
#include <string>

#include "format/record_batch.hpp"
#include "format/record_decoder.hpp"

namespace rivulet::clean {
namespace {

Status corrupt(uint64_t position, const std::string& what) {
  return Status(Code::corruption, "record batch at position " + std::to_string(position) + ": " + what, position);
}

}  // namespace

Result<int64_t> map_batches(std::span<const BatchRef> batches, int64_t start_offset, OffsetMap* map) {
  int64_t end = start_offset;
  int64_t prev_last = -1;  // the previous batch's last offset
  for (const BatchRef& b : batches) {
    format::BatchHeader h;
    RIVULET_TRY(format::parse_batch_header(b.bytes, b.position, &h));
    if (h.base_offset < 0 || h.base_offset <= prev_last) {
      return corrupt(b.position, "baseOffset " + std::to_string(h.base_offset) + " does not follow offset " +
                                     std::to_string(prev_last));
    }
    // The returned end is last offset + 1.
    if (h.last_offset() == std::numeric_limits<int64_t>::max()) {
      return corrupt(b.position, "last offset " + std::to_string(h.last_offset()) + " is the largest possible");
    }
    prev_last = h.last_offset();
    if (h.last_offset() < start_offset) continue;

    const std::string_view bytes = b.bytes.substr(0, h.total_size());
    if (!format::batch_crc_ok(bytes, h)) return corrupt(b.position, "checksum mismatch");
    format::RecordDecoder decoder(bytes, h, b.position);
    format::DecodedRecord r;
    const bool skip =
        h.compression() == 0 && (h.attributes & (format::kAttrControl | format::kAttrTransactional)) != 0;
    while (!skip) {
      if (!decoder.next(&r)) {
        RIVULET_TRY(decoder.status());  // `unsupported` for a compressed batch
        break;
      }
      if (r.offset < start_offset || !r.key()) continue;
      if (!map->put(*r.key(), r.offset)) return r.offset;  // full: map_end_offset
    }
    end = std::max(end, h.last_offset() + 1);
  }
  return end;
}

}  // namespace rivulet::clean
