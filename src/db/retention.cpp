// See retention.hpp.
#include "db/retention.hpp"

#include "meta/topic_config.hpp"

namespace rivulet::db {

// The new earliest offset of `p` under `config`, or p.first_offset.
static int64_t retained_start(const meta::PartitionState& p, const TopicConfig& config, int64_t now_ms) {
  int64_t start = p.first_offset;
  uint64_t bytes = p.bytes;
  const index::PartitionIndex& idx = p.index;
  for (auto c = idx.cursor(0); c.valid();) {
    const index::BatchEntry e = *c;
    c.next();
    int64_t end = c.valid() ? c->base_offset : p.next_offset;
    if (end > p.visible_end) break;  // not yet visible (waiting for its sync)
    bool too_old = config.retention_ms >= 0 && e.max_timestamp_so_far < now_ms - config.retention_ms;
    bool too_big = config.retention_bytes >= 0 && bytes - e.bytes >= static_cast<uint64_t>(config.retention_bytes);
    if (!too_old && !too_big) break;  // both rules are monotonic: later batches stay too
    start = end;
    bytes -= e.bytes;
  }
  return start;
}

std::vector<format::MetaChange> retention_changes(const meta::Catalog& catalog, int64_t now_ms, size_t max) {
  std::vector<format::MetaChange> out;
  for (const meta::TopicState* t : catalog.live_topics()) {
    if (!meta::retention_applies(t->config)) continue;
    for (size_t i = 0; i < t->partitions.size() && out.size() < max; ++i) {
      const meta::PartitionState& p = t->partitions[i];
      int64_t start = retained_start(p, t->config, now_ms);
      if (start <= p.first_offset) continue;
      format::MetaChange c;
      c.kind = format::MetaChange::Kind::partition_start;
      c.topic_id = t->id;
      c.partition = static_cast<int32_t>(i);
      c.start_offset = start;
      out.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace rivulet::db
