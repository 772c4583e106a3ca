// Frame encoding and validation.
#include "format/frame.hpp"

#include <cstring>

#include "util/crc32c.hpp"
#include "util/endian.hpp"

namespace rivulet::format {

FrameHeader peek_frame_header(const char* p) {
  FrameHeader h;
  h.meta_crc = load_le<uint32_t>(p + 4);
  h.seq = load_le<uint64_t>(p + 8);
  h.synced_seq = load_le<uint64_t>(p + 16);
  h.writer_id = load_le<uint64_t>(p + 24);
  h.frame_length = load_le<uint32_t>(p + 32);
  h.prev_crc = load_le<uint32_t>(p + 36);
  h.batch_count = load_le<uint16_t>(p + 40);
  h.flags = load_le<uint16_t>(p + 42);
  h.next_segment = load_le<uint32_t>(p + 44);
  return h;
}

bool has_frame_magic(const char* p) { return load_le<uint32_t>(p) == kFrameMagic; }

static bool fail(std::string* why, const char* what) {
  if (why) *why = what;
  return false;
}

bool parse_frame(std::string_view avail, uint64_t position, const ChainLink* link, ParsedFrame* out,
                 std::string* why) {
  if (avail.size() < kFrameHeaderSize) return fail(why, "no room for a frame header");
  const char* p = avail.data();
  if (!has_frame_magic(p)) return fail(why, "no frame magic");
  FrameHeader h = peek_frame_header(p);
  if (link && (h.seq != link->seq || h.prev_crc != link->prev_crc)) {
    return fail(why, "frame does not continue the chain (sequence or previous checksum differ)");
  }
  if ((h.flags & ~kKnownFrameFlags) != 0) return fail(why, "unknown frame flags");
  if (h.next_segment != 0 && !(h.flags & kFrameSegmentEnd)) return fail(why, "next segment set in a frame that does not end its segment");
  if ((h.flags & (kFrameCheckpointEnd | kFrameCheckpointStart)) && !(h.flags & kFrameCheckpoint)) {
    return fail(why, "checkpoint start or end outside a checkpoint");
  }
  if ((h.flags & kFrameSegmentEnd) && (h.flags & kFrameCheckpoint)) return fail(why, "segment-end frame flagged checkpoint");
  if ((h.flags & kFrameRelocated) && (h.flags & (kFrameSegmentEnd | kFrameCheckpoint))) {
    return fail(why, "relocated frame flagged checkpoint or segment end");
  }
  uint64_t head_len = kFrameHeaderSize + uint64_t{h.batch_count} * kSummaryEntrySize;
  if (h.frame_length < head_len || h.frame_length > avail.size()) return fail(why, "frame length out of bounds");
  if ((h.flags & kFrameSegmentEnd) && h.batch_count != 0) return fail(why, "segment-end frame with batches");

  out->position = position;
  out->header = h;
  out->bytes = avail.substr(0, h.frame_length);
  out->batches.clear();

  uint32_t crc = crc32c::value(p + 8, head_len - 8);
  uint64_t at = head_len;
  for (uint16_t i = 0; i < h.batch_count; ++i) {
    const char* entry = p + kFrameHeaderSize + i * kSummaryEntrySize;
    BatchRef ref;
    ref.topic_id = load_le<uint32_t>(entry);
    ref.partition = load_le<uint32_t>(entry + 4);
    ref.position = position + at;
    if (at >= h.frame_length) return fail(why, "summary names more batches than the frame holds");
    if (!parse_batch_header(out->bytes.substr(at), ref.position, &ref.header).ok()) {
      return fail(why, "bad record batch header in frame");
    }
    crc = crc32c::extend(crc, p + at, kBatchCrcFrom);
    ref.bytes = out->bytes.substr(at, ref.header.total_size());
    out->batches.push_back(ref);
    at += ref.header.total_size();
  }
  if (at != h.frame_length) return fail(why, "batches do not fill the frame");
  if (crc != h.meta_crc) return fail(why, "frame checksum mismatch");
  for (const BatchRef& b : out->batches) {
    if (!batch_crc_ok(b.bytes, b.header)) return fail(why, "record batch checksum mismatch");
  }
  return true;
}

uint64_t frame_length(std::span<const OutgoingBatch> batches) {
  uint64_t length = kFrameHeaderSize + batches.size() * kSummaryEntrySize;
  for (const OutgoingBatch& b : batches) length += b.bytes.size();
  return length;
}

void encode_frame_head(FrameHeader* h, std::span<const OutgoingBatch> batches, std::string* out) {
  size_t head_len = kFrameHeaderSize + batches.size() * kSummaryEntrySize;
  out->assign(head_len, '\0');
  char* p = out->data();
  for (size_t i = 0; i < batches.size(); ++i) {
    store_le<uint32_t>(p + kFrameHeaderSize + i * kSummaryEntrySize, batches[i].topic_id);
    store_le<uint32_t>(p + kFrameHeaderSize + i * kSummaryEntrySize + 4, batches[i].partition);
  }
  h->frame_length = static_cast<uint32_t>(frame_length(batches));
  h->batch_count = static_cast<uint16_t>(batches.size());
  store_le<uint32_t>(p, kFrameMagic);
  store_le<uint64_t>(p + 8, h->seq);
  store_le<uint64_t>(p + 16, h->synced_seq);
  store_le<uint64_t>(p + 24, h->writer_id);
  store_le<uint32_t>(p + 32, h->frame_length);
  store_le<uint32_t>(p + 36, h->prev_crc);
  store_le<uint16_t>(p + 40, h->batch_count);
  store_le<uint16_t>(p + 42, h->flags);
  store_le<uint32_t>(p + 44, h->next_segment);
  uint32_t crc = crc32c::value(p + 8, head_len - 8);
  for (const OutgoingBatch& b : batches) crc = crc32c::extend(crc, b.bytes.data(), kBatchCrcFrom);
  h->meta_crc = crc;
  store_le<uint32_t>(p + 4, crc);
}

}  // namespace rivulet::format
