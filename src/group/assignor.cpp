#include "group/assignor.hpp"

#include <algorithm>
#include <numeric>

#include "coord/group_area.hpp"

namespace rivulet::group {

std::vector<std::vector<AssignedPartition>> assign_round_robin(std::vector<AssignTopic> topics,
                                                               const std::vector<AssignMember>& members) {
  std::vector<std::vector<AssignedPartition>> out(members.size());
  if (members.empty()) return out;
  std::vector<size_t> by_join(members.size());
  std::iota(by_join.begin(), by_join.end(), 0);
  std::sort(by_join.begin(), by_join.end(),
            [&](size_t a, size_t b) { return members[a].join_seq < members[b].join_seq; });
  std::vector<size_t> by_name(topics.size());
  std::iota(by_name.begin(), by_name.end(), 0);
  std::sort(by_name.begin(), by_name.end(), [&](size_t a, size_t b) { return topics[a].name < topics[b].name; });

  size_t next = 0;  // position in by_join of the member dealt to next
  for (size_t t : by_name) {
    auto subscribed = [&](size_t m) {
      const std::vector<uint64_t>& s = members[m].topics;
      return std::find(s.begin(), s.end(), topics[t].hash) != s.end();
    };
    if (std::none_of(by_join.begin(), by_join.end(), subscribed)) continue;
    for (int32_t p = 0; p < topics[t].partitions; ++p) {
      while (!subscribed(by_join[next])) next = (next + 1) % by_join.size();
      out[by_join[next]].push_back({t, p});
      next = (next + 1) % by_join.size();
    }
  }
  return out;
}

std::vector<AssignTopic> assign_topics(const std::vector<TopicInfo>& topics) {
  std::vector<AssignTopic> out;
  for (const TopicInfo& t : topics) {
    out.push_back({t.name, coord::topic_hash(t.name.data(), t.name.size()), t.id,
                   static_cast<int32_t>(t.partitions.size())});
  }
  return out;
}

}  // namespace rivulet::group
