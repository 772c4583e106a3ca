// Header and superblock loading.
#include "log/file_start.hpp"

#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "format/frame.hpp"

namespace rivulet::log {

// Why `log_start` is a position no writer could have put the first frame
// at, or "" if it is possible: past the header blocks, 8-byte aligned, after
// its segment's header with room for a frame header (the writer always
// leaves room for a segment-end frame), in a segment that begins within the
// file (a new file ends where segment 0 begins). Every later chain position
// is computed from this one, so checking it here keeps that arithmetic far
// from overflowing.
static std::string impossible_log_start(uint64_t log_start, uint32_t segment_size, uint64_t file_size) {
  if (log_start < format::kFirstSegmentPos + format::kSegmentHeaderSize) return "before the first segment's frames";
  if (log_start % 8 != 0) return "not 8-byte aligned";
  uint64_t in_segment = (log_start - format::kFirstSegmentPos) % segment_size;
  if (in_segment < format::kSegmentHeaderSize) return "inside a segment header";
  if (in_segment + format::kFrameHeaderSize > segment_size) return "too close to the end of its segment";
  if (log_start - in_segment > file_size) return fmt::format("past the end of the file ({} bytes)", file_size);
  return "";
}

Result<SuperblockChoice> choose_superblock(const format::Superblock slot[2], const bool valid[2],
                                           uint32_t boot_tag) {
  if (!valid[0] && !valid[1]) {
    return Status(Code::corruption, "both superblocks are damaged", format::kSuperblockPos[0]);
  }
  auto newer = [&](int a, int b) { return valid[a] && (!valid[b] || slot[a].generation > slot[b].generation); };
  SuperblockChoice c;
  c.use = newer(0, 1) ? 0 : 1;
  c.max_generation = slot[c.use].generation;
  for (int i = 0; i < 2; ++i) {
    if (valid[i] && slot[i].unsynced_boot == 0 && (c.synced < 0 || slot[i].generation > slot[c.synced].generation)) {
      c.synced = i;
    }
  }
  const format::Superblock& top = slot[c.use];
  if (top.unsynced_boot != 0 && top.unsynced_boot != boot_tag) {
    // Written without a sync before the machine restarted: what it names
    // may not have reached the disk. A writer never writes such a slot
    // over the only synced one, so the other slot is synced.
    if (c.synced < 0) {
      return Status(Code::corruption,
                    fmt::format("superblock at position {} was written without a sync before the machine "
                                "restarted, and the other one is damaged",
                                format::kSuperblockPos[c.use]),
                    format::kSuperblockPos[c.use]);
    }
    c.use = c.synced;
  }
  return c;
}

SuperblockSlots decode_superblock_slots(const std::string_view bytes[2], uint32_t format_version) {
  SuperblockSlots s;
  for (int i = 0; i < 2; ++i) {
    s.valid[i] = format::decode_superblock(bytes[i], &s.slot[i]);
    // Reserved before format 4: whatever it holds, nobody wrote it unsynced.
    if (format_version < 4) s.slot[i].unsynced_boot = 0;
  }
  return s;
}

Result<FileStart> read_file_start(io::File& file, uint32_t boot_tag) {
  FileStart fs;
  Result<uint64_t> size = file.size();
  if (!size.ok()) return size.status();
  fs.file_size = *size;
  std::string head(std::min<uint64_t>(*size, format::kFirstSegmentPos), '\0');
  RIVULET_TRY(file.read_at(0, head.data(), head.size()));
  RIVULET_TRY(format::decode_file_header(head, &fs.header));
  if (head.size() < format::kFirstSegmentPos) {
    return Status(Code::corruption,
                  fmt::format("file is truncated: {} bytes, shorter than its header blocks", *size), *size);
  }
  std::string_view bytes[2];
  for (int i = 0; i < 2; ++i) {
    bytes[i] = std::string_view(head).substr(format::kSuperblockPos[i], format::kSuperblockSize);
    fs.slot_blank[i] = std::all_of(bytes[i].begin(), bytes[i].end(), [](char c) { return c == 0; });
  }
  fs.slots = decode_superblock_slots(bytes, fs.header.format_version);
  Result<SuperblockChoice> choice = choose_superblock(fs.slots.slot, fs.slots.valid, boot_tag);
  if (!choice.ok()) return choice.status();
  fs.choice = *choice;
  fs.superblock = fs.slots.slot[fs.choice.use];
  const format::Superblock& s = fs.superblock;
  const uint64_t at = format::kSuperblockPos[fs.choice.use];
  // A superblock whose checksum holds but whose values are impossible was
  // written wrong or on purpose; following it would read outside the log.
  if (std::string why = impossible_log_start(s.log_start, fs.header.segment_size, *size); !why.empty()) {
    return Status(Code::corruption,
                  fmt::format("superblock at position {} holds an impossible log start {}: {}", at, s.log_start, why),
                  at);
  }
  if (s.first_seq == 0) {
    return Status(Code::corruption, fmt::format("superblock at position {} holds first sequence number 0", at), at);
  }
  if (s.checkpoint_pos != 0 && (fs.header.format_version < 3 || s.checkpoint_pos != s.log_start)) {
    return Status(Code::corruption,
                  fmt::format("superblock at position {} holds checkpoint position {}, which is not its log start",
                              at, s.checkpoint_pos),
                  at);
  }
  return fs;
}

ChainPos chain_start(const FileStart& fs) {
  const format::Superblock& s = fs.superblock;
  return {s.log_start, s.first_seq, s.first_prev_crc, s.log_start_segment_seq};
}

}  // namespace rivulet::log
