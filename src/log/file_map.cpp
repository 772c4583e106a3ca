// Mapping growth and size tracking for FileMap.
#include "log/file_map.hpp"

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
  uint64_t size = known_size();
  if (std::min(limit, size) <= pos && refresh_size().ok()) size = known_size();
  const uint64_t stop = std::min(limit, size);
  if (stop <= pos) return pos;
  Result<const Map*> got = map_for(stop);
  if (!got.ok()) return pos;
  const Map& m = **got;
  const uint64_t chunks_end = (stop + kPopulateChunk - 1) / kPopulateChunk;
  for (uint64_t c = pos / kPopulateChunk; c < chunks_end;) {
    if (m.populated(c)) {
      ++c;
      continue;
    }
    uint64_t run_end = c + 1;
    while (run_end < chunks_end && !m.populated(run_end)) ++run_end;
    // Whole pieces, as far as the file goes; a piece the file ends in is
    // not marked: the file may grow into it.
    m.mapping->populate(c * kPopulateChunk, std::min(run_end * kPopulateChunk, size));
    for (uint64_t k = c; k < run_end && (k + 1) * kPopulateChunk <= size; ++k) m.mark_populated(k);
    c = run_end;
  }
  return stop;
}

void FileMap::map_ahead(Ahead* ahead, uint64_t pos, uint64_t end, uint64_t step) {
  end = std::min(end, known_size());
  if (pos >= ahead->from && end <= ahead->to) return;
  const bool onward = pos >= ahead->from && pos <= ahead->to;
  const uint64_t start = onward ? ahead->to : pos;
  if (!onward) ahead->from = pos;
  ahead->to = populate(start, start + step);
}

FileMap::Map::Map(std::unique_ptr<io::Mapping> m) : mapping(std::move(m)) {
  const uint64_t words = (mapping->length() / kPopulateChunk + 63) / 64;
  populated_bits = std::make_unique<std::atomic<uint64_t>[]>(words);  // zeroed
}

bool FileMap::Map::populated(uint64_t chunk) const {
  return (populated_bits[chunk / 64].load(std::memory_order_relaxed) >> (chunk % 64)) & 1;
}

void FileMap::Map::mark_populated(uint64_t chunk) const {
  populated_bits[chunk / 64].fetch_or(uint64_t{1} << (chunk % 64), std::memory_order_relaxed);
}

void FileMap::Map::forget(uint64_t chunk) const {
  populated_bits[chunk / 64].fetch_and(~(uint64_t{1} << (chunk % 64)), std::memory_order_relaxed);
}

void FileMap::forget_populated(uint64_t begin, uint64_t end) {
  // Only the newest mapping is populated and read from.
  const Map* m = newest_.load(std::memory_order_acquire);
  if (!m) return;
  end = std::min(end, m->mapping->length());
  for (uint64_t c = begin / kPopulateChunk; c * kPopulateChunk < end; ++c) m->forget(c);
}

Result<const FileMap::Map*> FileMap::map_for(uint64_t end) {
  if (const Map* m = newest_.load(std::memory_order_acquire); m && m->mapping->length() >= end) return m;
  std::lock_guard lock(mu_);
  if (!maps_.empty() && maps_.back()->mapping->length() >= end) return maps_.back().get();
  // Map generously past the end: address space is cheap, remapping is not.
  uint64_t want = std::max<uint64_t>(uint64_t{1} << 30, end * 2);
  want = (want + (1u << 20) - 1) & ~uint64_t{(1u << 20) - 1};
  Result<std::unique_ptr<io::Mapping>> m = file_->map(want);
  if (!m.ok()) return m.status();
  maps_.push_back(std::make_unique<Map>(std::move(m).value()));
  newest_.store(maps_.back().get(), std::memory_order_release);
  return maps_.back().get();
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
  Result<const Map*> m = map_for(end);
  if (!m.ok()) return m.status();
  return std::string_view((*m)->mapping->data() + pos, end - pos);
}

}  // namespace rivulet::log
