// Checksum repair for the custom mutators of fuzz_open and fuzz_frame.
// Nearly every random change to a Rivulet file breaks a CRC, and the code
// behind the CRC checks (catalog replay, metadata JSON, readers, the index)
// would then never run. The mutators mutate as libFuzzer does, then usually
// call these to make the checksums (and the frame chain) agree again.
// Only the fuzzer builds use them; replay feeds inputs as they are.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "format/file_layout.hpp"
#include "format/frame.hpp"
#include "format/record_batch.hpp"
#include "util/crc32c.hpp"
#include "util/endian.hpp"

namespace rivulet::fuzz {

// Recomputes every batch CRC and the meta_crc of the frame at `p` (`avail`
// bytes from it on); with `link`, first gives the frame that seq and
// prev_crc. False if `p` holds no frame header. *out gets the header.
inline bool fix_frame(uint8_t* p, size_t avail, const format::ChainLink* link, format::FrameHeader* out) {
  using namespace format;
  if (avail < kFrameHeaderSize || load_le<uint32_t>(p) != kFrameMagic) return false;
  if (link) {
    store_le<uint64_t>(p + 8, link->seq);
    store_le<uint32_t>(p + 36, link->prev_crc);
  }
  FrameHeader h = peek_frame_header(reinterpret_cast<const char*>(p));
  const uint64_t head_len = kFrameHeaderSize + uint64_t{h.batch_count} * kSummaryEntrySize;
  const uint64_t len = std::min<uint64_t>(h.frame_length, avail);
  if (head_len > len) return false;
  // Batch CRCs first: meta_crc covers the first 21 bytes of each batch.
  uint32_t crc = crc32c::value(p + 8, head_len - 8);
  uint64_t at = head_len;
  for (uint16_t i = 0; i < h.batch_count && at + kBatchHeaderSize <= len; ++i) {
    uint8_t* b = p + at;
    const int32_t batch_length = load_be<int32_t>(b + 8);
    if (batch_length < static_cast<int32_t>(kBatchHeaderSize - kBatchLogOverhead)) break;
    const uint64_t total = uint64_t(batch_length) + kBatchLogOverhead;
    if (at + total > len) break;
    store_be<uint32_t>(b + kBatchCrcOffset, crc32c::value(b + kBatchCrcFrom, total - kBatchCrcFrom));
    crc = crc32c::extend(crc, b, kBatchCrcFrom);
    at += total;
  }
  store_le<uint32_t>(p + 4, crc);
  h.meta_crc = crc;
  *out = h;
  return true;
}

// Repairs a whole file: header CRC, both superblocks (whose first_prev_crc
// becomes the header CRC, as in every real file), then each frame of the
// chain from the superblock's log_start, relinking seq and prev_crc, and
// the segment headers the chain enters.
inline void fix_file(uint8_t* d, size_t n) {
  using namespace format;
  if (n < kFileHeaderSize || std::memcmp(d, kFileMagic.data(), kFileMagic.size()) != 0) return;
  const uint32_t header_crc = crc32c::value(d, 40);
  store_le<uint32_t>(d + 40, header_crc);

  Superblock best;
  bool have = false;
  for (uint64_t at : kSuperblockPos) {
    if (at + kSuperblockSize > n || load_le<uint32_t>(d + at) != kSuperblockMagic) continue;
    store_le<uint32_t>(d + at + 40, header_crc);
    store_le<uint32_t>(d + at + 4, crc32c::value(d + at + 8, kSuperblockSize - 8));
    Superblock sb;
    if (!decode_superblock(std::string_view(reinterpret_cast<const char*>(d + at), kSuperblockSize), &sb)) continue;
    if (!have || sb.generation > best.generation) best = sb;
    have = true;
  }
  const uint32_t seg = load_le<uint32_t>(d + 16);
  if (!have || seg < kMinSegmentSize || seg > kMaxSegmentSize || seg % kBlockSize != 0) return;

  ChainLink link{best.first_seq, best.first_prev_crc};
  uint64_t pos = best.log_start;
  // pos only moves forward, so the walk ends within the input.
  while (pos >= kFirstSegmentPos + kSegmentHeaderSize && pos < n) {
    const uint64_t seg_start = segment_start(segment_index(pos, seg), seg);
    const uint64_t end = std::min<uint64_t>(seg_start + seg, n);
    if (pos == seg_start + kSegmentHeaderSize && load_le<uint32_t>(d + seg_start) == kSegmentMagic) {
      store_le<uint64_t>(d + seg_start + 16, link.seq);
      store_le<uint32_t>(d + seg_start + 4, crc32c::value(d + seg_start + 8, kSegmentHeaderSize - 8));
    }
    FrameHeader h;
    if (!fix_frame(d + pos, end - pos, &link, &h)) return;
    link = {h.seq + 1, h.meta_crc};
    if (h.flags & kFrameSegmentEnd) {
      pos = seg_start + seg + kSegmentHeaderSize;
    } else if (h.frame_length >= kFrameHeaderSize) {
      pos += align8(h.frame_length);
    } else {
      return;
    }
  }
}

}  // namespace rivulet::fuzz
