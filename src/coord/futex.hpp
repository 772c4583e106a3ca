// Futex wait and wake on a 32-bit word in memory shared between processes
// (not FUTEX_PRIVATE: waiters and wakers may be in different processes).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace rivulet::coord {

static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free);

// Sleeps while *word == expected, for at most `timeout`, or until woken.
// Returns false on timeout; spurious returns are possible, so callers
// re-check their condition.
bool futex_wait(std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds timeout);

// Wakes up to `count` waiters on word.
void futex_wake(std::atomic<uint32_t>* word, int count);

}  // namespace rivulet::coord
