// Applies one valid frame to a catalog: metadata records change topics,
// every batch advances its partition's offsets and index. Recovery, the
// writer, readers catching up and `check` all use this one function.
#pragma once

#include <functional>

#include "format/frame.hpp"
#include "format/record_decoder.hpp"
#include "log/log_scanner.hpp"
#include "meta/catalog.hpp"

namespace rivulet::db {

// Calls `take` for each record of batch `b`, of topic `topic`; a malformed
// record is corruption naming the topic, partition and position.
Status for_each_record(const format::BatchRef& b, std::string_view topic,
                       const std::function<Status(const format::DecodedRecord&)>& take);

// A frame whose checksums hold but whose contents contradict the catalog
// (offsets that skip, an unknown topic) is corruption at its position.
// Checkpoint frames change nothing here (Replay handles them).
Status apply_frame(meta::Catalog& catalog, const format::ParsedFrame& frame);

// Follows the chain into a catalog: apply_frame for each frame, plus what
// the chain itself says: which segment it enters (segment-end frames) and
// where checkpoints end. A chain that starts at a checkpoint (the
// superblock says so) loads its state first. Recovery, the writer, readers
// catching up and `check` all replay through this.
class Replay {
 public:
  // `start`: where the chain starts (named in errors).
  Replay(meta::Catalog* catalog, bool from_checkpoint, uint64_t start)
      : catalog_(catalog), loading_(from_checkpoint), run_position_(start) {}
  // Applies `frame`, found at `at`; `next` is where the chain goes on.
  Status apply(const format::ParsedFrame& frame, const log::ChainPos& at, const log::ChainPos& next);
  // After the walk: fails if the chain ended inside the checkpoint it was
  // to start from.
  Status finish() const;
  // Log bytes since the last complete checkpoint (or the start).
  uint64_t bytes_since_checkpoint() const { return since_checkpoint_; }
  // Log bytes of the last complete checkpoint's frames (0 before one).
  uint64_t last_checkpoint_bytes() const { return last_checkpoint_bytes_; }
  uint64_t checkpoints() const { return checkpoints_; }

 private:
  meta::Catalog* catalog_;
  bool loading_;                // the first checkpoint replaces the catalog
  bool in_checkpoint_ = false;  // inside a run of checkpoint frames
  uint64_t run_start_seq_ = 0;  // segment_seq of the run's first frame
  uint64_t run_position_ = 0;
  uint64_t run_bytes_ = 0;      // of the run's frames so far
  // The run's record values, when loading: views into the mapped file
  // (records are never compressed), which the superblock's log start keeps
  // from reuse while the handle opens. Copied once, into one string of the
  // right size, at the run's end: growing a string instead costs a page
  // fault per 4 KiB of every copy.
  std::vector<std::string_view> pieces_;
  // Segments the chain entered during the run (and the one it began in):
  // the state was taken before, so loading it must enter them again.
  std::vector<std::pair<uint32_t, uint64_t>> entered_;
  uint64_t since_checkpoint_ = 0;
  uint64_t last_checkpoint_bytes_ = 0;
  uint64_t checkpoints_ = 0;
};

}  // namespace rivulet::db
