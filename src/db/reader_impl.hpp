// Reads one partition: finds batches through the partition's sparse index
// and decodes their records in place from the file's mapping.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/read_marks.hpp"
#include "log/file_map.hpp"
#include "rivulet/db.hpp"
#include "format/record_batch.hpp"

namespace rivulet {

class DbImpl;

struct ReaderSpan {
  uint64_t position;
  int64_t base_offset;
  bool checked;  // its CRC was checked as the handle took it in (index::BatchEntry)
};

// The committed state of a partition a reader needs, copied under the lock.
struct ReaderSnapshot {
  int64_t first_offset = 0;
  int64_t next_offset = 0;
  std::vector<ReaderSpan> batches;  // from the batch holding the wanted offset on
  uint64_t lowest_segment_seq = UINT64_MAX;  // of the segments holding them
};

class ReaderImpl {
 public:
  ReaderImpl(DbImpl* db, std::string topic, uint32_t topic_id, int32_t partition)
      : db_(db), topic_(std::move(topic)), topic_id_(topic_id), partition_(partition) {}
  ~ReaderImpl();
  ReaderImpl(const ReaderImpl&) = delete;
  ReaderImpl& operator=(const ReaderImpl&) = delete;

  Result<std::span<const RecordView>> poll(std::chrono::milliseconds timeout, size_t max_records);
  Status seek(StartAt start);
  int64_t position() const { return next_offset_; }
  const std::string& topic() const { return topic_; }
  int32_t partition() const { return partition_; }
  // The wake channel its partition's commits move (DbImpl::commit_epoch).
  uint32_t wake_channel() const;
  DbImpl* db() const { return db_; }
  // Whether poll() would return records (or an error) now. Caller holds
  // the Db's state lock.
  bool ready_locked() const;

 private:
  // Appends committed records from next_offset_ to the views, up to max.
  Status fill(size_t max_records);
  // Refreshes, finds up to `limit` batches from `offset` or `time` and
  // holds the read mark on them.
  Status pinned_snapshot(std::optional<int64_t> offset, std::optional<int64_t> time, size_t limit,
                         ReaderSnapshot* snap);
  // The first offset at or after `ms`, or the end of the partition.
  Result<int64_t> offset_for_time(int64_t ms);
  Result<int64_t> look_up_time(int64_t ms);  // offset_for_time's look, which leaves the read mark set
  // The batch `span` names, its header parsed and its checksum checked.
  Status checked_batch(const ReaderSpan& span, std::string_view* batch, format::BatchHeader* h);
  // An error about one of this partition's batches, naming the file, topic
  // and partition.
  Status named(const Status& st) const;

  DbImpl* db_;
  std::string topic_;
  uint32_t topic_id_;
  int32_t partition_;
  int64_t next_offset_ = 0;
  // The last poll's views are the first count_: views_ only grows (until an empty poll), and
  // fill() overwrites its elements in place (no per-record growth check).
  std::vector<RecordView> views_;
  size_t count_ = 0;
  std::span<const RecordView> nothing();  // an empty poll's result; frees views_ and snap_
  ReaderSnapshot snap_;  // fill()'s, kept for its vector's capacity
  // Where the records handed out by the last poll lie (see ReadMarks).
  ReadMarks::Mark mark_;
  // The wake channel's epoch read before the last poll that found nothing
  // (DbImpl::nothing_new_since); none after records, a seek or an error.
  std::optional<uint32_t> idle_epoch_;
  // The batch whose checksum this reader checked last, by position and base
  // offset: a poll that stops inside a batch decodes it again next time.
  std::pair<uint64_t, int64_t> checked_ = {UINT64_MAX, 0};
  log::FileMap::Ahead mapped_;  // the file mapped ahead of the reader (a hint)
};

}  // namespace rivulet
