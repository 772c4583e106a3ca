// Consumer groups' committed offsets, as Kafka keeps them: per group, topic
// and partition, the next offset to read and a free-form metadata string.
// They are records in the file (an internal topic), so they survive crashes
// and commit atomically with other records of the same WriteBatch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rivulet {

struct OffsetCommit {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;  // the next offset the group will read
  std::string metadata;
};

struct CommittedOffset {
  int64_t offset = 0;
  std::string metadata;
  int64_t commit_ms = 0;  // when it was committed
};

struct GroupPartitionInfo {
  std::string topic;
  int32_t partition = 0;
  CommittedOffset committed;
  // The partition's end offset and how far the group is behind it; -1 if
  // the topic no longer exists (or no longer has the partition).
  int64_t end_offset = -1;
  int64_t lag = -1;
};

struct GroupInfo {
  std::string name;
  std::vector<GroupPartitionInfo> partitions;  // by topic, then partition
};

}  // namespace rivulet
