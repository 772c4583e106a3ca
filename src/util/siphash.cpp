// SipHash-2-4-128 as the reference implementation computes it; the test
// checks it against the reference's published vectors.
#include "util/siphash.hpp"

#include "util/endian.hpp"

namespace rivulet {
namespace {

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

struct State {
  uint64_t v0, v1, v2, v3;

  void round() {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
  }
  void compress(uint64_t m) {
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  uint64_t finalize_half() {
    for (int i = 0; i < 4; ++i) round();
    return v0 ^ v1 ^ v2 ^ v3;
  }
};

}  // namespace

Hash128 siphash128(const SipKey& key, const void* data, size_t n) {
  State s{0x736f6d6570736575ULL ^ key.k0, 0x646f72616e646f6dULL ^ key.k1, 0x6c7967656e657261ULL ^ key.k0,
          0x7465646279746573ULL ^ key.k1};
  s.v1 ^= 0xee;  // the 128-bit output variant

  const auto* p = static_cast<const unsigned char*>(data);
  const size_t words = n / 8;
  for (size_t i = 0; i < words; ++i, p += 8) s.compress(load_le<uint64_t>(p));
  // The last block: the remaining bytes, and the length's low byte on top.
  uint64_t last = static_cast<uint64_t>(n) << 56;
  for (size_t i = 0; i < n % 8; ++i) last |= static_cast<uint64_t>(p[i]) << (8 * i);
  s.compress(last);

  s.v2 ^= 0xee;
  Hash128 h;
  h.lo = s.finalize_half();
  s.v1 ^= 0xdd;
  h.hi = s.finalize_half();
  return h;
}

}  // namespace rivulet
