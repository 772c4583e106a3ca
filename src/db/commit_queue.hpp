// Where the commits of one handle line up. The first in line leads: it
// takes everyone queued behind it and writes all their frames in one turn
// of the writer lock, then (under sync full) waits for one fdatasync for
// all of them, and hands each its result. Many threads committing at once
// so pay one lock handoff and one wake-up per group instead of several per
// commit: on a small VM a context switch costs more than writing a frame,
// and the wake-ups of a lock convoy kept group commit from gathering.
// While a leader waits for its fdatasync the next group is already being
// written, so the next sync finds it whole.
//
// Thread-safety: run() may be called from any number of threads; a
// member's work runs on its leader's thread while the member waits.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <vector>

#include "rivulet/status.hpp"

namespace rivulet::db {

class CommitQueue {
 public:
  using Work = std::function<Status()>;
  struct Member {
    const Work* work;
    Status status;  // set by the leader
    // kWaiting until a leader hands this member the lead or its result.
    std::atomic<uint32_t> state{kWaiting};
  };
  using Group = std::span<Member* const>;
  using Step = std::function<void(Group)>;

  // Queues `work` and returns its status once a leader has run it. If this
  // caller leads, `write` runs with the group (this caller's own work
  // first), one leader at a time, and must set every member's status; then
  // `finish` runs, other leaders writing meanwhile, and may change them.
  Status run(const Work& work, const Step& write, const Step& finish);

 private:
  static constexpr uint32_t kWaiting = 0, kLead = 1, kDone = 2;
  // Sets a waiting member's state and wakes it. Each member sleeps on its
  // own word, so a wake-up never sends it back to sleep on a lock.
  static void hand(Member* m, uint32_t state);
  // After a write step: the first queued member leads next, if any.
  void pass_lead();
  static void hand_results(Group group, const Member* leader);

  std::mutex mu_;
  std::vector<Member*> queue_;  // waiting for the next lead
  bool writing_ = false;        // a leader is in its write step
};

}  // namespace rivulet::db
