// The offset map of one compaction pass over a partition: key -> the latest
// offset of that key, in a fixed amount of memory, as Kafka's SkimpyOffsetMap.
//
// A key is stored as its 16-byte SipHash-2-4-128 under a key chosen at random
// per map, not as its bytes, so every key costs the same 24 bytes (hash +
// offset) however long it is. The price is a chance that two keys share a
// hash, and then the older one's latest record could be dropped. Against keys
// that fall as they may, and against keys chosen by someone who does not know
// the map's random key, the chance that any two of n keys collide is at most
// n^2 / 2^129: for the ~33 million keys of a 1 GiB map, 2e-24 per pass. An
// 8-byte hash would give 3e-5 for the same map, which many passes over a
// file's life would turn into a real loss; storing the bytes of short keys
// would make slots variable-sized for a gain of nothing measurable. (Kafka's
// cleaner stores 16 bytes too, an unkeyed MD5.) Someone who can produce to
// the topic can already delete any key outright with a tombstone, so even a
// collision found on purpose would give them nothing new.
//
// Memory: open addressing with linear probing over capacity/24 slots, filled
// to at most 3/4 (an unsuccessful probe then reads about 8.5 slots on average,
// three or four cache lines; Kafka's 0.9 would cost 50). put() refuses a new
// key beyond that, and the caller compacts only up to the first offset it
// could not map.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "util/siphash.hpp"

namespace rivulet::clean {

class OffsetMap {
 public:
  static constexpr size_t kSlotBytes = 24;

  // Takes about `capacity_bytes` of memory (a map of less than 48 bytes holds
  // no key). `hash_key` should be random (the cleaner draws one per map it
  // makes, and keeps a map and its key for later passes of the same size): the
  // collision bound above assumes nobody choosing keys knows it; a fixed key
  // still gives the bound for keys not chosen to collide.
  OffsetMap(size_t capacity_bytes, const SipKey& hash_key);

  // Records `offset` (>= 0) as the latest of `key`; a key already present
  // keeps the larger of its offsets. Returns false, changing nothing, when
  // `key` is new and the map is full, or when offset < 0.
  bool put(std::string_view key, int64_t offset);

  // The latest offset put for `key`, or nullopt if it was never put.
  std::optional<int64_t> latest(std::string_view key) const;

  // Forgets every key, keeping the memory (for the next pass).
  void clear();

  size_t size() const { return size_; }            // distinct keys held
  size_t max_keys() const { return max_keys_; }    // when put() starts refusing new keys
  size_t memory_bytes() const { return slots_.size() * kSlotBytes; }

 private:
  struct Slot {
    Hash128 hash;
    int64_t offset = -1;  // -1: empty (offsets are >= 0)
  };
  static_assert(sizeof(Slot) == kSlotBytes);

  // The slot holding `hash`, or the empty slot where it would go.
  size_t find(const Hash128& hash) const;

  SipKey hash_key_;
  std::vector<Slot> slots_;
  size_t max_keys_ = 0;
  size_t size_ = 0;
};

}  // namespace rivulet::clean
