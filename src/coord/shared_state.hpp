// The coordination area every handle on one log shares: a small file beside
// the log (FILE-shm, as SQLite's -shm) mapped by all of them. It holds the
// cross-process writer lock, how far the log is written, committed
// (visible) and durable, the futex words sleepers wait on, and one slot per
// handle with its read mark. Nothing in it is persistent: the first handle
// to attach after nobody had the log open rebuilds it from the log, so a
// crash, a reboot or a copied file never leaves a stale lock or head.
// docs/DESIGN.md explains the protocol and what happens when a process dies
// at each step.
//
// Thread-safety: one SharedState per Db handle; its methods may be called
// from any thread of the handle (lock_writer by one at a time, which DbImpl
// ensures with its own mutex).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "coord/group_area.hpp"
#include "io/env.hpp"
#include "io/fork_guard.hpp"
#include "util/sticky_status.hpp"

namespace rivulet::coord {

struct Layout;  // the shared bytes (shared_state.cpp)

// What a log is: the shared area records it, so a handle never joins an
// area that belongs to another file that once had the same name.
struct LogIdentity {
  io::FileId file;
  uint64_t salt = 0;  // the file header's random salt
};

class SharedState {
 public:
  // Opens (creating if needed) and attaches to `path`. If no other handle
  // is attached, this one rebuilds the area: fresh() is true and the caller
  // must recover the log and call publish_initial(), which lets the others
  // in (they wait in attach until then).
  // `database` is the log file: a new area file takes its permissions.
  static Result<std::unique_ptr<SharedState>> attach(io::Env* env, const std::string& path, const std::string& database,
                                                     const LogIdentity& log);
  ~SharedState();
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

  bool fresh() const { return fresh_; }
  const std::string& path() const;
  // After a fresh attach and recovery: everything through last_seq is
  // written and committed, and through durable_seq known durable.
  Status publish_initial(uint64_t last_seq, uint64_t durable_seq);

  // ---- the writer lock ----
  // Blocks until this handle holds the lock. If the holder died, the lock
  // is taken over within about kLivenessCheck; *took_over says so.
  Status lock_writer(bool* took_over);
  void unlock_writer();

  // ---- where the log stands ----
  uint64_t written_seq() const;    // frames through this seq are whole in the file
  uint64_t committed_seq() const;  // readers may see frames through this seq
  uint64_t durable_seq() const;    // frames through this seq survive a power cut
  // Under the writer lock, after frame `seq` was written: records it and,
  // if `visible`, commits it. Either way waiting readers wake (see
  // wait_for_commit for why a frame that is not visible yet wakes them):
  // those of kEveryChannel and of `channels`, the wake channels of the
  // frame's partitions (kEveryChannel among them wakes every channel).
  void publish_written(uint64_t seq, bool visible, std::span<const uint32_t> channels);
  // Makes everything through `seq` committed and wakes the waiters of every
  // channel (whose frames they are, only their writers know).
  void publish_committed(uint64_t seq);
  // After an fdatasync by the writer-lock holder: everything through `seq`
  // is durable, hence committed.
  void publish_durable(uint64_t seq);

  // ---- group commit ----
  // Around a committer's way to its frame (waiting for the lock, writing):
  // a sync leader gives such committers a moment to join its sync.
  void begin_write();
  void end_write();
  static constexpr std::chrono::microseconds kGatherWriters{200};
  // Committers of all handles between begin_write and end_write, counting
  // those a dead handle left until a sync leader or the slot's next claimer
  // gives them back (for tests).
  uint32_t writers() const;
  // Returns once every frame through `seq` is durable. One caller at a time
  // (across all processes) runs `fdatasync`, for every frame written so
  // far; the others wait for it and share its result. If `fdatasync` fails,
  // every later call through this handle fails the same way (unless its
  // frames were already durable): Linux reports a writeback error once per
  // open file description, so a later fdatasync on this handle's could
  // succeed although pages written before the failure were dropped. Other
  // processes, with descriptors of their own, hear of the error themselves
  // and try again.
  Status sync_through(uint64_t seq, const std::function<Status()>& fdatasync);
  // An fdatasync of this handle's descriptor run elsewhere failed: later
  // sync_through calls fail with `st`.
  void note_sync_failure(const Status& st);

  // ---- waiting for commits ----
  // Waiters sleep on a channel: kEveryChannel, whose epoch changes whenever
  // written_seq() or committed_seq() moves, or one of kWakeChannels
  // partition channels (wake_channel()), whose epoch changes at least when
  // a frame with a batch of one of its partitions is written or committed,
  // so a reader of a quiet partition sleeps through commits to busy ones.
  // Metadata frames, syncs and wake_waiters() move every channel, and only
  // they move kBroadcastChannel, which no partition has: what a waiter
  // with nothing to read sleeps on.
  static constexpr uint32_t kWakeChannels = 256;
  static constexpr uint32_t kBroadcastChannel = kWakeChannels;
  static constexpr uint32_t kEveryChannel = UINT32_MAX;
  static uint32_t wake_channel(uint32_t topic_id, uint32_t partition);
  uint32_t commit_epoch(uint32_t channel = kEveryChannel) const;
  // Waiters counted on `channel`, in all processes (for tests).
  uint32_t channel_waiters(uint32_t channel) const;
  // Moves every epoch and wakes every waiter of every handle without a
  // commit: something else they look at changed (a group's members).
  void wake_waiters();
  // Sleeps until commit_epoch(channels[i]) != seen[i] for some i, or
  // `until`; spins for `spin` first. More than one channel (at most
  // kMaxWaitChannels) only if can_wait_on_many_channels().
  // While frames are written but not committed (a sync under full pending)
  // it looks every kLivenessCheck, and if no live handle is syncing them
  // (their committer died between writing and syncing) it runs
  // `fdatasync` itself and commits them, so they never stay invisible.
  static constexpr size_t kMaxWaitChannels = 32;
  static bool can_wait_on_many_channels();
  void wait_for_commit(std::span<const uint32_t> channels, std::span<const uint32_t> seen,
                       std::chrono::steady_clock::time_point until,
                       std::chrono::microseconds spin, const std::function<Status()>& fdatasync);
  // The same rescue for a caller that looks without waiting (a poll with
  // timeout 0, again and again): once frames have stayed written but not
  // committed, with no live handle syncing them, for kLivenessCheck
  // between two of its looks, it runs `fdatasync` and commits them.
  // Returns true if it committed something. Cheap when nothing is pending.
  bool finish_orphaned_sync(const std::function<Status()>& fdatasync);

  // ---- read marks ----
  // The lowest segment_seq this handle's readers may still read, or
  // kNoReadMark. Space reclaiming never reuses or punches a segment whose
  // segment_seq is at or above the lowest mark of a live handle.
  static constexpr uint64_t kNoReadMark = UINT64_MAX;
  void set_read_mark(uint64_t segment_seq);
  // A reclaimer bumps the epoch before it reads the marks; a reader that
  // set its mark and then finds the epoch unchanged since before it chose
  // what to read knows no segment it chose was reclaimed meanwhile.
  void bump_reclaim_epoch();
  uint64_t reclaim_epoch() const;
  // The lowest mark of all live handles (dead handles' marks are ignored).
  Result<uint64_t> lowest_read_mark();

  // Where consumer group members register (coord/group_membership.hpp).
  GroupArea& groups();
  io::Env* env() const { return env_; }

  // Slot index of this handle and how many handles are attached (stat).
  uint32_t slot() const { return slot_; }
  Result<uint32_t> live_handles();

  // Leaves the area; the last handle to leave removes the file. Called by
  // the destructor too.
  void detach();

  // How often a waiter checks that the holder of a lock it waits for is
  // still alive.
  static constexpr std::chrono::milliseconds kLivenessCheck{10};

 private:
  SharedState(io::Env* env, std::unique_ptr<io::SharedFile> file, std::unique_ptr<io::SharedMapping> map,
              bool fresh);
  Status claim_slot();
  bool holder_alive(uint32_t token);
  // True when nobody live holds the sync leader's role (a dead holder's is
  // freed), so frames written and not yet durable are nobody's to sync.
  bool no_live_sync_leader();
  void take_back_shares(uint32_t slot);
  template <typename HasShare>
  void clear_dead_shares(std::atomic<int64_t>* next_look, HasShare has_share);
  // Moves the epoch of kEveryChannel and of `channels`, or of every channel.
  void bump_commit_epoch(std::span<const uint32_t> channels);
  void bump_every_channel();
  void bump(uint32_t channel);
  std::atomic<uint32_t>& epoch_word(uint32_t channel) const;
  std::atomic<uint32_t>& waiters_word(uint32_t channel) const;
  uint32_t token() const;

  io::Env* env_;
  std::unique_ptr<io::SharedFile> file_;
  std::unique_ptr<io::SharedMapping> map_;
  Layout* shared_ = nullptr;
  bool fresh_ = false;
  bool attached_ = false;  // holds the attach lock
  const uint64_t fork_generation_ = io::fork_guard::generation();  // see detach()
  uint32_t slot_ = UINT32_MAX;
  uint32_t generation_ = 0;
  // When this handle may look for dead handles' shares again
  // (clear_dead_shares): as sync leader, for dead committers; as waker,
  // for dead waiters.
  std::atomic<int64_t> next_dead_writer_look_{0};
  std::atomic<int64_t> next_dead_waiter_look_{0};
  // finish_orphaned_sync: the written seq a look last found pending, and
  // since when (steady clock, ns).
  std::atomic<uint64_t> pending_seen_seq_{0};
  std::atomic<int64_t> pending_seen_at_{0};
  // The first failure of an fdatasync of this handle (see sync_through).
  util::StickyStatus sync_failure_;
};

}  // namespace rivulet::coord
