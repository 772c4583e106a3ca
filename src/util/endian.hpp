// Fixed-width loads and stores. Rivulet's own structures are little-endian;
// Kafka's record batch is big-endian. memcpy keeps unaligned access legal.
#pragma once

#include <cstdint>
#include <cstring>

namespace rivulet {

template <typename T>
inline T load_le(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;  // x86-64 and AArch64 Linux are little-endian (checked in CMake)
}

template <typename T>
inline void store_le(void* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

template <typename T>
inline T load_be(const void* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (sizeof(T) == 2) return static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
  if constexpr (sizeof(T) == 4) return static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
  if constexpr (sizeof(T) == 8) return static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
  return v;
}

template <typename T>
inline void store_be(void* p, T v) {
  if constexpr (sizeof(T) == 2) v = static_cast<T>(__builtin_bswap16(static_cast<uint16_t>(v)));
  if constexpr (sizeof(T) == 4) v = static_cast<T>(__builtin_bswap32(static_cast<uint32_t>(v)));
  if constexpr (sizeof(T) == 8) v = static_cast<T>(__builtin_bswap64(static_cast<uint64_t>(v)));
  std::memcpy(p, &v, sizeof v);
}

}  // namespace rivulet
