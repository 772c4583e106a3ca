#include "group/live_groups.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "coord/group_membership.hpp"
#include "group/assignor.hpp"

namespace rivulet::group {

Result<std::vector<GroupInfo>> live_groups(coord::SharedState& shared, const std::vector<TopicInfo>& topics) {
  Result<std::vector<coord::LiveGroup>> live = coord::GroupMembership::live_groups(shared);
  if (!live.ok()) return live.status();
  std::vector<AssignTopic> assign = assign_topics(topics);
  std::vector<GroupInfo> out;
  for (const coord::LiveGroup& g : *live) {
    std::vector<AssignMember> members;
    for (const coord::LiveMember& m : g.members) members.push_back({m.join_seq, m.topics});
    std::vector<std::vector<AssignedPartition>> assigned = assign_round_robin(assign, members);
    GroupInfo info;
    info.name = g.name;
    for (size_t i = 0; i < g.members.size(); ++i) {
      GroupMemberInfo m;
      m.member_id = fmt::format("{}-{}", g.members[i].pid, g.members[i].join_seq);
      m.pid = g.members[i].pid;
      for (const AssignTopic& t : assign) {
        const std::vector<uint64_t>& s = g.members[i].topics;
        if (std::find(s.begin(), s.end(), t.hash) != s.end()) m.subscription.push_back(t.name);
      }
      std::sort(m.subscription.begin(), m.subscription.end());
      for (const AssignedPartition& a : assigned[i]) m.assignment.push_back({assign[a.topic].name, a.partition});
      info.members.push_back(std::move(m));
    }
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace rivulet::group
