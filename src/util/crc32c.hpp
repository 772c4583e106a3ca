// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
// Kafka's record batch v2 and of every Rivulet structure. Uses the SSE4.2
// (x86-64) or ARMv8 CRC instruction when the CPU has it, a table otherwise;
// on x86-64 with VPCLMULQDQ, carry-less multiplication for long inputs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rivulet::crc32c {

// CRC of `data` appended to a message whose CRC is `crc`:
// extend(value(a), b) == value(a + b). Pre- and post-conditioning included.
uint32_t extend(uint32_t crc, const void* data, size_t n);

inline uint32_t value(const void* data, size_t n) { return extend(0, data, n); }

// The table implementation, always available (tests compare both).
uint32_t extend_portable(uint32_t crc, const void* data, size_t n);

// True when extend() uses a CPU instruction.
bool hardware_accelerated();

}  // namespace rivulet::crc32c
