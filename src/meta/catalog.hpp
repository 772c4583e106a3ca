// The in-memory catalog: topics, their partitions, and each partition's
// offsets and sparse index. Built by replaying the log (metadata records
// and batch summaries); the same code serves recovery, catch-up and check.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "format/frame.hpp"
#include "format/meta_record.hpp"
#include "format/record_batch.hpp"
#include "index/partition_index.hpp"
#include "meta/group_offsets.hpp"
#include "meta/segment_table.hpp"
#include "rivulet/options.hpp"
#include "rivulet/status.hpp"

namespace rivulet::meta {

struct PartitionState {
  int64_t first_offset = 0;
  int64_t next_offset = 0;  // of the next record written
  // Readers see offsets below this: records are written before they are
  // committed (under sync full, committed means durable).
  int64_t visible_end = 0;
  uint64_t bytes = 0;       // of batches holding offsets from first_offset on
  uint64_t dead_bytes = 0;  // of batches wholly below first_offset, until cleaned
  index::PartitionIndex index;
};

struct TopicState {
  uint32_t id = 0;
  std::string name;
  TopicConfig config;
  bool deleted = false;
  std::vector<PartitionState> partitions;
  // Spreads unkeyed records; shared by every writer of this process.
  std::atomic<uint32_t> round_robin{0};
  // Bumped when the config changes or the topic is deleted: a WriteBatch
  // holding the topic's details looks them up again (under the state lock
  // its readers take; read without it by add()).
  std::atomic<uint32_t> changes{0};
};

class Catalog {
 public:
  Catalog();

  // Kafka's rules: 1..249 characters of [a-zA-Z0-9._-], not "." or "..".
  // Names starting with "__rivulet" are reserved for internal topics.
  static Status validate_name(std::string_view name);
  // What create_topic would be refused for: a bad name or config, a
  // duplicate, or a name that collides with another once '.' and '_' are
  // treated alike (as Kafka refuses, since metric names merge them).
  Status check_create(std::string_view name, const TopicConfig& config) const;

  const TopicState* find(std::string_view name) const;  // live topics only
  TopicState* find(std::string_view name);
  TopicState* by_id(uint32_t id);
  const TopicState* by_id(uint32_t id) const;
  uint32_t next_topic_id() const { return next_id_; }
  // Live user topics (internal ones left out), sorted by name.
  std::vector<const TopicState*> live_topics() const;
  // Whether a name is reserved for Rivulet's own topics.
  static bool is_internal(std::string_view name) { return name.rfind("__rivulet", 0) == 0; }

  // The internal topic of committed offsets, once created (else 0, which is
  // never its id: 0 is the metadata topic).
  uint32_t offsets_topic_id() const { return offsets_topic_id_; }
  GroupOffsets& offsets() { return offsets_; }
  const GroupOffsets& offsets() const { return offsets_; }

  // Replaying the log. `position` locates the record or batch for errors.
  Status apply_meta(const format::MetaChange& change, uint64_t position);
  Status apply_batch(uint32_t topic_id, uint32_t partition, const format::BatchHeader& batch, uint64_t position);
  // A batch of a relocated frame (cleaning): it replaces the live batch
  // with the same base offset, which must exist; its offsets may have gaps
  // (compaction). One left with no records is dropped, unless it is the
  // partition's last batch.
  Status apply_relocated(uint32_t topic_id, uint32_t partition, const format::BatchHeader& batch,
                         uint64_t position);
  // The chain entered segment `index` as its `seq`-th.
  void enter_segment(uint32_t index, uint64_t seq) { segments_.enter(index, seq); }
  // A checkpoint whose first frame is in the segment numbered `start_seq`
  // is complete: what it restates (metadata and committed offsets) no
  // longer needs the batches before it, so the internal topics start at
  // their next offset, and segments before it with nothing live are free.
  void apply_checkpoint_end(uint64_t start_seq);
  // Log bytes appended (frames other than checkpoints and relocations) over
  // the file's life, and that count at the last relocated frame: how much
  // cleaning is owed, the same for every handle and process.
  void note_appended(uint64_t bytes) { appended_ += bytes; }
  void note_cleaned() { cleaned_at_ = appended_; }
  uint64_t appended() const { return appended_; }
  uint64_t appended_since_cleaning() const { return appended_ - cleaned_at_; }
  SegmentTable& segments() { return segments_; }
  const SegmentTable& segments() const { return segments_; }
  bool is_internal_id(uint32_t id) const { return id == format::kMetaTopicId || id == offsets_topic_id_; }

  // The whole state in a checkpoint's encoding (meta/catalog_checkpoint.cpp),
  // and back: decode replaces this catalog's state; `position` (of the
  // checkpoint) is named in errors. Batch lists keep a share of `owner`
  // (which holds `state`) until they are decoded, on first use. Encoding
  // replaces *state, keeping its capacity (reserve it to spare the copies
  // of a growing string: a state can be tens of megabytes).
  Status encode_checkpoint(std::string* state) const;
  Status decode_checkpoint(std::string_view state, std::shared_ptr<const void> owner, uint64_t position);

 private:
  Status apply_partition_start(TopicState* t, const format::MetaChange& change, uint64_t position);
  // Takes every batch of `p` before `offset` out of the live bytes.
  // `position` (of the record that dropped them) is named in errors.
  Status drop_batches(TopicState* t, uint32_t partition, int64_t offset, uint64_t position);

  std::map<uint32_t, std::unique_ptr<TopicState>> topics_;  // by id, deleted ones too
  std::unordered_map<std::string, uint32_t> live_;          // name -> id
  uint32_t next_id_ = 1;
  uint32_t offsets_topic_id_ = 0;
  GroupOffsets offsets_;
  SegmentTable segments_;
  uint64_t appended_ = 0;
  uint64_t cleaned_at_ = 0;
};

}  // namespace rivulet::meta
