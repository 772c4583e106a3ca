// The read marks of one handle: the segments (by segment_seq) each of its
// readers is reading, and the floor: the segment where the handle's walk of
// the chain goes on, which it must still be able to read to catch up. The
// lowest is published in the handle's slot of the shared area, so that
// space reclaiming never reuses a segment a live handle may still read.
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
  // One reader's mark. It keeps its set node while cleared, so a reader
  // that alternates polls with records and empty ones allocates nothing.
  class Mark {
    friend class ReadMarks;
    std::multiset<uint64_t>::iterator at_;
    bool held_ = false;
    std::multiset<uint64_t>::node_type spare_;
  };

  void attach(coord::SharedState* shared) { shared_ = shared; }
  // Moves a reader's mark to segment `seq`, or clears it.
  void set(Mark& mark, uint64_t seq);
  void clear(Mark& mark);
  // The segment where the handle's chain position is.
  void set_floor(uint64_t seq);
  // The lowest mark of this handle's readers, or UINT64_MAX.
  uint64_t lowest() const;

 private:
  void publish_locked();

  mutable std::mutex mu_;
  std::multiset<uint64_t> marks_;
  uint64_t floor_ = UINT64_MAX;
  coord::SharedState* shared_ = nullptr;
};

}  // namespace rivulet
