// The fixed structures of a Rivulet file: file header, superblocks and
// segment headers, with their encoders and checkers. docs/FORMAT.md is the
// prose version of this file; keep them in step. No I/O here.
//
//   0      file header   (block 0)
//   4096   superblock A  (block 1)
//   8192   superblock B  (block 2)
//   12288  reserved      (block 3)
//   16384  segment 0, segment 1, ... each `segment_size` bytes
//
// All integers little-endian.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "rivulet/status.hpp"
#include "rivulet/version.hpp"

namespace rivulet::format {

inline constexpr uint32_t kBlockSize = 4096;
inline constexpr uint64_t kSuperblockPos[2] = {4096, 8192};
inline constexpr uint64_t kFirstSegmentPos = 16384;
inline constexpr uint32_t kFormatVersion = rivulet::kFormatVersion;
// The oldest version this build still writes (as that version: see
// Superblock::unsynced_boot); older ones it opens read-only.
inline constexpr uint32_t kOldestWritableVersion = 3;
inline constexpr uint32_t kMinSegmentSize = 64 * 1024;
inline constexpr uint32_t kMaxSegmentSize = 1u << 30;

// "\x89RVL\r\n\x1a\n": the high byte and the CR LF / ^Z catch text-mode
// transfers, as PNG's signature does.
inline constexpr std::array<char, 8> kFileMagic = {'\x89', 'R', 'V', 'L', '\r', '\n', '\x1a', '\n'};

// ---- file header (block 0) ----
inline constexpr size_t kFileHeaderSize = 44;

struct FileHeader {
  uint32_t format_version = kFormatVersion;
  uint32_t block_size = kBlockSize;
  uint32_t segment_size = 0;
  uint32_t flags = 0;
  uint64_t file_salt = 0;
  int64_t created_ms = 0;
};

void encode_file_header(const FileHeader& h, char out[kFileHeaderSize]);
// Refuses what is not a Rivulet file (not_rivulet_file), a newer format
// (version_too_new), and a damaged header (corruption at position 0).
Status decode_file_header(std::string_view bytes, FileHeader* out);
// The CRC stored in the header: the root of the frame checksum chain.
uint32_t file_header_crc(std::string_view bytes);

// ---- superblock (blocks 1 and 2; the valid one with the higher generation wins) ----
inline constexpr size_t kSuperblockSize = 64;
inline constexpr uint32_t kSuperblockMagic = 0x42535652;  // "RVSB"

struct Superblock {
  uint64_t generation = 0;
  // Where the log begins: the first frame's position, its sequence number,
  // and the chain CRC it must carry in prev_crc.
  uint64_t log_start = kFirstSegmentPos;
  uint64_t first_seq = 1;
  uint32_t first_prev_crc = 0;
  // Format 3: when the log starts at a checkpoint, its position (equal to
  // log_start); 0 before the first checkpoint.
  uint64_t checkpoint_pos = 0;
  // segment_seq of the segment holding log_start (0 in formats 1 and 2,
  // whose log always starts in segment 0).
  uint64_t log_start_segment_seq = 0;
  // Every frame up to this seq was durable when the superblock was written
  // (at segment changes and clean closes): a chain that ends earlier is
  // corrupt, not torn.
  uint64_t durable_seq = 0;
  // Format 4: 0 when everything this superblock names was durable before it
  // was written; otherwise it was written without a sync, during the boot
  // of the machine this tag identifies (io::Env::boot_tag), and may name a
  // checkpoint a power cut took. Always 0 in formats 1 to 3.
  uint32_t unsynced_boot = 0;
};

void encode_superblock(const Superblock& s, char out[kSuperblockSize]);
// False when the magic or CRC does not match (a torn or never-written slot).
bool decode_superblock(std::string_view bytes, Superblock* out);

// ---- segment header (first 32 bytes of each segment) ----
inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr uint32_t kSegmentMagic = 0x47535652;  // "RVSG"

struct SegmentHeader {
  uint64_t segment_seq = 0;      // how many segments the log had entered before
  uint64_t first_frame_seq = 0;  // seq of the first frame in this segment
  uint64_t writer_id = 0;
};

void encode_segment_header(const SegmentHeader& s, char out[kSegmentHeaderSize]);
bool decode_segment_header(std::string_view bytes, SegmentHeader* out);

inline uint64_t segment_start(uint64_t index, uint32_t segment_size) {
  return kFirstSegmentPos + index * segment_size;
}
inline uint64_t segment_index(uint64_t pos, uint32_t segment_size) {
  return (pos - kFirstSegmentPos) / segment_size;
}

}  // namespace rivulet::format
