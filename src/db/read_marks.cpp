#include "db/read_marks.hpp"

#include <algorithm>

#include "coord/shared_state.hpp"

namespace rivulet {

void ReadMarks::set(Mark& mark, uint64_t seq) {
  std::lock_guard lock(mu_);
  if (mark.held_) {
    if (*mark.at_ == seq) return;
    mark.spare_ = marks_.extract(mark.at_);
  }
  if (mark.spare_.empty()) {
    mark.at_ = marks_.insert(seq);
  } else {
    mark.spare_.value() = seq;
    mark.at_ = marks_.insert(std::move(mark.spare_));
  }
  mark.held_ = true;
  publish_locked();
}

void ReadMarks::clear(Mark& mark) {
  std::lock_guard lock(mu_);
  if (!mark.held_) return;
  mark.spare_ = marks_.extract(mark.at_);
  mark.held_ = false;
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
