// Reading the start of a file: header and superblocks, refusing files that
// are not Rivulet files or come from a newer format before anything else.
#pragma once

#include "format/file_layout.hpp"
#include "io/env.hpp"
#include "log/log_scanner.hpp"

namespace rivulet::log {

// Which superblock slot the log starts from, and which one a power cut
// cannot take.
struct SuperblockChoice {
  // The valid slot with the higher generation, passing over one written
  // without a sync during another boot (a power cut may have taken what
  // it names).
  int use = -1;
  // The valid slot with the higher generation among those written after a
  // sync; -1 if neither was. A writer reuses only what this one's log
  // start has left behind.
  int synced = -1;
  uint64_t max_generation = 0;  // over both valid slots
};

struct SuperblockSlots {
  format::Superblock slot[2];
  bool valid[2] = {false, false};
};

struct FileStart {
  uint64_t file_size = 0;
  format::FileHeader header;
  format::Superblock superblock;  // the slot `choice.use` holds
  SuperblockSlots slots;
  SuperblockChoice choice;
  bool slot_blank[2] = {false, false};  // all zeros: never written
};

// `boot_tag` is the running boot's (io::Env::boot_tag).
Result<FileStart> read_file_start(io::File& file, uint32_t boot_tag);

// Decodes the bytes read at format::kSuperblockPos[0] and [1] in a file of
// `format_version`.
SuperblockSlots decode_superblock_slots(const std::string_view bytes[2], uint32_t format_version);

// Picks from the two slots (format::kSuperblockPos) as above; corruption
// if neither may be used.
Result<SuperblockChoice> choose_superblock(const format::Superblock slot[2], const bool valid[2],
                                           uint32_t boot_tag);

// Where the chain begins: the superblock's log start (a checkpoint, once
// there is one).
ChainPos chain_start(const FileStart& fs);

}  // namespace rivulet::log
