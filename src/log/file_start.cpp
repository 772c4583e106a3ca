// Header and superblock loading.
#include "log/file_start.hpp"

#include <algorithm>
#include <string>

#include <fmt/format.h>

namespace rivulet::log {

Result<FileStart> read_file_start(io::File& file) {
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
  format::Superblock sb[2];
  for (int i = 0; i < 2; ++i) {
    std::string_view slot = std::string_view(head).substr(format::kSuperblockPos[i], format::kSuperblockSize);
    fs.slot_valid[i] = format::decode_superblock(slot, &sb[i]);
    fs.slot_blank[i] = std::all_of(slot.begin(), slot.end(), [](char c) { return c == 0; });
  }
  if (!fs.slot_valid[0] && !fs.slot_valid[1]) {
    return Status(Code::corruption, "both superblocks are damaged", format::kSuperblockPos[0]);
  }
  bool first = fs.slot_valid[0] && (!fs.slot_valid[1] || sb[0].generation > sb[1].generation);
  fs.superblock = first ? sb[0] : sb[1];
  const format::Superblock& s = fs.superblock;
  if (s.log_start < format::kFirstSegmentPos + format::kSegmentHeaderSize || s.first_seq == 0) {
    return Status(Code::corruption, "superblock holds an impossible log start",
                  format::kSuperblockPos[first ? 0 : 1]);
  }
  return fs;
}

}  // namespace rivulet::log
