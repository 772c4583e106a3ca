// The inside of a WriteBatch: one Kafka batch being built per partition the
// records go to, and where each added record went.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "format/frame.hpp"
#include "format/offset_record.hpp"
#include "format/record_batch.hpp"
#include "rivulet/db.hpp"

namespace rivulet {

class DbImpl;

struct WriteBatch::Rep {
  struct Part {
    uint32_t topic_id = 0;
    int32_t partition = 0;
    bool log_append_time = false;  // as the topic was at the last commit
    format::BatchBuilder builder;
    int64_t base_offset = -1;  // set by a successful commit
  };
  struct Slot {
    uint32_t part = 0;
    uint32_t index = 0;  // within its part
    int64_t timestamp = 0;
  };
  // The topic of the last add(), so a run of records to one topic looks it
  // up once, and again only once the handle has seen it altered or deleted
  // (a reused batch would otherwise keep a deleted topic's id and config
  // for good, even once a topic of that name is made again).
  struct CachedTopic {
    std::string name;
    uint32_t id = 0;
    int32_t partitions = 0;
    TopicConfig config;
    std::atomic<uint32_t>* round_robin = nullptr;
    const std::atomic<uint32_t>* changes = nullptr;  // the topic's change count...
    uint32_t changes_seen = 0;                       // ...when these details were taken

    bool current(std::string_view topic) const {
      return round_robin != nullptr && name == topic && changes->load(std::memory_order_acquire) == changes_seen;
    }
  };

  DbImpl* db = nullptr;
  std::vector<Part> parts;
  // Builders of cleared parts, kept so a reused batch does not allocate (and
  // fault in) its buffers again for every commit.
  std::vector<format::BatchBuilder> spare;
  // (topic_id << 32 | partition) -> parts index, once there are
  // kIndexedParts parts; fewer are searched in `parts` (a map node per part
  // would be the only allocations of a reused one-record batch).
  std::unordered_map<uint64_t, uint32_t> part_of;
  static constexpr size_t kIndexedParts = 8;
  std::vector<Slot> slots;
  // A frame holds at most this many batches (its count is a u16).
  static constexpr size_t kMaxParts = 65535;
  // The frame a commit of this batch writes (header, summary and batches):
  // add() keeps it within a segment, so that commit() can write it.
  uint64_t frame_bytes = format::kFrameHeaderSize;
  CachedTopic cached;
  uint32_t offsets_topic_id = 0;  // once an offset was added
  bool committed = false;
  int64_t append_time = 0;  // set by commit, for log_append_time parts

  uint32_t last_part = 0;  // runs of records to one partition are the common case

  // The part for (topic, partition), or null if there is none yet.
  // Inline for the common case, the same part as the last add.
  Part* find_part(uint32_t topic_id, int32_t partition) {
    if (last_part < parts.size() && parts[last_part].topic_id == topic_id && parts[last_part].partition == partition)
        [[likely]] {
      return &parts[last_part];
    }
    return find_other_part(topic_id, partition);
  }
  Part* find_other_part(uint32_t topic_id, int32_t partition);
  // too_large (naming the file) once the batch has kMaxParts parts.
  Status check_new_part() const;
  Part& add_part(uint32_t topic_id, int32_t partition, bool log_append_time);
  // Bytes of records still fitting in the commit's frame.
  uint64_t room() const;
  // The too_large error for a record of `size` bytes that room() refused.
  Status no_room(size_t size) const;
  // Keeps the part's builder (and its buffer) in `spare` for a later part.
  void recycle(Part& p);
  // Removes the part add_part() just made (its record was refused).
  void drop_last_part();
  // WriteBatch::add_offset.
  Status add_offset(std::string_view group, const OffsetCommit& offset);
  // Adds a record of the offsets topic: a commit, or with no value the
  // deletion of one.
  Status add_offset_record(const format::OffsetKey& key, const std::optional<format::OffsetValue>& value);
};

}  // namespace rivulet
