#include "meta/group_offsets.hpp"

namespace rivulet::meta {

void GroupOffsets::apply(const format::OffsetKey& key, const std::optional<format::OffsetValue>& value,
                         int64_t timestamp_ms) {
  if (!value) {
    auto g = groups_.find(key.group);
    if (g == groups_.end()) return;
    g->second.erase({key.topic, key.partition});
    if (g->second.empty()) groups_.erase(g);
    return;
  }
  groups_[key.group][{key.topic, key.partition}] = {value->offset, value->metadata, timestamp_ms};
}

const Committed* GroupOffsets::find(const std::string& group, const std::string& topic, int32_t partition) const {
  auto g = groups_.find(group);
  if (g == groups_.end()) return nullptr;
  auto it = g->second.find({topic, partition});
  return it == g->second.end() ? nullptr : &it->second;
}

}  // namespace rivulet::meta
