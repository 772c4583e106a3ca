// Log compaction (src/clean/): the offset map, map_batches and compact_batch,
// checked against a reference model on random workloads (keys that repeat,
// tombstones, null keys, headers, both timestamp types, batches of random
// sizes), plus the batch-level invariants of every rewritten batch and the
// error paths. RIVULET_SEED=N replays a randomized test.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "clean/compact_batch.hpp"
#include "clean/map_batches.hpp"
#include "clean/offset_map.hpp"
#include "format/record_batch.hpp"
#include "format/record_decoder.hpp"
#include "test_util.hpp"
#include "util/crc32c.hpp"
#include "util/endian.hpp"

namespace rivulet::clean {
namespace {

using format::BatchBuilder;
using format::BatchHeader;
using OptString = std::optional<std::string>;
using Headers = std::vector<std::pair<std::string, OptString>>;

constexpr int64_t kKeepAllTombstones = std::numeric_limits<int64_t>::min();
const SipKey kTestKey{0x0123456789abcdefULL, 0xfedcba9876543210ULL};

Bytes view(const OptString& s) { return s ? Bytes(*s) : std::nullopt; }
OptString own(const Bytes& b) { return b ? OptString(std::string(*b)) : std::nullopt; }

// One record as the model knows it, and as a batch decodes.
struct Rec {
  int64_t offset = 0;
  int64_t timestamp = 0;
  OptString key;
  OptString value;
  Headers headers;
  int64_t batch_max_timestamp = 0;  // of the batch it was written in
  bool operator==(const Rec&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Rec& r) {
  return os << "{offset " << r.offset << ", ts " << r.timestamp << ", key " << (r.key ? *r.key : "<null>")
            << ", value " << (r.value ? *r.value : "<null>") << ", " << r.headers.size() << " headers}";
}

struct Record {  // what a test writes
  OptString key;
  OptString value;
  Headers headers;
  int64_t timestamp = 0;
};

std::string build(const std::vector<Record>& records, int64_t base_offset, int64_t log_append_time = -1) {
  BatchBuilder b;
  for (const Record& r : records) {
    std::vector<Header> hs;
    for (const auto& [k, v] : r.headers) hs.push_back(Header{k, view(v)});
    b.add(view(r.key), view(r.value), hs, r.timestamp);
  }
  return std::string(b.finish(base_offset, log_append_time));
}

BatchHeader header_of(const std::string& batch) {
  BatchHeader h;
  EXPECT_TRUE(format::parse_batch_header(batch, 0, &h).ok());
  return h;
}

// Every record of `batches`, in order; fails the test on any decoding error.
std::vector<Rec> decode(const std::vector<std::string>& batches) {
  std::vector<Rec> out;
  for (const std::string& batch : batches) {
    BatchHeader h;
    Status st = format::parse_batch_header(batch, 0, &h);
    EXPECT_TRUE(st.ok()) << st.to_string();
    if (!st.ok()) return out;
    format::RecordDecoder dec(batch, h, 0);
    for (;;) {
      format::DecodedRecord r;
      if (!dec.next(&r)) {
        EXPECT_TRUE(dec.status().ok()) << dec.status().to_string();
        break;
      }
      Rec rec{r.offset, r.timestamp_ms, own(r.key()), own(r.value()), {}, h.max_timestamp};
      for (const Header& hd : RecordHeaders(r.headers_raw, r.header_count)) {
        rec.headers.emplace_back(std::string(hd.key), own(hd.value));
      }
      out.push_back(std::move(rec));
    }
  }
  return out;
}

std::vector<BatchRef> refs(const std::vector<std::string>& batches) {
  std::vector<BatchRef> out;
  uint64_t position = 4096;
  for (const std::string& b : batches) {
    out.push_back({b, position});
    position += b.size();
  }
  return out;
}

// --- random workloads -----------------------------------------------------

struct Workload {
  std::vector<std::string> batches;
  int64_t end_offset = 0;          // the partition's next offset
  int64_t min_ts = 0, max_ts = 0;  // over the batches' max timestamps
};

Workload random_workload(std::mt19937_64& rng) {
  Workload w;
  // Few keys make many repeats; the pool has an empty key (not null) and
  // long ones (more than one hash block).
  const size_t key_count = 1 + rng() % 40;
  std::vector<std::string> keys;
  for (size_t i = 0; i < key_count; ++i) {
    keys.push_back(i == 0 ? "" : i % 7 == 0 ? std::string(20 + rng() % 100, static_cast<char>('a' + i % 26))
                                            : "k" + std::to_string(i));
  }
  const int null_key_pct = static_cast<int>(rng() % 20);
  const int tombstone_pct = static_cast<int>(rng() % 40);
  const size_t batch_count = 1 + rng() % 120;
  int64_t time = 1'700'000'000'000;
  w.min_ts = std::numeric_limits<int64_t>::max();
  w.max_ts = std::numeric_limits<int64_t>::min();
  for (size_t b = 0; b < batch_count; ++b) {
    const size_t n = rng() % 10 == 0 ? 1 + rng() % 60 : 1 + rng() % 8;
    std::vector<Record> records(n);
    time += static_cast<int64_t>(rng() % 5000);
    for (Record& r : records) {
      if (static_cast<int>(rng() % 100) >= null_key_pct) r.key = keys[rng() % keys.size()];
      if (static_cast<int>(rng() % 100) >= tombstone_pct) {
        r.value = std::string(rng() % 30, 'v') + std::to_string(rng() % 1000);
      }
      for (size_t i = 0, hn = rng() % 4 == 0 ? rng() % 4 : 0; i < hn; ++i) {
        OptString v = rng() % 3 == 0 ? OptString() : OptString("x" + std::to_string(rng() % 100));
        r.headers.emplace_back("h" + std::to_string(i), v);
      }
      // Create times need not increase, within a batch or across.
      r.timestamp = time + static_cast<int64_t>(rng() % 4000) - 2000;
    }
    const int64_t append_time = rng() % 5 == 0 ? time + 1000 : -1;
    w.batches.push_back(build(records, w.end_offset, append_time));
    const BatchHeader h = header_of(w.batches.back());
    w.min_ts = std::min(w.min_ts, h.max_timestamp);
    w.max_ts = std::max(w.max_ts, h.max_timestamp);
    w.end_offset += static_cast<int64_t>(n);
  }
  return w;
}

// The reference: which records a pass keeps, given the records mapped (every
// keyed record in [start, map_end)), from the model alone.
std::vector<Rec> expected_after_pass(const std::vector<Rec>& records, int64_t start, int64_t map_end,
                                     int64_t cutoff) {
  std::map<std::string, int64_t> latest;
  for (const Rec& r : records) {
    if (r.key && r.offset >= start && r.offset < map_end) latest[*r.key] = r.offset;
  }
  std::vector<Rec> out;
  for (const Rec& r : records) {
    bool keep = true;
    if (r.offset < map_end && r.key) {
      auto it = latest.find(*r.key);
      if (it != latest.end() && it->second > r.offset) keep = false;
      if (!r.value && r.batch_max_timestamp < cutoff) keep = false;
    }
    if (keep) out.push_back(r);
  }
  return out;
}

// The end state after compacting everything: the latest record of each key
// (a tombstone only if its batch is not older than the cutoff), and every
// null-key record.
std::vector<Rec> expected_fully_compacted(const std::vector<Rec>& records, int64_t cutoff) {
  std::map<std::string, int64_t> last;
  for (const Rec& r : records) {
    if (r.key) last[*r.key] = r.offset;
  }
  std::vector<Rec> out;
  for (const Rec& r : records) {
    if (!r.key || (last[*r.key] == r.offset && (r.value || r.batch_max_timestamp >= cutoff))) out.push_back(r);
  }
  return out;
}

// Where map_batches must stop for a map holding `max_keys` keys.
int64_t expected_map_end(const std::vector<Rec>& records, int64_t start, int64_t end_offset, size_t max_keys) {
  std::map<std::string, bool> seen;
  for (const Rec& r : records) {
    if (r.offset < start || !r.key) continue;
    if (!seen.count(*r.key) && seen.size() == max_keys) return r.offset;
    seen[*r.key] = true;
  }
  return std::max(start, end_offset);
}

// One pass as the cleaner will run it: map from `start`, compact every batch.
// Checks each batch's outcome against its records and the invariants of a
// rewritten batch; returns the batches that remain.
std::vector<std::string> compact_pass(const std::vector<std::string>& batches, OffsetMap* map, int64_t start,
                                      int64_t cutoff, int64_t* map_end) {
  map->clear();
  std::vector<BatchRef> in = refs(batches);
  Result<int64_t> end = map_batches(in, start, map);
  EXPECT_TRUE(end.ok()) << end.status().to_string();
  if (!end.ok()) return batches;
  *map_end = *end;

  const std::vector<Rec> expected = expected_after_pass(decode(batches), start, *end, cutoff);
  std::vector<std::string> out;
  for (const BatchRef& b : in) {
    std::string rewritten = "junk";
    Result<Compacted> c = compact_batch(b.bytes, b.position, *map, *end, cutoff, &rewritten);
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    if (!c.ok()) return batches;
    const std::string original(b.bytes);
    const BatchHeader a = header_of(original);
    const size_t before = decode({original}).size();
    auto by_offset = [](const Rec& r, int64_t o) { return r.offset < o; };
    const std::vector<Rec> survivors(
        std::lower_bound(expected.begin(), expected.end(), a.base_offset, by_offset),
        std::lower_bound(expected.begin(), expected.end(), a.last_offset() + 1, by_offset));
    SCOPED_TRACE("batch at offset " + std::to_string(a.base_offset));
    switch (*c) {
      case Compacted::unchanged:
        EXPECT_EQ(survivors.size(), before);
        EXPECT_TRUE(rewritten.empty());
        out.push_back(original);
        break;
      case Compacted::empty:
        EXPECT_TRUE(survivors.empty());
        EXPECT_TRUE(rewritten.empty());
        break;
      case Compacted::rewritten: {
        EXPECT_LT(survivors.size(), before);
        EXPECT_FALSE(survivors.empty());
        EXPECT_LT(rewritten.size(), original.size());  // never larger; here smaller
        const BatchHeader z = header_of(rewritten);
        EXPECT_EQ(z.total_size(), rewritten.size());
        EXPECT_TRUE(format::batch_crc_ok(rewritten, z));
        EXPECT_EQ(z.base_offset, a.base_offset);
        EXPECT_EQ(z.last_offset_delta, a.last_offset_delta);
        EXPECT_EQ(z.partition_leader_epoch, a.partition_leader_epoch);
        EXPECT_EQ(z.attributes, a.attributes);
        EXPECT_EQ(z.base_timestamp, a.base_timestamp);
        EXPECT_EQ(z.max_timestamp, a.max_timestamp);
        EXPECT_EQ(z.producer_id, a.producer_id);
        EXPECT_EQ(z.producer_epoch, a.producer_epoch);
        EXPECT_EQ(z.base_sequence, a.base_sequence);
        EXPECT_EQ(z.records_count, static_cast<int32_t>(survivors.size()));
        EXPECT_EQ(decode({rewritten}), survivors);  // offsets, timestamps, keys, values, headers
        out.push_back(rewritten);
        break;
      }
    }
  }
  return out;
}

int64_t random_cutoff(std::mt19937_64& rng, const Workload& w) {
  switch (rng() % 4) {
    case 0: return kKeepAllTombstones;
    case 1: return std::numeric_limits<int64_t>::max();  // every tombstone is old
    default: return w.min_ts + static_cast<int64_t>(rng() % static_cast<uint64_t>(w.max_ts - w.min_ts + 2));
  }
}

TEST(Compaction, LargeMapKeepsExactlyTheLatestPerKey) {
  const uint64_t seed = testing::test_seed();
  SCOPED_TRACE("replay with RIVULET_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  OffsetMap map(1 << 20, {rng(), rng()});
  for (int round = 0; round < 60 && !HasFailure(); ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const Workload w = random_workload(rng);
    const std::vector<Rec> all = decode(w.batches);
    const int64_t cutoff = random_cutoff(rng, w);

    int64_t map_end = -1;
    const std::vector<std::string> once = compact_pass(w.batches, &map, 0, cutoff, &map_end);
    EXPECT_EQ(map_end, w.end_offset);
    EXPECT_EQ(decode(once), expected_fully_compacted(all, cutoff));

    // Idempotent: a second pass over the result (fresh map) changes nothing.
    const std::vector<std::string> twice = compact_pass(once, &map, 0, cutoff, &map_end);
    EXPECT_EQ(twice, once);
  }
}

TEST(Compaction, TinyMapStopsWhereItFillsAndConverges) {
  const uint64_t seed = testing::test_seed();
  SCOPED_TRACE("replay with RIVULET_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 25 && !HasFailure(); ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const Workload w = random_workload(rng);
    const int64_t cutoff = random_cutoff(rng, w);
    // Room for 1 to 5 keys: the workloads have up to 40.
    OffsetMap map((2 + rng() % 6) * OffsetMap::kSlotBytes, {rng(), rng()});
    ASSERT_GE(map.max_keys(), 1u);

    // Passes as the cleaner runs them: each maps from the first offset the
    // previous one did not map (maybe inside a batch) and compacts from the
    // start; their end state equals one pass with a map large enough.
    // (A pass may empty the last batch, when its records were old
    // tombstones: the log's end then moves back, the partition's next offset
    // would not.)
    std::vector<std::string> batches = w.batches;
    int64_t start = 0;
    for (int pass = 0; !batches.empty() && start <= header_of(batches.back()).last_offset(); ++pass) {
      SCOPED_TRACE("pass " + std::to_string(pass));
      ASSERT_LT(pass, 10000);
      const std::vector<Rec> before = decode(batches);
      const int64_t log_end = header_of(batches.back()).last_offset() + 1;
      int64_t map_end = -1;
      std::vector<std::string> after = compact_pass(batches, &map, start, cutoff, &map_end);
      ASSERT_EQ(map_end, expected_map_end(before, start, log_end, map.max_keys()));
      ASSERT_GT(map_end, start);  // progress
      const std::vector<Rec> got = decode(after);
      EXPECT_EQ(got, expected_after_pass(before, start, map_end, cutoff));
      // Nothing at or past map_end went.
      EXPECT_EQ(std::count_if(got.begin(), got.end(), [&](const Rec& r) { return r.offset >= map_end; }),
                std::count_if(before.begin(), before.end(), [&](const Rec& r) { return r.offset >= map_end; }));
      batches = std::move(after);
      start = map_end;
    }

    OffsetMap large(1 << 20, kTestKey);
    int64_t map_end = -1;
    EXPECT_EQ(batches, compact_pass(w.batches, &large, 0, cutoff, &map_end));
  }
}

// --- hand-made cases --------------------------------------------------------

TEST(Compaction, SmallExample) {
  // offsets: 0 a=1, 1 b=1, 2 (null key), 3 a=2 | 4 b=<tombstone>, 5 c=1, 6 a=3
  const std::string b0 = build({{"a", "1", {{"h", "x"}}, 100},
                                {"b", "1", {}, 101},
                                {std::nullopt, "n", {}, 102},
                                {"a", "2", {}, 103}},
                               0);
  const std::string b1 = build({{"b", std::nullopt, {}, 200}, {"c", "1", {}, 201}, {"a", "3", {}, 202}}, 4);
  OffsetMap map(4096, kTestKey);
  const std::vector<BatchRef> in = {{b0, 4096}, {b1, 4096 + b0.size()}};
  Result<int64_t> end = map_batches(in, 0, &map);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 7);
  EXPECT_EQ(map.size(), 3u);
  EXPECT_EQ(map.latest("a"), std::optional<int64_t>(6));
  EXPECT_EQ(map.latest("b"), std::optional<int64_t>(4));

  std::string out;
  Result<Compacted> c = compact_batch(b0, 4096, map, *end, kKeepAllTombstones, &out);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(*c, Compacted::rewritten);  // only the null-key record is left
  std::vector<Rec> got = decode({out});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].offset, 2);
  EXPECT_EQ(got[0].timestamp, 102);  // timestamp delta kept against the same base
  EXPECT_EQ(header_of(out).records_count, 1);
  EXPECT_EQ(header_of(out).last_offset_delta, 3);

  // The tombstone stays while its batch (max timestamp 202) is young enough.
  c = compact_batch(b1, 0, map, *end, 202, &out);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, Compacted::unchanged);
  EXPECT_TRUE(out.empty());
  c = compact_batch(b1, 0, map, *end, 203, &out);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(*c, Compacted::rewritten);
  got = decode({out});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].offset, 5);
  EXPECT_EQ(got[1].offset, 6);

  // A map that ended before a batch leaves it alone; one that ended inside
  // it leaves the records from map_end on.
  c = compact_batch(b1, 0, map, 4, std::numeric_limits<int64_t>::max(), &out);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, Compacted::unchanged);
  c = compact_batch(b0, 0, map, 1, kKeepAllTombstones, &out);  // only offset 0 was mapped
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(*c, Compacted::rewritten);
  EXPECT_EQ(decode({out}).size(), 3u);
}

TEST(Compaction, EveryRecordGoesAndEmptyBatchIsUnchanged) {
  const std::string b0 = build({{"a", "1", {}, 1}, {"a", "2", {}, 2}}, 10);
  const std::string b1 = build({{"a", "3", {}, 3}}, 12);
  OffsetMap map(4096, kTestKey);
  const std::vector<BatchRef> in = {{b0, 0}, {b1, 100}};
  ASSERT_EQ(*map_batches(in, 0, &map), 13);
  std::string out;
  EXPECT_EQ(*compact_batch(b0, 0, map, 13, kKeepAllTombstones, &out), Compacted::empty);
  EXPECT_EQ(*compact_batch(b1, 100, map, 13, kKeepAllTombstones, &out), Compacted::unchanged);

  // A batch with no records (Kafka keeps one to hold the last offset) has
  // nothing to drop: a later pass leaves it as it is.
  BatchBuilder builder;
  const std::string none(builder.finish(13));
  EXPECT_EQ(*compact_batch(none, 0, map, 14, kKeepAllTombstones, &out), Compacted::unchanged);
}

TEST(Compaction, MapBatchesSkipsBelowStartAndStopsWhenFull) {
  const std::string b0 = build({{"a", "1", {}, 1}, {"b", "1", {}, 1}, {"c", "1", {}, 1}}, 0);
  const std::string b1 = build({{std::nullopt, "1", {}, 1}, {"d", "1", {}, 1}, {"a", "2", {}, 1}}, 3);
  const std::vector<BatchRef> in = {{b0, 0}, {b1, 100}};

  OffsetMap map(4096, kTestKey);
  EXPECT_EQ(*map_batches(in, 2, &map), 6);
  EXPECT_EQ(map.latest("a"), std::optional<int64_t>(5));
  EXPECT_EQ(map.latest("b"), std::nullopt);  // below the start
  EXPECT_EQ(map.latest("c"), std::optional<int64_t>(2));
  EXPECT_EQ(map.size(), 3u);

  OffsetMap two(3 * OffsetMap::kSlotBytes, kTestKey);  // holds 2 keys
  ASSERT_EQ(two.max_keys(), 2u);
  EXPECT_EQ(*map_batches(in, 0, &two), 2);  // "c" did not fit
  EXPECT_EQ(two.latest("c"), std::nullopt);

  OffsetMap none(0, kTestKey);
  EXPECT_EQ(*map_batches(in, 0, &none), 0);
  EXPECT_EQ(*map_batches({}, 7, &none), 7);
  EXPECT_EQ(*map_batches(in, 50, &map), 50);  // all below the start
}

// --- errors -----------------------------------------------------------------

void reseal(std::string& batch) {
  store_be<uint32_t>(batch.data() + format::kBatchCrcOffset,
                     crc32c::value(batch.data() + format::kBatchCrcFrom, batch.size() - format::kBatchCrcFrom));
}

TEST(CompactionErrors, DamagedBytesAreNeverResealed) {
  std::string batch = build({{"a", "1", {}, 1}, {"a", "2", {}, 2}}, 0);
  OffsetMap map(4096, kTestKey);
  ASSERT_TRUE(map.put("a", 1));
  batch[batch.size() - 3] ^= 1;  // a flipped bit in the last record
  std::string out;
  Result<Compacted> c = compact_batch(batch, 8192, map, 2, kKeepAllTombstones, &out);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::corruption);
  EXPECT_EQ(c.status().position(), std::optional<uint64_t>(8192));
  EXPECT_NE(c.status().message().find("checksum"), std::string::npos) << c.status().message();

  const std::vector<BatchRef> in = {{batch, 8192}};
  Result<int64_t> end = map_batches(in, 0, &map);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.status().code(), Code::corruption);

  // Structurally bad even with a valid CRC: still an error, never a crash.
  batch = build({{"a", "1", {}, 1}}, 0);
  store_be<int32_t>(batch.data() + 57, 2);  // recordsCount
  batch += std::string(7, '\0');
  store_be<int32_t>(batch.data() + 8, static_cast<int32_t>(batch.size() - 12));
  reseal(batch);
  c = compact_batch(batch, 0, map, 2, kKeepAllTombstones, &out);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::corruption);
  c = compact_batch(std::string_view(batch).substr(0, 40), 0, map, 2, kKeepAllTombstones, &out);
  EXPECT_EQ(c.status().code(), Code::corruption);
}

TEST(CompactionErrors, CompressedIsUnsupportedControlIsKept) {
  std::string batch = build({{"a", "1", {}, 1}, {"a", "2", {}, 2}}, 0);
  OffsetMap map(4096, kTestKey);
  ASSERT_TRUE(map.put("a", 1));
  std::string out;

  std::string compressed = batch;
  compressed[22] = 4;  // zstd
  reseal(compressed);
  EXPECT_EQ(compact_batch(compressed, 0, map, 2, kKeepAllTombstones, &out).status().code(), Code::unsupported);
  const std::vector<BatchRef> in = {{compressed, 0}};
  EXPECT_EQ(map_batches(in, 0, &map).status().code(), Code::unsupported);

  for (int16_t bit : {format::kAttrControl, format::kAttrTransactional}) {
    std::string other = batch;
    store_be<int16_t>(other.data() + 21, bit);
    reseal(other);
    Result<Compacted> c = compact_batch(other, 0, map, 2, kKeepAllTombstones, &out);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(*c, Compacted::unchanged);
    OffsetMap fresh(4096, kTestKey);
    const std::vector<BatchRef> one = {{other, 0}};
    EXPECT_EQ(*map_batches(one, 0, &fresh), 2);
    EXPECT_EQ(fresh.size(), 0u);  // not mapped
  }
}

TEST(CompactionErrors, BatchesOutOfOrder) {
  const std::string b0 = build({{"a", "1", {}, 1}, {"b", "1", {}, 1}}, 5);
  const std::string b1 = build({{"c", "1", {}, 1}}, 6);  // overlaps b0
  OffsetMap map(4096, kTestKey);
  const std::vector<BatchRef> in = {{b0, 0}, {b1, 300}};
  Result<int64_t> end = map_batches(in, 0, &map);
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.status().code(), Code::corruption);
  EXPECT_EQ(end.status().position(), std::optional<uint64_t>(300));
}

TEST(CompactionErrors, RandomMutationsNeverCrash) {
  const uint64_t seed = testing::test_seed();
  SCOPED_TRACE("replay with RIVULET_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  int rewritten = 0;
  for (int round = 0; round < 40; ++round) {
    const Workload w = random_workload(rng);
    for (const std::string& original : w.batches) {
      std::string batch = original;
      for (size_t i = 0, n = 1 + rng() % 3; i < n; ++i) {
        batch[rng() % batch.size()] = static_cast<char>(rng() % 4 == 0 ? rng() % 3 : rng());
      }
      if (rng() % 8 != 0 && batch.size() >= format::kBatchHeaderSize) reseal(batch);
      OffsetMap map((2 + rng() % 64) * OffsetMap::kSlotBytes, kTestKey);
      const std::vector<BatchRef> in = {{batch, 0}};
      Result<int64_t> end = map_batches(in, 0, &map);
      std::string out;
      const int64_t map_end = end.ok() ? *end : 1 << 30;
      const int64_t cutoff = rng() % 2 ? kKeepAllTombstones : w.max_ts;
      Result<Compacted> c = compact_batch(batch, 0, map, map_end, cutoff, &out);
      if (c.ok() && *c == Compacted::rewritten) {
        ++rewritten;
        EXPECT_LT(out.size(), header_of(batch).total_size());
        decode({out});  // fails the test on any error
      }
    }
  }
  EXPECT_GT(rewritten, 0);  // the mutations got past the checks some of the time
}

// --- the offset map ---------------------------------------------------------

TEST(CompactionOffsetMap, PutAndLatest) {
  OffsetMap map(100 * OffsetMap::kSlotBytes, kTestKey);
  EXPECT_EQ(map.max_keys(), 75u);
  EXPECT_EQ(map.memory_bytes(), 2400u);
  EXPECT_EQ(map.latest("a"), std::nullopt);
  EXPECT_TRUE(map.put("a", 3));
  EXPECT_TRUE(map.put("", 4));  // the empty key is a key
  EXPECT_TRUE(map.put("a", 9));
  EXPECT_TRUE(map.put("a", 5));  // an older offset does not win
  EXPECT_EQ(map.latest("a"), std::optional<int64_t>(9));
  EXPECT_EQ(map.latest(""), std::optional<int64_t>(4));
  EXPECT_EQ(map.latest("b"), std::nullopt);
  EXPECT_EQ(map.size(), 2u);
  EXPECT_FALSE(map.put("b", -1));
  map.clear();
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.latest("a"), std::nullopt);
}

TEST(CompactionOffsetMap, FullRefusesNewKeysOnly) {
  const uint64_t seed = testing::test_seed();
  SCOPED_TRACE("replay with RIVULET_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (size_t slots : {0, 1, 2, 3, 4, 7, 100, 1000}) {
    SCOPED_TRACE("slots " + std::to_string(slots));
    OffsetMap map(slots * OffsetMap::kSlotBytes + rng() % OffsetMap::kSlotBytes, {rng(), rng()});
    EXPECT_LT(map.max_keys(), std::max<size_t>(slots, 1));  // an empty slot always remains
    EXPECT_GE(map.max_keys() * 4 + 3, slots * 3);  // and it fills at least 3/4 of them
    std::map<std::string, int64_t> model;
    for (int64_t i = 0; i < 5000; ++i) {
      const std::string key = "key-" + std::to_string(rng() % 2000);
      const bool room = model.count(key) || model.size() < map.max_keys();
      ASSERT_EQ(map.put(key, i), room) << key;
      if (room) model[key] = i;
    }
    EXPECT_EQ(map.size(), model.size());
    for (int k = 0; k < 2000; ++k) {
      const std::string key = "key-" + std::to_string(k);
      auto it = model.find(key);
      EXPECT_EQ(map.latest(key), it == model.end() ? std::nullopt : std::optional<int64_t>(it->second)) << key;
    }
  }
}

}  // namespace
}  // namespace rivulet::clean
