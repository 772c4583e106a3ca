// Topic catalog and per-partition offsets.
#include "meta/catalog.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "format/frame.hpp"
#include "meta/topic_config.hpp"

namespace rivulet::meta {

Catalog::Catalog() {
  auto meta = std::make_unique<TopicState>();
  meta->id = format::kMetaTopicId;
  meta->name = std::string(format::kMetaTopicName);
  meta->partitions.resize(1);
  topics_[meta->id] = std::move(meta);
}

Status Catalog::validate_name(std::string_view name) {
  auto bad = [&](const std::string& why) {
    return Status(Code::invalid_argument, fmt::format("invalid topic name '{}': {}", name, why));
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > 249) return bad(fmt::format("{} characters, the limit is 249", name.size()));
  if (name == "." || name == "..") return bad("'.' and '..' are not allowed");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return bad("only ASCII letters, digits, '.', '_' and '-' are allowed");
  }
  if (is_internal(name)) return bad("names starting with '__rivulet' are reserved");
  return Status::OK();
}

static std::string collision_key(std::string_view name) {
  std::string k(name);
  std::replace(k.begin(), k.end(), '.', '_');
  return k;
}

Status Catalog::check_create(std::string_view name, const TopicConfig& config) const {
  RIVULET_TRY(validate_name(name));
  RIVULET_TRY(check_topic_config(name, config));
  if (find(name)) return {Code::already_exists, fmt::format("topic '{}' already exists", name)};
  std::string key = collision_key(name);
  for (const auto& [existing, id] : live_) {
    if (collision_key(existing) == key) {
      return {Code::already_exists,
              fmt::format("topic '{}' collides with existing topic '{}' ('.' and '_' count as the same)", name,
                          existing)};
    }
  }
  return Status::OK();
}

TopicState* Catalog::find(std::string_view name) {
  auto it = live_.find(std::string(name));
  return it == live_.end() ? nullptr : topics_.at(it->second).get();
}

const TopicState* Catalog::find(std::string_view name) const {
  return const_cast<Catalog*>(this)->find(name);
}

TopicState* Catalog::by_id(uint32_t id) {
  auto it = topics_.find(id);
  return it == topics_.end() ? nullptr : it->second.get();
}

const TopicState* Catalog::by_id(uint32_t id) const { return const_cast<Catalog*>(this)->by_id(id); }

std::vector<const TopicState*> Catalog::live_topics() const {
  std::vector<const TopicState*> out;
  for (const auto& [name, id] : live_) {
    if (!is_internal(name)) out.push_back(topics_.at(id).get());
  }
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->name < b->name; });
  return out;
}

static Status corrupt(uint64_t position, const std::string& what) {
  return {Code::corruption, fmt::format("at position {}: {}", position, what), position};
}

// A batch list entry (from a checkpoint: replay only lists batches it met)
// that points past the segments the file has.
static Status outside_segments(uint64_t position, const std::string& topic, uint32_t partition,
                               const index::BatchEntry& e) {
  return corrupt(position, fmt::format("batch of '{}' partition {} at offset {} is listed at position {}, outside "
                                       "every segment of the file (a damaged checkpoint batch list)",
                                       topic, partition, e.base_offset, e.position));
}

Status Catalog::apply_meta(const format::MetaChange& change, uint64_t position) {
  if (change.kind == format::MetaChange::Kind::topic_create) {
    if (topics_.count(change.topic_id)) {
      return corrupt(position, fmt::format("topic id {} created twice", change.topic_id));
    }
    if (find(change.name)) return corrupt(position, fmt::format("topic '{}' created twice", change.name));
    if (change.config.partitions < 1 || change.config.partitions > 100000) {
      return corrupt(position, fmt::format("topic '{}' has an impossible partition count", change.name));
    }
    auto t = std::make_unique<TopicState>();
    t->id = change.topic_id;
    t->name = change.name;
    t->config = change.config;
    t->partitions.resize(static_cast<size_t>(change.config.partitions));
    live_[t->name] = t->id;
    next_id_ = std::max(next_id_, t->id + 1);
    if (t->name == format::kOffsetsTopicName) offsets_topic_id_ = t->id;
    topics_[t->id] = std::move(t);
    return Status::OK();
  }
  TopicState* t = by_id(change.topic_id);
  if (change.kind == format::MetaChange::Kind::partition_start) return apply_partition_start(t, change, position);
  if (!t || t->deleted || t->id == format::kMetaTopicId) {
    return corrupt(position, fmt::format("change of unknown topic id {}", change.topic_id));
  }
  if (change.kind == format::MetaChange::Kind::topic_config) {
    if (change.config.partitions != t->config.partitions) {
      return corrupt(position, fmt::format("config change of topic '{}' changes its partition count", t->name));
    }
    t->config = change.config;
    t->changes.fetch_add(1, std::memory_order_release);
    return Status::OK();
  }
  if (t->id == offsets_topic_id_) return corrupt(position, "deletion of the offsets topic");
  t->deleted = true;
  t->changes.fetch_add(1, std::memory_order_release);
  live_.erase(t->name);
  for (uint32_t i = 0; i < t->partitions.size(); ++i) RIVULET_TRY(drop_batches(t, i, INT64_MAX, position));
  return Status::OK();
}

// The earliest offset only moves forward, by the writer's own rule; an
// offset past the end is a record no writer could have made.
Status Catalog::apply_partition_start(TopicState* t, const format::MetaChange& change, uint64_t position) {
  if (!t || t->deleted || t->id == format::kMetaTopicId || change.partition < 0 ||
      static_cast<size_t>(change.partition) >= t->partitions.size()) {
    return corrupt(position, fmt::format("earliest offset for unknown topic id {} partition {}", change.topic_id,
                                         change.partition));
  }
  PartitionState& p = t->partitions[static_cast<size_t>(change.partition)];
  if (change.start_offset > p.next_offset) {
    return corrupt(position, fmt::format("earliest offset {} of '{}' partition {} is past its end {}",
                                         change.start_offset, t->name, change.partition, p.next_offset));
  }
  if (change.start_offset <= p.first_offset) return Status::OK();
  p.first_offset = change.start_offset;
  return drop_batches(t, static_cast<uint32_t>(change.partition), p.first_offset, position);
}

Status Catalog::drop_batches(TopicState* t, uint32_t partition, int64_t offset, uint64_t position) {
  PartitionState& p = t->partitions[partition];
  bool internal = is_internal_id(t->id);
  // A batch list that does not decode drops nothing (its batches stay live
  // in their segments). Failing here would fail every open after the frame;
  // delete_records refuses such a partition, retention passes it by, and a
  // topic deletion goes ahead (docs/DESIGN.md, "Damage met while cleaning").
  Status st;
  uint64_t dropped = p.index.drop_before(offset, p.next_offset, [&](const index::BatchEntry& e) {
    if (!internal && !segments_.kill(e.position, e.bytes, t->id, partition) && st.ok()) {
      st = outside_segments(position, t->name, partition, e);
    }
  });
  p.bytes -= dropped;
  if (!internal) p.dead_bytes += dropped;
  return st;
}

Status Catalog::apply_relocated(uint32_t topic_id, uint32_t partition, const format::BatchHeader& batch,
                                uint64_t position) {
  TopicState* t = by_id(topic_id);
  if (!t || t->deleted || is_internal_id(topic_id) || partition >= t->partitions.size()) {
    return corrupt(position, fmt::format("relocated batch for topic id {} partition {}, which has no live batches",
                                         topic_id, partition));
  }
  PartitionState& p = t->partitions[partition];
  RIVULET_TRY(p.index.load());
  std::optional<size_t> i = p.index.find_offset(batch.base_offset);
  // The entry and the one after it (whose base offset ends it), decoded once.
  auto c = p.index.cursor(i.value_or(0));
  if (!i || c->base_offset != batch.base_offset) {
    return corrupt(position, fmt::format("relocated batch of '{}' partition {} at offset {} replaces no batch", t->name,
                                         partition, batch.base_offset));
  }
  index::BatchEntry e = *c;
  c.next();
  const bool last = !c.valid();
  int64_t end = last ? p.next_offset : c->base_offset;
  if (batch.last_offset() >= end || batch.records_count > int64_t{batch.last_offset_delta} + 1) {
    return corrupt(position, fmt::format("relocated batch of '{}' partition {} at offset {} holds other offsets",
                                         t->name, partition, batch.base_offset));
  }
  if (!segments_.move_out(e.position, e.bytes)) return outside_segments(position, t->name, partition, e);
  p.bytes -= e.bytes;
  e.position = position;
  e.bytes = batch.total_size();
  e.checked = true;  // replay checked the copy; a cleaner checks what it copies
  if (batch.records_count == 0 && !last) {
    segments_.add_live(position, e.bytes);
    if (!segments_.move_out(position, e.bytes)) return outside_segments(position, t->name, partition, e);
    p.index.erase(*i);
    return Status::OK();
  }
  p.index.set(*i, e);
  p.bytes += e.bytes;
  segments_.add_live(position, e.bytes);
  return Status::OK();
}

void Catalog::apply_checkpoint_end(uint64_t start_seq) {
  for (TopicState* t : {by_id(format::kMetaTopicId), offsets_topic_id_ ? by_id(offsets_topic_id_) : nullptr}) {
    if (!t) continue;
    for (uint32_t i = 0; i < t->partitions.size(); ++i) {
      t->partitions[i].first_offset = t->partitions[i].next_offset;
      drop_batches(t, i, INT64_MAX, 0).ignore();  // internal batches are in no segment's counts: cannot fail
    }
  }
  for (const SegmentState::DeadShare& d : segments_.free_dead_before(start_seq)) {
    TopicState* t = by_id(d.topic_id);
    if (!t || d.partition >= t->partitions.size()) continue;
    PartitionState& p = t->partitions[d.partition];
    p.dead_bytes -= std::min(p.dead_bytes, d.bytes);
  }
}

Status Catalog::apply_batch(uint32_t topic_id, uint32_t partition, const format::BatchHeader& batch,
                            uint64_t position) {
  TopicState* t = by_id(topic_id);
  if (!t) return corrupt(position, fmt::format("record batch for unknown topic id {}", topic_id));
  if (partition >= t->partitions.size()) {
    return corrupt(position, fmt::format("record batch for partition {} of topic '{}', which has {}", partition,
                                         t->name, t->partitions.size()));
  }
  PartitionState& p = t->partitions[partition];
  if (batch.base_offset != p.next_offset) {
    return corrupt(position, fmt::format("record batch of '{}' partition {} starts at offset {}, expected {}",
                                         t->name, partition, batch.base_offset, p.next_offset));
  }
  // Offsets run base .. base + lastOffsetDelta with no gaps (docs/FORMAT.md).
  // Otherwise readers would wait for offsets no record holds (more offsets
  // than records) or the next batch would reuse offsets (fewer). With this,
  // the decoder's strictly increasing deltas up to lastOffsetDelta are
  // exactly 0 .. recordsCount - 1.
  if (int64_t{batch.last_offset_delta} + 1 != batch.records_count) {
    return corrupt(position, fmt::format("record batch of '{}' partition {} has recordsCount {} but lastOffsetDelta {}",
                                         t->name, partition, batch.records_count, batch.last_offset_delta));
  }
  p.index.add(batch.base_offset, batch.max_timestamp, position, batch.total_size());
  p.next_offset = batch.last_offset() + 1;
  p.bytes += batch.total_size();
  if (!is_internal_id(topic_id)) segments_.add_live(position, batch.total_size());
  return Status::OK();
}

}  // namespace rivulet::meta
