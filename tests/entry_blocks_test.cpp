// The compact store of a partition's batch entries: whatever the sequence
// of appends, replacements, erasures and drops from the front, it holds
// exactly what a plain vector would, read one by one, walked, or searched.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "index/batch_list.hpp"
#include "index/entry_blocks.hpp"
#include "test_util.hpp"

namespace rivulet::index {
namespace {

bool same(const BatchEntry& a, const BatchEntry& b) {
  return a.base_offset == b.base_offset && a.max_timestamp_so_far == b.max_timestamp_so_far &&
         a.position == b.position && a.bytes == b.bytes && a.checked == b.checked;
}

void expect_equal(const EntryBlocks& got, const std::vector<BatchEntry>& want, std::mt19937_64& rng) {
  ASSERT_EQ(got.size(), want.size());
  if (want.empty()) return;
  EXPECT_TRUE(same(got.back(), want.back()));
  size_t k = 0;
  for (auto c = got.cursor(0); c.valid(); c.next(), ++k) {
    ASSERT_EQ(c.index(), k);
    ASSERT_TRUE(same(*c, want[k])) << "entry " << k << " of " << want.size();
  }
  EXPECT_EQ(k, want.size());
  // As a checkpoint's list: the bytes one entry at a time would give.
  std::string list, expected;
  got.encode_list(&list);
  BatchEntry prev;
  for (const BatchEntry& e : want) {
    encode_batch_entry(prev, e, &expected);
    prev = e;
  }
  ASSERT_EQ(list, expected);
  EXPECT_EQ(got.encoded_list_size(), list.size());
  // And back, as a checkpoint's list is taken in (whole blocks as they are).
  EntryBlocks decoded;
  const char* why = "";
  const char* stop = decode_batch_list(list.data(), list.data() + list.size(), want.size(), INT64_MAX, &decoded, &why);
  ASSERT_EQ(stop, list.data() + list.size()) << why;
  ASSERT_EQ(decoded.size(), want.size());
  k = 0;
  for (auto c = decoded.cursor(0); c.valid(); c.next(), ++k) {
    BatchEntry unchecked = want[k];
    unchecked.checked = false;  // a checkpoint's batches are checked when read
    ASSERT_TRUE(same(*c, unchecked)) << "decoded entry " << k;
  }
  for (int probe = 0; probe < 20; ++probe) {
    size_t i = rng() % want.size();
    ASSERT_TRUE(same(got.at(i), want[i])) << "entry " << i;
    auto c = got.cursor(i);  // a walk may start anywhere
    for (size_t j = i; j < std::min(want.size(), i + 70); ++j, c.next()) ASSERT_TRUE(same(*c, want[j]));
    int64_t offset = want[i].base_offset + static_cast<int64_t>(rng() % 3) - 1;
    auto at_or_before = [offset](const BatchEntry& e) { return e.base_offset <= offset; };
    EXPECT_EQ(got.partition_point(at_or_before),
              static_cast<size_t>(std::partition_point(want.begin(), want.end(), at_or_before) - want.begin()));
  }
}

TEST(EntryBlocks, HoldsWhatAVectorHoldsThroughAnySequenceOfChanges) {
  const uint64_t seed = testing::test_seed();
  SCOPED_TRACE("RIVULET_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  size_t largest = 0;
  for (int round = 0; round < 20; ++round) {
    EntryBlocks got;
    std::vector<BatchEntry> want;
    int64_t next_offset = 0, ts = 1'700'000'000'000;
    uint64_t position = 4096;
    for (int step = 0; step < 3000; ++step) {
      int op = static_cast<int>(rng() % 100);
      if (op < 85 || want.empty()) {
        // Offsets and times only grow; positions may jump back (a batch moved).
        BatchEntry e;
        e.base_offset = next_offset;
        next_offset += 1 + static_cast<int64_t>(rng() % (rng() % 2 ? 1 : 5000));
        ts += static_cast<int64_t>(rng() % 3);
        e.max_timestamp_so_far = ts;
        position = rng() % 50 ? position + 200 + rng() % 100 : rng() % (uint64_t{1} << 40);
        e.position = position;
        e.bytes = static_cast<uint32_t>(61 + rng() % 100000);
        e.checked = rng() % 2;
        got.push_back(e);
        want.push_back(e);
      } else if (op < 92) {
        size_t i = rng() % want.size();
        BatchEntry e = want[i];
        e.position = rng() % (uint64_t{1} << 40);
        e.bytes = static_cast<uint32_t>(rng());
        e.checked = !e.checked;
        got.set(i, e);
        want[i] = e;
      } else if (op < 97) {
        size_t i = rng() % want.size();
        got.erase(i);
        want.erase(want.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        size_t n = rng() % std::min<size_t>(want.size() + 1, step % 1000 < 990 ? 30 : 2000);
        got.pop_front(n);
        want.erase(want.begin(), want.begin() + static_cast<std::ptrdiff_t>(n));
      }
      largest = std::max(largest, want.size());
      if (step % 500 == 250) {
        // Go on from the list a checkpoint would hold, as a handle does
        // after open: changes to blocks taken in whole must work the same.
        std::string list;
        got.encode_list(&list);
        EntryBlocks decoded;
        const char* why = "";
        ASSERT_TRUE(decode_batch_list(list.data(), list.data() + list.size(), want.size(), INT64_MAX, &decoded, &why))
            << why;
        got = std::move(decoded);
        for (BatchEntry& e : want) e.checked = false;
      }
      if (step % 97 == 0) {
        expect_equal(got, want, rng);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
    expect_equal(got, want, rng);
    if (::testing::Test::HasFatalFailure()) return;
    got.pop_front(got.size());
    EXPECT_TRUE(got.empty());
    got.push_back(BatchEntry{7, 8, 9, 10, true});  // usable again after emptying
    EXPECT_EQ(got.at(0).base_offset, 7);
  }
  EXPECT_GT(largest, 10 * EntryBlocks::kBlockEntries) << "too few entries to fill blocks";
}

TEST(EntryBlocks, ABatchOfOneRecordTakesAFractionOfItsDecodedSize) {
  EntryBlocks blocks;
  const size_t n = 100'000;
  for (size_t i = 0; i < n; ++i) {
    // One-record commits: offsets one apart, frames ~270 bytes apart.
    blocks.push_back({static_cast<int64_t>(i), 1'700'000'000'000 + static_cast<int64_t>(i / 500),
                      4096 + i * 272, 186, true});
  }
  EXPECT_LT(blocks.memory_bytes(), n * sizeof(BatchEntry) / 3) << blocks.memory_bytes() / n << " bytes a batch";
  EXPECT_EQ(blocks.at(n / 2).position, 4096 + (n / 2) * 272);
}

}  // namespace
}  // namespace rivulet::index
