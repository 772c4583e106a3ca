// Options for opening a file and creating topics. Every field has a default
// that is right for most callers.
#pragma once

#include <chrono>
#include <cstdint>

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
  bool create_if_missing = true;
  // Never write to the file. Commits and topic changes fail with read_only.
  bool read_only = false;
  // Durability of commits made through this handle.
  Sync sync = Sync::normal;
  // Producing to an unknown topic creates it with `auto_create_partitions`
  // partitions instead of failing with not_found.
  bool auto_create_topics = false;
  int32_t auto_create_partitions = 1;
  // Size of a segment, for new files only (existing files keep theirs).
  // A commit must fit in one segment. Multiple of 4096, 64 KiB .. 1 GiB.
  uint32_t segment_size = 64u << 20;
  // A Reader::poll with nothing to return spins this long, watching for a
  // commit, before it sleeps: a few microseconds less latency for a busy
  // CPU. Zero (the default) sleeps at once.
  std::chrono::microseconds poll_spin{0};
  // Internal: the I/O back end, for fault-injection tests. Leave null.
  io::Env* env = nullptr;
};

struct TopicConfig {
  int32_t partitions = 1;
  TimestampType timestamp_type = TimestampType::create_time;
  // Largest record (key + value + headers + framing) accepted, as Kafka's
  // max.message.bytes.
  uint32_t max_message_bytes = 1048588;
};

}  // namespace rivulet
