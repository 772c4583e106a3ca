// Cleaning and compaction through the engine (issue 5): live batches of
// mostly dead segments move to the head with their offsets, compact topics
// keep the latest record per key (checked against a reference model, over
// reopens), and vacuum does it all at once and gives the space back.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>

#include "fault_env.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

constexpr uint32_t kSegment = 64 * 1024;

OpenOptions small(uint64_t checkpoint_bytes = 32 * 1024) {
  OpenOptions o;
  o.segment_size = kSegment;
  o.checkpoint_bytes = checkpoint_bytes;
  o.sync = Sync::off;
  return o;
}

std::unique_ptr<Db> open_db(const std::string& path, const OpenOptions& options = small()) {
  auto db = Db::open(path, options);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  return db.ok() ? std::move(db).value() : nullptr;
}

// A compact topic's config (delete.retention.ms as Kafka's default unless told).
TopicConfig compact(int64_t delete_retention_ms = TopicConfig{}.delete_retention_ms) {
  TopicConfig config;
  config.cleanup_policy = CleanupPolicy::compact;
  config.delete_retention_ms = delete_retention_ms;
  return config;
}

struct Rec {
  std::optional<std::string> key;
  std::optional<std::string> value;
  int64_t timestamp = 0;
  bool operator==(const Rec&) const = default;
};

// Short output when a comparison fails.
void PrintTo(const Rec& r, std::ostream* os) {
  *os << (r.key ? *r.key : "(null)") << "=" << (r.value ? r.value->substr(0, 12) : "(tombstone)") << "@"
      << r.timestamp;
}

std::map<int64_t, Rec> read_partition(Db& db, const std::string& topic, int32_t partition = 0) {
  std::map<int64_t, Rec> out;
  testing::for_each_record(db, topic, partition, [&](const RecordView& v) {
    Rec rec;
    if (v.key) rec.key = std::string(*v.key);
    if (v.value) rec.value = std::string(*v.value);
    rec.timestamp = v.timestamp_ms;
    EXPECT_TRUE(out.emplace(v.offset, rec).second) << "offset " << v.offset << " twice";
  });
  return out;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void expect_check_ok(const std::string& path) {
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(report->ok) << (report->problems.empty() ? "" : report->problems[0]);
}

// A topic kept forever shares segments with one that is deleted: the
// cleaner copies the survivors out, offsets unchanged, and the segments
// come free, so the file stops growing.
TEST(Cleaning, SurvivorsOfMostlyDeadSegmentsMoveAndTheirSegmentsComeFree) {
  TempDir dir;
  std::string path = dir.file("c.rvl");
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("keep").ok());
  ASSERT_TRUE(db->create_topic("temp").ok());
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE(db->produce({.topic = "keep", .key = "k", .value = "keep " + std::to_string(i)}).ok());
    WriteBatch b(*db);
    for (int k = 0; k < 8; ++k) ASSERT_TRUE(b.add({.topic = "temp", .value = std::string(200, 't')}).ok());
    ASSERT_TRUE(db->commit(b).ok());
  }
  std::map<int64_t, Rec> before = read_partition(*db, "keep");
  ASSERT_TRUE(db->delete_topic("temp").ok());
  uint64_t size = db->stat()->file_size;
  // Fresh writes owe cleaning; it moves "keep"'s batches out of the old
  // segments, checkpoints free them, and the new writes reuse them.
  ASSERT_TRUE(db->create_topic("next").ok());
  for (int i = 0; i < 300; ++i) {
    WriteBatch b(*db);
    for (int k = 0; k < 4; ++k) ASSERT_TRUE(b.add({.topic = "next", .value = std::string(200, 'n')}).ok());
    ASSERT_TRUE(db->commit(b).ok());
  }
  auto s = db->stat();
  ASSERT_TRUE(s.ok());
  uint64_t keep_live = 0;
  for (const TopicInfo& t : s->topics) {
    if (t.name == "keep") keep_live = t.partitions[0].bytes;
  }
  int old_in_use = 0;
  for (const SegmentInfo& g : s->segments) old_in_use += g.state == SegmentInfo::State::in_use && g.seq == g.index;
  std::string table;
  for (const SegmentInfo& g : s->segments) {
    table += std::to_string(g.index) + ":" + std::to_string(g.seq) + (g.state == SegmentInfo::State::free ? "F" : "U") +
             "/" + std::to_string(g.live_bytes) + "/" + std::to_string(g.dead_bytes) + " ";
  }
  EXPECT_LE(old_in_use, 2) << "segments from before the deletion still in use: " << table;
  EXPECT_LE(s->file_size, size + 2 * kSegment);
  EXPECT_GT(keep_live, 0u);
  EXPECT_EQ(read_partition(*db, "keep"), before);
  ASSERT_TRUE(db->close().ok());
  expect_check_ok(path);
  auto again = open_db(path);
  EXPECT_EQ(read_partition(*again, "keep"), before);
}

// The reference model: the latest record per key, tombstones included
// until they expire; null-key records are always kept.
struct Model {
  std::map<std::string, std::pair<int64_t, Rec>> latest;
  std::map<int64_t, Rec> unkeyed;
  int64_t next = 0;

  void add(const Rec& r) {
    if (r.key) {
      latest[*r.key] = {next, r};
    } else {
      unkeyed[next] = r;
    }
    ++next;
  }
  // What a full compaction leaves: tombstones older than `cutoff` go, and
  // records below the earliest offset `first`.
  std::map<int64_t, Rec> compacted(int64_t cutoff, int64_t first = 0) const {
    std::map<int64_t, Rec> out(unkeyed.lower_bound(first), unkeyed.end());
    for (const auto& [key, at] : latest) {
      if (at.first < first || (!at.second.value && at.second.timestamp < cutoff)) continue;
      out[at.first] = at.second;
    }
    return out;
  }
};

// The differences between two partitions' contents, for a failure message.
std::string diff(const std::map<int64_t, Rec>& got, const std::map<int64_t, Rec>& want) {
  std::ostringstream out;
  int shown = 0;
  for (const auto& [o, r] : want) {
    auto it = got.find(o);
    if ((it == got.end() || !(it->second == r)) && shown++ < 10) {
      out << "  offset " << o << ": want ";
      PrintTo(r, &out);
      out << (it == got.end() ? ", missing" : ", differs") << "\n";
    }
  }
  for (const auto& [o, r] : got) {
    if (!want.count(o) && shown++ < 20) {
      out << "  offset " << o << ": extra ";
      PrintTo(r, &out);
      out << "\n";
    }
  }
  return out.str();
}

// Every record read must be one the model has as written, and every record
// the model says survives must be read.
void expect_compacted(const std::map<int64_t, Rec>& got, const Model& m, const std::map<int64_t, Rec>& written,
                      int64_t cutoff, int64_t first = 0) {
  std::map<int64_t, Rec> must = m.compacted(cutoff, first);
  for (const auto& [offset, rec] : must) {
    auto it = got.find(offset);
    ASSERT_NE(it, got.end()) << "offset " << offset << " (latest of its key) is gone";
    EXPECT_EQ(it->second, rec) << "offset " << offset;
  }
  for (const auto& [offset, rec] : got) {
    auto it = written.find(offset);
    ASSERT_NE(it, written.end()) << "offset " << offset << " was never written";
    EXPECT_EQ(it->second, rec) << "offset " << offset;
    EXPECT_GE(offset, first) << "offset " << offset << " is below the earliest";
  }
}

TEST(Compaction, VacuumKeepsTheLatestRecordPerKeyAcrossReopens) {
  TempDir dir;
  std::string path = dir.file("k.rvl");
  uint64_t seed = testing::test_seed();
  SCOPED_TRACE("RIVULET_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Model model;
  std::map<int64_t, Rec> written;
  const int64_t old = now_ms() - 3'600'000;  // tombstones an hour old expire (delete.retention.ms 1 min)
  {
    auto db = open_db(path);
    TopicConfig config = compact(60'000);
    ASSERT_TRUE(db->create_topic("c", config).ok());
  }
  for (int round = 0; round < 4; ++round) {
    auto db = open_db(path);
    for (int commit = 0; commit < 150; ++commit) {
      // Tombstones come in commits of their own: a tombstone expires by its
      // batch's newest timestamp (clean/compact_batch.hpp).
      bool tombstones = rng() % 8 == 0;
      WriteBatch b(*db);
      int n = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < n; ++i) {
        Rec r;
        if (tombstones) {
          r.key = "key-" + std::to_string(rng() % 40);
          r.timestamp = old;
        } else {
          if (rng() % 100 > 2) r.key = "key-" + std::to_string(rng() % 40);
          r.value = std::string(20 + rng() % 300, static_cast<char>('a' + rng() % 26));
          r.timestamp = now_ms();
        }
        ASSERT_TRUE(b.add({.topic = "c", .key = r.key, .value = r.value, .timestamp_ms = r.timestamp}).ok());
        written[model.next] = r;
        model.add(r);
      }
      ASSERT_TRUE(db->commit(b).ok());
    }
    // Whatever inline cleaning did so far, nothing wrong is visible (it may
    // have dropped the expired tombstones already).
    expect_compacted(read_partition(*db, "c"), model, written, now_ms() - 60'000);
    auto report = db->vacuum();
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    std::map<int64_t, Rec> got = read_partition(*db, "c");
    std::map<int64_t, Rec> want = model.compacted(now_ms() - 60'000);
    EXPECT_TRUE(got == want) << "round " << round << "\n" << diff(got, want);
    auto info = db->describe_topic("c");
    EXPECT_EQ(info->partitions[0].next_offset, model.next);
    ASSERT_TRUE(db->close().ok());
    expect_check_ok(path);
    auto again = open_db(path);
    EXPECT_EQ(read_partition(*again, "c"), got) << "after reopen, round " << round;
  }
}

TEST(Compaction, InlineCleaningCompactsAHotKeySetWithoutVacuum) {
  TempDir dir;
  std::string path = dir.file("h.rvl");
  auto db = open_db(path);
  TopicConfig config = compact();
  ASSERT_TRUE(db->create_topic("c", config).ok());
  Model model;
  std::map<int64_t, Rec> written;
  for (int i = 0; i < 4000; ++i) {
    Rec r{"k" + std::to_string(i % 10), std::string(200, static_cast<char>('a' + i % 26)), 1'700'000'000'000 + i};
    ASSERT_TRUE(db->produce({.topic = "c", .key = r.key, .value = r.value, .timestamp_ms = r.timestamp}).ok());
    written[model.next] = r;
    model.add(r);
  }
  auto info = db->describe_topic("c");
  // 4000 records of ~250 bytes written; ten keys are live. Compaction
  // keeps the partition's bytes to a fraction of what was written.
  EXPECT_LT(info->partitions[0].bytes, 4000u * 250 / 4);
  expect_compacted(read_partition(*db, "c"), model, written, INT64_MIN);
  // Reading from any offset finds the next surviving record.
  auto r = db->reader("c", 0, StartAt::offset(1234));
  ASSERT_TRUE(r.ok());
  auto got = (*r)->poll(0ms, 1);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_GE((*got)[0].offset, 1234);
}

TEST(Vacuum, GivesTheSpaceOfADeletedTopicBackAndReportsProgress) {
  TempDir dir;
  std::string path = dir.file("v.rvl");
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("a").ok());
  ASSERT_TRUE(db->create_topic("b").ok());
  for (int i = 0; i < 200; ++i) {
    WriteBatch batch(*db);
    for (int k = 0; k < 4; ++k) ASSERT_TRUE(batch.add({.topic = "a", .value = std::string(300, 'a')}).ok());
    ASSERT_TRUE(batch.add({.topic = "b", .value = "b" + std::to_string(i)}).ok());
    ASSERT_TRUE(db->commit(batch).ok());
  }
  std::map<int64_t, Rec> b = read_partition(*db, "b");
  ASSERT_TRUE(db->delete_topic("a").ok());
  uint64_t last_done = 0, last_total = 0;
  bool went_backwards = false;
  auto report = db->vacuum([&](uint64_t done, uint64_t total) {
    went_backwards |= done < last_done;
    last_done = done;
    last_total = total;
  });
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_FALSE(went_backwards);
  EXPECT_EQ(last_done, last_total);
  EXPECT_GT(report->bytes_read, 0u);
  EXPECT_LT(report->disk_bytes_after, report->disk_bytes_before / 2);
  EXPECT_EQ(read_partition(*db, "b"), b);
  ASSERT_TRUE(db->close().ok());
  expect_check_ok(path);
}

// delete_records inside a batch, then a tombstone for a key of that
// batch. Compaction must drop the key's older value along with the expired
// tombstone; otherwise the deleted value comes back.
TEST(Compaction, ATombstoneRemovesAnOlderValueInTheBatchHoldingTheEarliestOffset) {
  TempDir dir;
  std::string path = dir.file("d.rvl");
  auto db = open_db(path);
  TopicConfig config = compact(60'000);
  ASSERT_TRUE(db->create_topic("c", config).ok());
  const int64_t old = now_ms() - 3'600'000;
  WriteBatch b(*db);  // one batch: offsets 0..9, key "k" at offset 5
  for (int i = 0; i < 10; ++i) {
    std::string key = i == 5 ? "k" : "other-" + std::to_string(i);
    ASSERT_TRUE(b.add({.topic = "c", .key = key, .value = "v" + std::to_string(i), .timestamp_ms = old}).ok());
  }
  ASSERT_TRUE(db->commit(b).ok());
  ASSERT_TRUE(db->delete_records("c", 0, 4).ok());  // the earliest offset is inside that batch
  ASSERT_TRUE(db->produce({.topic = "c", .key = "k", .value = std::nullopt, .timestamp_ms = old}).ok());  // 10
  ASSERT_TRUE(db->vacuum().ok());
  std::map<int64_t, Rec> got = read_partition(*db, "c");
  EXPECT_EQ(got.count(5), 0u) << "the value the tombstone deleted is back: k=" << *got[5].value;
  EXPECT_EQ(got.count(10), 0u);  // the expired tombstone went
}



// a seek by time after delete_records inside a batch must not land
// below the earliest offset (Kafka's offsetsForTimes answers from the log
// start on); the reader then fails every poll with out_of_range.
TEST(Retention, ASeekByTimeAfterDeleteRecordsInsideABatchStartsAtTheEarliestOffset) {
  TempDir dir;
  auto db = open_db(dir.file("t.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  WriteBatch b(*db);  // one batch: offsets 0..9, timestamps 1000..1009
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(b.add({.topic = "t", .value = "v" + std::to_string(i), .timestamp_ms = 1000 + i}).ok());
  }
  ASSERT_TRUE(db->commit(b).ok());
  ASSERT_TRUE(db->delete_records("t", 0, 5).ok());
  auto r = db->reader("t", 0, StartAt::timestamp(1000));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)->position(), 5);
  auto got = (*r)->poll(0ms);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_FALSE(got->empty());
  EXPECT_EQ((*got)[0].offset, 5);
}

// with timestamps out of order, compaction can take away the record
// that raised a batch's running maximum timestamp; the first record at or
// after the time may then lie more than one snapshot (64 batches) further.
TEST(Compaction, ASeekByTimeFindsARecordMoreThan64BatchesPastTheIndexHit) {
  TempDir dir;
  auto db = open_db(dir.file("s.rvl"));
  TopicConfig config = compact();
  ASSERT_TRUE(db->create_topic("c", config).ok());
  ASSERT_TRUE(db->produce({.topic = "c", .key = "a", .value = "a1", .timestamp_ms = 2000}).ok());  // 0
  for (int i = 0; i < 100; ++i) {  // 1..100, old timestamps
    ASSERT_TRUE(db->produce({.topic = "c", .key = "b" + std::to_string(i), .value = "b", .timestamp_ms = 1000}).ok());
  }
  ASSERT_TRUE(db->produce({.topic = "c", .key = "c", .value = "c", .timestamp_ms = 3000}).ok());    // 101
  ASSERT_TRUE(db->produce({.topic = "c", .key = "a", .value = "a2", .timestamp_ms = 500}).ok());    // 102
  ASSERT_TRUE(db->vacuum().ok());  // offset 0 goes: "a" has a later record
  std::map<int64_t, Rec> all = read_partition(*db, "c");
  ASSERT_EQ(all.count(0), 0u);
  ASSERT_EQ(all.count(101), 1u);
  auto r = db->reader("c", 0, StartAt::timestamp(1500));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)->position(), 101) << "the first record with timestamp >= 1500 is offset 101";
}


// A damaged batch in a compact partition stops compaction of that partition
// on the handle that found it, not every commit: cleaning runs as upkeep
// before each commit, and failing there would refuse all writes to every
// topic. The damage is still reported by whoever reads the batch.
TEST(Compaction, ADamagedBatchDoesNotStopCommitsToOtherTopics) {
  TempDir dir;
  std::string path = dir.file("d.rvl");
  {
    auto db = open_db(path);
    TopicConfig config = compact();
    ASSERT_TRUE(db->create_topic("c", config).ok());
    ASSERT_TRUE(db->create_topic("t").ok());
    ASSERT_TRUE(db->produce({.topic = "c", .key = "k", .value = "damaged-value"}).ok());
    for (int i = 0; i < 200; ++i) {  // past checkpoints: the batch is not replayed at open
      ASSERT_TRUE(db->produce({.topic = "c", .key = "k" + std::to_string(i % 5), .value = std::string(100, 'c')}).ok());
    }
    ASSERT_TRUE(db->close().ok());
  }
  ASSERT_TRUE(testing::damage_first(path, "damaged-value"));  // its batch fails its CRC when read

  auto db = open_db(path);
  ASSERT_NE(db, nullptr);
  for (int i = 0; i < 2000; ++i) {  // far more than one cleaning step of 64 KiB
    Status st = db->produce({.topic = "c", .key = "k" + std::to_string(i % 5), .value = std::string(100, 'n')}).status();
    ASSERT_TRUE(st.ok()) << "commit " << i << ": " << st.to_string();
    st = db->produce({.topic = "t", .value = std::string(100, 't')}).status();
    ASSERT_TRUE(st.ok()) << "commit " << i << ": " << st.to_string();
  }
  auto r = db->reader("c", 0, StartAt::earliest());
  ASSERT_TRUE(r.ok());
  auto got = (*r)->poll(0ms);
  EXPECT_EQ(got.status().code(), Code::corruption) << "the damage is reported when read";
  EXPECT_EQ(db->vacuum().status().code(), Code::corruption) << "and by vacuum";
}

// A vacuum's step reads up to 4 MiB (DbImpl::kMaxCleanStep).
constexpr uint64_t kVacuumStep = 4u << 20;

// Commits of 50 records of 1,000 bytes, each with a key of its own, until
// the topic's partition holds `bytes`: a compaction pass from its start
// then ends its first 4 MiB step with the last of them. Returns the next
// offset.
int64_t fill(Db& db, const std::string& topic, uint64_t bytes) {
  for (;;) {
    auto info = db.describe_topic(topic);
    if (!info.ok()) {
      ADD_FAILURE() << info.status().to_string();
      return -1;
    }
    const PartitionInfo& p = info->partitions[0];
    if (p.bytes >= bytes) return p.next_offset;
    WriteBatch w(db);
    for (int i = 0; i < 50; ++i) {
      EXPECT_TRUE(w.add({.topic = topic, .key = "filler-" + std::to_string(p.next_offset + i),
                         .value = std::string(1000, 'f')})
                      .ok());
    }
    Status st = db.commit(w);
    if (!st.ok()) {
      ADD_FAILURE() << st.to_string();
      return -1;
    }
  }
}

// Calls `between` once, after the first step of a vacuum.
std::function<void(uint64_t, uint64_t)> after_first_step(std::function<void()> between) {
  return [between = std::move(between), called = false](uint64_t done, uint64_t) mutable {
    if (done > 0 && !called) {
      called = true;
      between();
    }
  };
}

// A pass goes in steps, and other handles write and compact between them.
// Here the batch the pass resumes at is gone, compacted away by another
// handle: the pass ends, and the vacuum goes on to the next compact topic.
// (A pass that did not end kept its handle from compacting or cleaning
// anything again.)
TEST(Compaction, APassWhoseNextBatchAnotherHandleCompactedAwayFinishes) {
  TempDir dir;
  std::string path = dir.file("s.rvl");
  auto a = open_db(path, small(16u << 20));
  TopicConfig config = compact();
  ASSERT_TRUE(a->create_topic("c", config).ok());
  ASSERT_TRUE(a->create_topic("d", config).ok());
  auto b = open_db(path, small(16u << 20));
  ASSERT_TRUE(b->produce({.topic = "c", .key = "j", .value = "a"}).ok());  // 0
  const int64_t e = fill(*b, "c", kVacuumStep);
  ASSERT_TRUE(b->produce({.topic = "c", .key = "j", .value = "b"}).ok());  // e: A's second step starts here
  auto report = a->vacuum(after_first_step([&] {
    ASSERT_TRUE(b->produce({.topic = "c", .key = "j", .value = "c"}).ok());
    ASSERT_TRUE(b->vacuum().ok());  // empties the batch at e
    ASSERT_TRUE(b->produce({.topic = "d", .key = "k", .value = "old"}).ok());
    ASSERT_TRUE(b->produce({.topic = "d", .key = "k", .value = "new"}).ok());
  }));
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  std::map<int64_t, Rec> c = read_partition(*a, "c");
  ASSERT_EQ(c.count(0), 0u);
  ASSERT_EQ(c.count(e), 0u);
  EXPECT_EQ(read_partition(*a, "d").size(), 1u) << "A's vacuum did not compact d: its pass over c never ended";
}

// The same with delete_records between two steps of a pass: nothing the
// pass's map covers is left, and the pass ends.
TEST(Compaction, APassWhoseBatchesWereDeletedFinishes) {
  TempDir dir;
  std::string path = dir.file("d.rvl");
  auto db = open_db(path, small(16u << 20));
  TopicConfig config = compact();
  ASSERT_TRUE(db->create_topic("c", config).ok());
  ASSERT_TRUE(db->create_topic("d", config).ok());
  ASSERT_TRUE(db->produce({.topic = "c", .key = "j", .value = "a"}).ok());
  const int64_t e = fill(*db, "c", kVacuumStep);
  ASSERT_TRUE(db->produce({.topic = "c", .key = "j", .value = "b"}).ok());
  auto report = db->vacuum(after_first_step([&] {
    ASSERT_TRUE(db->delete_records("c", 0, e + 1).ok());  // everything
    ASSERT_TRUE(db->produce({.topic = "d", .key = "k", .value = "old"}).ok());
    ASSERT_TRUE(db->produce({.topic = "d", .key = "k", .value = "new"}).ok());
  }));
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(read_partition(*db, "c").empty());
  EXPECT_EQ(read_partition(*db, "d").size(), 1u) << "the vacuum did not compact d: its pass over c never ended";
}

// Two handles commit to a compact topic in turn, each cleaning inline (so
// each one's passes run between the other's steps), with delete_records
// and reopens; a model says what must be left. RIVULET_SEED=N replays
// another run.
TEST(Compaction, TwoHandlesCompactingInTurnKeepTheLatestRecordPerKey) {
  TempDir dir;
  std::string path = dir.file("m.rvl");
  const uint64_t seed = std::getenv("RIVULET_SEED") ? testing::test_seed() : 3;
  SCOPED_TRACE("RIVULET_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  Model model;
  std::map<int64_t, Rec> written;
  int64_t first = 0;
  const int64_t old = now_ms() - 3'600'000;
  const int64_t retention = 600'000;
  {
    auto db = open_db(path);
    TopicConfig config = compact(retention);
    ASSERT_TRUE(db->create_topic("c", config).ok());
    ASSERT_TRUE(db->create_topic("noise").ok());  // dropped now and then, for segments to clean
  }
  for (int round = 0; round < 8; ++round) {
    auto h1 = open_db(path);
    auto h2 = open_db(path);
    for (int commit = 0; commit < 600; ++commit) {
      Db& db = (rng() % 2) ? *h1 : *h2;
      // Tombstones come in commits of their own: they expire by batch.
      bool tombstones = rng() % 6 == 0;
      const int64_t tomb_ts = rng() % 2 ? old : now_ms();
      WriteBatch b(db);
      int n = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < n; ++i) {
        Rec r;
        if (tombstones) {
          r.key = "key-" + std::to_string(rng() % 60);
          r.timestamp = tomb_ts;
        } else {
          if (rng() % 50 != 0) r.key = "key-" + std::to_string(rng() % 60);
          r.value = std::string(20 + rng() % 400, static_cast<char>('a' + rng() % 26));
          r.timestamp = now_ms();
        }
        ASSERT_TRUE(b.add({.topic = "c", .key = r.key, .value = r.value, .timestamp_ms = r.timestamp}).ok());
        written[model.next] = r;
        model.add(r);
      }
      if (rng() % 2) {
        ASSERT_TRUE(b.add({.topic = "noise", .value = std::string(rng() % 2000, 'n')}).ok());
      }
      ASSERT_TRUE(db.commit(b).ok());
      if (rng() % 200 == 0) {
        int64_t to = std::min(model.next, first + static_cast<int64_t>(rng() % 20));
        ASSERT_TRUE(db.delete_records("c", 0, to).ok());
        first = std::max(first, to);
      }
      if (rng() % 20 == 0) {
        auto noise = db.describe_topic("noise");
        ASSERT_TRUE(noise.ok());
        ASSERT_TRUE(db.delete_records("noise", 0, noise->partitions[0].next_offset).ok());
      }
      if (commit % 100 == 99) {
        for (Db* d : {h1.get(), h2.get()}) {
          expect_compacted(read_partition(*d, "c"), model, written, now_ms() - retention, first);
        }
      }
    }
    auto report = (round % 2 ? h1 : h2)->vacuum();
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    ASSERT_TRUE(h1->close().ok());
    ASSERT_TRUE(h2->close().ok());
    expect_check_ok(path);
    auto again = open_db(path);
    std::map<int64_t, Rec> got = read_partition(*again, "c");
    std::map<int64_t, Rec> want = model.compacted(now_ms() - retention, first);
    ASSERT_TRUE(got == want) << "round " << round << "\n" << diff(got, want);
    auto info = again->describe_topic("c");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->partitions[0].next_offset, model.next);
    EXPECT_EQ(info->partitions[0].first_offset, first);
  }
}

// A pass that failed to write a step (no space) starts over, rather than
// going on past the batches that step would have compacted and dropping
// the tombstone that deleted their records.
TEST(Compaction, APassWhoseStepFailedToWriteDoesNotBringBackADeletedValue) {
  TempDir dir;
  std::string path = dir.file("r.rvl");
  testing::FaultEnv env;
  OpenOptions o = small(16u << 20);  // no checkpoint comes due while the fault is armed
  o.env = &env;
  auto db = open_db(path, o);
  ASSERT_NE(db, nullptr);
  TopicConfig config = compact(60'000);
  ASSERT_TRUE(db->create_topic("c", config).ok());
  ASSERT_TRUE(db->create_topic("t").ok());
  const int64_t old = now_ms() - 3'600'000;
  ASSERT_TRUE(db->produce({.topic = "c", .key = "victim", .value = "deleted-value", .timestamp_ms = old}).ok());  // 0
  const int64_t tombstone = fill(*db, "c", kVacuumStep);
  ASSERT_TRUE(db->produce({.topic = "c", .key = "victim", .value = std::nullopt, .timestamp_ms = old}).ok());
  // The vacuum's first step (it empties the batch at offset 0) meets a full disk.
  env.fail_at(env.ops() + 1, testing::Fault::enospc);
  auto failed = db->vacuum();
  env.clear_faults();
  ASSERT_EQ(failed.status().code(), Code::no_space) << failed.status().to_string();
  // Room again: commits go on, and clean inline.
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(db->produce({.topic = "t", .value = std::string(1000, 't')}).ok());
  std::map<int64_t, Rec> got = read_partition(*db, "c");
  EXPECT_FALSE(got.count(0) && !got.count(tombstone)) << "victim=deleted-value is back: its tombstone went";
  ASSERT_TRUE(db->vacuum().ok());
  got = read_partition(*db, "c");
  EXPECT_EQ(got.count(tombstone), 0u) << "the expired tombstone went";
  EXPECT_EQ(got.count(0), 0u) << "victim=deleted-value is back";
}

// A segment is walked once in its use; if the copies of its live batches
// failed to write (no space), it is cleaned again later, here by vacuum.
TEST(Cleaning, ASegmentWhoseCopiesFailedToWriteIsCleanedLater) {
  TempDir dir;
  std::string path = dir.file("w.rvl");
  testing::FaultEnv env;
  OpenOptions o = small();
  o.env = &env;
  auto db = open_db(path, o);
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->create_topic("keep").ok());
  ASSERT_TRUE(db->create_topic("temp").ok());
  ASSERT_TRUE(db->create_topic("next").ok());
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE(db->produce({.topic = "keep", .key = "k", .value = "keep " + std::to_string(i)}).ok());
    WriteBatch b(*db);
    for (int k = 0; k < 8; ++k) ASSERT_TRUE(b.add({.topic = "temp", .value = std::string(200, 't')}).ok());
    ASSERT_TRUE(db->commit(b).ok());
  }
  ASSERT_TRUE(db->delete_topic("temp").ok());
  auto before = db->stat();
  ASSERT_TRUE(before.ok());
  uint64_t head_seq = 0;
  for (const SegmentInfo& g : before->segments) head_seq = std::max(head_seq, g.seq);
  // Commit until the cleaning step before a commit is what meets the full
  // disk (a commit whose own frame met it is tried again).
  bool cleaning_failed = false;
  for (int i = 0; i < 400 && !cleaning_failed; ++i) {
    WriteBatch b(*db);
    for (int k = 0; k < 4; ++k) ASSERT_TRUE(b.add({.topic = "next", .value = std::string(200, 'n')}).ok());
    env.fail_at(env.ops() + 1, testing::Fault::enospc);
    Status st = db->commit(b);
    env.clear_faults();
    if (st.ok()) continue;
    ASSERT_EQ(st.code(), Code::no_space) << st.to_string();
    cleaning_failed = st.message().find("while cleaning") != std::string::npos;
    if (!cleaning_failed) {
      ASSERT_TRUE(db->commit(b).ok());
    }
  }
  ASSERT_TRUE(cleaning_failed) << "no cleaning step ran";
  auto report = db->vacuum();  // cleans every segment short of full
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  auto s = db->stat();
  ASSERT_TRUE(s.ok());
  std::string left;
  for (const SegmentInfo& g : s->segments) {
    if (g.state == SegmentInfo::State::in_use && g.seq < head_seq && g.live_bytes > 0) {
      left += " " + std::to_string(g.index) + " (" + std::to_string(g.live_bytes) + " live)";
    }
  }
  EXPECT_TRUE(left.empty()) << "segments from before the deletion still hold live batches after vacuum:" << left;
  ASSERT_TRUE(db->close().ok());
  expect_check_ok(path);
}

// vacuum compacts every compact topic, also one with nothing written since
// this handle's last pass: a tombstone that expired since then goes.
TEST(Vacuum, DropsATombstoneThatExpiredAfterThisHandlesLastPass) {
  TempDir dir;
  std::string path = dir.file("t.rvl");
  auto db = open_db(path);
  TopicConfig config = compact(60'000);
  ASSERT_TRUE(db->create_topic("c", config).ok());
  ASSERT_TRUE(db->produce({.topic = "c", .key = "k", .value = "v", .timestamp_ms = now_ms() - 3'600'000}).ok());
  ASSERT_TRUE(db->produce({.topic = "c", .key = "k", .value = std::nullopt, .timestamp_ms = now_ms() - 30'000}).ok());
  ASSERT_TRUE(db->vacuum().ok());
  std::map<int64_t, Rec> got = read_partition(*db, "c");
  ASSERT_EQ(got.count(0), 0u);
  ASSERT_EQ(got.count(1), 1u) << "the tombstone is not yet expired";
  // The tombstone expires: a shorter delete.retention.ms stands for time passing.
  config.delete_retention_ms = 10'000;
  ASSERT_TRUE(db->alter_topic("c", config).ok());
  ASSERT_TRUE(db->vacuum().ok());
  EXPECT_EQ(read_partition(*db, "c").count(1), 0u) << "vacuum kept a tombstone older than delete.retention.ms";
}

}  // namespace
}  // namespace rivulet
