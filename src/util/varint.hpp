// Kafka's zigzag varints (protobuf's encoding of sint32 / sint64), used for
// every length and delta inside a record. Decoders never read past `end`.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rivulet::varint {

inline constexpr size_t kMax32 = 5;
inline constexpr size_t kMax64 = 10;

inline uint32_t zigzag32(int32_t v) { return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31); }
inline uint64_t zigzag64(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
inline int32_t unzigzag32(uint32_t v) { return static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1)); }
inline int64_t unzigzag64(uint64_t v) { return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1)); }

// ceil(bit_width / 7) without a division (protobuf's formula); `| 1`
// makes zero take one byte.
inline size_t unsigned_size(uint64_t u) {
  const int log2 = 63 - __builtin_clzll(u | 1);
  return static_cast<size_t>((log2 * 9 + 73) / 64);
}

inline char* put_unsigned(char* out, uint64_t u) {
  while (u >= 0x80) {
    *out++ = static_cast<char>(static_cast<uint8_t>(u) | 0x80);
    u >>= 7;
  }
  *out++ = static_cast<char>(u);
  return out;
}

// Bytes that put32 / put64 will write for v. Inline: they run several
// times for every record produced.
inline size_t size32(int32_t v) { return unsigned_size(zigzag32(v)); }
inline size_t size64(int64_t v) { return unsigned_size(zigzag64(v)); }

// Write v zigzag-encoded at out; return the byte after it.
inline char* put32(char* out, int32_t v) { return put_unsigned(out, zigzag32(v)); }
inline char* put64(char* out, int64_t v) { return put_unsigned(out, zigzag64(v)); }

// Read a zigzag varint from [p, end). Return the byte after it, or nullptr if
// it is truncated or longer than the type allows (5 / 10 bytes), or (for
// get32) encodes a value outside int32's range.
// The slow paths return the value rather than store it through a pointer:
// a local whose address is passed to a function that is not inlined has to
// live in memory, and the record decoder's hot loop would spill each field.
struct Got32 {
  const char* next;
  int32_t value;
};
struct Got64 {
  const char* next;
  int64_t value;
};
Got32 get32_slow(const char* p, const char* end);
Got64 get64_slow(const char* p, const char* end);

// One- and two-byte values (lengths under 8 KiB, small deltas) are by far
// the most common: decoded inline, the rest out of line.
// (A record's last field, its header count, is a one-byte value right at
// the end of the record.)
inline const char* get32(const char* p, const char* end, int32_t* v) {
  if (p != end) {
    uint32_t b0 = static_cast<uint8_t>(p[0]);
    if (b0 < 0x80) {
      *v = unzigzag32(b0);
      return p + 1;
    }
    if (end - p >= 2) {
      uint32_t b1 = static_cast<uint8_t>(p[1]);
      if (b1 < 0x80) {
        *v = unzigzag32((b0 & 0x7f) | (b1 << 7));
        return p + 2;
      }
    }
  }
  const Got32 got = get32_slow(p, end);
  if (got.next != nullptr) *v = got.value;
  return got.next;
}
inline const char* get64(const char* p, const char* end, int64_t* v) {
  if (p != end && (static_cast<uint8_t>(*p) & 0x80) == 0) {
    *v = unzigzag64(static_cast<uint8_t>(*p));
    return p + 1;
  }
  const Got64 got = get64_slow(p, end);
  if (got.next != nullptr) *v = got.value;
  return got.next;
}

}  // namespace rivulet::varint
