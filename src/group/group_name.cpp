// See group_name.hpp.
#include "group/group_name.hpp"

#include <fmt/format.h>

#include "coord/group_area.hpp"
#include "util/utf8.hpp"

namespace rivulet::group {

Status check_group_name(std::string_view group) {
  if (group.empty()) return {Code::invalid_argument, "a group name must not be empty"};
  if (group.size() > coord::kMaxGroupNameBytes) {
    return {Code::invalid_argument,
            fmt::format("group name is {} bytes; at most {}", group.size(), coord::kMaxGroupNameBytes)};
  }
  if (!is_valid_utf8(group)) return {Code::invalid_argument, "group name is not valid UTF-8"};
  return Status::OK();
}

}  // namespace rivulet::group
