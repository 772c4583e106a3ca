// The engine behind rivulet::Db: opening and recovering a file, the write
// path (one frame per commit under the cross-process writer lock, then a
// shared fdatasync under sync full), following commits of other processes,
// and the state readers look up.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "coord/shared_state.hpp"
#include "db/cleaner.hpp"
#include "db/commit_queue.hpp"
#include "db/frame_apply.hpp"
#include "db/read_marks.hpp"
#include "db/write_batch_rep.hpp"
#include "format/file_layout.hpp"
#include "io/env.hpp"
#include "io/fork_guard.hpp"
#include "log/file_map.hpp"
#include "log/file_start.hpp"
#include "log/log_scanner.hpp"
#include "meta/catalog.hpp"
#include "rivulet/db.hpp"
#include "util/sticky_status.hpp"

namespace rivulet {

// `st` with its message starting "PATH: " (unless it already does).
Status with_path(const std::string& path, const Status& st);

class DbImpl {
 public:
  static Result<std::unique_ptr<DbImpl>> open(const std::string& path, const OpenOptions& options);
  ~DbImpl();

  Status create_topic(std::string_view name, const TopicConfig& config);
  Status delete_topic(std::string_view name);
  Status alter_topic(std::string_view name, const TopicConfig& config);
  Status delete_records(std::string_view topic, int32_t partition, int64_t before_offset);
  Result<std::vector<TopicInfo>> list_topics();
  Result<TopicInfo> describe_topic(std::string_view name);
  Status commit(WriteBatch::Rep& batch);
  Result<std::unique_ptr<ReaderImpl>> reader(std::string_view topic, int32_t partition, StartAt start);
  Status refresh();
  // Index of a reader with records, or -1 when `timeout` passes.
  Result<int> wait_any(std::span<ReaderImpl* const> readers, std::chrono::milliseconds timeout);
  Result<DbStats> stat();
  Status close();
  Result<VacuumReport> vacuum(const std::function<void(uint64_t done, uint64_t total)>& progress);

  // Db::produce keeps one batch between calls (any thread may take it;
  // a caller that finds none makes one).
  std::unique_ptr<WriteBatch::Rep> take_spare_batch();
  void keep_spare_batch(std::unique_ptr<WriteBatch::Rep> rep);

  // For WriteBatch::add: the topic's id, partition count and config. With
  // `create`, an unknown topic is created if the options say so.
  Status resolve_topic(std::string_view name, WriteBatch::Rep::CachedTopic* out, bool create = true);
  // For WriteBatch: in a child forked after open, the error naming fork().
  Status fork_error() const { return inherited() ? inherited_error() : Status::OK(); }
  // The id of the internal offsets topic, created on first use.
  Status resolve_offsets_topic(uint32_t* id);

  Status commit_offsets(std::string_view group, std::span<const OffsetCommit> offsets);
  Result<std::optional<CommittedOffset>> committed(std::string_view group, std::string_view topic,
                                                   int32_t partition);
  Result<std::vector<GroupInfo>> list_groups();
  Result<GroupInfo> describe_group(std::string_view group);
  Status delete_group(std::string_view group);

  // The shared area (null for a read-only handle that cannot write it).
  coord::SharedState* shared() { return shared_.get(); }

  // For readers.
  std::shared_mutex& state_mutex() { return state_mu_; }
  const meta::Catalog& catalog() const { return catalog_; }
  log::FileMap& file_map() { return *map_; }
  const std::string& path() const { return path_; }
  // The longest frame (one commit, header included) a segment holds.
  uint64_t max_frame_bytes() const {
    return header_.segment_size - format::kSegmentHeaderSize - format::kFrameHeaderSize;
  }
  ReadMarks& read_marks() { return marks_; }
  // Whether this process is a child forked after the handle opened (every
  // call then fails with inherited_error()).
  bool inherited() const { return fork_generation_ != io::fork_guard::generation(); }
  // Changes whenever more of the log becomes visible to readers: of any
  // partition, or (with a channel from wake_channel) at least whenever it
  // does of the partitions of that channel.
  static constexpr uint32_t kEveryChannel = coord::SharedState::kEveryChannel;
  static uint32_t wake_channel(uint32_t topic_id, int32_t partition) {
    return coord::SharedState::wake_channel(topic_id, static_cast<uint32_t>(partition));
  }
  uint32_t commit_epoch(uint32_t channel = kEveryChannel) const;
  // Changes whenever a writer is about to reuse or punch segments (0
  // without a shared area, where no other process writes).
  uint64_t reclaim_epoch() const { return shared_ ? shared_->reclaim_epoch() : 0; }
  // Sleeps until commit_epoch(channels[i]) != seen[i] for some i, or
  // `until` passes (coord::SharedState::wait_for_commit).
  void wait_for_commit(std::span<const uint32_t> channels, std::span<const uint32_t> seen,
                       std::chrono::steady_clock::time_point until);
  // For a look that found nothing and will not wait: commits frames whose
  // committer died between writing and syncing them, as a waiter would
  // (coord::SharedState::finish_orphaned_sync). True if it committed any.
  bool finish_orphaned_sync();
  // For a reader whose last look on `channel` found nothing: true if no
  // commit can have shown it anything since, because the channel's epoch,
  // read before that look, is still `seen` (and the handle is still usable,
  // and no orphaned frame needed committing). A commit moves the epochs of
  // its partitions' channels after publishing itself, so a look that read
  // the epoch first saw every commit the epoch counts. Never true without a
  // shared area: alone, a handle hears of other processes' commits only by
  // looking at the file.
  bool nothing_new_since(uint32_t channel, uint32_t seen);

 private:
  DbImpl(std::string path, const OpenOptions& options);
  Status open_file();
  Status create_file();
  Status init_short_file();
  Status init_short_file_locked();
  Status load();
  Status attach_shared();
  Status recover();
  // Applies frames other processes appended, as far as they are written,
  // and makes visible what is committed. Caller holds follow_mu_.
  Status catch_up_locked();
  // Maps the file from head_ on ahead of replaying other handles' frames
  // (caller holds follow_mu_).
  void map_ahead_of_replay();
  Status apply_locked(const format::ParsedFrame& frame);
  // Readers see frames through `seq` (caller holds follow_mu_).
  void make_visible_locked(uint64_t seq);
  uint64_t last_seq() const { return head_.next_seq - 1; }
  Status check_writable();
  Status inherited_error() const;
  Status fail(Status st);
  // Fails if the path no longer names the file this handle has open.
  Status check_still_named();
  // Takes the cross-process writer lock and catches up; `locked` runs
  // under it (and follow_mu_) and may write frames. Under sync full, waits
  // afterwards (without the lock) until the last frame it wrote is durable.
  // Commits of several threads go through in groups (db/commit_queue.hpp).
  Status write_locked(const std::function<Status()>& locked);
  // A leader's steps: writes the group's frames under the writer lock and
  // returns the last frame's seq; then, under sync full, waits until it is
  // durable.
  uint64_t write_group(db::CommitQueue::Group group);
  void sync_group(db::CommitQueue::Group group, uint64_t last_written);
  // `flags` are frame flags (checkpoints); `at`, if given, receives the
  // chain position the frame was written at.
  Status write_frame_locked(std::span<const format::OutgoingBatch> batches, uint16_t flags = 0,
                            log::ChainPos* at = nullptr);
  // A frame is whole in the file: apply it and tell the other handles.
  Status written_locked(const format::ParsedFrame& frame);
  Status roll_segment_locked();
  Status ensure_allocated(uint64_t end);
  Status sync_locked();
  // Records frames through `durable_seq` as durable and, with
  // `checkpoint`, that the log now starts at that checkpoint.
  Status update_superblock_locked(uint64_t durable_seq, const log::ChainPos* checkpoint = nullptr,
                                  bool synced = true);
  Status reread_superblock_locked();
  void adopt_superblocks(const log::SuperblockSlots& slots, const log::SuperblockChoice& choice);
  // Under format 4 and sync off or normal a checkpoint is not synced (the
  // superblock says so); see update_superblock_locked.
  bool unsynced_checkpoints() const;
  // Syncs the log and writes a synced superblock, if the newest one is not.
  Status settle_superblock_locked();
  // With `synced_start` false, as if the newest superblock were synced.
  Result<uint64_t> reclaimable_below_locked(bool synced_start = true);
  Status punch_free_locked();
  Status write_checkpoint_locked();
  // Writes a checkpoint if the log since the last one reaches `threshold`
  // bytes and `per_state` times that checkpoint's size.
  Status maybe_checkpoint_locked(uint64_t threshold, uint64_t per_state);
  // One cleaning step: relocated frames for batches worth `budget` bytes of
  // reading; `*read` (if given) grows by what was read.
  Status clean_step_locked(const db::CleanerLimits& limits, uint64_t budget, uint64_t* read = nullptr);
  // The step's batches in relocated frames, as many as fit in each.
  Status write_relocations_locked(const std::vector<db::Relocation>& moves);
  // The inline step (see the definition).
  Status maybe_clean_locked();
  Status commit_meta(const std::function<Status(format::MetaChange*)>& prepare,
                     const std::function<Status()>& then = {});
  Status offsets_left(std::string_view topic, int32_t partition, int64_t next, uint64_t count) const;
  Status write_meta_locked(std::span<const format::MetaChange> changes);
  Status apply_retention_locked();
  TopicInfo describe(const meta::TopicState& t) const;
  Result<std::vector<GroupInfo>> groups_now();
  GroupInfo describe(const std::string& name, const meta::GroupOffsets::Group& group) const;

  std::string path_;
  std::string absolute_path_;  // path_ as of open, for check_still_named after a chdir
  OpenOptions options_;
  io::Env* env_;
  std::unique_ptr<io::File> file_;
  std::unique_ptr<log::FileMap> map_;
  std::unique_ptr<log::LogScanner> scanner_;
  // The area shared with every other handle on this log; null only for a
  // read-only handle that cannot write it (it then polls the file).
  std::unique_ptr<coord::SharedState> shared_;
  ReadMarks marks_;
  format::FileHeader header_;
  format::Superblock superblock_;  // the one in use (log::SuperblockChoice::use)
  log::SuperblockChoice superblock_choice_;
  // The newest superblock written after a sync (if superblock_choice_ has
  // one): a power cut may take newer ones and send recovery back to it.
  format::Superblock synced_superblock_;
  uint32_t boot_tag_ = 0;  // env_->boot_tag() at open
  uint64_t writer_id_ = 0;

  // Lock order: write_mu_, then the shared writer lock, then follow_mu_,
  // then state_mu_.
  db::CommitQueue commits_;           // lines up this handle's committers
  std::mutex write_mu_;               // one commit at a time in this handle
  std::mutex follow_mu_;              // one thread at a time moves head_
  mutable std::shared_mutex state_mu_;  // catalog_, head_, frames_ (readers share)
  meta::Catalog catalog_;
  std::unique_ptr<db::Replay> replay_;  // follows the chain into catalog_
  log::ChainPos head_;
  uint64_t frames_ = 0;
  uint64_t synced_seq_ = 0;     // highest seq recovery found durable
  uint64_t allocated_end_ = 0;  // the file is allocated up to here (writer)
  uint64_t allocated_seq_ = 0;  // in this use of its segment (segment_seq)
  log::FileMap::Ahead replay_ahead_;  // the file mapped ahead of the replay (a hint)
  // write_frame_locked's buffers, kept for their capacity: a one-record
  // commit otherwise spends a tenth of its time allocating them (writer).
  std::string frame_head_;
  std::vector<std::string_view> frame_parts_;
  format::ParsedFrame written_frame_;
  std::vector<format::OutgoingBatch> outgoing_;  // commit()'s batches
  db::Cleaner cleaner_;    // writer
  uint64_t idle_cleaner_until_ = 0;  // appended() before which not to look again
  static constexpr uint64_t kMinCleanStep = 64u << 10;
  static constexpr uint64_t kMaxCleanStep = 4u << 20;
  // Per segment, the segment_seq whose blocks this handle last punched.
  std::vector<uint64_t> punched_;
  log::TailInfo tail_;          // what recovery found after the log
  // After it, no more commits. Set by fail() (from any committing thread:
  // several groups can fail at once), read by any thread.
  util::StickyStatus failure_;
  // Retention is looked at by the first write after this time (writer).
  std::chrono::steady_clock::time_point next_retention_{};
  static constexpr size_t kMaxRetentionChanges = 1000;  // per frame
  // ... or after this many bytes written (or checkpoint_bytes, if less), so
  // a fast writer cannot outrun retention.bytes by a second's worth of log.
  static constexpr uint64_t kRetentionEveryBytes = 4u << 20;
  uint64_t written_since_retention_ = 0;
  bool opened_ = false;         // open() succeeded: failures stop a handle in use
  // io::fork_guard::generation() at open: another one means this is a child
  // forked after the handle opened, where it must not be used.
  const uint64_t fork_generation_ = io::fork_guard::generation();
  std::atomic<bool> closed_{false};
  std::atomic<WriteBatch::Rep*> spare_batch_{nullptr};  // owned; see take_spare_batch

  // Frames applied but not yet visible (written under sync full, waiting
  // for their fdatasync): where each leaves the partitions it touched.
  struct PendingEnd {
    uint64_t seq;
    meta::PartitionState* partition;
    int64_t end;
  };
  std::deque<PendingEnd> pending_;
  uint64_t visible_target_ = 0;  // frames through this seq are visible when applied
  // Copies of last_seq() and the visible seq, so refresh() can tell there is
  // nothing new without locks.
  std::atomic<uint64_t> applied_seq_{0};
  std::atomic<uint64_t> visible_seq_{0};
  std::atomic<uint32_t> private_epoch_{0};  // commit_epoch() without shared_
};

}  // namespace rivulet
