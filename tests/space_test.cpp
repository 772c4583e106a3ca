// Checkpoints and the reuse of freed segments (issue 5): a reopened file
// equals what was written, the log starts at the newest checkpoint, space
// of deleted topics and of records retention dropped comes back, the size
// on disk stays bounded under retention.bytes, and a reader in another
// process holding old records reads the right bytes while segments are
// reused.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "forwarding_env.hpp"
#include "forwarding_file.hpp"
#include "format/file_layout.hpp"
#include "log/file_start.hpp"
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

std::unique_ptr<Db> open_db(const std::string& path, const OpenOptions& o = small()) {
  auto db = Db::open(path, o);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  return db.ok() ? std::move(db).value() : nullptr;
}

std::string value_of(int i) { return "value " + std::to_string(i) + std::string(200, '.'); }

// Every record of every partition of `topic`: offset -> value.
std::map<std::pair<int32_t, int64_t>, std::string> contents(Db& db, const std::string& topic) {
  std::map<std::pair<int32_t, int64_t>, std::string> out;
  auto info = db.describe_topic(topic);
  EXPECT_TRUE(info.ok()) << info.status().to_string();
  if (!info.ok()) return out;
  for (const PartitionInfo& p : info->partitions) {
    testing::for_each_record(db, topic, p.partition,
                             [&](const RecordView& v) { out[{p.partition, v.offset}] = std::string(*v.value); });
  }
  return out;
}

void produce_many(Db& db, const std::string& topic, int from, int count) {
  for (int i = from; i < from + count; i += 50) {
    WriteBatch b(db);
    for (int k = i; k < std::min(from + count, i + 50); ++k) {
      ASSERT_TRUE(b.add({.topic = topic, .key = "k" + std::to_string(k % 7), .value = value_of(k)}).ok());
    }
    ASSERT_TRUE(db.commit(b).ok());
  }
}

log::FileStart file_start(const std::string& path) {
  auto f = io::Env::posix()->open(path, io::OpenMode::read_only);
  EXPECT_TRUE(f.ok());
  auto s = log::read_file_start(**f, io::Env::posix()->boot_tag());
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? *s : log::FileStart{};
}

// `check` on the file; a failure to run it fails the test.
CheckReport checked(const std::string& path) {
  auto report = check_file(path);
  EXPECT_TRUE(report.ok()) << report.status().to_string();
  return report.ok() ? *report : CheckReport{.ok = false};
}

std::string first_problem(const CheckReport& r) { return r.problems.empty() ? "" : r.problems[0]; }

// A file holding topic "t" with records 0 .. count - 1, closed cleanly.
void write_closed(const std::string& path, int count) {
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("t").ok());
  produce_many(*db, "t", 0, count);
  ASSERT_TRUE(db->close().ok());
}

TEST(Checkpoint, AReopenedFileHoldsExactlyWhatWasWrittenAndStartsAtTheCheckpoint) {
  TempDir dir;
  std::string path = dir.file("c.rvl");
  std::map<std::pair<int32_t, int64_t>, std::string> a, b;
  {
    auto db = open_db(path);
    TopicConfig three;
    three.partitions = 3;
    three.retention_ms = 7'200'000;
    ASSERT_TRUE(db->create_topic("a", three).ok());
    ASSERT_TRUE(db->create_topic("gone").ok());
    ASSERT_TRUE(db->create_topic("b").ok());
    produce_many(*db, "a", 0, 600);
    produce_many(*db, "gone", 0, 300);
    ASSERT_TRUE(db->delete_topic("gone").ok());
    produce_many(*db, "b", 0, 400);
    ASSERT_TRUE(db->delete_records("b", 0, 100).ok());
    OffsetCommit c{"a", 1, 42, "meta"};
    ASSERT_TRUE(db->commit_offsets("g", {&c, 1}).ok());
    a = contents(*db, "a");
    b = contents(*db, "b");
    ASSERT_TRUE(db->close().ok());
  }
  log::FileStart fs = file_start(path);
  ASSERT_NE(fs.superblock.checkpoint_pos, 0u) << "no checkpoint after this much log";
  EXPECT_EQ(fs.superblock.checkpoint_pos, fs.superblock.log_start);

  auto db = open_db(path);
  auto stat = db->stat();
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(stat->checkpoint_position, fs.superblock.checkpoint_pos);
  EXPECT_LT(stat->frames, 10u) << "open replayed the log instead of starting at the checkpoint";
  EXPECT_EQ(contents(*db, "a"), a);
  EXPECT_EQ(contents(*db, "b"), b);
  auto info = db->describe_topic("b");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->partitions[0].first_offset, 100);
  EXPECT_EQ(info->partitions[0].next_offset, 400);
  EXPECT_EQ(db->describe_topic("gone").status().code(), Code::not_found);
  auto config = db->describe_topic("a");
  EXPECT_EQ(config->config.retention_ms, 7'200'000);
  auto committed = db->committed("g", "a", 1);
  ASSERT_TRUE(committed.ok() && *committed);
  EXPECT_EQ((*committed)->offset, 42);
  EXPECT_EQ((*committed)->metadata, "meta");
  // The topic ids go on after the checkpoint: a new topic is new.
  ASSERT_TRUE(db->create_topic("gone").ok());
  EXPECT_TRUE(contents(*db, "gone").empty());
  produce_many(*db, "a", 600, 10);
  EXPECT_EQ(contents(*db, "a").size(), a.size() + 10);
  CheckReport report = checked(path);
  EXPECT_TRUE(report.ok) << first_problem(report);
}

TEST(Checkpoint, DeletedTopicsGiveTheirSegmentsBack) {
  TempDir dir;
  std::string path = dir.file("d.rvl");
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("big").ok());
  produce_many(*db, "big", 0, 3000);  // ~700 KiB: a dozen segments
  ASSERT_TRUE(db->create_topic("small").ok());
  ASSERT_TRUE(db->delete_topic("big").ok());
  uint64_t size_before = db->stat()->file_size;
  // More commits bring checkpoints, which free the dead segments; later
  // segments reuse them.
  produce_many(*db, "small", 0, 2000);
  auto s = db->stat();
  ASSERT_TRUE(s.ok());
  // ~460 KiB more (seven segments) fit in the freed ones: at most the
  // segment begun before the first checkpoint after the deletion is new.
  EXPECT_LE(s->file_size, size_before + kSegment) << "the file grew though freed segments could be reused";
  bool reused = false;
  for (const SegmentInfo& g : s->segments) reused |= g.seq != g.index;
  EXPECT_TRUE(reused);
  EXPECT_EQ(contents(*db, "small").size(), 2000u);
  ASSERT_TRUE(db->close().ok());
  CheckReport report = checked(path);
  EXPECT_TRUE(report.ok) << first_problem(report);
  auto again = open_db(path);
  EXPECT_EQ(contents(*again, "small").size(), 2000u);
}

// Issue 5's steady state, at a smaller scale than the benchmark: with
// retention.bytes = R per partition, 64 KiB segments and a checkpoint (and
// a retention check) every 32 KiB, the file's size on disk stays under R
// plus a few segments, while offsets keep growing.
TEST(Checkpoint, RetentionKeepsTheSizeOnDiskBoundedWhileOffsetsGrow) {
  TempDir dir;
  std::string path = dir.file("s.rvl");
  auto db = open_db(path);
  TopicConfig config;
  config.retention_bytes = 1 << 20;
  ASSERT_TRUE(db->create_topic("t", config).ok());
  const uint64_t bound = (1u << 20) + 8 * kSegment;
  uint64_t largest = 0;
  int written = 0;
  for (int round = 0; round < 40; ++round) {
    produce_many(*db, "t", written, 2000);  // ~460 KiB
    written += 2000;
    auto s = db->stat();
    ASSERT_TRUE(s.ok());
    largest = std::max(largest, s->disk_bytes);
  }
  std::cout << "[ steady state ] largest size on disk " << largest << " bytes, bound " << bound << "\n";
  auto info = db->describe_topic("t");
  EXPECT_EQ(info->partitions[0].next_offset, written);
  EXPECT_GT(info->partitions[0].first_offset, written / 2);
  EXPECT_LT(largest, bound) << "after " << written << " records (" << written * 230 / 1024 << " KiB)";
  // What is left reads back whole, from the earliest offset on.
  auto left = contents(*db, "t");
  ASSERT_FALSE(left.empty());
  int64_t first = left.begin()->first.second;
  EXPECT_EQ(first, info->partitions[0].first_offset);
  for (const auto& [at, value] : left) EXPECT_EQ(value, value_of(static_cast<int>(at.second)));
  ASSERT_TRUE(db->close().ok());
  CheckReport report = checked(path);
  EXPECT_TRUE(report.ok) << first_problem(report);
}

// A checkpoint restates every partition's batch list, so with one-record
// commits it grows with the file. Written at a fixed interval, checkpoints
// would come to outweigh the log (here about twice its size) and the work
// grow with the square of the records; spaced by their own size, they stay
// a small share of what is written.
TEST(Checkpoint, CheckpointsOfManySmallBatchesStayASmallShareOfTheLog) {
  TempDir dir;
  std::string path = dir.file("b.rvl");
  OpenOptions o = small();
  o.segment_size = 16u << 20;  // one segment: log_end is the sum of the frames
  auto db = open_db(path, o);
  ASSERT_TRUE(db->create_topic("t").ok());
  auto log_end = [&] {
    auto s = db->stat();
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->log_end : 0;
  };
  auto produce = [&](int from, int count) {
    char value[16];
    for (int i = from; i < from + count; ++i) {
      std::snprintf(value, sizeof value, "%015d", i);  // every frame the same size
      ASSERT_TRUE(db->produce({.topic = "t", .value = value}).ok());
    }
  };
  const uint64_t start = log_end();
  produce(0, 100);  // under checkpoint_bytes: frames only
  const uint64_t frame = (log_end() - start) / 100;
  const int records = 12000;
  produce(100, records - 100);
  const uint64_t frames = records * frame;
  const uint64_t checkpoints = log_end() - start - frames;
  std::cout << "[ checkpoints ] " << checkpoints << " bytes beside " << frames << " bytes of frames\n";
  EXPECT_LT(checkpoints, frames * 3 / 10);
  EXPECT_GT(checkpoints, 0u) << "no checkpoint at all: opens would replay the whole log";
  ASSERT_TRUE(db->close().ok());
  db = open_db(path, o);
  auto info = db->describe_topic("t");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->partitions[0].next_offset, records);
  ASSERT_TRUE(db->close().ok());
  CheckReport report = checked(path);
  EXPECT_TRUE(report.ok) << first_problem(report);
}

// The checkpoint the superblock names is where the log starts: damage to
// it is corruption at its position, never a silent start from nothing.
TEST(Checkpoint, ADamagedCheckpointIsCorruptionAtItsPosition) {
  TempDir dir;
  std::string path = dir.file("x.rvl");
  write_closed(path, 300);
  uint64_t at = file_start(path).superblock.checkpoint_pos;
  ASSERT_NE(at, 0u);
  std::string bytes = testing::read_all(path);
  bytes[at + 100] ^= 0x5a;  // inside its first batch
  testing::write_all(path, bytes);
  for (bool read_only : {false, true}) {
    OpenOptions o = small();
    o.read_only = read_only;
    auto db = Db::open(path, o);
    ASSERT_FALSE(db.ok());
    EXPECT_EQ(db.status().code(), Code::corruption) << db.status().to_string();
    EXPECT_NE(db.status().message().find(std::to_string(at)), std::string::npos) << "at " << at << ": " << db.status().message();
  }
  EXPECT_FALSE(checked(path).ok);
}

// A writer that touches one topic copies the other topics' lists into its
// checkpoint without decoding them: after two more reopens everything
// reads back as written.
TEST(Checkpoint, ListsAWriterDidNotTouchPassIntoItsCheckpointIntact) {
  TempDir dir;
  std::string path = dir.file("copy.rvl");
  std::map<std::pair<int32_t, int64_t>, std::string> a, b;
  {
    auto db = open_db(path);
    TopicConfig three;
    three.partitions = 3;
    ASSERT_TRUE(db->create_topic("a", three).ok());
    ASSERT_TRUE(db->create_topic("b").ok());
    produce_many(*db, "a", 0, 500);
    produce_many(*db, "b", 0, 100);
    a = contents(*db, "a");
    ASSERT_TRUE(db->close().ok());
  }
  uint64_t first = file_start(path).superblock.checkpoint_pos;
  {
    auto db = open_db(path);
    produce_many(*db, "b", 100, 400);  // enough log for checkpoints, "a" untouched
    b = contents(*db, "b");
    ASSERT_TRUE(db->close().ok());
  }
  ASSERT_NE(file_start(path).superblock.checkpoint_pos, first) << "no new checkpoint was written";
  auto db = open_db(path);
  EXPECT_EQ(contents(*db, "a"), a);
  EXPECT_EQ(contents(*db, "b"), b);
  EXPECT_EQ(b.size(), 500u);
  CheckReport report = checked(path);
  EXPECT_TRUE(report.ok) << first_problem(report);
}

// A reused segment that was not punched first (a reader held it then)
// still holds its earlier frames past the log's end. `check` calls them
// what they are, not an incomplete commit, and the file is fine.
TEST(Checkpoint, BytesLeftFromASegmentsEarlierUseAreNotCalledAnIncompleteCommit) {
  TempDir dir;
  std::string path = dir.file("stale.rvl");
  write_closed(path, 100);
  CheckReport before = checked(path);
  ASSERT_TRUE(before.ok) << first_problem(before);
  EXPECT_EQ(before.tail, "clean end");
  // The first frame of the first segment stands in for a frame of an
  // earlier use, 8 bytes past the end (no frame starts at the end itself).
  std::string bytes = testing::read_all(path);
  const size_t first = format::kFirstSegmentPos + format::kSegmentHeaderSize;
  ASSERT_LT(before.log_end + 8 + 256, bytes.size());
  bytes.replace(before.log_end + 8, 256, bytes.substr(first, 256));
  testing::write_all(path, bytes);
  CheckReport after = checked(path);
  EXPECT_TRUE(after.ok) << first_problem(after);
  EXPECT_NE(after.tail.find("left from the segment's use before it was reused"), std::string::npos) << after.tail;
  EXPECT_EQ(after.tail.find("incomplete commit"), std::string::npos) << after.tail;
}

// Files whose checkpoint state is version 1 (batch lists without a byte
// length, written before lists were decoded on first use) open and read as
// before. tests/data/checkpoint-v1.rvl: topic "c", 2 partitions, records
// "v0".."v29" in partition 1 under a version-1 checkpoint.
TEST(Checkpoint, AVersionOneCheckpointStillOpensAndReads) {
  TempDir dir;
  std::string path = dir.file("v1.rvl");
  std::string bytes = testing::read_all(RIVULET_TEST_DATA_DIR "/checkpoint-v1.rvl");
  const std::string v1_state_start("\xA4\xD9\x9A\xB4\x09\x02", 6);  // magic, then version 1 (zigzag 2)
  ASSERT_NE(bytes.find(v1_state_start), std::string::npos) << "the file no longer holds a version-1 checkpoint";
  testing::write_all(path, bytes);
  ASSERT_NE(file_start(path).superblock.checkpoint_pos, 0u);
  for (bool read_only : {true, false}) {
    OpenOptions o;
    o.read_only = read_only;
    auto db = Db::open(path, o);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    std::map<std::pair<int32_t, int64_t>, std::string> want;
    for (int i = 0; i < 30; ++i) want[{1, i}] = "v" + std::to_string(i);
    EXPECT_EQ(contents(**db, "c"), want);
  }
  CheckReport report = checked(path);
  EXPECT_TRUE(report.ok) << first_problem(report);
}

// Open replays only the log after the checkpoint: a batch before it is
// checked when read. A byte flipped inside a value (the batch still parses)
// is corruption naming the batch's topic, partition and position, never a
// record with a wrong value; `check` finds it too.
TEST(Checkpoint, DamageToABatchBeforeTheCheckpointIsCorruptionWhenRead) {
  TempDir dir;
  std::string path = dir.file("old.rvl");
  write_closed(path, 300);
  uint64_t checkpoint = file_start(path).superblock.checkpoint_pos;
  std::string bytes = testing::read_all(path);
  size_t at = bytes.find(value_of(17));
  ASSERT_NE(at, std::string::npos);
  ASSERT_LT(at, checkpoint) << "the damaged batch must come before the checkpoint";
  bytes[at + 20] = 'X';  // one of the dots
  testing::write_all(path, bytes);

  auto db = open_db(path);
  ASSERT_NE(db, nullptr) << "open does not read batches before the checkpoint";
  auto r = db->reader("t", 0, StartAt::earliest());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  Status failed;
  for (int polls = 0; polls < 100 && failed.ok(); ++polls) {
    auto got = (*r)->poll(0ms);
    if (!got.ok()) {
      failed = got.status();
      break;
    }
    ASSERT_FALSE(got->empty()) << "read to the end without meeting the damage";
    for (const RecordView& v : *got) ASSERT_EQ(std::string(*v.value), value_of(static_cast<int>(v.offset)));
  }
  EXPECT_EQ(failed.code(), Code::corruption) << failed.to_string();
  EXPECT_NE(failed.message().find("'t' partition 0 at position"), std::string::npos) << failed.message();
  EXPECT_FALSE(checked(path).ok);
}

// A reader in another process holds records of a segment that becomes
// dead; the writer must not reuse or punch it until the reader lets go.
TEST(Checkpoint, AReaderInAnotherProcessKeepsItsSegmentFromReuse) {
  TempDir dir;
  std::string path = dir.file("m.rvl");
  {
    auto db = open_db(path);
    ASSERT_TRUE(db->create_topic("old").ok());
    ASSERT_TRUE(db->create_topic("new").ok());
    produce_many(*db, "old", 0, 400);
    ASSERT_TRUE(db->close().ok());
  }
  int to_child[2], to_parent[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(to_parent), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child: poll the first records of "old", hold the views while the
    // parent deletes the topic and writes megabytes, then compare.
    auto db = Db::open(path, small());
    if (!db.ok()) _exit(2);
    auto r = (*db)->reader("old", 0, StartAt::earliest());
    if (!r.ok()) _exit(3);
    auto got = (*r)->poll(0ms, 100);
    if (!got.ok() || got->size() != 100) _exit(4);
    char go = 'r';
    if (write(to_parent[1], &go, 1) != 1 || read(to_child[0], &go, 1) != 1) _exit(5);
    for (const RecordView& v : *got) {
      if (!v.value || *v.value != value_of(static_cast<int>(v.offset))) _exit(6);
    }
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(to_parent[0], &c, 1), 1);
  auto db = open_db(path);
  ASSERT_TRUE(db->delete_topic("old").ok());
  produce_many(*db, "new", 0, 6000);  // checkpoints and rolls galore
  auto s = db->stat();
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->lowest_read_mark, 0u);
  EXPECT_EQ(s->segments.at(0).seq, 0u) << "segment 0 was reused under a reader";
  ASSERT_EQ(write(to_child[1], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  // Released: the next checkpoint may take segment 0.
  produce_many(*db, "new", 6000, 3000);
  auto after = db->stat();
  ASSERT_TRUE(after.ok());
  bool reused0 = false;
  for (const SegmentInfo& g : after->segments) reused0 |= g.index == 0 && g.seq != 0;
  EXPECT_TRUE(reused0);
  EXPECT_EQ(contents(*db, "new").size(), 9000u);
}

// A poll that fails hands out nothing and releases the last poll's views,
// so it must release their segments too: a reader left on a deleted topic
// (every poll not_found) kept every later segment from reuse while it
// lived, and the file grew without bound.
TEST(Checkpoint, AReaderWhosePollFailsHoldsNoSegments) {
  TempDir dir;
  std::string path = dir.file("p.rvl");
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("old").ok());
  TopicConfig bounded;
  bounded.retention_bytes = 64 * 1024;
  ASSERT_TRUE(db->create_topic("new", bounded).ok());
  produce_many(*db, "old", 0, 100);
  auto r = db->reader("old", 0, StartAt::earliest());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto views = (*r)->poll(0ms, 10);
  ASSERT_TRUE(views.ok()) << views.status().to_string();
  ASSERT_EQ(views->size(), 10u);
  ASSERT_TRUE(db->delete_topic("old").ok());
  auto failed = (*r)->poll(0ms, 10);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Code::not_found) << failed.status().to_string();
  // 6 MiB through a partition that keeps 64 KiB.
  for (int i = 0; i < 1500; ++i) {
    WriteBatch w(*db);
    for (int k = 0; k < 4; ++k) ASSERT_TRUE(w.add({.topic = "new", .value = std::string(1000, 'n')}).ok());
    ASSERT_TRUE(db->commit(w).ok());
  }
  auto s = db->stat();
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_NE(s->lowest_read_mark, 0u) << "the reader whose poll failed still holds segment 0";
  EXPECT_LT(s->file_size, 2u << 20) << "the file grew to " << s->file_size << " bytes for 64 KiB of live records";
}

// Counts the allocate() calls on the log files it opens.
class AllocationCountingEnv final : public testing::ForwardingEnv {
 public:
  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    Result<std::unique_ptr<io::File>> f = base_->open(path, mode);
    if (!f.ok()) return f.status();
    return std::unique_ptr<io::File>(new CountingFile(std::move(f).value(), &allocations));
  }
  std::atomic<int> allocations{0};

 private:
  class CountingFile final : public testing::ForwardingFile {
   public:
    CountingFile(std::unique_ptr<io::File> f, std::atomic<int>* n) : ForwardingFile(std::move(f)), n_(n) {}
    using io::File::allocate;
    Status allocate(uint64_t from, uint64_t end) override {
      ++*n_;
      return ForwardingFile::allocate(from, end);
    }

   private:
    std::atomic<int>* n_;
  };
};

// A handle allocates ahead of its writes in the segment it writes, and
// writes through its mapping where it allocated. Another handle may free
// that very segment and reuse it (its blocks punched, then allocated only as
// far as that handle wrote): coming back, the first must allocate again, or
// a write through the mapping into the hole would SIGBUS the process on a
// full disk instead of failing the commit.
TEST(Checkpoint, AWriterBackInTheSameSegmentAfterItsReuseAllocatesAgain) {
  TempDir dir;
  std::string path = dir.file("r.rvl");
  constexpr uint64_t kBigSegment = 1 << 20;
  OpenOptions o = small();
  o.segment_size = kBigSegment;
  AllocationCountingEnv env;
  OpenOptions counted = o;
  counted.env = &env;
  auto a = open_db(path, counted);
  auto b = open_db(path, o);
  TopicConfig bounded;
  bounded.retention_bytes = 128 * 1024;
  ASSERT_TRUE(b->create_topic("t", bounded).ok());
  // a allocates its segment well past the end of this commit.
  ASSERT_TRUE(a->produce({.topic = "t", .value = std::string(500 * 1024, 'a')}).ok());
  auto log_end = [](Db& db) {
    auto s = db.stat();
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    return s.ok() ? s->log_end : 0;
  };
  const uint64_t segment = log_end(*a) / kBigSegment;
  // b writes until the log has left that segment and come back to its
  // start; a only follows (its place in the chain would keep the segment).
  bool left = false, back = false;
  for (int i = 0; i < 10000 && !back; ++i) {
    ASSERT_TRUE(b->produce({.topic = "t", .value = std::string(16 * 1024, 'b')}).ok());
    ASSERT_TRUE(a->refresh().ok());
    const uint64_t end = log_end(*b);
    left = left || end / kBigSegment != segment;
    back = left && end / kBigSegment == segment && end % kBigSegment < 64 * 1024;
  }
  ASSERT_TRUE(back) << "the log never came back to segment " << segment;
  const int before = env.allocations.load();
  ASSERT_TRUE(a->produce({.topic = "t", .value = std::string(200 * 1024, 'a')}).ok());
  EXPECT_GT(env.allocations.load(), before) << "a wrote into the reused segment without allocating it";
}

}  // namespace
}  // namespace rivulet
