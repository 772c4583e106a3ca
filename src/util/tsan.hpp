// Tells ThreadSanitizer about synchronisation it cannot see. Locks on bytes
// of a file (fcntl) order the threads of one process as a mutex would, but
// TSan only knows its own interceptors, so memory handed over under such a
// lock looks raced. No-ops in other builds.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define RIVULET_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RIVULET_TSAN 1
#endif
#endif

#ifdef RIVULET_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace rivulet::tsan {

// After taking a lock that guards `what`.
inline void acquired([[maybe_unused]] const void* what) {
#ifdef RIVULET_TSAN
  __tsan_acquire(const_cast<void*>(what));
#endif
}

// Before giving up that lock.
inline void releasing([[maybe_unused]] const void* what) {
#ifdef RIVULET_TSAN
  __tsan_release(const_cast<void*>(what));
#endif
}

}  // namespace rivulet::tsan
