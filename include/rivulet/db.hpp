// A Rivulet file: topics, partitions and records in one file.
//
// Thread safety: a Db may be shared by any number of threads (Db::close
// excepted: call it once the others are done). A WriteBatch and a Reader
// belong to one thread at a time. Any number of processes (and Db handles
// in one process) may open the same file: commits are serialised by a
// writer lock in the shared area beside the file (FILE-shm), which the
// others take over if its holder dies, and a commit in any of them wakes
// readers waiting in all. A Db (and its Readers and Consumers) cannot be
// used in a child after fork(): every call there fails with an error naming
// fork(), and nothing the child does through it reaches the file or the
// other processes; open the file again in the child. Destroying it there
// is fine. The child does not keep the parent counted as alive.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rivulet/groups.hpp"
#include "rivulet/options.hpp"
#include "rivulet/record.hpp"
#include "rivulet/status.hpp"

namespace rivulet {

class DbImpl;
class ReaderImpl;

struct PartitionInfo {
  int32_t partition = 0;
  int64_t first_offset = 0;  // earliest offset still readable
  int64_t next_offset = 0;   // offset the next record will get
  // next_offset - first_offset. A compacted topic holds fewer: compaction
  // leaves gaps in the offsets (counting them would mean reading every batch).
  int64_t record_count = 0;
  uint64_t bytes = 0;        // of the record batches still readable (live)
  // Of batches wholly below first_offset (retention, delete_records): dead,
  // still in the file until cleaning reuses their space.
  uint64_t dead_bytes = 0;
};

struct TopicInfo {
  std::string name;
  uint32_t id = 0;
  TopicConfig config;
  std::vector<PartitionInfo> partitions;
};

// Where a Reader starts.
struct StartAt {
  enum class Kind { earliest, latest, offset, timestamp };
  Kind kind = Kind::earliest;
  int64_t value = 0;

  static StartAt earliest() { return {Kind::earliest, 0}; }
  static StartAt latest() { return {Kind::latest, 0}; }
  static StartAt offset(int64_t o) { return {Kind::offset, o}; }
  // The first record whose timestamp is >= ms (Kafka's offsetsForTimes);
  // the end of the partition if there is none.
  static StartAt timestamp(int64_t ms) { return {Kind::timestamp, ms}; }
};

// Records collected for one atomic commit: after a crash, all of them are in
// the file or none are. Records may go to any topics and partitions.
//
// A batch is bound to the Db it will be committed to: add() picks the
// partition and encodes the record right away, so commit() only writes. It
// must not outlive that Db. A moved-from batch is empty: size() is 0,
// clear() does nothing, add(), add_offset() and committing it fail with
// invalid_argument (assign another batch to it to use it again).
class Db;
class WriteBatch {
 public:
  explicit WriteBatch(Db& db);
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  // Copies the record into the batch and picks its partition. Fails for an
  // unknown topic (unless the Db auto-creates topics, which then happens
  // here, in a commit of its own), an out-of-range partition, or a record
  // larger than the topic's max_message_bytes. A commit is written as one
  // frame in one segment (OpenOptions::segment_size), with records for at
  // most 65535 partitions: add() fails with too_large, naming the file, for
  // a record that would take the batch past either (commit the batch and
  // add it to the next), or that no commit can hold. A failed add() leaves
  // the batch as it was. Topics are as this Db last saw them: one deleted by
  // another handle since fails the commit (not_found), and the next add()
  // sees the file as that commit found it; whether the records get the
  // producer's time or the commit's (TopicConfig::timestamp_type) is as the
  // topic is at the commit.
  Status add(const ProducerRecord& record);
  // Commits `group`'s offset for a partition together with the records:
  // consume, transform, produce and commit the input offsets in one atomic
  // commit, and each input is processed exactly once even across crashes.
  // Fails for a bad group name (empty, over 248 bytes, not UTF-8, or with
  // a control character such as a newline),
  // metadata that is not UTF-8, an unknown topic, an out-of-range partition
  // or a negative offset.
  Status add_offset(std::string_view group, const OffsetCommit& offset);
  // Records added (offsets not counted).
  size_t size() const;
  bool empty() const { return size() == 0; }
  // Empties the batch for reuse (its buffers stay allocated).
  void clear();
  // After a successful Db::commit: where record i (in add() order) landed.
  // For i >= size() every field is -1.
  Appended appended(size_t i) const;

  struct Rep;  // internal

 private:
  friend class Db;
  explicit WriteBatch(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// Reads one partition of one topic, in offset order. A Reader must not
// outlive the Db that made it.
class Reader {
 public:
  ~Reader();
  // Returns the next records (at most max_records, from at most 64 record
  // batches: poll again for more). With nothing new, waits up to `timeout`
  // (milliseconds::max(): for ever) for a commit (from any process) and
  // returns an empty span if none came. The views are valid until the next
  // poll() or seek().
  // A position that retention or delete_records left below the earliest
  // offset fails every poll with out_of_range until a seek(); a reader of a
  // deleted topic fails with not_found for good.
  // Damaged bytes are a corruption error naming the batch's position; the
  // records before them are handed out first, and the error comes from the
  // poll that reaches the damage (and every one after it, until a seek).
  // With max_records 0 it only releases the last poll's views.
  Result<std::span<const RecordView>> poll(std::chrono::milliseconds timeout,
                                           size_t max_records = 1000);
  // Offset of the next record poll() will return.
  int64_t position() const;
  Status seek(StartAt start);
  const std::string& topic() const;
  int32_t partition() const;

 private:
  friend class Db;
  explicit Reader(std::unique_ptr<ReaderImpl> impl);
  std::unique_ptr<ReaderImpl> impl_;
};

// One segment of the file, as `stat` shows it.
struct SegmentInfo {
  enum class State { in_use, free };
  uint32_t index = 0;  // position in the file: 16384 + index * segment_size
  uint64_t seq = 0;    // order in the log (segment_seq)
  State state = State::in_use;
  uint64_t live_bytes = 0;  // record batches still readable
  uint64_t dead_bytes = 0;  // record batches retention or deletion dropped, until the segment is free
};

// What Db::vacuum did.
struct VacuumReport {
  uint64_t bytes_read = 0;  // of batches looked at, copied or compacted
  uint64_t disk_bytes_before = 0;
  uint64_t disk_bytes_after = 0;
};

struct DbStats {
  std::string path;
  uint32_t format_version = 0;
  uint64_t file_size = 0;        // the file's length, preallocation included
  uint64_t disk_bytes = 0;       // blocks it takes on disk (freed segments are holes)
  uint64_t log_end = 0;          // position just past the last committed frame
  uint32_t segment_size = 0;
  uint64_t segments_used = 0;    // segments in use (not free)
  // Where the log starts: the newest durable checkpoint, 0 before the first.
  uint64_t checkpoint_position = 0;
  uint64_t frames = 0;           // frames this handle read since it opened, after that checkpoint
  std::vector<SegmentInfo> segments;
  // Handles that have the file open now, in all processes (0: unknown, for
  // a read-only handle without the shared area).
  uint32_t open_handles = 0;
  // The lowest segment number (segment_seq, in log order) a live handle in
  // any process may still read: records its readers hold, or where it goes
  // on following the log. Space reclaiming leaves it and every later
  // segment alone. UINT64_MAX if none.
  uint64_t lowest_read_mark = UINT64_MAX;
  std::vector<TopicInfo> topics;
};

class Db {
 public:
  // Opens (and, unless told otherwise, creates) the file at `path`.
  // Fails with not_rivulet_file, version_too_new or corruption without
  // writing a byte to a file it does not understand, and with
  // invalid_argument for an empty path or one holding a NUL byte. The
  // file's name may have at most 251 bytes: the shared area beside it is
  // named FILE-shm, and a name has at most 255. At most 1024 handles (in
  // all processes) may have the file open at once, each holding a slot in
  // the shared area; an open beyond that fails with busy.
  static Result<std::unique_ptr<Db>> open(const std::string& path, const OpenOptions& options = {});
  ~Db();  // closes; errors are lost, so call close() to see them

  Status create_topic(std::string_view name, const TopicConfig& config = {});
  // Checks a topic's name and config as create_topic does (all but whether
  // the name is taken), without a file: refuse bad input before creating one.
  static Status validate_topic(std::string_view name, const TopicConfig& config = {});
  // Marks the topic deleted: its name may be reused and its records are no
  // longer readable. Their space comes back as cleaning frees the segments
  // they were in (at once with vacuum()). Rivulet's internal topics (names
  // starting "__rivulet") cannot be created, altered or deleted
  // (invalid_argument), nor described or read (not_found).
  Status delete_topic(std::string_view name);
  // Replaces a topic's config (start from describe_topic(name)->config).
  // The partition count cannot change. A shorter retention applies at once:
  // what it no longer allows is dropped before this returns. Records that
  // age out later go at commits to the file (from any handle, at most once
  // a second each).
  Status alter_topic(std::string_view name, const TopicConfig& config);
  // Makes every record of a partition below `before_offset` unreadable, as
  // Kafka's deleteRecords: the earliest offset moves there (never back);
  // offsets are never reused. Their space comes back as for delete_topic.
  // out_of_range for an offset past the partition's end.
  Status delete_records(std::string_view topic, int32_t partition, int64_t before_offset);
  Result<std::vector<TopicInfo>> list_topics();
  Result<TopicInfo> describe_topic(std::string_view name);

  // Produces one record in its own commit.
  Result<Appended> produce(const ProducerRecord& record);
  // Commits every record of the batch atomically, in one frame. After
  // success, batch.appended(i) tells where record i landed, and the batch
  // takes no more records until clear(). A failed commit changes nothing in
  // the file and leaves the batch as it was, so it may be retried.
  Status commit(WriteBatch& batch);

  // Consumer groups' committed offsets (groups.hpp). commit_offsets is one
  // atomic commit of its own; WriteBatch::add_offset puts offsets in a
  // commit with records.
  Status commit_offsets(std::string_view group, std::span<const OffsetCommit> offsets);
  // The group's committed offset for a partition, or nullopt if none.
  Result<std::optional<CommittedOffset>> committed(std::string_view group, std::string_view topic,
                                                   int32_t partition);
  // Groups with committed offsets, by name.
  Result<std::vector<GroupInfo>> list_groups();
  Result<GroupInfo> describe_group(std::string_view group);  // not_found if it has none
  // Deletes every committed offset of the group (not_found if it has none).
  Status delete_group(std::string_view group);

  // A reader of one partition. Fails with not_found or out_of_range.
  Result<std::unique_ptr<Reader>> reader(std::string_view topic, int32_t partition,
                                         StartAt start = StartAt::earliest());

  // Waits up to `timeout` (milliseconds::max(): for ever) until one of
  // `readers` (all made by this Db) has records to return, without taking
  // any; returns the index of one that has, or -1 if none had by then.
  // Follows many partitions with one thread: poll each with timeout 0, and
  // wait_any when all came back empty.
  Result<int> wait_any(std::span<Reader* const> readers, std::chrono::milliseconds timeout);

  // Picks up commits made by other processes. Readers do this by themselves.
  Status refresh();
  Result<DbStats> stat();
  // Cleans the whole file now rather than in small steps with commits:
  // copies the live records of segments that are not nearly full of them
  // to the end of the log, compacts every compact topic, writes a
  // checkpoint, and gives freed segments' blocks back to the file system.
  // Offsets and records do not change. `progress`, if given, is called
  // now and then with the bytes done and the total. Other handles may
  // read and write meanwhile.
  Result<VacuumReport> vacuum(const std::function<void(uint64_t done, uint64_t total)>& progress = {});
  // Syncs (unless sync is off), writes a checkpoint if much came since the
  // last, records how far the log is durable, and releases the file. Readers of this Db must be destroyed before.
  Status close();

 private:
  friend class WriteBatch;
  friend class Consumer;
  explicit Db(std::unique_ptr<DbImpl> impl);
  std::unique_ptr<DbImpl> impl_;
};

}  // namespace rivulet
