// Mapping growth and size tracking for FileMap.
#include "log/file_map.hpp"

#include <sys/mman.h>

#include <algorithm>

namespace rivulet::log {

Result<uint64_t> FileMap::refresh_size() {
  Result<uint64_t> size = file_->size();
  if (size.ok()) note_size(*size);
  return size;
}

void FileMap::note_size(uint64_t size) {
  uint64_t seen = size_.load(std::memory_order_relaxed);
  while (size > seen && !size_.compare_exchange_weak(seen, size, std::memory_order_acq_rel)) {
  }
}

bool FileMap::read(uint64_t pos, void* buf, size_t n) { return file_->read_at(pos, buf, n).ok(); }

uint64_t FileMap::populate(uint64_t pos, uint64_t limit) {
#ifdef MADV_POPULATE_READ
  Result<std::string_view> pages = view(pos, limit);
  if (!pages.ok() || pages->empty()) return pos;
  const uintptr_t start = reinterpret_cast<uintptr_t>(pages->data()) & ~uintptr_t{4095};
  const uintptr_t stop = reinterpret_cast<uintptr_t>(pages->data()) + pages->size();
  (void)::madvise(reinterpret_cast<void*>(start), stop - start, MADV_POPULATE_READ);
  return pos + pages->size();
#else
  (void)limit;
  return pos;
#endif
}

void FileMap::map_ahead(Ahead* ahead, uint64_t pos, uint64_t end, uint64_t step) {
  end = std::min(end, known_size());
  if (pos >= ahead->from && end <= ahead->to) return;
  const bool onward = pos >= ahead->from && pos <= ahead->to;
  const uint64_t start = onward ? ahead->to : pos;
  if (!onward) ahead->from = pos;
  ahead->to = populate(start, start + step);
}

Result<const char*> FileMap::base_for(uint64_t end) {
  if (const io::Mapping* m = newest_.load(std::memory_order_acquire); m && m->length() >= end) return m->data();
  std::lock_guard lock(mu_);
  if (!maps_.empty() && maps_.back()->length() >= end) return maps_.back()->data();
  // Map generously past the end: address space is cheap, remapping is not.
  uint64_t want = std::max<uint64_t>(uint64_t{1} << 30, end * 2);
  want = (want + (1u << 20) - 1) & ~uint64_t{(1u << 20) - 1};
  Result<std::unique_ptr<io::Mapping>> m = file_->map(want);
  if (!m.ok()) return m.status();
  maps_.push_back(std::move(m).value());
  newest_.store(maps_.back().get(), std::memory_order_release);
  return maps_.back()->data();
}

Result<std::string_view> FileMap::view(uint64_t pos, uint64_t limit, uint64_t need) {
  uint64_t size = known_size();
  if (std::min(limit, size) < pos + need) {
    Result<uint64_t> fresh = refresh_size();
    if (!fresh.ok()) return fresh.status();
    size = known_size();
  }
  uint64_t end = std::min(limit, size);
  if (end <= pos) return std::string_view();
  Result<const char*> base = base_for(end);
  if (!base.ok()) return base.status();
  return std::string_view(*base + pos, end - pos);
}

}  // namespace rivulet::log
