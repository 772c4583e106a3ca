// The committed offsets of every consumer group, replayed from the records
// of __rivulet_offsets (format/offset_record.hpp): the latest per (group,
// topic, partition) counts, and a null value deletes it.
//
// Under sync full a frame is applied when written but visible only once
// durable, and so are the offsets it commits: a consumer must not see, or
// take over a partition at, an offset a power cut could take back. The
// state here is always the whole log's (a checkpoint records it); changes
// of frames not yet visible are kept in an undo log, which the readers'
// view (visible, visible_groups) goes back through.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "format/offset_record.hpp"

namespace rivulet::meta {

struct Committed {
  int64_t offset = 0;
  std::string metadata;
  int64_t commit_ms = 0;  // timestamp of the record that committed it
};

class GroupOffsets {
 public:
  using TopicPartition = std::pair<std::string, int32_t>;
  using Group = std::map<TopicPartition, Committed>;

  // Frames after `seq` are applied hidden (until reveal_through); every
  // frame is visible as applied unless this is called.
  void hide_after(uint64_t seq) { visible_through_ = seq; }
  // `seq` is the frame's: a change of a hidden frame can be undone.
  void apply(const format::OffsetKey& key, const std::optional<format::OffsetValue>& value, int64_t timestamp_ms,
             uint64_t seq = 0);
  // Frames through `seq` are now visible.
  void reveal_through(uint64_t seq);

  // As of the last visible frame.
  std::optional<Committed> visible(const std::string& group, const std::string& topic, int32_t partition) const;
  std::map<std::string, Group> visible_groups() const;
  // As of the last applied frame (what a checkpoint records).
  const std::map<std::string, Group>& groups() const { return groups_; }

 private:
  void set(const std::string& group, const TopicPartition& tp, std::optional<Committed> value);

  std::map<std::string, Group> groups_;  // groups with at least one commit
  struct Undo {
    uint64_t seq;
    std::string group;
    TopicPartition tp;
    std::optional<Committed> before;
  };
  std::deque<Undo> hidden_;  // oldest first
  uint64_t visible_through_ = UINT64_MAX;
};

}  // namespace rivulet::meta
