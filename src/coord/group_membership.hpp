// One consumer's membership in a group, across threads and processes: an
// entry in the shared member table (coord/group_area.hpp) that lives as
// long as an OFD lock its member holds, and locks on the partitions it
// reads. The kernel releases every lock of a member whose process dies, so
// survivors see the death at their next look and a partition is never read
// by two live members: reading one requires holding its lock.
//
// Each member opens FILE-shm again for its own open file description: OFD
// locks of one description never conflict with each other, and members in
// one process must exclude each other too.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coord/shared_state.hpp"

namespace rivulet::coord {

struct LiveMember {
  uint32_t index = 0;     // entry in the member table
  uint64_t join_seq = 0;  // earlier joiners first
  uint32_t pid = 0;
  std::vector<uint64_t> topics;  // subscription, by topic_hash()
};

struct LiveGroup {
  uint32_t index = 0;
  std::string name;
  std::vector<LiveMember> members;  // by join_seq
};

class GroupMembership {
 public:
  // Registers a new member of `group` subscribed to `topics` (hashes).
  static Result<std::unique_ptr<GroupMembership>> join(SharedState& shared, std::string_view group,
                                                       std::span<const uint64_t> topics);
  ~GroupMembership();  // leave()
  GroupMembership(const GroupMembership&) = delete;
  GroupMembership& operator=(const GroupMembership&) = delete;

  // Moves whenever any group's membership changes.
  uint32_t epoch() const;
  // The live members of this group (this one included), read under the
  // table lock. Entries of dead members are cleared on the way, which
  // moves the epoch; *epoch, if given, is the epoch these members are
  // (read under the same lock, so a join right after is not missed).
  Result<std::vector<LiveMember>> members(uint32_t* epoch = nullptr);
  uint32_t index() const { return index_; }
  uint32_t group_index() const { return group_; }
  uint64_t join_seq() const { return join_seq_; }

  // Takes the lock of a partition: false if another live member holds it.
  Result<bool> try_own(uint32_t topic_id, int32_t partition);
  void disown(uint32_t topic_id, int32_t partition);

  // Drops the entry and every lock (called by the destructor too).
  void leave();

  // Every group with live members, by name (for describe and list; clears
  // nothing). Reads the table under its lock, through a description of its
  // own.
  static Result<std::vector<LiveGroup>> live_groups(SharedState& shared);

 private:
  GroupMembership(SharedState& shared, std::unique_ptr<io::SharedFile> file);
  Status lock_table();
  void unlock_table();
  Status register_locked(std::string_view group, std::span<const uint64_t> topics);
  Result<std::vector<LiveMember>> members_locked();
  static Result<std::vector<LiveGroup>> live_groups_locked(const GroupArea& area, io::SharedFile& file);
  // Clears entry i (its member is dead) and its group if no member is left.
  void clear_locked(uint32_t i);

  SharedState& shared_;
  GroupArea& area_;
  std::unique_ptr<io::SharedFile> file_;
  uint32_t index_ = UINT32_MAX;
  uint32_t group_ = UINT32_MAX;
  uint64_t join_seq_ = 0;
};

}  // namespace rivulet::coord
