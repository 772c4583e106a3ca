// Consumer groups' committed offsets, as Kafka keeps them: per group, topic
// and partition, the next offset to read and a free-form metadata string.
// They are records in the file (an internal topic), so they survive crashes
// and commit atomically with other records of the same WriteBatch.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

namespace rivulet {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  bool operator==(const TopicPartition&) const = default;
  auto operator<=>(const TopicPartition&) const = default;
};

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

// A live member of a group (a Consumer in some process on this host).
struct GroupMemberInfo {
  std::string member_id;  // "<pid>-<n>": its process and its join number
  uint32_t pid = 0;
  std::vector<std::string> subscription;  // the existing topics it subscribes to
  // What the group's assignor gives it now. While partitions move, the
  // member may still be taking some of them over.
  std::vector<TopicPartition> assignment;
};

struct GroupInfo {
  std::string name;
  std::vector<GroupMemberInfo> members;          // by join order
  std::vector<GroupPartitionInfo> partitions;  // committed offsets, by topic, then partition
};

}  // namespace rivulet
