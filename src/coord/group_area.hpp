// The part of the shared area (FILE-shm) where consumer groups' live
// members register: which groups have members, who they are, and what
// they subscribe to. Like the rest of FILE-shm it is rebuilt empty when
// nobody has the log open; liveness is never read from these bytes but
// from OFD locks (io/locks.hpp), which the kernel drops when a process dies.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rivulet::coord {

inline constexpr uint32_t kMaxGroups = 64;           // groups with live members at once
inline constexpr uint32_t kMaxMembers = 256;         // live members at once, all groups
inline constexpr uint32_t kMaxGroupNameBytes = 248;
inline constexpr uint32_t kMaxSubscribedTopics = 28;

struct GroupEntry {
  std::atomic<uint32_t> used;  // 1 while a member entry names this group
  uint32_t name_length;
  char name[kMaxGroupNameBytes];
};

struct MemberEntry {
  std::atomic<uint32_t> used;  // 1 once the fields below are whole
  uint32_t group;              // index into GroupArea::groups
  uint64_t join_seq;           // orders members (earlier joiners first)
  uint32_t pid;                // informative
  uint32_t topic_count;
  uint64_t topics[kMaxSubscribedTopics];  // subscribed topics, by topic_hash()
  uint64_t reserved;
};

struct GroupArea {
  // Incremented whenever a member joins or leaves (or a dead one is
  // cleared): members re-run the assignment when it moves.
  alignas(64) std::atomic<uint32_t> epoch;
  uint32_t reserved;
  uint64_t next_join_seq;  // changed under the table lock only
  alignas(64) GroupEntry groups[kMaxGroups];
  MemberEntry members[kMaxMembers];
};

static_assert(sizeof(GroupEntry) == 256 && sizeof(MemberEntry) == 256);
static_assert(offsetof(GroupArea, groups) == 64 && offsetof(GroupArea, members) == 64 + 256 * kMaxGroups);
static_assert(sizeof(GroupArea) == 64 + 256 * (kMaxGroups + kMaxMembers));

// A subscription names topics by this hash (FNV-1a, 64 bits) so that a
// member may subscribe to a topic that does not exist yet.
inline uint64_t topic_hash(const char* name, size_t length) {
  uint64_t h = 0xcbf29ce484222325;
  for (size_t i = 0; i < length; ++i) {
    h ^= static_cast<unsigned char>(name[i]);
    h *= 0x100000001b3;
  }
  return h;
}

}  // namespace rivulet::coord
