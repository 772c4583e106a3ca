// Cleaning (issue 5): chooses which live batches to copy to the head of the
// log, in relocated frames, so that segments holding mostly dead bytes come
// free, and compacts the partitions of `compact` topics as Kafka's log
// cleaner does. It only plans: the writer (DbImpl) writes the frames it
// returns, in small steps inline with commits, and applying them moves the
// batches (Catalog::apply_relocated). docs/DESIGN.md, "Cleaning".
//
// Two kinds of job, one at a time:
//  - a segment: the in-use segment with the least live bytes, if under
//    `max_live_fraction` of its room, is walked frame by frame and each batch
//    still live is copied as it is;
//  - a partition of a compact topic whose bytes not yet compacted reach
//    `min_dirty_fraction`: an offset map is built over them, then every
//    batch from the partition's start to the map's end is compacted in
//    offset order, and those that lose records are written again.
//    Tombstones older than delete.retention.ms go in such a pass only,
//    since it removes every older record of their key on the way.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "clean/offset_map.hpp"
#include "log/file_map.hpp"
#include "meta/catalog.hpp"

namespace rivulet::db {

struct CleanerLimits {
  // A segment is worth cleaning when its live bytes are below this share of
  // its room. Low, because under retention the oldest segments die by
  // themselves soon after: copying their last live quarter costs little,
  // copying half would rewrite much of what retention takes next (vacuum
  // cleans everything short of full).
  double max_live_fraction = 0.25;
  // A compact partition gets a pass when this share of its bytes (and at
  // least min_dirty_bytes) was written since its last pass.
  double min_dirty_fraction = 0.5;
  uint64_t min_dirty_bytes = 64u << 10;
  // Only segments whose segment_seq is below this (vacuum: those that
  // existed when it began).
  uint64_t below_seq = UINT64_MAX;
  // Leave alone the segment holding the oldest batch of a partition near
  // its retention.bytes (vacuum cleans it all the same).
  bool spare_retention = true;
  // Damage (a batch failing its checksum, an index that does not decode)
  // found by a job sets its partition or segment aside for this handle, and
  // planning goes on: cleaning runs before each commit, and failing there
  // would refuse every write to every topic. Readers and check still report
  // the damage. False (vacuum): the damage is the step's error.
  bool set_damage_aside = true;
};

// One batch for a relocated frame.
struct Relocation {
  uint32_t topic_id = 0;
  uint32_t partition = 0;
  std::string bytes;
};

class Cleaner {
 public:
  // Plans the next step: batches worth at most about `budget` bytes of
  // reading. Empty when there is nothing to clean under `limits`. The
  // caller holds the catalog's lock (shared) and writes them in relocated
  // frames before the catalog changes otherwise. `head_pos` is where the
  // log ends (its segment is never cleaned).
  // `*read` grows by the bytes looked at.
  Status plan(const meta::Catalog& catalog, log::FileMap& map, uint64_t head_pos, const CleanerLimits& limits,
              uint64_t budget, int64_t now_ms, std::vector<Relocation>* out, uint64_t* read);
  // The caller wrote the frames of the step plan() returned (`written`) or
  // failed to. What a step ends (segments walked, passes) counts only once
  // its frames are written; after a failure the jobs under way start over.
  void step_done(bool written);
  // Forgets where this handle's passes ended and drops a pass under way, so
  // that every compact partition gets a pass from its start, with a
  // cutoff of now (vacuum: a tombstone that expired since the last pass
  // goes, although nothing was written since).
  void forget_passes();
  // Bytes a run under `limits` would still read, for a progress bar.
  uint64_t pending_bytes(const meta::Catalog& catalog, uint64_t head_pos, const CleanerLimits& limits) const;

 private:
  struct SegmentJob {
    uint32_t index = 0;
    uint64_t seq = 0;
    uint64_t cursor = 0;  // position of the next frame to look at
  };
  struct PartitionJob {
    uint32_t topic_id = 0;
    uint32_t partition = 0;
    int64_t cursor = 0;    // next offset to compact
    int64_t map_end = 0;   // first offset the map does not cover
    int64_t cutoff_ms = 0; // tombstones of batches older than this go
  };
  using PartitionKey = std::pair<uint32_t, uint32_t>;

  std::optional<SegmentJob> pick_segment(const meta::Catalog& catalog, uint64_t head_pos,
                                         const CleanerLimits& limits) const;
  std::optional<PartitionKey> pick_partition(const meta::Catalog& catalog, const CleanerLimits& limits) const;
  uint64_t dirty_bytes(const meta::Catalog& catalog, PartitionKey key) const;
  Status start_partition(const meta::Catalog& catalog, log::FileMap& map, PartitionKey key, int64_t now_ms);
  Status plan_segment(const meta::Catalog& catalog, log::FileMap& map, uint64_t budget, std::vector<Relocation>* out,
                      uint64_t* read);
  Status plan_partition(const meta::Catalog& catalog, log::FileMap& map, uint64_t budget,
                        std::vector<Relocation>* out, uint64_t* read);

  std::optional<SegmentJob> segment_job_;
  std::optional<PartitionJob> partition_job_;
  // What the step being written changed in walked_ and clean_end_ (with
  // the value before), undone by step_done if its frames were not written.
  std::vector<std::pair<uint32_t, uint64_t>> step_walked_;
  std::vector<std::pair<PartitionKey, std::optional<int64_t>>> step_clean_ends_;
  std::unique_ptr<clean::OffsetMap> map_;
  // Segments (index, seq) walked to the end: not picked again in that use,
  // even if the live count says otherwise.
  std::set<std::pair<uint32_t, uint64_t>> walked_;
  // Per compact partition, the offset below which the last pass compacted.
  std::map<PartitionKey, int64_t> clean_end_;
  // Compact partitions whose pass found damage (set_damage_aside).
  std::set<PartitionKey> damaged_;
};

}  // namespace rivulet::db
