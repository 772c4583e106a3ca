// Encoding and checking of the file header, superblocks and segment headers.
#include "format/file_layout.hpp"

#include <cstring>
#include <string>

#include "util/crc32c.hpp"
#include "util/endian.hpp"

namespace rivulet::format {

void encode_file_header(const FileHeader& h, char out[kFileHeaderSize]) {
  std::memcpy(out, kFileMagic.data(), kFileMagic.size());
  store_le<uint32_t>(out + 8, h.format_version);
  store_le<uint32_t>(out + 12, h.block_size);
  store_le<uint32_t>(out + 16, h.segment_size);
  store_le<uint32_t>(out + 20, h.flags);
  store_le<uint64_t>(out + 24, h.file_salt);
  store_le<int64_t>(out + 32, h.created_ms);
  store_le<uint32_t>(out + 40, crc32c::value(out, 40));
}

uint32_t file_header_crc(std::string_view bytes) { return load_le<uint32_t>(bytes.data() + 40); }

Status decode_file_header(std::string_view bytes, FileHeader* out) {
  if (bytes.size() < kFileMagic.size() || std::memcmp(bytes.data(), kFileMagic.data(), kFileMagic.size()) != 0) {
    return {Code::not_rivulet_file, "not a Rivulet file (no Rivulet signature at the start)"};
  }
  if (bytes.size() < kFileHeaderSize) {
    return {Code::corruption, "file header is truncated", 0};
  }
  // The version sits at a fixed place in every format version, so a newer
  // file is recognised even if the rest of its header means something else.
  uint32_t version = load_le<uint32_t>(bytes.data() + 8);
  if (version > kFormatVersion) {
    return {Code::version_too_new, "file format version " + std::to_string(version) +
                                       " is newer than this build reads (up to " +
                                       std::to_string(kFormatVersion) + "); use a newer rivulet"};
  }
  if (load_le<uint32_t>(bytes.data() + 40) != crc32c::value(bytes.data(), 40)) {
    return {Code::corruption, "file header checksum mismatch", 0};
  }
  out->format_version = version;
  out->block_size = load_le<uint32_t>(bytes.data() + 12);
  out->segment_size = load_le<uint32_t>(bytes.data() + 16);
  out->flags = load_le<uint32_t>(bytes.data() + 20);
  out->file_salt = load_le<uint64_t>(bytes.data() + 24);
  out->created_ms = load_le<int64_t>(bytes.data() + 32);
  if (version == 0 || out->block_size != kBlockSize || out->segment_size < kMinSegmentSize ||
      out->segment_size > kMaxSegmentSize || out->segment_size % kBlockSize != 0 || out->flags != 0) {
    return {Code::corruption, "file header holds impossible values", 0};
  }
  return Status::OK();
}

void encode_superblock(const Superblock& s, char out[kSuperblockSize]) {
  std::memset(out, 0, kSuperblockSize);
  store_le<uint32_t>(out, kSuperblockMagic);
  store_le<uint64_t>(out + 8, s.generation);
  store_le<uint64_t>(out + 16, s.log_start);
  store_le<uint64_t>(out + 24, s.first_seq);
  store_le<uint64_t>(out + 32, s.checkpoint_pos);
  store_le<uint32_t>(out + 40, s.first_prev_crc);
  store_le<uint32_t>(out + 44, s.unsynced_boot);
  store_le<uint64_t>(out + 48, s.durable_seq);
  store_le<uint64_t>(out + 56, s.log_start_segment_seq);
  store_le<uint32_t>(out + 4, crc32c::value(out + 8, kSuperblockSize - 8));
}

bool decode_superblock(std::string_view bytes, Superblock* out) {
  if (bytes.size() < kSuperblockSize || load_le<uint32_t>(bytes.data()) != kSuperblockMagic ||
      load_le<uint32_t>(bytes.data() + 4) != crc32c::value(bytes.data() + 8, kSuperblockSize - 8)) {
    return false;
  }
  out->generation = load_le<uint64_t>(bytes.data() + 8);
  out->log_start = load_le<uint64_t>(bytes.data() + 16);
  out->first_seq = load_le<uint64_t>(bytes.data() + 24);
  out->checkpoint_pos = load_le<uint64_t>(bytes.data() + 32);
  out->first_prev_crc = load_le<uint32_t>(bytes.data() + 40);
  out->unsynced_boot = load_le<uint32_t>(bytes.data() + 44);
  out->durable_seq = load_le<uint64_t>(bytes.data() + 48);
  out->log_start_segment_seq = load_le<uint64_t>(bytes.data() + 56);
  return true;
}

void encode_segment_header(const SegmentHeader& s, char out[kSegmentHeaderSize]) {
  store_le<uint32_t>(out, kSegmentMagic);
  store_le<uint64_t>(out + 8, s.segment_seq);
  store_le<uint64_t>(out + 16, s.first_frame_seq);
  store_le<uint64_t>(out + 24, s.writer_id);
  store_le<uint32_t>(out + 4, crc32c::value(out + 8, kSegmentHeaderSize - 8));
}

bool decode_segment_header(std::string_view bytes, SegmentHeader* out) {
  if (bytes.size() < kSegmentHeaderSize || load_le<uint32_t>(bytes.data()) != kSegmentMagic ||
      load_le<uint32_t>(bytes.data() + 4) != crc32c::value(bytes.data() + 8, kSegmentHeaderSize - 8)) {
    return false;
  }
  out->segment_seq = load_le<uint64_t>(bytes.data() + 8);
  out->first_frame_seq = load_le<uint64_t>(bytes.data() + 16);
  out->writer_id = load_le<uint64_t>(bytes.data() + 24);
  return true;
}

}  // namespace rivulet::format
