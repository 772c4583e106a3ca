// Reading the start of a file: header and superblocks, refusing files that
// are not Rivulet files or come from a newer format before anything else.
#pragma once

#include "format/file_layout.hpp"
#include "io/env.hpp"
#include "log/log_scanner.hpp"

namespace rivulet::log {

struct FileStart {
  uint64_t file_size = 0;
  format::FileHeader header;
  format::Superblock superblock;  // the valid one with the higher generation
  bool slot_valid[2] = {false, false};
  bool slot_blank[2] = {false, false};  // all zeros: never written
};

Result<FileStart> read_file_start(io::File& file);

// Where the chain begins: the superblock's log start (a checkpoint, once
// there is one).
ChainPos chain_start(const FileStart& fs);

}  // namespace rivulet::log
