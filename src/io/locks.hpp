// Where the cross-process writer lock lives, so the file format docs and the
// tools can name it. Internal: only the I/O back ends take the lock.
#pragma once

#include <cstdint>

namespace rivulet::io {

// File::lock_writer() write-locks this single byte (2^62). It lies far past
// any data Rivulet writes, so the lock never covers bytes readers use, and it
// still fits a signed 64-bit off_t.
inline constexpr uint64_t kWriterLockByte = uint64_t{1} << 62;

}  // namespace rivulet::io
