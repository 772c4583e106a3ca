// Clocks: wall-clock milliseconds for Kafka timestamps, and a cheap
// monotonic clock for upkeep that runs "about once a second".
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace rivulet {

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// steady_clock at the kernel tick's resolution (a few ms): no clock read,
// so a per-commit "is upkeep due?" test costs next to nothing.
inline std::chrono::steady_clock::time_point coarse_steady_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

// `now + d`, or the farthest time_point where that would overflow:
// milliseconds::max() is how callers say "wait for ever", and in
// nanoseconds it is far past what a time_point holds. `now` if d <= 0.
template <class Rep, class Period>
std::chrono::steady_clock::time_point deadline_after(std::chrono::steady_clock::time_point now,
                                                     std::chrono::duration<Rep, Period> d) {
  using TimePoint = std::chrono::steady_clock::time_point;
  if (d <= d.zero()) return now;
  // The room left, in d's unit (rounded down, so d below it cannot overflow).
  const auto room = std::chrono::duration_cast<std::chrono::duration<Rep, Period>>(TimePoint::max() - now);
  return d >= room ? TimePoint::max() : now + d;
}

}  // namespace rivulet
