// Zigzag varint encoding and bounds-checked decoding (Kafka's ByteUtils
// varint / varlong, protobuf's sint32 / sint64).
#include "util/varint.hpp"

namespace rivulet::varint {
namespace {

// Reads at most max_bytes; the last byte may only carry the bits that still
// fit in `bits`, so anything encoding a wider value is rejected rather than
// silently truncated.
inline const char* get_unsigned(const char* p, const char* end, size_t max_bytes, int bits, uint64_t* out) {
  uint64_t result = 0;
  for (size_t i = 0; i < max_bytes; ++i) {
    if (p == end) return nullptr;
    const uint64_t byte = static_cast<uint8_t>(*p++);
    const int shift = static_cast<int>(7 * i);
    if (i + 1 == max_bytes) {
      // Final byte: no continuation bit, and no payload above `bits`.
      const int room = bits - shift;
      if ((byte >> room) != 0) return nullptr;
      *out = result | (byte << shift);
      return p;
    }
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *out = result;
      return p;
    }
  }
  return nullptr;  // not reached: the last iteration always returns
}

}  // namespace

Got32 get32_slow(const char* p, const char* end) {
  uint64_t u = 0;
  p = get_unsigned(p, end, kMax32, 32, &u);
  return {p, p != nullptr ? unzigzag32(static_cast<uint32_t>(u)) : 0};
}

Got64 get64_slow(const char* p, const char* end) {
  uint64_t u = 0;
  p = get_unsigned(p, end, kMax64, 64, &u);
  return {p, p != nullptr ? unzigzag64(u) : 0};
}

}  // namespace rivulet::varint
