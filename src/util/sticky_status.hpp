// The first failure of something that cannot be trusted after it fails (a
// handle after a failed fdatasync, say): set once from any thread, read by
// any thread, with a lock-free check for the common case of no failure.
#pragma once

#include <atomic>
#include <mutex>

#include "rivulet/status.hpp"

namespace rivulet::util {

class StickyStatus {
 public:
  // Keeps `st` unless a failure is already kept; returns the one kept.
  Status set(Status st) {
    std::lock_guard lock(mu_);
    if (status_.ok()) {
      status_ = std::move(st);
      failed_.store(true, std::memory_order_release);
    }
    return status_;
  }
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // The failure kept, or OK.
  Status get() const {
    if (!failed()) return Status::OK();
    std::lock_guard lock(mu_);
    return status_;
  }

 private:
  mutable std::mutex mu_;
  Status status_;
  std::atomic<bool> failed_{false};
};

}  // namespace rivulet::util
