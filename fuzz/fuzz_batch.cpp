// Fuzz target: the input is one Kafka RecordBatch v2. Parses its header,
// checks its CRC, decodes every record and iterates each record's headers
// (RecordHeaders, as a reader's caller does). No CRC check stands in the
// way: RecordDecoder must survive any bytes on its own. Errors are fine; a
// crash, hang or sanitizer report is a bug.
#include <cstdint>
#include <string_view>

#include "format/record_batch.hpp"
#include "rivulet/record.hpp"

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
    Result<bool> more = decoder.next(&rec);
    if (!more.ok() || !*more) break;
    // Offsets strictly increase within the batch and stay in its range.
    if (rec.offset < header.base_offset || rec.offset > header.last_offset()) __builtin_trap();
    if (++records > header.records_count) __builtin_trap();
    touch(rec.key);
    touch(rec.value);
    uint32_t n = 0;
    for (const Header& h : RecordHeaders(rec.headers_raw, rec.header_count)) {
      touch(h.key);
      touch(h.value);
      ++n;
    }
    // The decoder validated the headers, so iteration must see them all.
    if (n != rec.header_count) __builtin_trap();
  }
  return 0;
}
