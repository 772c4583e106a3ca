// The committed offsets of every consumer group, replayed from the records
// of __rivulet_offsets (format/offset_record.hpp): the latest per (group,
// topic, partition) counts, and a null value deletes it.
#pragma once

#include <cstdint>
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

  void apply(const format::OffsetKey& key, const std::optional<format::OffsetValue>& value, int64_t timestamp_ms);
  const Committed* find(const std::string& group, const std::string& topic, int32_t partition) const;
  const std::map<std::string, Group>& groups() const { return groups_; }

 private:
  std::map<std::string, Group> groups_;  // groups with at least one commit
};

}  // namespace rivulet::meta
