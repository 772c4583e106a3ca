// See group_name.hpp.
#include "group/group_name.hpp"

#include <fmt/format.h>

#include <algorithm>

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
  // `group list` prints a name per line, and a tab or newline in a name is
  // a mistake more often than a wish.
  auto control = std::find_if(group.begin(), group.end(),
                              [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
  if (control != group.end()) {
    return {Code::invalid_argument, fmt::format("group name holds a control character (byte {:#04x} at {})",
                                                static_cast<unsigned char>(*control), control - group.begin())};
  }
  return Status::OK();
}

}  // namespace rivulet::group
