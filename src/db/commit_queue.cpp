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

Status CommitQueue::run(const Work& work, const Step& write, const Step& finish) {
  Member me{&work, Status::OK()};
  {
    std::lock_guard lock(mu_);
    if (writing_) {
      queue_.push_back(&me);
    } else {
      writing_ = true;
      me.state.store(kLead, std::memory_order_relaxed);
    }
  }
  uint32_t state;
  while ((state = me.state.load(std::memory_order_acquire)) == kWaiting) {
    coord::futex_wait(&me.state, kWaiting, std::chrono::seconds(1));
  }
  if (state == kDone) return me.status;
  // Leading: everyone queued behind rides along.
  std::vector<Member*> group{&me};
  {
    std::lock_guard lock(mu_);
    group.insert(group.end(), queue_.begin(), queue_.end());
    queue_.clear();
  }
  write(group);
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
  finish(group);
  for (Member* m : group) {
    if (m != &me) hand(m, kDone);
  }
  return me.status;
}

}  // namespace rivulet::db
