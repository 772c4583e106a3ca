// CRC-32C (Castagnoli): a slicing-by-8 table implementation that works
// everywhere, plus the SSE4.2 / ARMv8 CRC instructions and (x86-64) the
// VPCLMULQDQ carry-less multiply, chosen at run time so the library needs no
// special compiler flags.
#include "util/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#if defined(__clang__)
// clang 14's <arm_acle.h> hides __crc32cd unless the whole file is built
// with +crc, so call the builtin it wraps.
#define RIVULET_CRC32CD(c, v) __builtin_arm_crc32cd((c), (v))
#define RIVULET_CRC32CB(c, v) __builtin_arm_crc32cb((c), (v))
#define RIVULET_TARGET_CRC __attribute__((target("crc")))
#else
#include <arm_acle.h>
#define RIVULET_CRC32CD(c, v) __crc32cd((c), (v))
#define RIVULET_CRC32CB(c, v) __crc32cb((c), (v))
#define RIVULET_TARGET_CRC __attribute__((target("+crc")))
#endif
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

namespace rivulet::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82F63B78;  // reflected Castagnoli polynomial

using Table = std::array<std::array<uint32_t, 256>, 8>;

// kTable[0] is the classic byte table; kTable[k][b] is the CRC of byte b
// followed by k zero bytes, which lets the loop fold 8 bytes per step.
constexpr Table make_slicing_table() {
  Table t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ (kPoly & (0u - (c & 1)));
    t[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    for (size_t k = 1; k < 8; ++k) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xff];
  }
  return t;
}

constexpr Table kTable = make_slicing_table();

uint64_t load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;  // little-endian hosts only (checked by CMake)
}

// Works on the raw (pre-conditioned) register value.
uint32_t raw_portable(uint32_t c, const unsigned char* p, size_t n) {
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0; --n) c = (c >> 8) ^ kTable[0][(c ^ *p++) & 0xff];
  for (; n >= 8; n -= 8, p += 8) {
    const uint64_t w = load64(p) ^ c;
    c = kTable[7][w & 0xff] ^ kTable[6][(w >> 8) & 0xff] ^ kTable[5][(w >> 16) & 0xff] ^
        kTable[4][(w >> 24) & 0xff] ^ kTable[3][(w >> 32) & 0xff] ^ kTable[2][(w >> 40) & 0xff] ^
        kTable[1][(w >> 48) & 0xff] ^ kTable[0][w >> 56];
  }
  for (; n > 0; --n) c = (c >> 8) ^ kTable[0][(c ^ *p++) & 0xff];
  return c;
}

#if defined(__x86_64__) || defined(__aarch64__)

// The CRC instruction has a latency of about three cycles but a throughput of
// one per cycle, so long inputs are split into three streams computed side by
// side and recombined by "shifting" a CRC over the zero bytes that separate
// them (Mark Adler's method). A shift is a linear map over GF(2), applied
// here with four byte-indexed tables.
constexpr size_t kLongBlock = 8192;
constexpr size_t kShortBlock = 256;

using ShiftTable = std::array<std::array<uint32_t, 256>, 4>;
using Matrix = std::array<uint32_t, 32>;

constexpr uint32_t gf2_times(const Matrix& m, uint32_t v) {
  uint32_t sum = 0;
  for (size_t i = 0; v != 0; ++i, v >>= 1) {
    if (v & 1) sum ^= m[i];
  }
  return sum;
}

constexpr Matrix gf2_square(const Matrix& m) {
  Matrix out{};
  for (size_t i = 0; i < 32; ++i) out[i] = gf2_times(m, m[i]);
  return out;
}

// The operator that appends `len` zero bytes (len a power of two) to a CRC.
constexpr Matrix zeros_operator(size_t len) {
  Matrix op{};  // one zero bit
  op[0] = kPoly;
  for (size_t i = 1; i < 32; ++i) op[i] = 1u << (i - 1);
  for (int i = 0; i < 3; ++i) op = gf2_square(op);  // one zero byte
  for (; len > 1; len >>= 1) op = gf2_square(op);
  return op;
}

constexpr ShiftTable make_shift_table(size_t len) {
  const Matrix op = zeros_operator(len);
  ShiftTable t{};
  for (uint32_t b = 0; b < 256; ++b) {
    for (size_t k = 0; k < 4; ++k) t[k][b] = gf2_times(op, b << (8 * k));
  }
  return t;
}

constexpr ShiftTable kShiftLong = make_shift_table(kLongBlock);
constexpr ShiftTable kShiftShort = make_shift_table(kShortBlock);

inline uint32_t shift(const ShiftTable& t, uint32_t crc) {
  return t[0][crc & 0xff] ^ t[1][(crc >> 8) & 0xff] ^ t[2][(crc >> 16) & 0xff] ^ t[3][crc >> 24];
}

#endif

#if defined(__x86_64__)

// Unaligned 8-byte loads cost x86 nothing, so there is no alignment
// prologue: a record or frame header of a hundred bytes, the common input,
// goes straight to the 8-byte loop.
__attribute__((target("sse4.2"))) uint32_t raw_hardware(uint32_t crc, const unsigned char* p, size_t n) {
  uint64_t c0 = crc;
  if (n >= 3 * kShortBlock) {
    for (const size_t block : {kLongBlock, kShortBlock}) {
      const ShiftTable& table = block == kLongBlock ? kShiftLong : kShiftShort;
      while (n >= 3 * block) {
        uint64_t c1 = 0, c2 = 0;
        for (const unsigned char* end = p + block; p < end; p += 8) {
          c0 = _mm_crc32_u64(c0, load64(p));
          c1 = _mm_crc32_u64(c1, load64(p + block));
          c2 = _mm_crc32_u64(c2, load64(p + 2 * block));
        }
        c0 = shift(table, static_cast<uint32_t>(c0)) ^ c1;
        c0 = shift(table, static_cast<uint32_t>(c0)) ^ c2;
        p += 2 * block;
        n -= 3 * block;
      }
    }
  }
  for (; n >= 8; n -= 8, p += 8) c0 = _mm_crc32_u64(c0, load64(p));
  crc = static_cast<uint32_t>(c0);
  if (n & 4) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    crc = _mm_crc32_u32(crc, v);
    p += 4;
  }
  if (n & 2) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    crc = _mm_crc32_u16(crc, v);
    p += 2;
  }
  if (n & 1) crc = _mm_crc32_u8(crc, *p);
  return crc;
}

bool cpu_has_crc() { return __builtin_cpu_supports("sse4.2"); }

// Long inputs, on CPUs with VPCLMULQDQ (x86-64 since Ice Lake and Zen 3):
// carry-less multiplication folds 128 bytes per step, about twice what the
// CRC instruction's three streams do. Four 256-bit accumulators each hold
// two 128-bit lanes; a step moves every lane forward by 1024 bits
// (multiplying by x^1024 modulo the polynomial, one 64-bit half at a time)
// onto the next 128 bytes. At the end the accumulators and lanes fold into
// one 128-bit value with the same CRC, which the CRC instruction finishes.
// The CRC so far enters by XOR into the first four bytes (a reflected CRC's
// register lines up with the next bytes).
//
// A fold forward by D bits multiplies a lane's low half by
// reflect32(x^(D+31) mod P) and its high half by reflect32(x^(D-33) mod P);
// the constants below were computed that way and checked by brute force,
// and tests compare this path with the table on thousands of inputs.
constexpr size_t kFoldStep = 128;
constexpr size_t kFoldMin = 4 * kFoldStep;  // shorter: the setup costs more than it saves

#define RIVULET_TARGET_FOLD __attribute__((target("avx2,vpclmulqdq,pclmul,sse4.2")))

RIVULET_TARGET_FOLD inline __m256i load256(const unsigned char* q) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
}

// Both halves of each lane times their constants, XORed: the lane moved forward.
RIVULET_TARGET_FOLD inline __m256i fold(__m256i v, __m256i k) {
  return _mm256_xor_si256(_mm256_clmulepi64_epi128(v, k, 0x00), _mm256_clmulepi64_epi128(v, k, 0x11));
}

RIVULET_TARGET_FOLD uint32_t raw_folding(uint32_t crc, const unsigned char* p, size_t n) {
  if (n < kFoldMin) return raw_hardware(crc, p, n);
  // Each 128-bit lane: the low half's constant in qword 0, the high half's in qword 1.
  const __m256i k1024 = _mm256_set_epi64x(0x0d3b6092, 0x6992cea2, 0x0d3b6092, 0x6992cea2);
  const __m256i k256 = _mm256_set_epi64x(0xba4fc28e, 0x3da6d0cb, 0xba4fc28e, 0x3da6d0cb);
  const __m128i k128 = _mm_set_epi64x(0x493c7d27, 0xf20c0dfe);
  __m256i x0 = _mm256_xor_si256(load256(p), _mm256_set_epi64x(0, 0, 0, static_cast<int64_t>(crc)));
  __m256i x1 = load256(p + 32), x2 = load256(p + 64), x3 = load256(p + 96);
  for (p += kFoldStep, n -= kFoldStep; n >= kFoldStep; p += kFoldStep, n -= kFoldStep) {
    x0 = _mm256_xor_si256(fold(x0, k1024), load256(p));
    x1 = _mm256_xor_si256(fold(x1, k1024), load256(p + 32));
    x2 = _mm256_xor_si256(fold(x2, k1024), load256(p + 64));
    x3 = _mm256_xor_si256(fold(x3, k1024), load256(p + 96));
  }
  x1 = _mm256_xor_si256(fold(x0, k256), x1);
  x2 = _mm256_xor_si256(fold(x1, k256), x2);
  x3 = _mm256_xor_si256(fold(x2, k256), x3);
  const __m128i lo = _mm256_castsi256_si128(x3);
  const __m128i hi = _mm256_extracti128_si256(x3, 1);
  const __m128i f =
      _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(lo, k128, 0x00), _mm_clmulepi64_si128(lo, k128, 0x11)), hi);
  // Clean the upper halves of the vector registers before the SSE code that
  // follows: g++ leaves them dirty across the tail call below, and every
  // later SSE instruction then waits on them (batched produce ran 3x slower).
  _mm256_zeroupper();
  uint64_t c = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(f)));
  c = _mm_crc32_u64(c, static_cast<uint64_t>(_mm_extract_epi64(f, 1)));
  return raw_hardware(static_cast<uint32_t>(c), p, n);  // the last bytes, under 128
}

bool cpu_has_folding() {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("vpclmulqdq") && __builtin_cpu_supports("pclmul");
}

#elif defined(__aarch64__)

RIVULET_TARGET_CRC uint32_t raw_hardware(uint32_t crc, const unsigned char* p, size_t n) {
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0; --n) crc = RIVULET_CRC32CB(crc, *p++);
  for (const size_t block : {kLongBlock, kShortBlock}) {
    const ShiftTable& table = block == kLongBlock ? kShiftLong : kShiftShort;
    while (n >= 3 * block) {
      uint32_t c1 = 0, c2 = 0;
      for (const unsigned char* end = p + block; p < end; p += 8) {
        crc = RIVULET_CRC32CD(crc, load64(p));
        c1 = RIVULET_CRC32CD(c1, load64(p + block));
        c2 = RIVULET_CRC32CD(c2, load64(p + 2 * block));
      }
      crc = shift(table, crc) ^ c1;
      crc = shift(table, crc) ^ c2;
      p += 2 * block;
      n -= 3 * block;
    }
  }
  for (; n >= 8; n -= 8, p += 8) crc = RIVULET_CRC32CD(crc, load64(p));
  for (; n > 0; --n) crc = RIVULET_CRC32CB(crc, *p++);
  return crc;
}

bool cpu_has_crc() { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }

#else

uint32_t raw_hardware(uint32_t crc, const unsigned char* p, size_t n) { return raw_portable(crc, p, n); }
bool cpu_has_crc() { return false; }

#endif

using RawFn = uint32_t (*)(uint32_t, const unsigned char*, size_t);

RawFn choose() {
#if defined(__x86_64__)
  if (cpu_has_crc() && cpu_has_folding()) return raw_folding;
#endif
  return cpu_has_crc() ? raw_hardware : raw_portable;
}

}  // namespace

uint32_t extend(uint32_t crc, const void* data, size_t n) {
  static const RawFn fn = choose();
  return ~fn(~crc, static_cast<const unsigned char*>(data), n);
}

uint32_t extend_portable(uint32_t crc, const void* data, size_t n) {
  return ~raw_portable(~crc, static_cast<const unsigned char*>(data), n);
}

bool hardware_accelerated() { return cpu_has_crc(); }

}  // namespace rivulet::crc32c
