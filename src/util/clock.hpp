// Wall-clock time in milliseconds since the Unix epoch, as Kafka timestamps.
#pragma once

#include <chrono>
#include <cstdint>

namespace rivulet {

inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace rivulet
