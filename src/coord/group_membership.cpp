// Consumer group members in the shared area: joining, leaving, clearing
// dead members, and partition ownership locks.
#include "coord/group_membership.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "io/locks.hpp"
#include "util/tsan.hpp"

namespace rivulet::coord {

namespace {

std::string_view group_name(const GroupEntry& g) {
  return {g.name, std::min<uint32_t>(g.name_length, kMaxGroupNameBytes)};
}

LiveMember describe(uint32_t index, const MemberEntry& m) {
  LiveMember live;
  live.index = index;
  live.join_seq = m.join_seq;
  live.pid = m.pid;
  uint32_t n = std::min(m.topic_count, kMaxSubscribedTopics);
  live.topics.assign(m.topics, m.topics + n);
  return live;
}

}  // namespace

GroupMembership::GroupMembership(SharedState& shared, std::unique_ptr<io::SharedFile> file)
    : shared_(shared), area_(shared.groups()), file_(std::move(file)) {}

GroupMembership::~GroupMembership() { leave(); }

Result<std::unique_ptr<GroupMembership>> GroupMembership::join(SharedState& shared, std::string_view group,
                                                               std::span<const uint64_t> topics) {
  if (group.empty() || group.size() > kMaxGroupNameBytes) {
    return Status(Code::invalid_argument,
                  fmt::format("group name must be 1 to {} bytes, not {}", kMaxGroupNameBytes, group.size()));
  }
  if (topics.size() > kMaxSubscribedTopics) {
    return Status(Code::invalid_argument, fmt::format("a member may subscribe to at most {} topics, not {}",
                                                      kMaxSubscribedTopics, topics.size()));
  }
  // The area file exists (this handle is attached): it is its own model.
  Result<std::unique_ptr<io::SharedFile>> file = shared.env()->open_shared(shared.path(), shared.path());
  if (!file.ok()) return file.status();
  std::unique_ptr<GroupMembership> m(new GroupMembership(shared, std::move(file).value()));
  RIVULET_TRY(m->lock_table());
  Status st = m->register_locked(group, topics);
  m->unlock_table();
  if (!st.ok()) return st;
  shared.wake_waiters();  // the group's members look now, not at their next timer
  return m;
}

Status GroupMembership::lock_table() {
  RIVULET_TRY(file_->lock(io::kGroupTableLock, io::LockType::exclusive, true));
  tsan::acquired(&area_);
  return Status::OK();
}

void GroupMembership::unlock_table() {
  tsan::releasing(&area_);
  file_->unlock(io::kGroupTableLock).ignore();
}

Status GroupMembership::register_locked(std::string_view group, std::span<const uint64_t> topics) {
  // Clear the dead first: their entries may be all that is free.
  for (uint32_t i = 0; i < kMaxMembers; ++i) {
    if (area_.members[i].used.load() == 0) continue;
    Result<bool> live = file_->locked_by_other(io::kMemberLockBase + i);
    if (!live.ok()) return live.status();
    if (!*live) clear_locked(i);
  }
  // A joiner that died between naming its group and taking its entry left
  // a group no member refers to: free it, or it would hold a slot for good.
  bool referenced[kMaxGroups] = {};
  for (const MemberEntry& m : area_.members) {
    if (m.used.load() != 0 && m.group < kMaxGroups) referenced[m.group] = true;
  }
  for (uint32_t i = 0; i < kMaxGroups; ++i) {
    if (area_.groups[i].used.load() != 0 && !referenced[i]) area_.groups[i].used.store(0);
  }
  uint32_t g = kMaxGroups;
  uint32_t free_group = kMaxGroups;
  for (uint32_t i = 0; i < kMaxGroups; ++i) {
    if (area_.groups[i].used.load() == 0) {
      free_group = std::min(free_group, i);
    } else if (group_name(area_.groups[i]) == group) {
      g = i;
    }
  }
  uint32_t slot = kMaxMembers;
  for (uint32_t i = 0; i < kMaxMembers && slot == kMaxMembers; ++i) {
    if (area_.members[i].used.load() == 0) slot = i;
  }
  if (slot == kMaxMembers) {
    return Status(Code::busy, fmt::format("{}: all {} group member entries are in use", shared_.path(), kMaxMembers));
  }
  if (g == kMaxGroups) {
    if (free_group == kMaxGroups) {
      return Status(Code::busy, fmt::format("{}: {} groups have live members already, the most at once",
                                            shared_.path(), kMaxGroups));
    }
    g = free_group;
    GroupEntry& e = area_.groups[g];
    e.name_length = static_cast<uint32_t>(group.size());
    memcpy(e.name, group.data(), group.size());
    e.used.store(1);
  }
  RIVULET_TRY(file_->lock(io::kMemberLockBase + slot, io::LockType::exclusive, false));
  MemberEntry& m = area_.members[slot];
  m.group = g;
  m.join_seq = ++area_.next_join_seq;
  m.pid = static_cast<uint32_t>(getpid());
  m.topic_count = static_cast<uint32_t>(topics.size());
  std::copy(topics.begin(), topics.end(), m.topics);
  m.used.store(1);
  area_.epoch.fetch_add(1);
  index_ = slot;
  group_ = g;
  join_seq_ = m.join_seq;
  return Status::OK();
}

void GroupMembership::clear_locked(uint32_t i) {
  MemberEntry& m = area_.members[i];
  uint32_t g = m.group;
  m.used.store(0);
  area_.epoch.fetch_add(1);
  if (g >= kMaxGroups) return;
  for (uint32_t j = 0; j < kMaxMembers; ++j) {
    if (area_.members[j].used.load() != 0 && area_.members[j].group == g) return;
  }
  area_.groups[g].used.store(0);
}

uint32_t GroupMembership::epoch() const { return area_.epoch.load(std::memory_order_acquire); }

Result<std::vector<LiveMember>> GroupMembership::members(uint32_t* epoch) {
  // Under the table lock: entries are rewritten under it (a slot freed and
  // taken by another group's joiner), so a look without it could count
  // another group's member or read a half-written entry.
  RIVULET_TRY(lock_table());
  Result<std::vector<LiveMember>> live = members_locked();
  if (epoch && live.ok()) *epoch = area_.epoch.load(std::memory_order_acquire);
  unlock_table();
  return live;
}

Result<std::vector<LiveMember>> GroupMembership::members_locked() {
  std::vector<LiveMember> live;
  for (uint32_t i = 0; i < kMaxMembers; ++i) {
    const MemberEntry& m = area_.members[i];
    if (m.used.load(std::memory_order_acquire) == 0 || m.group != group_) continue;
    if (i != index_) {
      Result<bool> held = file_->locked_by_other(io::kMemberLockBase + i);
      if (!held.ok()) return held.status();
      if (!*held) {
        clear_locked(i);
        continue;
      }
    }
    live.push_back(describe(i, m));
  }
  std::sort(live.begin(), live.end(), [](const LiveMember& a, const LiveMember& b) { return a.join_seq < b.join_seq; });
  return live;
}

Result<bool> GroupMembership::try_own(uint32_t topic_id, int32_t partition) {
  if (topic_id > io::kMaxLockedTopicId || partition < 0) {
    return Status(Code::unsupported, fmt::format("topic id {} is beyond what consumer groups can lock", topic_id));
  }
  Status st = file_->lock(io::partition_lock_byte(group_, topic_id, static_cast<uint32_t>(partition)),
                          io::LockType::exclusive, false);
  if (st.code() == Code::busy) return false;
  if (!st.ok()) return st;
  return true;
}

void GroupMembership::disown(uint32_t topic_id, int32_t partition) {
  file_->unlock(io::partition_lock_byte(group_, topic_id, static_cast<uint32_t>(partition))).ignore();
}

void GroupMembership::leave() {
  if (index_ == UINT32_MAX) return;
  // Closing the description releases every partition lock with it; the
  // entry goes under the table lock so nobody reads it half cleared.
  if (lock_table().ok()) {
    clear_locked(index_);
    // Free the entry's lock with the entry: the next joiner may take this
    // slot as soon as the table is unlocked, before our description closes.
    file_->unlock(io::kMemberLockBase + index_).ignore();
    unlock_table();
    shared_.wake_waiters();
  }
  index_ = UINT32_MAX;
  file_.reset();
}

Result<std::vector<LiveGroup>> GroupMembership::live_groups(SharedState& shared) {
  // The table is read under its lock, taken through a description of our
  // own: OFD locks of one description never conflict, so taking it on the
  // handle's (which its other threads share) would exclude nobody, and one
  // thread's unlock would end another's read.
  Result<std::unique_ptr<io::SharedFile>> file = shared.env()->open_shared(shared.path(), shared.path());
  if (!file.ok()) return file.status();
  RIVULET_TRY((*file)->lock(io::kGroupTableLock, io::LockType::shared, true));
  tsan::acquired(&shared.groups());
  Result<std::vector<LiveGroup>> groups = live_groups_locked(shared.groups(), **file);
  tsan::releasing(&shared.groups());
  (*file)->unlock(io::kGroupTableLock).ignore();
  return groups;
}

Result<std::vector<LiveGroup>> GroupMembership::live_groups_locked(const GroupArea& area, io::SharedFile& file) {
  std::vector<LiveGroup> groups;
  for (uint32_t i = 0; i < kMaxMembers; ++i) {
    const MemberEntry& m = area.members[i];
    if (m.used.load(std::memory_order_acquire) == 0 || m.group >= kMaxGroups) continue;
    Result<bool> held = file.locked_by_other(io::kMemberLockBase + i);
    if (!held.ok()) return held.status();
    if (!*held) continue;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const LiveGroup& g) { return g.index == m.group; });
    if (it == groups.end()) {
      groups.push_back({m.group, std::string(group_name(area.groups[m.group])), {}});
      it = groups.end() - 1;
    }
    it->members.push_back(describe(i, m));
  }
  for (LiveGroup& g : groups) {
    std::sort(g.members.begin(), g.members.end(),
              [](const LiveMember& a, const LiveMember& b) { return a.join_seq < b.join_seq; });
  }
  std::sort(groups.begin(), groups.end(), [](const LiveGroup& a, const LiveGroup& b) { return a.name < b.name; });
  return groups;
}

}  // namespace rivulet::coord
