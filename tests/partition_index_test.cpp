// The sparse per-partition index: offset and time lookups, one entry per
// batch.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "index/batch_list.hpp"
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

// An index restored from a checkpoint's encoding, decoded on first use.
PartitionIndex encoded(const PartitionIndex& from, std::string bytes, int64_t next_offset = 41) {
  PartitionIndex idx;
  auto owner = std::make_shared<const std::string>(std::move(bytes));
  idx.restore({owner, std::string_view(*owner), from.size(), next_offset, 777});
  return idx;
}

std::string encoding_of(const PartitionIndex& idx) {
  std::string bytes;
  idx.entries().encode_list(&bytes);
  return bytes;
}

TEST(PartitionIndex, AnEncodedIndexDecodesOnFirstUseToTheSameEntries) {
  PartitionIndex want = sample();
  PartitionIndex idx = encoded(want, encoding_of(want));
  EXPECT_EQ(idx.memory_bytes(), 0u) << "decoded before anyone asked";
  ASSERT_TRUE(idx.load().ok());
  ASSERT_EQ(idx.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(idx.at(i).base_offset, want.at(i).base_offset);
    EXPECT_EQ(idx.at(i).max_timestamp_so_far, want.at(i).max_timestamp_so_far);
    EXPECT_EQ(idx.at(i).position, want.at(i).position);
    EXPECT_EQ(idx.at(i).bytes, want.at(i).bytes);
  }
  EXPECT_EQ(idx.find_time(250), 1u);
  // Batches replayed after the checkpoint are added before it is decoded
  // (open must not decode): they come after the encoded ones, and their
  // running maximum counts the encoded batches' (400) too.
  PartitionIndex grown = encoded(want, encoding_of(want));
  grown.add(41, 50, 5000, 100);
  grown.add(45, 500, 6000, 100);
  EXPECT_LT(grown.memory_bytes(), 6 * sizeof(BatchEntry)) << "adding decoded the checkpoint's entries";
  ASSERT_TRUE(grown.load().ok());
  ASSERT_EQ(grown.size(), 6u);
  EXPECT_EQ(grown.find_offset(42), 4u);
  EXPECT_EQ(grown.at(4).position, 5000u);
  EXPECT_EQ(grown.at(4).max_timestamp_so_far, 400);
  EXPECT_EQ(grown.at(5).max_timestamp_so_far, 500);
  EXPECT_EQ(grown.find_time(401), 5u);
  grown.add(50, 100, 7000, 100);  // once decoded, as any index
  EXPECT_EQ(grown.at(6).max_timestamp_so_far, 500);
}

// A new checkpoint copies a list nobody decoded as it is; once decoded or
// added to, the list must be encoded afresh.
TEST(PartitionIndex, OnlyAnUntouchedEncodedIndexHandsOutItsEncoding) {
  PartitionIndex want = sample();
  std::string bytes = encoding_of(want);
  std::string list;
  size_t count = 0;
  PartitionIndex untouched = encoded(want, bytes);
  ASSERT_TRUE(untouched.copy_encoded(&list, &count));
  EXPECT_EQ(list, bytes);
  EXPECT_EQ(count, want.size());
  EXPECT_EQ(untouched.memory_bytes(), 0u) << "copying decoded it";
  PartitionIndex added = encoded(want, bytes);
  added.add(41, 500, 5000, 100);
  EXPECT_FALSE(added.copy_encoded(&list, &count));
  PartitionIndex decoded = encoded(want, bytes);
  ASSERT_TRUE(decoded.load().ok());
  EXPECT_FALSE(decoded.copy_encoded(&list, &count));
  EXPECT_FALSE(want.copy_encoded(&list, &count));
}

TEST(PartitionIndex, AnEncodingThatDoesNotDecodeIsCorruptionAtTheCheckpoint) {
  PartitionIndex want = sample();
  std::string good = encoding_of(want);
  struct Case {
    const char* what;
    std::string bytes;
    int64_t next_offset;
  } cases[] = {
      {"cut short", good.substr(0, good.size() - 1), 41},
      {"bytes left over", good + '\x00', 41},
      {"an offset past the partition's end", good, 40},
      {"a varint that never ends", std::string(good.size(), '\x80'), 41},
  };
  for (const Case& c : cases) {
    PartitionIndex idx = encoded(want, c.bytes, c.next_offset);
    Status st = idx.load();
    EXPECT_EQ(st.code(), Code::corruption) << c.what;
    EXPECT_NE(st.message().find("checkpoint at position 777"), std::string::npos) << c.what << ": " << st.to_string();
    EXPECT_EQ(idx.size(), 0u) << c.what;
    EXPECT_EQ(idx.load().code(), Code::corruption) << c.what << ": asking again must not forget the damage";
  }
}

// Readers share the catalog under a shared lock, so the first use may come
// from several threads at once: one decodes, all see the whole index
// (ThreadSanitizer runs this).
TEST(PartitionIndex, ThreadsUsingAnEncodedIndexFirstAllSeeEveryEntry) {
  PartitionIndex many;
  for (int i = 0; i < 5000; ++i) many.add(i * 10, i, 1000u + static_cast<uint64_t>(i) * 100, 100);
  for (int round = 0; round < 20; ++round) {
    const PartitionIndex idx = encoded(many, encoding_of(many), 50'000);
    std::vector<std::thread> threads;
    std::vector<size_t> found(4);
    for (size_t t = 0; t < found.size(); ++t) {
      threads.emplace_back([&, t] { found[t] = idx.find_offset(49'999).value_or(0) + idx.size(); });
    }
    for (std::thread& th : threads) th.join();
    for (size_t f : found) EXPECT_EQ(f, 4999u + 5000u);
  }
}

}  // namespace
}  // namespace rivulet::index
