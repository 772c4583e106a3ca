// Offline inspection of a file: verify every checksum (`rivulet check`) and
// walk its frames and batches (`rivulet dump`). Both only read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rivulet/options.hpp"
#include "rivulet/status.hpp"

namespace rivulet {

struct BatchInfo {
  uint32_t topic_id = 0;
  std::string topic;  // name from the catalog; "__rivulet_meta" for metadata
  int32_t partition = 0;
  int64_t base_offset = 0;
  int32_t record_count = 0;
  int64_t max_timestamp_ms = 0;
  uint64_t position = 0;  // of the batch in the file
  uint32_t bytes = 0;
  int compression = 0;    // Kafka codec id
  // base_offset + lastOffsetDelta: after compaction the batch's records
  // have gaps, so this can be above base_offset + record_count - 1.
  int64_t last_offset = 0;
};

struct FrameInfo {
  uint64_t position = 0;
  uint64_t seq = 0;
  uint32_t length = 0;
  bool segment_end = false;
  std::vector<BatchInfo> batches;
};

struct CheckReport {
  bool ok = true;
  uint64_t frames = 0;
  uint64_t batches = 0;
  uint64_t records = 0;
  // 0 (and tail empty) when the header or superblocks were refused, so
  // the log was never walked.
  uint64_t log_end = 0;
  // What ends the log: "clean end", or the torn tail that the next writer
  // will discard (with its position).
  std::string tail;
  // Each problem names the file, what and where; empty when ok.
  std::vector<std::string> problems;
  // Damage that loses no data (a superblock slot or segment header torn by a
  // crash while being rewritten, or decayed); worth knowing, not failing for.
  std::vector<std::string> warnings;
};

// Verifies the header, superblocks, every frame and every batch checksum, and
// decodes every record. Problems are reported in the report, not as a
// failed Result; the Result fails only if the file cannot be read at all.
Result<CheckReport> check_file(const std::string& path, const OpenOptions& options = {});

// Calls `visit` for each frame in log order. Stops at the end of the log or
// at the first corruption (returned as the Status, its message naming the
// file).
Status dump_file(const std::string& path, const std::function<void(const FrameInfo&)>& visit,
                 const OpenOptions& options = {});

}  // namespace rivulet
