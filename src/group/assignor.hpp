// Which member of a group reads which partition. Every member computes the
// assignment itself from the same inputs (the live members and the topics),
// so no leader has to hand it out; the partition locks
// (coord/group_membership.hpp) keep two members from reading one partition
// while their views of the inputs differ for a moment.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rivulet/db.hpp"

namespace rivulet::group {

struct AssignTopic {
  std::string name;
  uint64_t hash = 0;  // coord::topic_hash(name)
  uint32_t id = 0;
  int32_t partitions = 0;
};

struct AssignMember {
  uint64_t join_seq = 0;
  std::vector<uint64_t> topics;  // subscribed, by hash
};

struct AssignedPartition {
  size_t topic = 0;  // index into the topics given
  int32_t partition = 0;
  bool operator==(const AssignedPartition&) const = default;
};

// Kafka's round-robin assignor: the partitions of all topics (topics by
// name, partitions in order) are dealt to the members (by join_seq) in turn,
// each partition to the next member subscribed to its topic. Returns, for
// each member in the order given, its partitions.
std::vector<std::vector<AssignedPartition>> assign_round_robin(std::vector<AssignTopic> topics,
                                                               const std::vector<AssignMember>& members);

// The assignor's view of the live topics.
std::vector<AssignTopic> assign_topics(const std::vector<TopicInfo>& topics);

}  // namespace rivulet::group
