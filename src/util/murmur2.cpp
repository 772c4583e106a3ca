// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2) and the
// default partitioner's key -> partition mapping, bit-compatible with Java.
#include "util/murmur2.hpp"

namespace rivulet {

int32_t murmur2(const void* data, size_t n) {
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* p = static_cast<const unsigned char*>(data);

  // Java takes the length as an int; all arithmetic wraps as in Java, which
  // is why everything is uint32_t.
  uint32_t h = kSeed ^ static_cast<uint32_t>(n);
  const size_t words = n / 4;
  for (size_t i = 0; i < words; ++i, p += 4) {
    uint32_t k = static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
                 (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  switch (n % 4) {
    case 3:
      h ^= static_cast<uint32_t>(p[2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(p[1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(p[0]);
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t kafka_partition_for_key(std::string_view key, int32_t partitions) {
  // Java's toPositive(): mask the sign bit. abs() would differ for negative
  // hashes (and overflow for INT32_MIN).
  const uint32_t positive = static_cast<uint32_t>(murmur2(key.data(), key.size())) & 0x7fffffffu;
  return static_cast<int32_t>(positive % static_cast<uint32_t>(partitions));
}

}  // namespace rivulet
