#include "meta/group_offsets.hpp"

#include <algorithm>

namespace rivulet::meta {

void GroupOffsets::set(const std::string& group, const TopicPartition& tp, std::optional<Committed> value) {
  if (value) {
    groups_[group][tp] = std::move(*value);
    return;
  }
  auto g = groups_.find(group);
  if (g == groups_.end()) return;
  g->second.erase(tp);
  if (g->second.empty()) groups_.erase(g);
}

void GroupOffsets::apply(const format::OffsetKey& key, const std::optional<format::OffsetValue>& value,
                         int64_t timestamp_ms, uint64_t seq) {
  TopicPartition tp{key.topic, key.partition};
  if (seq > visible_through_) {
    auto g = groups_.find(key.group);
    const Committed* before = nullptr;
    if (g != groups_.end()) {
      auto it = g->second.find(tp);
      if (it != g->second.end()) before = &it->second;
    }
    hidden_.push_back({seq, key.group, tp, before ? std::optional<Committed>(*before) : std::nullopt});
  }
  set(key.group, tp, value ? std::optional<Committed>(Committed{value->offset, value->metadata, timestamp_ms})
                           : std::nullopt);
}

void GroupOffsets::reveal_through(uint64_t seq) {
  while (!hidden_.empty() && hidden_.front().seq <= seq) hidden_.pop_front();
}

std::optional<Committed> GroupOffsets::visible(const std::string& group, const std::string& topic,
                                               int32_t partition) const {
  // The oldest hidden change of the key holds what was visible before it.
  for (const Undo& u : hidden_) {
    if (u.group == group && u.tp.first == topic && u.tp.second == partition) return u.before;
  }
  auto g = groups_.find(group);
  if (g == groups_.end()) return std::nullopt;
  auto it = g->second.find({topic, partition});
  if (it == g->second.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, GroupOffsets::Group> GroupOffsets::visible_groups() const {
  if (hidden_.empty()) return groups_;
  GroupOffsets view;
  view.groups_ = groups_;
  // Newest first, so each key ends as its oldest hidden change found it.
  for (auto u = hidden_.rbegin(); u != hidden_.rend(); ++u) view.set(u->group, u->tp, u->before);
  return std::move(view.groups_);
}

}  // namespace rivulet::meta
