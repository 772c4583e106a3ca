// SipHash-2-4 with a 128-bit output (Aumasson and Bernstein, the reference
// siphash.c with outlen 16): a keyed pseudorandom function. The offset map of
// compaction stores this hash in place of each key, so it must make two
// distinct keys collide with negligible probability, even keys chosen by
// someone who wants them to collide but does not know the key.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rivulet {

struct SipKey {
  uint64_t k0 = 0;  // bytes 0..7 of the 16-byte key, little-endian
  uint64_t k1 = 0;  // bytes 8..15
};

struct Hash128 {
  uint64_t lo = 0;  // output bytes 0..7, little-endian
  uint64_t hi = 0;  // output bytes 8..15
  bool operator==(const Hash128&) const = default;
};

Hash128 siphash128(const SipKey& key, const void* data, size_t n);

}  // namespace rivulet
