// Groups as they are now: their live members (from the shared area) and the
// partitions the assignor gives each, for describe and list.
#pragma once

#include <vector>

#include "coord/shared_state.hpp"
#include "rivulet/db.hpp"

namespace rivulet::group {

// Every group with live members, by name, with members but no offsets.
Result<std::vector<GroupInfo>> live_groups(coord::SharedState& shared, const std::vector<TopicInfo>& topics);

}  // namespace rivulet::group
