// The read marks of one handle: where each of its readers is reading. The
// lowest is published in the handle's slot of the shared area, so that space
// reclaiming never reuses bytes a live reader may still hand out.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>

namespace rivulet::coord {
class SharedState;
}

namespace rivulet {

class ReadMarks {
 public:
  using Mark = std::multiset<uint64_t>::iterator;

  void attach(coord::SharedState* shared) { shared_ = shared; }
  // Moves a reader's mark to `position` (a file position), or clears it
  // (has says whether the reader holds one).
  void set(Mark* mark, bool* has, uint64_t position);
  void clear(Mark* mark, bool* has);
  // The lowest mark of this handle, or UINT64_MAX.
  uint64_t lowest() const;

 private:
  void publish_locked();

  mutable std::mutex mu_;
  std::multiset<uint64_t> marks_;
  coord::SharedState* shared_ = nullptr;
};

}  // namespace rivulet
