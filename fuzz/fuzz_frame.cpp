// Fuzz target: the input is the bytes from a frame's position to the end of
// its segment. Parses the frame without and with a chain link; for a valid
// one, decodes every record of every batch (as recovery, readers and
// `check` do) and replays the frame into an empty catalog. Errors are fine;
// a crash, hang or sanitizer report is a bug.
#include <cstdint>
#include <string>
#include <string_view>

#include "db/frame_apply.hpp"
#include "format/frame.hpp"
#include "format/meta_record.hpp"
#include "format/record_batch.hpp"
#include "format/record_decoder.hpp"
#include "meta/catalog.hpp"
#include "rivulet/record.hpp"

using namespace rivulet;

namespace {

// Position of the first frame of a new file (segment 0, after its header).
constexpr uint64_t kPosition = 16416;

volatile uint32_t g_sink;
void touch(Bytes b) {
  uint32_t sum = 0;
  if (b) {
    for (char c : *b) sum += static_cast<unsigned char>(c);
  }
  g_sink = g_sink + sum;
}

void decode_records(const format::ParsedFrame& frame) {
  for (const format::BatchRef& b : frame.batches) {
    // The header parse_frame checked, parsed again from the frame's bytes.
    format::BatchHeader header;
    std::string_view rest = frame.bytes.substr(b.position - frame.position);
    if (!format::parse_batch_header(rest, b.position, &header).ok()) continue;
    format::RecordDecoder decoder(rest.substr(0, header.total_size()), header, b.position);
    format::DecodedRecord rec;
    for (;;) {
      if (!decoder.next(&rec)) break;
      touch(rec.key());
      touch(rec.value());
      for (const Header& h : RecordHeaders(rec.headers_raw, rec.header_count)) {
        touch(h.key);
        touch(h.value);
      }
      if (b.topic_id == format::kMetaTopicId) {
        format::MetaChange change;
        (void)format::decode_meta(rec.key(), rec.value(), b.position, &change);
      }
    }
    // The same walk through the engine's helper.
    (void)db::for_each_record(b, "fuzz", [](const format::DecodedRecord&) { return Status::OK(); });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view avail(reinterpret_cast<const char*>(data), size);
  format::ParsedFrame frame;
  std::string why;
  if (!format::parse_frame(avail, kPosition, nullptr, &frame, &why)) return 0;

  // A link the frame continues, and one it does not.
  format::ChainLink link{frame.header.seq, frame.header.prev_crc};
  format::ParsedFrame linked;
  if (!format::parse_frame(avail, kPosition, &link, &linked, &why)) __builtin_trap();
  format::ChainLink wrong{frame.header.seq + 1, frame.header.prev_crc};
  if (format::parse_frame(avail, kPosition, &wrong, &linked, &why)) __builtin_trap();

  decode_records(frame);
  meta::Catalog catalog;
  (void)db::apply_frame(catalog, frame);
  return 0;
}

#ifdef RIVULET_LIBFUZZER
#include "crc_fixup.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

// Mutates as libFuzzer would, then (7 times in 8) repairs the batch CRCs
// and meta_crc so the mutation is judged by more than a CRC check.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  format::FrameHeader h;
  if (seed % 8 != 0) rivulet::fuzz::fix_frame(data, size, nullptr, &h);
  return size;
}
#endif
