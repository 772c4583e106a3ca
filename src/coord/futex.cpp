#include "coord/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

namespace rivulet::coord {

bool futex_wait(std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds timeout) {
  if (timeout.count() <= 0) return false;
  struct timespec ts;
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  long rc = ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
  return !(rc != 0 && errno == ETIMEDOUT);
}

namespace {

// The kernel's struct futex_waitv (linux/futex.h since 5.16), spelled out:
// older headers do not have it.
struct WaitWord {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
constexpr uint32_t kFutex2SizeU32 = 0x02;  // FUTEX2_SIZE_U32; not FUTEX2_PRIVATE: shared between processes
constexpr long kSysFutexWaitv = 449;        // the same number on every architecture

}  // namespace

bool futex_wait_any(std::span<std::atomic<uint32_t>* const> words, std::span<const uint32_t> expected,
                    std::chrono::nanoseconds timeout) {
  if (timeout.count() <= 0 || words.empty() || words.size() > kMaxWaitWords) return false;
  WaitWord waits[kMaxWaitWords];
  for (size_t i = 0; i < words.size(); ++i) {
    waits[i] = {expected[i], reinterpret_cast<uintptr_t>(words[i]), kFutex2SizeU32, 0};
  }
  // futex_waitv takes an absolute deadline.
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t ns = ts.tv_nsec + timeout.count() % 1'000'000'000;
  ts.tv_sec += static_cast<time_t>(timeout.count() / 1'000'000'000 + ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  long rc = ::syscall(kSysFutexWaitv, waits, static_cast<unsigned>(words.size()), 0u, &ts, CLOCK_MONOTONIC);
  return !(rc < 0 && errno == ETIMEDOUT);
}

bool futex_wait_any_supported() {
  // No words: EINVAL where the call exists, ENOSYS where it does not.
  static const bool supported = [] {
    long rc = ::syscall(kSysFutexWaitv, nullptr, 0u, 0u, nullptr, CLOCK_MONOTONIC);
    return !(rc < 0 && errno == ENOSYS);
  }();
  return supported;
}

int futex_wake(std::atomic<uint32_t>* word, int count) {
  long woken = ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, count, nullptr, nullptr, 0);
  return woken > 0 ? static_cast<int>(woken) : 0;
}

}  // namespace rivulet::coord
