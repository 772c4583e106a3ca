// Options for opening a file and creating topics. Every field has a default
// that is right for most callers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rivulet/status.hpp"

namespace rivulet {

namespace io {
class Env;  // internal I/O seam; see OpenOptions::env
}

// Durability of a commit, with SQLite's `synchronous` meanings.
enum class Sync {
  // The OS writes pages back when it likes; a process crash loses nothing
  // committed, a power cut may lose recent commits.
  off,
  // As `off`, plus an fdatasync whenever the log moves to a new segment and at
  // close, which bounds what a power cut can take and lets recovery tell
  // corruption from a torn tail.
  normal,
  // A commit returns only after fdatasync: it survives a power cut. Its
  // records become visible to readers only then, so no reader acts on a
  // record a power cut could take back. Commits of all threads and
  // processes that wait at the same time share one fdatasync.
  full,
};

enum class TimestampType {
  create_time,      // the producer's timestamp (or the time of produce if none)
  log_append_time,  // the time the commit was written; producer times are ignored
};

struct OpenOptions {
  // Create the file when the path does not exist (or is an empty file).
  // Without it, open fails with not_found for a missing path and with
  // not_rivulet_file for an empty file, which it leaves empty.
  bool create_if_missing = true;
  // Never write to the file. Commits and topic changes fail with read_only.
  bool read_only = false;
  // Durability of commits made through this handle.
  Sync sync = Sync::normal;
  // Producing to an unknown topic creates it with `auto_create_partitions`
  // partitions instead of failing with not_found (1 to
  // TopicConfig::kMaxPartitions, checked at open).
  bool auto_create_topics = false;
  int32_t auto_create_partitions = 1;
  // Size of a segment, for new files only (existing files keep theirs).
  // A commit must fit in one segment. Multiple of 4096, 64 KiB .. 1 GiB.
  uint32_t segment_size = 64u << 20;
  // A writer records its state in a checkpoint after this many bytes of
  // log (and at close, after 1 MiB or this, whichever is less), so that
  // opening replays at most about this much, and space before it can be
  // reused. Smaller: faster opens, space back sooner, more writing.
  // A checkpoint holds every partition's batch list (about 6 bytes a
  // batch), so in a file of many small batches it can outgrow this: then
  // the log between checkpoints is at least four times the last one's size
  // (at close, once its size), and opening replays up to that much.
  uint64_t checkpoint_bytes = 16u << 20;
  // A Reader::poll with nothing to return spins this long, watching for a
  // commit, before it sleeps: a few microseconds less latency for a busy
  // CPU. Zero (the default) sleeps at once.
  std::chrono::microseconds poll_spin{0};
  // Internal: the I/O back end, for fault-injection tests. Leave null.
  io::Env* env = nullptr;
};

// Kafka's cleanup.policy: what happens to a topic's old records.
enum class CleanupPolicy {
  delete_,         // "delete": retention.ms / retention.bytes remove the oldest
  compact,         // "compact": only the latest record per key is kept
  compact_delete,  // "compact,delete": both
};

struct TopicConfig {
  // At most kMaxPartitions: each partition takes memory in every handle.
  static constexpr int32_t kMaxPartitions = 100000;
  int32_t partitions = 1;
  TimestampType timestamp_type = TimestampType::create_time;
  // Largest record (key + value + headers + framing) accepted. Kafka's
  // max.message.bytes limits a whole batch; this limits each record alone,
  // whatever else its commit holds. No record larger than a segment (less
  // its headers) can be committed, whatever this allows.
  uint32_t max_message_bytes = 1048588;
  // Kafka's meanings. Retention moves a partition's earliest offset forward
  // by whole batches; offsets never change and are never reused. -1 keeps
  // records forever, the default here: a Kafka broker defaults retention.ms
  // to 7 days, but an embedded store that drops data nobody asked it to
  // drop would surprise. Retention applies under `delete` policies only and
  // runs inline with commits to the file, at most once a second per handle.
  CleanupPolicy cleanup_policy = CleanupPolicy::delete_;
  int64_t retention_ms = -1;
  int64_t retention_bytes = -1;  // per partition
  // How long a tombstone (null value) survives compaction.
  int64_t delete_retention_ms = 86400000;
};

// Sets one field of `config` by its Kafka name ("retention.ms",
// "retention.bytes", "cleanup.policy", "delete.retention.ms",
// "max.message.bytes", "message.timestamp.type") from its text form. Fails
// with invalid_argument naming the key for an unknown key or a bad value.
Status set_topic_config(TopicConfig* config, std::string_view key, std::string_view value);

// Every config field as (Kafka name, text form), in a fixed order.
std::vector<std::pair<std::string, std::string>> topic_config_entries(const TopicConfig& config);

}  // namespace rivulet
