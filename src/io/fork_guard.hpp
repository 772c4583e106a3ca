// What a child forked without exec inherits of the handles open in its
// parent, made inert.
//
// Such a child shares the parent's open file descriptions, and with them
// the open-file-description locks that tell the other processes a handle is
// alive, and the shared mappings through which handles change the shared
// area. Left as they are, a parent that dies while the child lives would
// still count as alive (its writer lock never taken over, its read marks and
// group memberships kept), and the child could change shared state through
// a handle that is not its own. So, in the child, right after fork():
//   - every registered descriptor is replaced by /dev/null (the number stays
//     taken, so the inherited object closes its own slot, not someone
//     else's);
//   - every registered mapping is replaced, at the same address, by a
//     private copy-on-write mapping of a fresh description of the same file:
//     views the child still holds stay readable, and nothing it writes
//     reaches the file or the other processes;
//   - generation() changes, so handles opened before can refuse to be used.
// A child that execs loses all of it anyway (every descriptor is CLOEXEC).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace rivulet::io::fork_guard {

// Keeps fork() waiting while a descriptor or mapping is made and
// registered, so that no child inherits one the registry does not know.
class Hold {
 public:
  Hold();
  ~Hold();
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;
};

// A descriptor of a long-lived file (a database, its shared area), and its
// close: unregistered and closed with fork() kept waiting.
void add_descriptor(const Hold&, int fd);
void close_descriptor(int fd);

// A shared mapping of [0, length) of the file open as `fd`, at `addr`.
// Keeps a duplicate of `fd` (the mapping may outlive it), closed by unmap.
// False with errno set if no descriptor is left for the duplicate.
bool add_mapping(const Hold&, void* addr, size_t length, int fd);
void unmap(void* addr, size_t length);

namespace detail {
extern std::atomic<uint64_t> generation;
}

// Changes in a child after every fork(); a handle remembers it at open and
// compares on every call, so it is one load.
inline uint64_t generation() { return detail::generation.load(std::memory_order_relaxed); }

}  // namespace rivulet::io::fork_guard
