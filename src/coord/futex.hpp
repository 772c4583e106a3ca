// Futex wait and wake on a 32-bit word in memory shared between processes
// (not FUTEX_PRIVATE: waiters and wakers may be in different processes).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>

namespace rivulet::coord {

static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free);

// Sleeps while *word == expected, for at most `timeout`, or until woken.
// Returns false on timeout; spurious returns are possible, so callers
// re-check their condition.
bool futex_wait(std::atomic<uint32_t>* word, uint32_t expected, std::chrono::nanoseconds timeout);

// Sleeps while *words[i] == expected[i] for every i (at most
// kMaxWaitWords), for at most `timeout`, or until one of them is woken.
// Same returns as futex_wait. Needs futex_waitv (Linux 5.16): call only if
// futex_wait_any_supported().
constexpr size_t kMaxWaitWords = 128;
bool futex_wait_any(std::span<std::atomic<uint32_t>* const> words, std::span<const uint32_t> expected,
                    std::chrono::nanoseconds timeout);
bool futex_wait_any_supported();

// Wakes up to `count` waiters on word; returns how many it woke.
int futex_wake(std::atomic<uint32_t>* word, int count);

}  // namespace rivulet::coord
