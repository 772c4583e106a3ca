// murmur2 and the default partitioner must match Java's Kafka client bit for
// bit, or keyed records land in different partitions than Kafka puts them.
#include "util/murmur2.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace rivulet {
namespace {

int32_t hash(std::string_view s) { return murmur2(s.data(), s.size()); }

// Java-generated values, as published in kafkajs's partitioner tests.
TEST(Murmur2, JavaVectors) {
  EXPECT_EQ(hash("0"), 971027396);
  EXPECT_EQ(hash("1"), -1993445489);
  EXPECT_EQ(hash("128"), -326012175);
  EXPECT_EQ(hash("100:48069"), 1009543857);
}

TEST(Murmur2, AllTailLengths) {
  // Lengths 1..8 exercise every tail case with and without a full word; the
  // hash must depend on the last byte in each.
  const std::string base = "abcdefgh";
  for (size_t n = 1; n <= base.size(); ++n) {
    std::string changed = base.substr(0, n);
    changed[n - 1] ^= 1;
    EXPECT_NE(hash(base.substr(0, n)), hash(changed)) << n;
  }
}

TEST(Murmur2, PartitionForKey) {
  // (971027396 & 0x7fffffff) % 3 == 971027396 % 3
  EXPECT_EQ(kafka_partition_for_key("0", 3), 971027396 % 3);
  EXPECT_EQ(kafka_partition_for_key("0", 1), 0);
  // Negative hash: -1993445489 & 0x7fffffff = 154038159.
  EXPECT_EQ(kafka_partition_for_key("1", 10), 154038159 % 10);
  EXPECT_EQ(kafka_partition_for_key("1", 10), 9);
  // -326012175 & 0x7fffffff = 1821471473.
  EXPECT_EQ(kafka_partition_for_key("128", 7), 1821471473 % 7);
}

TEST(Murmur2, EmptyKey) {
  // An empty (but present) key is hashed like any other; value computed
  // with an independent implementation of Kafka's algorithm.
  const int32_t h = hash("");
  EXPECT_EQ(h, 275646681);
  const auto expected = static_cast<int32_t>(static_cast<uint32_t>(h) & 0x7fffffffu);
  for (int32_t partitions : {1, 2, 3, 12, 50}) {
    EXPECT_EQ(kafka_partition_for_key("", partitions), expected % partitions);
  }
}

TEST(Murmur2, SignMaskedNotAbs) {
  // hash("1") = -1993445489: the mask gives 154038159 (partition 0 of 3),
  // abs() would give 1993445489 (partition 2 of 3).
  const int32_t h = hash("1");
  ASSERT_LT(h, 0);
  const int32_t masked = h & 0x7fffffff;
  const int32_t absolute = std::abs(h);
  ASSERT_NE(masked % 3, absolute % 3);
  EXPECT_EQ(kafka_partition_for_key("1", 3), 0);
  EXPECT_EQ(kafka_partition_for_key("1", 3), masked % 3);
  EXPECT_NE(kafka_partition_for_key("1", 3), absolute % 3);
  // And the result is always in range even for negative hashes.
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "key-" + std::to_string(i);
    const int32_t p = kafka_partition_for_key(key, 7);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, 7);
  }
}

}  // namespace
}  // namespace rivulet
