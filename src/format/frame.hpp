// A frame is one commit: a 48-byte header, a summary naming the partition of
// each batch, then the Kafka record batches, padded to 8 bytes. Frames form
// a chain: each carries its sequence number and the checksum of the frame
// before it, so a frame left over from before a crash never continues the
// chain that replaced it. docs/FORMAT.md describes the bytes. No I/O here.
//
//   0  u32 magic "RVFR"      24 u64 writer_id        40 u16 batch_count
//   4  u32 meta_crc          32 u32 frame_length     42 u16 flags
//   8  u64 seq               36 u32 prev_crc         44 u32 reserved (0)
//   16 u64 synced_seq                                     (44: next_segment in
//                                                          segment-end frames)
//   48 summary: batch_count x { u32 topic_id, u32 partition }
//   ...batches, back to back; then zero padding to a multiple of 8
//
// meta_crc is CRC-32C over header bytes [8, 48), the summary, and the first
// 21 bytes of every batch (which hold each batch's own CRC-32C over the rest).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/record_batch.hpp"
#include "rivulet/status.hpp"

namespace rivulet::format {

inline constexpr uint32_t kFrameMagic = 0x52465652;  // "RVFR"
inline constexpr size_t kFrameHeaderSize = 48;
inline constexpr size_t kSummaryEntrySize = 8;
inline constexpr uint16_t kFrameSegmentEnd = 0x0001;  // the chain goes on in segment next_segment
// A checkpoint (format 3) is a run of frames flagged kFrameCheckpoint, the
// first also kFrameCheckpointStart and the last kFrameCheckpointEnd, whose
// batches (topic 0, partition kCheckpointPartition) carry the writer's state
// as of the frame before the run (meta/catalog_checkpoint.cpp).
inline constexpr uint16_t kFrameCheckpoint = 0x0002;
inline constexpr uint16_t kFrameCheckpointEnd = 0x0004;
inline constexpr uint16_t kFrameCheckpointStart = 0x0010;
// Cleaning (format 3): the frame's batches are copies of live batches
// written before, byte for byte or compacted, with their offsets; applying
// it moves those batches, it does not append to their partitions.
inline constexpr uint16_t kFrameRelocated = 0x0008;
inline constexpr uint16_t kKnownFrameFlags =
    kFrameSegmentEnd | kFrameCheckpoint | kFrameCheckpointEnd | kFrameCheckpointStart | kFrameRelocated;
inline constexpr uint32_t kCheckpointPartition = 1;
inline constexpr uint32_t kMetaTopicId = 0;           // topic of metadata records

inline uint64_t align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

struct FrameHeader {
  uint32_t meta_crc = 0;
  uint64_t seq = 0;
  // The highest seq the writer knew to be durable (fdatasync'd) before this
  // frame was written. Recovery uses it to tell corruption from a torn tail.
  uint64_t synced_seq = 0;
  uint64_t writer_id = 0;
  uint32_t frame_length = 0;  // header + summary + batches, without padding
  uint32_t prev_crc = 0;
  uint16_t batch_count = 0;
  uint16_t flags = 0;
  // Segment-end frames of format 3: the index of the segment where the
  // chain goes on (segments are reused, so it is not always the next one).
  // Format 1 and 2 files hold 0 here and go on in the next segment.
  uint32_t next_segment = 0;
};

struct BatchRef {
  uint32_t topic_id = 0;
  uint32_t partition = 0;
  uint64_t position = 0;  // of the batch in the file
  BatchHeader header;
  std::string_view bytes;  // the whole batch; lives as long as the frame's bytes
};

struct ParsedFrame {
  uint64_t position = 0;
  FrameHeader header;
  std::vector<BatchRef> batches;
  std::string_view bytes;  // the whole frame, padding excluded (empty when just written)

  bool segment_end() const { return (header.flags & kFrameSegmentEnd) != 0; }
  bool checkpoint() const { return (header.flags & kFrameCheckpoint) != 0; }
  bool checkpoint_end() const { return (header.flags & kFrameCheckpointEnd) != 0; }
  bool checkpoint_start() const { return (header.flags & kFrameCheckpointStart) != 0; }
  bool relocated() const { return (header.flags & kFrameRelocated) != 0; }
};

// Reads the header fields at `p` (kFrameHeaderSize bytes) without checking.
FrameHeader peek_frame_header(const char* p);
bool has_frame_magic(const char* p);

// What the chain expects of the next frame.
struct ChainLink {
  uint64_t seq = 0;
  uint32_t prev_crc = 0;
};

// Checks the frame at the start of `avail` (the bytes from the frame's
// position to the end of its segment or of the file, whichever is first):
// magic, link to the chain, lengths, meta_crc, and every batch header and
// CRC. With `link` null the chain is not checked (used when hunting for
// frames past a bad one). Returns false with `why` set if it is not a whole
// valid frame.
bool parse_frame(std::string_view avail, uint64_t position, const ChainLink* link, ParsedFrame* out,
                 std::string* why);

// Encodes header and summary for a frame of `batches` (topic, partition,
// bytes), computing meta_crc. `out` receives kFrameHeaderSize + summary.
struct OutgoingBatch {
  uint32_t topic_id = 0;
  uint32_t partition = 0;
  std::string_view bytes;  // a finished Kafka batch
};
// Header + summary + batches, padding excluded.
uint64_t frame_length(std::span<const OutgoingBatch> batches);
void encode_frame_head(FrameHeader* header, std::span<const OutgoingBatch> batches, std::string* out);

}  // namespace rivulet::format
