// Recovery on open: torn tails are cut, corruption is reported with its
// position, stale frames never come back, and files Rivulet does not
// understand are refused without being written.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <utility>
#include <vector>

#include "format/file_layout.hpp"
#include "format/frame.hpp"
#include "format/record_batch.hpp"
#include "format/record_decoder.hpp"
#include "forwarding_env.hpp"
#include "forwarding_file.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"
#include "util/crc32c.hpp"
#include "util/endian.hpp"
#include "util/varint.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using testing::read_all;
using testing::TempDir;
using testing::write_all;

// Produces `values` in one commit each, in a child process that then exits
// without closing: what a crash leaves (the page cache survives).
void produce_and_crash(const std::string& path, const std::vector<std::string>& values, Sync sync) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    OpenOptions o;
    o.sync = sync;
    auto db = Db::open(path, o);
    if (!db.ok()) _exit(10);
    if (!(*db)->create_topic("t").ok()) _exit(11);
    for (const std::string& v : values) {
      if (!(*db)->produce({.topic = "t", .value = v}).ok()) _exit(12);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
}

std::vector<FrameInfo> frames_of(const std::string& path) {
  std::vector<FrameInfo> frames;
  Status st = dump_file(path, [&](const FrameInfo& f) { frames.push_back(f); });
  EXPECT_TRUE(st.ok()) << st.to_string();
  return frames;
}

std::vector<std::string> values_of(Db& db) {
  auto r = db.reader("t", 0);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  std::vector<std::string> out;
  for (;;) {
    auto recs = (*r)->poll(0ms);
    EXPECT_TRUE(recs.ok()) << recs.status().to_string();
    if (!recs.ok() || recs->empty()) return out;
    for (const RecordView& v : *recs) out.emplace_back(*v.value);
  }
}

void patch(const std::string& path, uint64_t pos, const std::string& bytes) {
  std::string all = read_all(path);
  ASSERT_LE(pos + bytes.size(), all.size());
  all.replace(pos, bytes.size(), bytes);
  write_all(path, all);
}

void flip(const std::string& path, uint64_t pos) {
  std::string all = read_all(path);
  ASSERT_LT(pos, all.size());
  all[pos] = static_cast<char>(all[pos] ^ 0x40);
  write_all(path, all);
}

TEST(Recovery, TornTailIsCutAndEverythingBeforeItStaysReadable) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  produce_and_crash(path, {"r0", "r1", "r2", "r3", "r4"}, Sync::normal);
  auto frames = frames_of(path);
  ASSERT_EQ(frames.size(), 6u);  // the topic, then five records
  const FrameInfo& last = frames.back();
  patch(path, last.position + last.length - 8, std::string(8, '\0'));  // the end never reached the disk

  auto report = check_file(path);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << "a torn tail is not corruption";
  EXPECT_NE(report->tail.find("torn tail at position " + std::to_string(last.position)), std::string::npos)
      << report->tail;

  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_EQ(values_of(**db), (std::vector<std::string>{"r0", "r1", "r2", "r3"}));
  auto a = (*db)->produce({.topic = "t", .value = "new"});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->offset, 4) << "offsets stay dense";
  ASSERT_TRUE((*db)->close().ok());
  db = Db::open(path);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(values_of(**db), (std::vector<std::string>{"r0", "r1", "r2", "r3", "new"}));
}

// Under normal, small commits are copied into a shared writable mapping,
// which lets go of its pages behind the write position as it goes
// (io/posix_env.cpp, release_behind). A crash after megabytes of them
// loses none: the pages stay in the page cache, dirty.
TEST(Recovery, ACrashAfterMegabytesOfSmallCommitsUnderNormalLosesNone) {
  TempDir dir;
  std::string path = dir.file("m.rvl");
  std::vector<std::string> values;
  for (int i = 0; i < 20000; ++i) values.push_back(fmt::format("{:0>200}", i));  // ~4.5 MB of frames
  produce_and_crash(path, values, Sync::normal);
  auto report = check_file(path);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << report->tail;
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  std::vector<std::string> got = values_of(**db);
  ASSERT_EQ(got.size(), values.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], values[i]) << "offset " << i;
}

TEST(Recovery, AFrameLeftOverFromBeforeACrashNeverContinuesTheNewChain) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  // Three same-size records, never synced; "power loss" then destroys the
  // middle one while the last reached the disk.
  produce_and_crash(path, {"aaaa", "bbbb", "cccc"}, Sync::normal);
  auto frames = frames_of(path);
  ASSERT_EQ(frames.size(), 4u);
  patch(path, frames[2].position, std::string(frames[2].length, '\0'));

  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << "never-synced frames after the damage are a torn tail: " << db.status().to_string();
  EXPECT_EQ(values_of(**db), (std::vector<std::string>{"aaaa"}));
  // The new frame lands where "bbbb" was, with the same size and sequence
  // number; the stale "cccc" frame right after it must not be taken.
  ASSERT_TRUE((*db)->produce({.topic = "t", .value = "BBBB"}).ok());
  EXPECT_EQ(values_of(**db), (std::vector<std::string>{"aaaa", "BBBB"}));
  ASSERT_TRUE((*db)->close().ok());
  db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_EQ(values_of(**db), (std::vector<std::string>{"aaaa", "BBBB"}));
}

TEST(Recovery, DamageBeforeADurableFrameIsCorruptionWithItsPosition) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  produce_and_crash(path, {"first-value", "second-value", "third-value"}, Sync::full);
  auto frames = frames_of(path);
  ASSERT_EQ(frames.size(), 4u);
  std::string bytes = read_all(path);
  size_t at = bytes.find("second-value");
  ASSERT_NE(at, std::string::npos);
  flip(path, at);
  std::string damaged = read_all(path);

  auto db = Db::open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::corruption);
  EXPECT_EQ(db.status().position(), frames[2].position);
  EXPECT_NE(db.status().message().find(std::to_string(frames[2].position)), std::string::npos)
      << db.status().message();
  EXPECT_EQ(read_all(path), damaged) << "a failed open writes nothing";

  auto report = check_file(path);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok);
  ASSERT_FALSE(report->problems.empty());
  EXPECT_NE(report->problems[0].find(std::to_string(frames[2].position)), std::string::npos);
}

TEST(Recovery, DamageToTheLastFrameAfterACleanCloseIsCorruption) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE((*db)->create_topic("t").ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "only-value"}).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  flip(path, read_all(path).find("only-value"));
  auto db = Db::open(path);
  ASSERT_FALSE(db.ok()) << "the superblock recorded the frame as durable; cutting it would lose data";
  EXPECT_EQ(db.status().code(), Code::corruption);
}

// Open replays only the log after the newest checkpoint, so damage before
// it is found when a reader reaches the batch (by its CRC, as Kafka's
// consumers check): an error naming the batch, never its records. The
// batches a handle replayed were checked then, and are not checked again.
TEST(Recovery, DamageInACheckpointedBatchIsCorruptionWhenRead) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  OpenOptions o;
  o.checkpoint_bytes = 1;  // checkpoints as often as their size allows (kLogPerCheckpointByte)
  {
    auto db = Db::open(path, o);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    ASSERT_TRUE((*db)->create_topic("t").ok());
    for (const char* v : {"first-value", "second-value", "third-value"}) {
      ASSERT_TRUE((*db)->produce({.topic = "t", .value = v}).ok());
    }
    ASSERT_TRUE((*db)->close().ok());
  }
  std::string bytes = read_all(path);
  size_t at = bytes.find("second-value");
  ASSERT_NE(at, std::string::npos);
  {
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    auto stats = (*db)->stat();
    ASSERT_TRUE(stats.ok());
    ASSERT_GT(stats->checkpoint_position, at) << "the batch must lie before the checkpoint open starts from";
  }
  flip(path, at);

  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << "open does not read before the checkpoint: " << db.status().to_string();
  auto r = (*db)->reader("t", 0);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> got;
  Status failed;
  for (int polls = 0; polls < 10 && failed.ok(); ++polls) {
    auto recs = (*r)->poll(0ms);
    if (!recs.ok()) {
      failed = recs.status();
    } else {
      for (const RecordView& v : *recs) got.emplace_back(*v.value);
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"first-value"})) << "nothing of the damaged batch is handed out";
  ASSERT_EQ(failed.code(), Code::corruption) << failed.to_string();
  EXPECT_NE(failed.message().find("fails its checksum"), std::string::npos) << failed.message();
  ASSERT_TRUE(failed.position().has_value());
  EXPECT_LT(*failed.position(), at);
  EXPECT_GT(*failed.position() + 100, at) << "the position names the damaged batch";
}

TEST(Recovery, NotARivuletFileIsRefusedAndLeftAlone) {
  TempDir dir;
  std::string path = dir.file("notes.txt");
  write_all(path, "hello world\n");
  for (bool read_only : {false, true}) {
    OpenOptions o;
    o.read_only = read_only;
    auto db = Db::open(path, o);
    ASSERT_FALSE(db.ok());
    EXPECT_EQ(db.status().code(), Code::not_rivulet_file);
    EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
  }
  EXPECT_EQ(read_all(path), "hello world\n");
  EXPECT_EQ(check_file(path).status().code(), Code::not_rivulet_file);
}

TEST(Recovery, AFileFromANewerFormatIsRefusedAndLeftAlone) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  ASSERT_TRUE((*Db::open(path))->close().ok());
  patch(path, 8, std::string(1, static_cast<char>(format::kFormatVersion + 1)) + std::string(3, '\0'));
  std::string before = read_all(path);
  auto db = Db::open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::version_too_new);
  EXPECT_NE(db.status().message().find("version " + std::to_string(format::kFormatVersion + 1)), std::string::npos) << db.status().message();
  EXPECT_EQ(read_all(path), before);
}

// Format 1 is a subset of format 2: its files open read-only, and a handle
// that would write is refused with what to do, before anything is written.
TEST(Recovery, AFileFromAnOlderFormatOpensReadOnlyOnly) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->create_topic("t").ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "old"}).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  // What format 1 wrote differs only in the version (and so the header CRC).
  std::string header = read_all(path).substr(0, 40);
  header.replace(8, 4, std::string("\x01\x00\x00\x00", 4));
  uint32_t crc = crc32c::value(header.data(), 40);
  patch(path, 8, header.substr(8, 4));
  patch(path, 40, std::string(reinterpret_cast<const char*>(&crc), 4));
  std::string before = read_all(path);

  auto writable = Db::open(path);
  ASSERT_FALSE(writable.ok());
  EXPECT_EQ(writable.status().code(), Code::unsupported);
  EXPECT_NE(writable.status().message().find("file format 1 is older"), std::string::npos)
      << writable.status().message();
  EXPECT_NE(writable.status().message().find(path), std::string::npos) << writable.status().message();
  EXPECT_EQ(read_all(path), before);

  auto db = Db::open(path, {.read_only = true});
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_EQ((*db)->stat()->format_version, 1u);
  auto r = (*db)->reader("t", 0, StartAt::earliest());
  ASSERT_TRUE(r.ok());
  auto got = (*r)->poll(std::chrono::milliseconds(0));
  ASSERT_TRUE(got.ok() && got->size() == 1);
  EXPECT_EQ(*(*got)[0].value, "old");
  EXPECT_TRUE(check_file(path)->ok);
}

TEST(Recovery, DamagedHeaderIsCorruptionAtPositionZero) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  ASSERT_TRUE((*Db::open(path))->close().ok());
  flip(path, 20);
  auto db = Db::open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::corruption);
  EXPECT_EQ(db.status().position(), 0u);
}

TEST(Recovery, OneDamagedSuperblockIsSurvivedAndReported) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE((*db)->create_topic("t").ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "v"}).ok());
    ASSERT_TRUE((*db)->close().ok());  // writes the second superblock
  }
  flip(path, 4096 + 10);
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_EQ(values_of(**db), (std::vector<std::string>{"v"}));
  auto report = check_file(path);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << "no data is lost";
  ASSERT_EQ(report->warnings.size(), 1u);
  EXPECT_NE(report->warnings[0].find("4096"), std::string::npos);
  flip(path, 8192 + 10);
  db = Db::open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::corruption);
}

// Writes the superblock a writer would write next (the other slot, one
// generation up), changed by `change` and with no frame recorded durable,
// so that a chain ending early has its tail hunted for later frames.
// Returns the slot's position.
uint64_t write_next_superblock(const std::string& path, const std::function<void(format::Superblock*)>& change) {
  std::string all = read_all(path);
  format::Superblock sb[2];
  bool valid[2];
  for (int i = 0; i < 2; ++i) {
    valid[i] = format::decode_superblock(std::string_view(all).substr(format::kSuperblockPos[i]), &sb[i]);
  }
  EXPECT_TRUE(valid[0] || valid[1]);
  format::Superblock next = valid[0] && (!valid[1] || sb[0].generation > sb[1].generation) ? sb[0] : sb[1];
  next.generation++;
  next.durable_seq = 0;
  change(&next);
  uint64_t at = format::kSuperblockPos[next.generation % 2];
  format::encode_superblock(next, all.data() + at);
  write_all(path, all);
  return at;
}

TEST(Recovery, ASuperblockWithImpossibleValuesIsCorruptionAtTheSuperblock) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  {
    OpenOptions o;
    o.segment_size = 64 * 1024;
    auto db = Db::open(path, o);
    ASSERT_TRUE((*db)->create_topic("t").ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "v"}).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  const std::string good = read_all(path);
  const uint64_t seg = 64 * 1024;
  const uint64_t first = format::kFirstSegmentPos + format::kSegmentHeaderSize;
  std::vector<std::pair<std::string, std::function<void(format::Superblock*)>>> changes;
  // Log starts near 2^64 (the fuzzer's find: the tail hunt wrapped around
  // and read through a null pointer), misaligned, inside a segment header,
  // with no room for a frame before the segment ends, in a segment past the
  // end of the file, before the first segment.
  for (uint64_t log_start : {UINT64_MAX - 7, UINT64_MAX - 55, uint64_t{1} << 63, first + 4,
                             format::kFirstSegmentPos + seg + 8, format::kFirstSegmentPos + seg - 40,
                             format::kFirstSegmentPos + 3 * seg + format::kSegmentHeaderSize, uint64_t{0}}) {
    changes.emplace_back("log_start " + std::to_string(log_start),
                         [=](format::Superblock* s) { s->log_start = log_start; });
  }
  changes.emplace_back("first_seq 0", [](format::Superblock* s) { s->first_seq = 0; });
  // A checkpoint is where the log starts, or there is none.
  changes.emplace_back("checkpoint_pos", [=](format::Superblock* s) { s->checkpoint_pos = first + 8; });
  for (const auto& [what, change] : changes) {
    SCOPED_TRACE(what);
    write_all(path, good);
    uint64_t at = write_next_superblock(path, change);
    const std::string bad = read_all(path);
    for (bool read_only : {false, true}) {
      OpenOptions o;
      o.read_only = read_only;
      auto db = Db::open(path, o);
      ASSERT_FALSE(db.ok());
      EXPECT_EQ(db.status().code(), Code::corruption);
      EXPECT_EQ(db.status().position(), at);
      EXPECT_NE(db.status().message().find("superblock at position " + std::to_string(at)), std::string::npos)
          << db.status().message();
    }
    EXPECT_EQ(read_all(path), bad) << "a failed open writes nothing";
    auto report = check_file(path);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_FALSE(report->ok);
    ASSERT_EQ(report->problems.size(), 1u);
    EXPECT_NE(report->problems[0].find(std::to_string(at)), std::string::npos) << report->problems[0];
    EXPECT_EQ(dump_file(path, [](const FrameInfo&) {}).code(), Code::corruption);
  }
  // The log start every new file has is still fine.
  write_all(path, good);
  write_next_superblock(path, [=](format::Superblock* s) { s->log_start = first; });
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_EQ(values_of(**db), (std::vector<std::string>{"v"}));
}

// Lets `edit` change the batch at `batch_pos` in the frame at `frame_pos`,
// then recomputes the batch CRC and the frame's meta_crc, so that only the
// edit is wrong (the frame must be the last one: the next frame's link
// would break).
void edit_batch(const std::string& path, uint64_t frame_pos, uint64_t batch_pos,
                const std::function<void(char* batch)>& edit) {
  std::string all = read_all(path);
  char* b = all.data() + batch_pos;
  edit(b);
  size_t total = static_cast<size_t>(load_be<int32_t>(b + 8)) + format::kBatchLogOverhead;
  store_be<uint32_t>(b + format::kBatchCrcOffset,
                     crc32c::value(b + format::kBatchCrcFrom, total - format::kBatchCrcFrom));
  char* f = all.data() + frame_pos;
  format::FrameHeader h = format::peek_frame_header(f);
  ASSERT_EQ(h.batch_count, 1);
  size_t head_len = format::kFrameHeaderSize + format::kSummaryEntrySize;
  uint32_t crc = crc32c::value(f + 8, head_len - 8);
  crc = crc32c::extend(crc, b, format::kBatchCrcFrom);
  store_le<uint32_t>(f + 4, crc);
  // In place, not truncated first: a handle may have the file mapped.
  std::fstream out(path, std::ios::binary | std::ios::in | std::ios::out);
  out << all;
}

void set_last_offset_delta(const std::string& path, uint64_t frame_pos, uint64_t batch_pos, int32_t delta) {
  // lastOffsetDelta's place in the batch header
  edit_batch(path, frame_pos, batch_pos, [=](char* b) { store_be<int32_t>(b + 23, delta); });
}

// A frame another handle wrote after this one opened, damaged (checksums
// intact) before this handle catches up with it: the error names the file,
// as open's would. dump names it too.
TEST(Recovery, DamageMetWhileCatchingUpOrDumpingNamesTheFile) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  auto first = Db::open(path);
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_TRUE((*first)->create_topic("t").ok());
  auto second = Db::open(path);
  ASSERT_TRUE(second.ok()) << second.status().to_string();
  {
    WriteBatch batch(**second);
    ASSERT_TRUE(batch.add({.topic = "t", .value = "first"}).ok());
    ASSERT_TRUE(batch.add({.topic = "t", .value = "second"}).ok());
    ASSERT_TRUE((*second)->commit(batch).ok());
  }
  const FrameInfo last = frames_of(path).back();
  ASSERT_EQ(last.batches.size(), 1u);
  set_last_offset_delta(path, last.position, last.batches[0].position, 5);

  Status st = (*first)->refresh();
  ASSERT_EQ(st.code(), Code::corruption) << st.to_string();
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("lastOffsetDelta"), std::string::npos) << st.message();
  st = (*first)->refresh();
  EXPECT_NE(st.message().find(path), std::string::npos) << "the handle's lasting failure too: " << st.message();

  st = dump_file(path, [](const FrameInfo&) {});
  ASSERT_EQ(st.code(), Code::corruption) << st.to_string();
  EXPECT_EQ(st.position(), last.batches[0].position);
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
}

// A record that fails to decode (its batch's checksums intact) after good
// ones of the same poll: the poll hands the good ones out, the next poll
// reports the record, naming its batch, and nothing after it is handed out.
TEST(Recovery, AMalformedRecordAfterGoodOnesIsReportedByTheNextPoll) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE((*db)->create_topic("t").ok());
    WriteBatch batch(**db);
    for (const char* v : {"first-value", "second-value", "third-value"}) {
      ASSERT_TRUE(batch.add({.topic = "t", .value = v}).ok());
    }
    ASSERT_TRUE((*db)->commit(batch).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  auto frames = frames_of(path);
  const FrameInfo& last = frames.back();
  ASSERT_EQ(last.batches.size(), 1u);
  const uint64_t at = last.batches[0].position;
  const size_t third = read_all(path).find("third-value");
  ASSERT_NE(third, std::string::npos);
  // The third record's header count, right after its value: 0 becomes 1
  // (zigzag 2), a header the record has no bytes for.
  const size_t header_count = third + std::string("third-value").size() - at;
  edit_batch(path, last.position, at, [=](char* b) {
    ASSERT_EQ(b[header_count], 0);
    b[header_count] = 2;
  });

  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << "open does not decode data records: " << db.status().to_string();
  auto r = (*db)->reader("t", 0);
  ASSERT_TRUE(r.ok());
  auto recs = (*r)->poll(0ms);
  ASSERT_TRUE(recs.ok()) << recs.status().to_string();
  std::vector<std::string> got;
  for (const RecordView& v : *recs) got.emplace_back(*v.value);
  EXPECT_EQ(got, (std::vector<std::string>{"first-value", "second-value"}));
  for (int polls = 0; polls < 2; ++polls) {
    auto next = (*r)->poll(0ms);
    ASSERT_FALSE(next.ok()) << "poll " << polls << " must report the record";
    EXPECT_EQ(next.status().code(), Code::corruption);
    EXPECT_NE(next.status().message().find("record 2"), std::string::npos) << next.status().message();
    EXPECT_EQ(next.status().position(), at);
  }
}

// A batch whose lastOffsetDelta does not match its records (checksums
// intact) is corruption at the batch. Claiming more offsets than records
// left offsets no reader could reach: a reader waiting at them was "ready"
// forever (wait_any returned at once, poll returned nothing) and a later
// batch's records came after a silent gap. Claiming fewer made the batch
// fail to read (its last records' offsets past lastOffsetDelta) while the
// next batch was given those offsets.
TEST(Recovery, ABatchWhoseLastOffsetDeltaDoesNotMatchItsRecordsIsCorruption) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE((*db)->create_topic("t").ok());
    WriteBatch batch(**db);
    ASSERT_TRUE(batch.add({.topic = "t", .value = "first"}).ok());
    ASSERT_TRUE(batch.add({.topic = "t", .value = "second"}).ok());
    ASSERT_TRUE((*db)->commit(batch).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  auto frames = frames_of(path);
  ASSERT_EQ(frames.size(), 2u);
  const FrameInfo& last = frames.back();
  ASSERT_EQ(last.batches.size(), 1u);
  ASSERT_EQ(last.batches[0].record_count, 2);
  const uint64_t at = last.batches[0].position;

  for (int32_t delta : {5, 0}) {
    SCOPED_TRACE(delta);
    set_last_offset_delta(path, last.position, at, delta);
    const std::string bad = read_all(path);
    for (bool read_only : {false, true}) {
      OpenOptions o;
      o.read_only = read_only;
      auto db = Db::open(path, o);
      ASSERT_FALSE(db.ok());
      EXPECT_EQ(db.status().code(), Code::corruption);
      EXPECT_EQ(db.status().position(), at);
      EXPECT_NE(db.status().message().find("lastOffsetDelta"), std::string::npos) << db.status().message();
      // An open that failed returned no handle: nothing to "reopen".
      EXPECT_EQ(db.status().message().find("handle"), std::string::npos) << db.status().message();
    }
    EXPECT_EQ(read_all(path), bad) << "a failed open writes nothing";
    auto report = check_file(path);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_FALSE(report->ok);
    ASSERT_FALSE(report->problems.empty());
    EXPECT_NE(report->problems[0].find(std::to_string(at)), std::string::npos) << report->problems[0];
  }
  set_last_offset_delta(path, last.position, at, 1);
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << "the value it was written with: " << db.status().to_string();
  EXPECT_EQ(values_of(**db), (std::vector<std::string>{"first", "second"}));
}

// A segment-end frame naming a segment far past the end of the file (its
// checksums intact) is corruption at that frame: replay used to size its
// segment table by the index and died of std::bad_alloc.
TEST(Recovery, ASegmentEndFrameNamingASegmentFarPastTheFileIsCorruption) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  {
    OpenOptions o;
    o.segment_size = 64 * 1024;
    auto db = Db::open(path, o);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    ASSERT_TRUE((*db)->create_topic("t").ok());
    for (int i = 0; i < 100; ++i) ASSERT_TRUE((*db)->produce({.topic = "t", .value = std::string(1000, 'v')}).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  uint64_t at = 0;
  for (const FrameInfo& f : frames_of(path)) {
    if (f.segment_end && at == 0) at = f.position;
  }
  ASSERT_NE(at, 0u) << "the records should fill more than one segment";
  for (uint32_t next : {UINT32_MAX, uint32_t{1000}}) {
    SCOPED_TRACE(next);
    std::string all = read_all(path);
    char* f = all.data() + at;
    store_le<uint32_t>(f + 44, next);
    store_le<uint32_t>(f + 4, crc32c::value(f + 8, format::kFrameHeaderSize - 8));  // meta_crc
    write_all(path, all);
    for (bool read_only : {false, true}) {
      OpenOptions o;
      o.read_only = read_only;
      auto db = Db::open(path, o);
      ASSERT_FALSE(db.ok());
      EXPECT_EQ(db.status().code(), Code::corruption);
      EXPECT_EQ(db.status().position(), at);
      EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
      EXPECT_NE(db.status().message().find("position " + std::to_string(at)), std::string::npos)
          << db.status().message();
    }
    EXPECT_EQ(read_all(path), all) << "a failed open writes nothing";
    auto report = check_file(path);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_FALSE(report->ok);
    ASSERT_FALSE(report->problems.empty());
    EXPECT_NE(report->problems[0].find("position " + std::to_string(at)), std::string::npos) << report->problems[0];
  }
}

// Produces `values` to partition `partition` of topic `topic` (made with
// `partitions`) in one commit each with no checkpoint, then reopens with a
// checkpoint after every commit and closes: the batches lie before the
// checkpoint the log then starts at, so open never replays them. Returns
// the batches' positions.
std::vector<uint64_t> produce_before_checkpoint(const std::string& path, const std::string& topic, int32_t partitions,
                                                int32_t partition, const std::vector<std::string>& values) {
  std::vector<uint64_t> at;
  {
    auto db = Db::open(path);
    EXPECT_TRUE(db.ok()) << db.status().to_string();
    if (!db.ok()) return at;
    EXPECT_TRUE((*db)->create_topic(topic, {.partitions = partitions}).ok());
    for (const std::string& v : values) {
      EXPECT_TRUE((*db)->produce({.topic = topic, .value = v, .partition = partition}).ok());
    }
    EXPECT_TRUE((*db)->close().ok());
  }
  for (const FrameInfo& f : frames_of(path)) {
    for (const BatchInfo& b : f.batches) {
      if (b.topic == topic) at.push_back(b.position);
    }
  }
  OpenOptions o;
  o.checkpoint_bytes = 1;
  auto db = Db::open(path, o);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  if (!db.ok()) return at;
  EXPECT_TRUE((*db)->close().ok());
  db = Db::open(path);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  if (db.ok()) {
    EXPECT_GT((*db)->stat()->checkpoint_position, at.back()) << "the batches must lie before the checkpoint";
  }
  return at;
}

// Polls `topic` `partition` from the start until a poll fails or returns
// nothing; returns the values read and the failure.
std::pair<std::vector<std::string>, Status> poll_all(Db& db, const std::string& topic, int32_t partition) {
  auto r = db.reader(topic, partition, StartAt::earliest());
  if (!r.ok()) return {{}, r.status()};
  std::vector<std::string> got;
  for (int polls = 0; polls < 10; ++polls) {
    auto recs = (*r)->poll(0ms);
    if (!recs.ok()) return {got, recs.status()};
    if (recs->empty()) break;
    for (const RecordView& v : *recs) got.emplace_back(*v.value);
  }
  return {got, Status::OK()};
}

// The batch CRC does not cover baseOffset: a batch whose baseOffset is not
// the one its partition's batch list (from the checkpoint) records for it
// would hand its records out under wrong offsets. Readers and check call
// it corruption at the batch.
TEST(Recovery, ABatchWhoseBaseOffsetDiffersFromItsCheckpointEntryIsCorruption) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  auto at = produce_before_checkpoint(path, "t", 1, 0, {"first-value", "second-value", "third-value"});
  ASSERT_EQ(at.size(), 3u);
  patch(path, at[1], std::string("\0\0\0\0\0\0\0\x07", 8));  // baseOffset 1 becomes 7

  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << "open does not read before the checkpoint: " << db.status().to_string();
  auto [got, failed] = poll_all(**db, "t", 0);
  EXPECT_EQ(got, (std::vector<std::string>{"first-value"})) << "nothing of the batch is handed out";
  ASSERT_EQ(failed.code(), Code::corruption) << failed.to_string();
  EXPECT_EQ(failed.position(), at[1]);
  for (const std::string& part : {path, std::string("'t' partition 0"), std::string("offset 7"),
                                  std::string("position " + std::to_string(at[1]))}) {
    EXPECT_NE(failed.message().find(part), std::string::npos) << part << " in " << failed.message();
  }
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_FALSE(report->ok);
  ASSERT_FALSE(report->problems.empty());
  EXPECT_NE(report->problems[0].find("position " + std::to_string(at[1])), std::string::npos) << report->problems[0];
  EXPECT_NE(report->problems[0].find("offset 7"), std::string::npos) << report->problems[0];
}

// Errors from a batch header or a record name the file, topic and
// partition, for readers and for check alike: a position alone does not
// say which data is lost.
TEST(Recovery, ABadBatchHeaderOrRecordIsNamedWithFileTopicAndPartition) {
  TempDir dir;
  {
    SCOPED_TRACE("batch header");
    std::string path = dir.file("header.rvl");
    auto at = produce_before_checkpoint(path, "u", 2, 1, {"first-value", "second-value"});
    ASSERT_EQ(at.size(), 2u);
    patch(path, at[1] + 16, std::string(1, '\x03'));  // magic 2 becomes 3
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    auto [got, failed] = poll_all(**db, "u", 1);
    EXPECT_EQ(got, (std::vector<std::string>{"first-value"}));
    ASSERT_EQ(failed.code(), Code::corruption) << failed.to_string();
    EXPECT_EQ(failed.position(), at[1]);
    EXPECT_NE(failed.message().find(path), std::string::npos) << failed.message();
    EXPECT_NE(failed.message().find("topic 'u' partition 1"), std::string::npos) << failed.message();
    auto report = check_file(path);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    ASSERT_FALSE(report->problems.empty());
    EXPECT_NE(report->problems[0].find(path), std::string::npos) << report->problems[0];
    EXPECT_NE(report->problems[0].find("topic 'u' partition 1"), std::string::npos) << report->problems[0];
  }
  SCOPED_TRACE("record");
  std::string path = dir.file("record.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE((*db)->create_topic("t").ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "first-value"}).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  const FrameInfo last = frames_of(path).back();
  ASSERT_EQ(last.batches.size(), 1u);
  const uint64_t at = last.batches[0].position;
  // The record's header count, right after its value: a header it has no
  // bytes for. Open does not decode data records; readers and check do.
  const size_t header_count = read_all(path).find("first-value") + std::string("first-value").size() - at;
  edit_batch(path, last.position, at, [=](char* b) { b[header_count] = 2; });
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  auto [got, failed] = poll_all(**db, "t", 0);
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(failed.code(), Code::corruption) << failed.to_string();
  EXPECT_EQ(failed.position(), at);
  EXPECT_NE(failed.message().find(path), std::string::npos) << failed.message();
  EXPECT_NE(failed.message().find("topic 't' partition 0"), std::string::npos) << failed.message();
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_FALSE(report->problems.empty());
  EXPECT_NE(report->problems[0].find(path), std::string::npos) << report->problems[0];
  EXPECT_NE(report->problems[0].find("topic 't' partition 0"), std::string::npos) << report->problems[0];
}

// Where the batch list of `topic` `partition` lies in the checkpoint the
// superblock names, which must be one frame of one batch (a small file):
// the checkpoint frame, its batch, and the offset of the list's bytes in
// that batch. The state's layout is docs/FORMAT.md's "The state".
struct ListInCheckpoint {
  uint64_t frame = 0;
  uint64_t batch = 0;
  size_t offset = 0;  // of the list's first byte, from the batch's start
  size_t fields = 0;  // of the partition's first offset, from the batch's start
};

ListInCheckpoint find_batch_list(const std::string& path, const std::string& topic, uint32_t partition) {
  ListInCheckpoint found;
  const std::string all = read_all(path);
  format::Superblock sb[2];
  bool valid[2];
  for (int i = 0; i < 2; ++i) {
    valid[i] = format::decode_superblock(std::string_view(all).substr(format::kSuperblockPos[i]), &sb[i]);
  }
  found.frame = (valid[0] && (!valid[1] || sb[0].generation > sb[1].generation) ? sb[0] : sb[1]).checkpoint_pos;
  EXPECT_NE(found.frame, 0u) << "no checkpoint";
  format::FrameHeader h = format::peek_frame_header(all.data() + found.frame);
  EXPECT_EQ(h.batch_count, 1);
  EXPECT_EQ(h.flags & (format::kFrameCheckpointStart | format::kFrameCheckpointEnd),
            format::kFrameCheckpointStart | format::kFrameCheckpointEnd);
  found.batch = found.frame + format::kFrameHeaderSize + format::kSummaryEntrySize;
  std::string_view batch(all.data() + found.batch, all.size() - found.batch);
  format::BatchHeader bh;
  EXPECT_TRUE(format::parse_batch_header(batch, found.batch, &bh).ok());
  batch = batch.substr(0, bh.total_size());
  format::RecordDecoder decoder(batch, bh, found.batch);
  format::DecodedRecord rec;
  EXPECT_TRUE(decoder.next(&rec));
  const char* p = rec.value_data;
  const char* end = p + rec.value_size;
  auto num = [&] {
    int64_t v = 0;
    p = p ? varint::get64(p, end, &v) : nullptr;
    return v;
  };
  auto bytes = [&] {
    int64_t n = num();
    std::string_view b(p ? p : end, p ? static_cast<size_t>(n) : 0);
    if (p) p += n;
    return b;
  };
  num(), num(), num();  // magic, version, next_id
  for (int64_t topics = num(); topics > 0 && p; --topics) {
    std::string_view key = bytes(), value;
    std::string name;
    int64_t partitions = 1;
    if (!key.empty()) {
      value = bytes();
      size_t n = value.find("\"name\":\"") + 8, c = value.find("\"partitions\":") + 13;
      name = std::string(value.substr(n, value.find('"', n) - n));
      partitions = std::stoll(std::string(value.substr(c, 8)));
    }
    num();  // deleted
    for (int64_t i = 0; i < partitions && p; ++i) {
      const char* fields = p;
      for (int k = 0; k < 5; ++k) num();  // first and next offset, bytes, dead bytes, entry count
      std::string_view list = bytes();
      if (name == topic && i == partition) {
        found.offset = static_cast<size_t>(list.data() - batch.data());
        found.fields = static_cast<size_t>(fields - batch.data());
        return found;
      }
    }
  }
  ADD_FAILURE() << "no batch list for " << topic << " partition " << partition;
  return found;
}

// A damaged batch list in a checkpoint is found when the partition is
// first used: the error names the file and the partition, not only the
// checkpoint's position.
// Topic 't' of two partitions whose partition 1 holds two batches before
// the checkpoint the log starts at, with that checkpoint's batch list of
// partition 1 damaged: its first entry's base offset difference, 0,
// becomes -1. Returns where the list is.
ListInCheckpoint damage_batch_list_of_t1(const std::string& path) {
  produce_before_checkpoint(path, "t", 2, 1, {"first-value", "second-value"});
  ListInCheckpoint list = find_batch_list(path, "t", 1);
  EXPECT_NE(list.offset, 0u);
  if (list.offset == 0) return list;
  edit_batch(path, list.frame, list.batch, [&](char* b) {
    ASSERT_EQ(b[list.offset], 0);
    b[list.offset] = 1;
  });
  return list;
}

TEST(Recovery, ADamagedCheckpointBatchListIsNamedWithFileAndPartition) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  ListInCheckpoint list = damage_batch_list_of_t1(path);
  ASSERT_NE(list.offset, 0u);

  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << "lists are decoded when first used: " << db.status().to_string();
  auto [got, failed] = poll_all(**db, "t", 1);
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(failed.code(), Code::corruption) << failed.to_string();
  for (const std::string& part : {path, std::string("topic 't' partition 1"),
                                  std::string("checkpoint at position " + std::to_string(list.frame))}) {
    EXPECT_NE(failed.message().find(part), std::string::npos) << part << " in " << failed.message();
  }
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_FALSE(report->problems.empty());
  EXPECT_NE(report->problems[0].find(path), std::string::npos) << report->problems[0];
  EXPECT_NE(report->problems[0].find("topic 't' partition 1"), std::string::npos) << report->problems[0];
}

// A reader that met a damaged batch list used to make every later
// checkpoint fail, and with it every commit that found one due, to any
// partition. The damage is carried on as it was instead: the healthy
// partition takes commits and checkpoints, the damaged one still says so.
TEST(Recovery, ADamagedBatchListMetByAReaderDoesNotStopCheckpoints) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  ListInCheckpoint list = damage_batch_list_of_t1(path);
  ASSERT_NE(list.offset, 0u);

  OpenOptions o;
  o.checkpoint_bytes = 1;  // checkpoints as often as their size allows (kLogPerCheckpointByte)
  {
    auto db = Db::open(path, o);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    EXPECT_EQ(poll_all(**db, "t", 1).second.code(), Code::corruption);
    for (int i = 0; i < 3; ++i) {
      Result<Appended> a = (*db)->produce({.topic = "t", .value = "healthy-" + std::to_string(i), .partition = 0});
      ASSERT_TRUE(a.ok()) << a.status().to_string();
    }
    EXPECT_TRUE((*db)->close().ok());
  }
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_GT((*db)->stat()->checkpoint_position, list.frame) << "no checkpoint was written after the damage";
  auto [got, failed] = poll_all(**db, "t", 0);
  ASSERT_TRUE(failed.ok()) << failed.to_string();
  EXPECT_EQ(got, (std::vector<std::string>{"healthy-0", "healthy-1", "healthy-2"}));
  auto [damaged, why] = poll_all(**db, "t", 1);
  EXPECT_TRUE(damaged.empty());
  ASSERT_EQ(why.code(), Code::corruption) << "the damage must not turn into an empty partition";
  EXPECT_NE(why.message().find("topic 't' partition 1"), std::string::npos) << why.message();
}

// Rewrites the next offset of `topic` `partition` in the checkpoint the
// log starts at (its last frame, one batch of one record) to `next`,
// re-encoding the record, its batch and its frame.
void set_next_offset(const std::string& path, const std::string& topic, uint32_t partition, int64_t next) {
  ListInCheckpoint list = find_batch_list(path, topic, partition);
  ASSERT_NE(list.fields, 0u);
  std::string all = read_all(path);
  format::FrameHeader h = format::peek_frame_header(all.data() + list.frame);
  std::string_view batch(all.data() + list.batch, all.size() - list.batch);
  format::BatchHeader bh;
  ASSERT_TRUE(format::parse_batch_header(batch, list.batch, &bh).ok());
  batch = batch.substr(0, bh.total_size());
  format::RecordDecoder decoder(batch, bh, list.batch);
  format::DecodedRecord rec;
  ASSERT_TRUE(decoder.next(&rec));
  const char* value_end = rec.value_data + rec.value_size;
  const char* field = batch.data() + list.fields;
  int64_t v = 0;
  const char* next_field = varint::get64(field, value_end, &v);  // the first offset
  const char* after = varint::get64(next_field, value_end, &v);
  ASSERT_NE(after, nullptr);
  char buf[varint::kMax64];
  std::string value(rec.value_data, next_field);
  value.append(buf, static_cast<size_t>(varint::put64(buf, next) - buf));
  value.append(after, value_end);
  format::BatchBuilder builder;
  builder.add(rec.key(), std::string_view(value), {}, rec.timestamp_ms);
  format::OutgoingBatch out{format::kMetaTopicId, format::kCheckpointPartition, builder.finish(0)};
  h.frame_length = static_cast<uint32_t>(format::frame_length({&out, 1}));
  std::string frame;
  format::encode_frame_head(&h, {&out, 1}, &frame);
  frame += out.bytes;
  if (all.size() < list.frame + frame.size()) all.resize(list.frame + frame.size());
  all.replace(list.frame, frame.size(), frame);
  write_all(path, all);
}

// Offsets stop short of 2^62, which no writer reaches: a checkpoint saying
// a partition is past that is corruption at open, so that next offsets,
// batch ends and offset spans never overflow (signed overflow is undefined
// behaviour). At exactly 2^62 the partition is full: a commit to it is
// refused and nothing is written.
TEST(Recovery, ANextOffsetPastTheOffsetLimitIsCorruption) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  produce_before_checkpoint(path, "t", 1, 0, {"first-value", "second-value"});
  const std::string good = read_all(path);
  const uint64_t checkpoint = find_batch_list(path, "t", 0).frame;
  for (int64_t next : {INT64_MAX, INT64_MAX - 1, format::kOffsetLimit + 1}) {
    SCOPED_TRACE(next);
    write_all(path, good);
    set_next_offset(path, "t", 0, next);
    for (bool read_only : {false, true}) {
      OpenOptions o;
      o.read_only = read_only;
      auto db = Db::open(path, o);
      ASSERT_FALSE(db.ok());
      EXPECT_EQ(db.status().code(), Code::corruption);
      EXPECT_EQ(db.status().position(), checkpoint);
      EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
      EXPECT_NE(db.status().message().find(std::to_string(next)), std::string::npos) << db.status().message();
    }
    auto report = check_file(path);
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    EXPECT_FALSE(report->ok);
  }
  write_all(path, good);
  set_next_offset(path, "t", 0, format::kOffsetLimit);
  const std::string full = read_all(path);
  {
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    Status st = (*db)->produce({.topic = "t", .value = "third-value"}).status();
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("'t' partition 0"), std::string::npos) << st.message();
    ASSERT_TRUE((*db)->close().ok());
  }
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << "the refused commit wrote nothing: " << db.status().to_string();
  // check finds only what the edit made: an end past the partition's batches.
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].find("'t' partition 0 ends at offset " + std::to_string(format::kOffsetLimit) +
                                     ", but its batches end at offset 2"),
            std::string::npos)
      << report->problems[0];
}

// A checkpoint whose partition ends past its last batch (no writer makes
// one: compaction keeps a partition's last batch) would leave a reader
// ready (wait_any) with nothing to poll, so a consumer spun: the reader
// hands out the records there are, then reports the damage; check says so.
TEST(Recovery, APartitionEndPastItsBatchesIsReportedByReadersAndCheck) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  produce_before_checkpoint(path, "t", 1, 0, {"first-value", "second-value"});
  set_next_offset(path, "t", 0, 10);
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  auto reader = (*db)->reader("t", 0, StartAt::earliest());
  ASSERT_TRUE(reader.ok()) << reader.status().to_string();
  auto got = (*reader)->poll(std::chrono::milliseconds(0));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), 2u);
  got = (*reader)->poll(std::chrono::milliseconds(0));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::corruption);
  EXPECT_NE(got.status().message().find(path + ": 't' partition 0 ends at offset 10, but its batch list holds no "
                                        "record from offset 2 on"),
            std::string::npos)
      << got.status().message();
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_FALSE(report->ok);
  EXPECT_NE(report->problems[0].find("'t' partition 0 ends at offset 10, but its batches end at offset 2"),
            std::string::npos)
      << report->problems[0];
}

// Deleting records from a partition whose batch list does not decode
// cannot find the batches to drop: it is refused with the damage, as a
// reader reports it, and writes nothing (it used to succeed and drop
// nothing, the batches' space never freed). Deleting the topic is the way
// out, and succeeds.
TEST(Recovery, DeletingRecordsBehindADamagedBatchListIsRefusedDeletingTheTopicIsNot) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  ListInCheckpoint list = damage_batch_list_of_t1(path);
  ASSERT_NE(list.offset, 0u);
  const size_t frames = frames_of(path).size();
  {
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    Status st = (*db)->delete_records("t", 1, 1);
    ASSERT_EQ(st.code(), Code::corruption) << st.to_string();
    for (const std::string& part : {path, std::string("topic 't' partition 1"),
                                    std::string("checkpoint at position " + std::to_string(list.frame))}) {
      EXPECT_NE(st.message().find(part), std::string::npos) << part << " in " << st.message();
    }
    ASSERT_TRUE((*db)->close().ok());
  }
  EXPECT_EQ(frames_of(path).size(), frames) << "nothing written";
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  Status st = (*db)->delete_topic("t");
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE((*db)->close().ok());
  db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_EQ((*db)->describe_topic("t").status().code(), Code::not_found);
  // The deleted partition's list is not written into checkpoints again:
  // writing one (as vacuum does) used to fail on it from now on.
  auto v = (*db)->vacuum();
  EXPECT_TRUE(v.ok()) << v.status().to_string();
  ASSERT_TRUE((*db)->close().ok());
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(report->ok) << (report->problems.empty() ? "" : report->problems[0]);
}

// A checkpoint whose batch list puts a batch far past the file's segments
// (a position difference with its sign flipped): dropping that batch
// (deleting its topic) or relocating it (a cleaning frame after the
// checkpoint) is corruption, not a segment table sized by the position.
TEST(Recovery, DroppingOrRelocatingABatchListedOutsideTheSegmentsIsCorruption) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  auto at = produce_before_checkpoint(path, "t", 1, 0, {"first-value", "second-value"});
  ASSERT_EQ(at.size(), 2u);
  ListInCheckpoint list = find_batch_list(path, "t", 0);
  ASSERT_NE(list.offset, 0u);
  // The first entry: base offset, timestamp, position, size. Its position
  // P becomes -P (2^64 - P), encoded in as many bytes.
  size_t pos_field = 0;
  {
    std::string all = read_all(path);
    const char* b = all.data() + list.batch;
    const char* p = b + list.offset;
    const char* end = all.data() + all.size();
    int64_t v = 0;
    p = varint::get64(p, end, &v);
    p = varint::get64(p, end, &v);
    ASSERT_NE(p, nullptr);
    pos_field = static_cast<size_t>(p - b);
    const char* after = varint::get64(p, end, &v);
    ASSERT_EQ(v, static_cast<int64_t>(at[0]));
    char buf[varint::kMax64];
    ASSERT_EQ(varint::put64(buf, -v) - buf, after - p) << "same length";
    const size_t len = static_cast<size_t>(after - p);
    edit_batch(path, list.frame, list.batch, [&](char* batch) { std::memcpy(batch + pos_field, buf, len); });
  }
  const std::string crafted = read_all(path);

  {
    SCOPED_TRACE("drop");
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    Status st = (*db)->delete_topic("t");
    ASSERT_EQ(st.code(), Code::corruption) << st.to_string();
    EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("outside every segment"), std::string::npos) << st.message();
    db = Db::open(path);
    ASSERT_FALSE(db.ok()) << "the deletion is in the log now";
    EXPECT_EQ(db.status().code(), Code::corruption);
    EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
  }

  SCOPED_TRACE("relocate");
  write_all(path, crafted);
  // A relocated frame after the checkpoint, copying the first batch.
  std::string all = crafted;
  const format::FrameHeader cp = format::peek_frame_header(all.data() + list.frame);
  const size_t size = static_cast<size_t>(load_be<int32_t>(all.data() + at[0] + 8)) + format::kBatchLogOverhead;
  const std::string batch = all.substr(at[0], size);
  format::OutgoingBatch out{1, 0, batch};  // topic "t" has id 1
  format::FrameHeader h;
  h.seq = cp.seq + 1;
  h.writer_id = 42;
  h.prev_crc = cp.meta_crc;
  h.flags = format::kFrameRelocated;
  h.frame_length = static_cast<uint32_t>(format::frame_length({&out, 1}));
  std::string frame;
  format::encode_frame_head(&h, {&out, 1}, &frame);
  frame += batch;
  const uint64_t where = list.frame + format::align8(cp.frame_length);
  if (all.size() < where + frame.size()) all.resize(where + frame.size());
  all.replace(where, frame.size(), frame);
  write_all(path, all);
  const uint64_t copy = where + format::kFrameHeaderSize + format::kSummaryEntrySize;
  for (bool read_only : {false, true}) {
    OpenOptions o;
    o.read_only = read_only;
    auto db = Db::open(path, o);
    ASSERT_FALSE(db.ok());
    EXPECT_EQ(db.status().code(), Code::corruption);
    EXPECT_EQ(db.status().position(), copy);
    EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
    EXPECT_NE(db.status().message().find("outside every segment"), std::string::npos) << db.status().message();
  }
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  ASSERT_FALSE(report->problems.empty());
  EXPECT_NE(report->problems[0].find("outside every segment"), std::string::npos) << report->problems[0];
}

TEST(Recovery, TruncatedFileIsCorruption) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  ASSERT_TRUE((*Db::open(path))->close().ok());
  write_all(path, read_all(path).substr(0, 5000));
  auto db = Db::open(path);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::corruption);
}

// An Env whose write of a new file's first blocks stops after the header
// block and calls `after_header` (a write the kernel carries out page by
// page, seen half done), then writes the rest.
class SlowFirstBlocksEnv final : public testing::ForwardingEnv {
 public:
  std::function<void()> after_header;

  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    Result<std::unique_ptr<io::File>> f = base_->open(path, mode);
    if (!f.ok()) return f.status();
    return std::unique_ptr<io::File>(new File(this, std::move(f).value()));
  }

 private:
  class File final : public testing::ForwardingFile {
   public:
    File(SlowFirstBlocksEnv* env, std::unique_ptr<io::File> f) : ForwardingFile(std::move(f)), env_(env) {}
    Status write_at(uint64_t pos, std::span<const std::string_view> parts) override {
      if (pos != 0 || parts.size() != 1 || parts[0].size() <= 4096) return ForwardingFile::write_at(pos, parts);
      std::string_view head = parts[0].substr(0, 4096), rest = parts[0].substr(4096);
      RIVULET_TRY(ForwardingFile::write_at(0, {&head, 1}));
      env_->after_header();
      return ForwardingFile::write_at(4096, {&rest, 1});
    }

   private:
    SlowFirstBlocksEnv* env_;
  };
};

// An empty file becomes a Rivulet file under the writer lock byte: a second
// opener that finds its first blocks half written waits for them instead of
// calling the file truncated.
TEST(Recovery, ASecondOpenerOfAnEmptyFileWaitsForTheFirstToWriteItsFirstBlocks) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  write_all(path, "");
  SlowFirstBlocksEnv env;
  std::promise<void> half_written, release;
  std::shared_future<void> go_on = release.get_future().share();
  env.after_header = [&] {
    half_written.set_value();
    go_on.wait();
  };
  std::future<void> half = half_written.get_future();
  auto first = std::async(std::launch::async, [&] {
    OpenOptions options;
    options.env = &env;
    return Db::open(path, options).status();
  });
  ASSERT_EQ(half.wait_for(5s), std::future_status::ready);
  // As another process: a description of its own.
  auto second = std::async(std::launch::async, [&] { return Db::open(path).status(); });
  bool waited = second.wait_for(300ms) == std::future_status::timeout;
  release.set_value();
  Status st2 = second.get();
  Status st1 = first.get();
  EXPECT_TRUE(st1.ok()) << st1.to_string();
  EXPECT_TRUE(st2.ok()) << st2.to_string();
  EXPECT_TRUE(waited) << "the second opener did not wait for the first blocks";
}

// An initialiser killed mid-write leaves a prefix of the first blocks: the
// file is no Rivulet file yet (read-only), and the next writer initialises
// it again rather than refuse it for ever.
TEST(Recovery, AnEmptyFileWhoseInitialiserDiedMidWriteIsInitialisedAgain) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  write_all(path, "");
  pid_t child = ::fork();
  if (child == 0) {
    SlowFirstBlocksEnv env;
    env.after_header = [] { ::_exit(0); };
    OpenOptions options;
    options.env = &env;
    Db::open(path, options).status().ignore();
    ::_exit(1);
  }
  int status = testing::wait_child(child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child did not die mid-write";
  ASSERT_EQ(read_all(path).size(), 4096u);

  OpenOptions ro;
  ro.read_only = true;
  EXPECT_EQ(Db::open(path, ro).status().code(), Code::not_rivulet_file);
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  ASSERT_TRUE((*db)->create_topic("t").ok());
  ASSERT_TRUE((*db)->produce({.topic = "t", .value = "v"}).ok());
  Result<CheckReport> report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(report->ok);
}

TEST(Recovery, AnEmptyFileBecomesARivuletFileAsInSqlite) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  write_all(path, "");
  OpenOptions ro;
  ro.read_only = true;
  EXPECT_EQ(Db::open(path, ro).status().code(), Code::not_rivulet_file);
  // Nor without create_if_missing, which made it one all the same.
  OpenOptions existing;
  existing.create_if_missing = false;
  auto refused = Db::open(path, existing);
  ASSERT_FALSE(refused.ok()) << "an empty file became a Rivulet file without create_if_missing";
  EXPECT_EQ(refused.status().code(), Code::not_rivulet_file);
  EXPECT_EQ(refused.status().message(), path + ": empty file, not a Rivulet file yet");
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  EXPECT_TRUE((*db)->create_topic("t").ok());
}

}  // namespace
}  // namespace rivulet
