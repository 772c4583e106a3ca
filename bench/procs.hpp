// What benchmarks across processes need: a clock all processes share, memory
// shared across fork(), futexes on it, child processes, latency percentiles.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

namespace bench {

// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the host,
// so a time taken in one process can be subtracted from one taken in another.
int64_t now_ns();
void sleep_ns(int64_t ns);

void* map_shared(size_t bytes);  // zero-filled; aborts the program if the mapping fails
void unmap_shared(void* p, size_t bytes);

// `count` value-initialised Ts in an anonymous MAP_SHARED mapping. Made
// before fork(), parent and children see the same memory. Pages are only
// allocated when touched, so a generous count costs address space only.
template <typename T>
class Shared {
  static_assert(std::is_trivially_destructible_v<T>, "the mapping is unmapped, never destroyed");

 public:
  explicit Shared(size_t count = 1) : count_(count) {
    p_ = static_cast<T*>(map_shared(sizeof(T) * count));
    for (size_t i = 0; i < count; ++i) new (p_ + i) T();
  }
  ~Shared() { unmap_shared(p_, sizeof(T) * count_); }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;

  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  T& operator[](size_t i) const { return p_[i]; }
  T* data() const { return p_; }
  size_t size() const { return count_; }

 private:
  T* p_;
  size_t count_;
};

// A 32-bit word processes wait on. The futex calls are the shared (not
// FUTEX_PRIVATE) ones: the word lives in a mapping of several processes.
using Word = std::atomic<uint32_t>;
static_assert(sizeof(Word) == 4 && Word::is_always_lock_free);

// Sleeps while *w == expected, at most timeout_ns (forever if negative).
// Returns early on a wake-up, a signal or a changed word: callers loop.
void futex_wait(Word* w, uint32_t expected, int64_t timeout_ns = -1);
void futex_wake(Word* w);  // wakes every waiter
// One step of a spin-wait: tells the CPU (and a hypervisor) this is one.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Runs fn in a child process, which exits with fn's return value, or 1 if it
// throws (wait_all then returns the exception's message). The child is killed if the
// parent dies, so an interrupted run leaves no process behind. Stdio buffers
// are flushed first so the child does not print them again.
pid_t spawn(const std::function<int()>& fn);

// Waits for every pid. When one fails (non-zero exit, killed), the others are
// killed, since they may be waiting for it forever. Returns "" when all
// succeeded, else what happened to the first that failed (the message of a
// child that threw, if one did).
std::string wait_all(std::vector<pid_t> pids);

// True while `pid` (a child) has not exited; reaps nothing.
bool running(pid_t pid);

// Percentiles of latencies in nanoseconds (nearest rank).
struct Latency {
  size_t count = 0;
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};
Latency summarize(std::vector<int64_t> ns);

}  // namespace bench
