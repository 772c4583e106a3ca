// What a consumer group may be called: one rule for committing offsets and
// for joining, so that any group one can commit for, one can also join.
#pragma once

#include <string_view>

#include "rivulet/status.hpp"

namespace rivulet::group {

// 1 to coord::kMaxGroupNameBytes bytes (the name is stored in the shared
// member table) of valid UTF-8 (offset records carry it in JSON), with no
// control characters (`group list` prints one name per line).
Status check_group_name(std::string_view group);

}  // namespace rivulet::group
