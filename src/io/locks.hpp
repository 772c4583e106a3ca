// Which bytes Rivulet locks, so the file format docs and the tools can name
// them. Internal: only the I/O back ends and coord/ take locks.
#pragma once

#include <cstdint>

namespace rivulet::io {

// In the log file: write-locked while a new file's first blocks are
// written (an empty file becomes a Rivulet file). It lies far past any data
// Rivulet writes, so the lock never covers bytes readers use, and it still
// fits a signed 64-bit off_t.
inline constexpr uint64_t kWriterLockByte = uint64_t{1} << 62;

// In the shared file beside the log (coord/shared_state.hpp): every handle
// holds a shared lock on the attach byte, and the first to attach (who can
// lock it exclusively) rebuilds the shared state. Handle slot i is
// write-locked at kSlotLockBase + i while the handle lives.
inline constexpr uint64_t kAttachLockByte = uint64_t{1} << 40;
inline constexpr uint64_t kSlotLockBase = kAttachLockByte + 1;

// Consumer groups (coord/group_membership.hpp), in the shared file too:
// the member table is changed under an exclusive lock on kGroupTableLock
// and read under a shared or exclusive one;
// member i holds kMemberLockBase + i while it lives; the member that reads
// partition P of topic T for group slot G holds
// kPartitionLockBase + G * 2^40 + T * 2^17 + P.
inline constexpr uint64_t kGroupTableLock = uint64_t{1} << 41;
inline constexpr uint64_t kMemberLockBase = kGroupTableLock + 1;
inline constexpr uint64_t kPartitionLockBase = uint64_t{1} << 48;
inline constexpr uint32_t kMaxLockedTopicId = (1u << 23) - 1;
inline constexpr uint64_t partition_lock_byte(uint32_t group, uint32_t topic_id, uint32_t partition) {
  return kPartitionLockBase + (uint64_t{group} << 40) + (uint64_t{topic_id} << 17) + partition;
}

}  // namespace rivulet::io
