#include "db/commit_queue.hpp"

#include "coord/futex.hpp"

namespace rivulet::db {

void CommitQueue::hand(Member* m, uint32_t state) {
  m->state.store(state, std::memory_order_release);
  // The member may see the state, return and reuse its stack before this
  // wake-up: then it wakes nobody, or someone who re-checks (a spurious
  // wake-up), which every futex waiter expects.
  coord::futex_wake(&m->state, 1);
}

void CommitQueue::pass_lead() {
  Member* next = nullptr;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty()) {
      writing_ = false;
    } else {
      next = queue_.front();
      queue_.erase(queue_.begin());
    }
  }
  if (next) hand(next, kLead);
}

void CommitQueue::hand_results(Group group, const Member* leader) {
  for (Member* m : group) {
    if (m != leader) hand(m, kDone);
  }
}

Status CommitQueue::run(const Work& work, const Step& write, const Step& finish) {
  Member me{&work, Status::OK()};
  bool led_at_once = false;
  {
    std::lock_guard lock(mu_);
    if (writing_) {
      queue_.push_back(&me);
    } else {
      writing_ = true;
      led_at_once = true;
      me.state.store(kLead, std::memory_order_relaxed);
    }
  }
  uint32_t state;
  while ((state = me.state.load(std::memory_order_acquire)) == kWaiting) {
    coord::futex_wait(&me.state, kWaiting, std::chrono::seconds(1));
  }
  if (state == kDone) return me.status;
  // Leading: everyone queued behind rides along. If anything throws (out
  // of memory), nobody may be left waiting: the others hear that their
  // commit may or may not be in the file.
  std::vector<Member*> queued;
  Member* alone[] = {&me};  // a leader with nobody queued allocates nothing
  Group group(alone);
  bool wrote = false;
  try {
    // Whoever queued behind a leader that found the queue idle arrived
    // just now; they go in the next group rather than cost every lone
    // commit a second trip through the lock.
    if (!led_at_once) {
      std::lock_guard lock(mu_);
      queued.swap(queue_);
    }
    if (!queued.empty()) {
      queued.insert(queued.begin(), &me);
      group = queued;
    }
    write(group);
    wrote = true;
    pass_lead();
    finish(group);
  } catch (...) {
    for (Member* m : group) {
      if (m != &me) {
        m->status = Status(Code::io_error, "the thread committing for this one failed (out of memory?); "
                                           "the commit may or may not be in the file");
      }
    }
    if (!wrote) pass_lead();
    hand_results(group, &me);
    throw;
  }
  hand_results(group, &me);
  return me.status;
}

}  // namespace rivulet::db
