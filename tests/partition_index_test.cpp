// The sparse per-partition index: offset and time lookups, one entry per
// batch.
#include <gtest/gtest.h>

#include "index/partition_index.hpp"

namespace rivulet::index {
namespace {

// Batches: offsets [0,10) at t<=100, [10,15) at t<=300, [15,40) at t<=200
// (timestamps need not grow), [40,41) at t<=400.
PartitionIndex sample() {
  PartitionIndex idx;
  idx.add(0, 100, 1000, 100);
  idx.add(10, 300, 2000, 100);
  idx.add(15, 200, 3000, 100);
  idx.add(40, 400, 4000, 100);
  return idx;
}

TEST(PartitionIndex, FindsTheBatchHoldingAnOffset) {
  PartitionIndex idx = sample();
  EXPECT_EQ(idx.find_offset(0), 0u);
  EXPECT_EQ(idx.find_offset(9), 0u);
  EXPECT_EQ(idx.find_offset(10), 1u);
  EXPECT_EQ(idx.find_offset(14), 1u);
  EXPECT_EQ(idx.find_offset(15), 2u);
  EXPECT_EQ(idx.find_offset(39), 2u);
  EXPECT_EQ(idx.find_offset(1000), 3u) << "past the end: the last batch (callers bound by the next offset)";
  EXPECT_EQ(idx.at(2).position, 3000u);
  EXPECT_FALSE(idx.find_offset(-1).has_value());
  EXPECT_FALSE(PartitionIndex().find_offset(0).has_value());
}

TEST(PartitionIndex, FindsTheFirstBatchWithARecordAtOrAfterATime) {
  PartitionIndex idx = sample();
  EXPECT_EQ(idx.find_time(0), 0u);
  EXPECT_EQ(idx.find_time(100), 0u);
  EXPECT_EQ(idx.find_time(101), 1u);
  EXPECT_EQ(idx.find_time(250), 1u) << "batch 2's own maximum is 200: batch 1 is the first reaching 250";
  EXPECT_EQ(idx.find_time(300), 1u);
  EXPECT_EQ(idx.find_time(301), 3u);
  EXPECT_FALSE(idx.find_time(401).has_value());
}

TEST(PartitionIndex, MemoryGrowsWithBatchesNotRecords) {
  PartitionIndex idx;
  for (int64_t b = 0; b < 1000; ++b) idx.add(b * 1000, b, static_cast<uint64_t>(b) * 100000, 100);
  EXPECT_EQ(idx.size(), 1000u) << "a million records in a thousand batches";
  EXPECT_LE(idx.memory_bytes(), 2 * 1000 * sizeof(BatchEntry));
  EXPECT_EQ(idx.find_offset(999'999), 999u);
}

}  // namespace
}  // namespace rivulet::index
