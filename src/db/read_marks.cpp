#include "db/read_marks.hpp"

#include <algorithm>

#include "coord/shared_state.hpp"

namespace rivulet {

void ReadMarks::set(Mark* mark, bool* has, uint64_t seq) {
  std::lock_guard lock(mu_);
  if (*has && **mark == seq) return;
  if (*has) marks_.erase(*mark);
  *mark = marks_.insert(seq);
  *has = true;
  publish_locked();
}

void ReadMarks::clear(Mark* mark, bool* has) {
  std::lock_guard lock(mu_);
  if (!*has) return;
  marks_.erase(*mark);
  *has = false;
  publish_locked();
}

void ReadMarks::set_floor(uint64_t seq) {
  std::lock_guard lock(mu_);
  if (floor_ == seq) return;
  floor_ = seq;
  publish_locked();
}

uint64_t ReadMarks::lowest() const {
  std::lock_guard lock(mu_);
  return marks_.empty() ? UINT64_MAX : *marks_.begin();
}

void ReadMarks::publish_locked() {
  if (shared_) shared_->set_read_mark(std::min(floor_, marks_.empty() ? coord::SharedState::kNoReadMark : *marks_.begin()));
}

}  // namespace rivulet
