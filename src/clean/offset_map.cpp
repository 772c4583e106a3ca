// See offset_map.hpp.
#include "clean/offset_map.hpp"

#include <algorithm>

namespace rivulet::clean {

OffsetMap::OffsetMap(size_t capacity_bytes, const SipKey& hash_key)
    : hash_key_(hash_key), slots_(capacity_bytes / kSlotBytes) {
  // At most 3/4 full, so a probe always reaches an empty slot.
  max_keys_ = slots_.size() / 4 * 3 + slots_.size() % 4 * 3 / 4;
}

size_t OffsetMap::find(const Hash128& hash) const {
  // The hash is uniform, so its high bits scaled to the table size pick the
  // first slot without a division.
  const size_t n = slots_.size();
  size_t i = static_cast<size_t>((static_cast<unsigned __int128>(hash.hi) * n) >> 64);
  for (;;) {
    const Slot& s = slots_[i];
    if (s.offset < 0 || s.hash == hash) return i;
    if (++i == n) i = 0;
  }
}

bool OffsetMap::put(std::string_view key, int64_t offset) {
  if (offset < 0 || slots_.empty()) return false;
  const Hash128 h = siphash128(hash_key_, key.data(), key.size());
  Slot& s = slots_[find(h)];
  if (s.offset >= 0) {
    s.offset = std::max(s.offset, offset);
    return true;
  }
  if (size_ >= max_keys_) return false;
  s.hash = h;
  s.offset = offset;
  ++size_;
  return true;
}

std::optional<int64_t> OffsetMap::latest(std::string_view key) const {
  if (size_ == 0) return std::nullopt;
  const Slot& s = slots_[find(siphash128(hash_key_, key.data(), key.size()))];
  if (s.offset < 0) return std::nullopt;
  return s.offset;
}

void OffsetMap::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  size_ = 0;
}

}  // namespace rivulet::clean
