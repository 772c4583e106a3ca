// Fuzz target: the input is one Kafka RecordBatch v2. Parses its header,
// checks its CRC, decodes every record and iterates each record's headers
// (RecordHeaders, as a reader's caller does). No CRC check stands in the
// way: RecordDecoder must survive any bytes on its own. Then compacts the
// batch (map_batches, compact_batch) with its CRC resealed, so mutations get
// past the checksum, and checks what a rewritten batch must be. Errors are
// fine; a crash, hang, sanitizer report or broken invariant is a bug.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "clean/compact_batch.hpp"
#include "clean/map_batches.hpp"
#include "format/record_batch.hpp"
#include "format/record_decoder.hpp"
#include "rivulet/record.hpp"
#include "util/crc32c.hpp"
#include "util/endian.hpp"

using namespace rivulet;

namespace {

volatile uint32_t g_sink;
void touch(Bytes b) {
  uint32_t sum = 0;
  if (b) {
    for (char c : *b) sum += static_cast<unsigned char>(c);
  }
  g_sink = g_sink + sum;
}

// A rewritten batch: the same header but for length, count and CRC, a valid
// CRC, no larger, and its records a subsequence of the original's.
void check_compacted(std::string_view original, const format::BatchHeader& a, const std::string& out) {
  format::BatchHeader z;
  if (!format::parse_batch_header(out, 0, &z).ok() || z.total_size() != out.size()) __builtin_trap();
  if (!format::batch_crc_ok(out, z) || out.size() >= a.total_size()) __builtin_trap();
  if (z.base_offset != a.base_offset || z.last_offset_delta != a.last_offset_delta ||
      z.attributes != a.attributes || z.base_timestamp != a.base_timestamp ||
      z.max_timestamp != a.max_timestamp || z.producer_id != a.producer_id ||
      z.records_count >= a.records_count) {
    __builtin_trap();
  }
  format::RecordDecoder orig(original, a, 0);
  format::RecordDecoder kept(out, z, 0);
  format::DecodedRecord o, k;
  int32_t n = 0;
  for (;;) {
    if (!kept.next(&k)) {
      if (!kept.status().ok()) __builtin_trap();
      break;
    }
    ++n;
    for (;;) {  // the same record further on in the original
      if (!orig.next(&o)) __builtin_trap();
      if (o.offset == k.offset) break;
    }
    if (o.key() != k.key() || o.value() != k.value() || o.timestamp_ms != k.timestamp_ms ||
        o.headers_raw != k.headers_raw) {
      __builtin_trap();
    }
  }
  if (n != z.records_count) __builtin_trap();
}

void compact(std::string_view bytes, const format::BatchHeader& header) {
  std::string batch(bytes.substr(0, header.total_size()));
  store_be<uint32_t>(batch.data() + format::kBatchCrcOffset,
                     crc32c::value(batch.data() + format::kBatchCrcFrom, batch.size() - format::kBatchCrcFrom));
  format::BatchHeader h;
  if (!format::parse_batch_header(batch, 0, &h).ok()) __builtin_trap();
  // A roomy map, and one that fills after two keys; mapping from the start
  // and from the middle of the batch.
  for (size_t slots : {64, 3}) {
    for (int64_t from : {h.base_offset, h.base_offset + h.last_offset_delta / 2}) {
      clean::OffsetMap map(slots * clean::OffsetMap::kSlotBytes, {1, 2});
      const std::vector<clean::BatchRef> refs = {{batch, 0}};
      Result<int64_t> end = clean::map_batches(refs, from, &map);
      if (!end.ok()) return;
      if (*end < from || *end > h.last_offset() + 1) __builtin_trap();
      // map_batches decoded every record unless the map filled first.
      const bool all_decoded = *end == h.last_offset() + 1;
      const int64_t old = h.max_timestamp == INT64_MAX ? INT64_MAX : h.max_timestamp + 1;
      for (int64_t cutoff : {INT64_MIN, old}) {
        std::string out;
        Result<clean::Compacted> c = clean::compact_batch(batch, 0, map, *end, cutoff, &out);
        if (!c.ok() && all_decoded) __builtin_trap();
        if (!c.ok()) continue;
        if (*c == clean::Compacted::rewritten) {
          check_compacted(batch, h, out);
        } else if (!out.empty()) {
          __builtin_trap();
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const uint64_t position = 16480;  // a plausible place in a file
  format::BatchHeader header;
  if (!format::parse_batch_header(bytes, position, &header).ok()) return 0;
  g_sink = g_sink + format::batch_crc_ok(bytes.substr(0, header.total_size()), header);

  // Given all the bytes (as readers do, up to the end of the file): the
  // decoder must keep to header.total_size() by itself.
  format::RecordDecoder decoder(bytes, header, position);
  format::DecodedRecord rec;
  int32_t records = 0;
  for (;;) {
    if (!decoder.next(&rec)) break;
    // Offsets strictly increase within the batch and stay in its range.
    if (rec.offset < header.base_offset || rec.offset > header.last_offset()) __builtin_trap();
    if (++records > header.records_count) __builtin_trap();
    touch(rec.key());
    touch(rec.value());
    uint32_t n = 0;
    for (const Header& h : RecordHeaders(rec.headers_raw, rec.header_count)) {
      touch(h.key);
      touch(h.value);
      ++n;
    }
    // The decoder validated the headers, so iteration must see them all.
    if (n != rec.header_count) __builtin_trap();
  }
  compact(bytes, header);
  return 0;
}
