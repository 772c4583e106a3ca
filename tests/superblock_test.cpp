// Which superblock a file starts from (format 4): one written without a
// sync is used while the machine has not restarted since, and passed over
// for the synced one after a power cut; checkpoints under sync off and
// normal cost no fdatasync, and a power cut after them loses nothing that
// was synced.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>

#include "fault_env.hpp"
#include "format/file_layout.hpp"
#include "log/file_start.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using testing::FaultEnv;
using testing::TempDir;

constexpr uint32_t kThisBoot = 0x1234;
constexpr uint32_t kOtherBoot = 0x5678;

format::Superblock superblock(uint64_t generation, uint32_t unsynced_boot) {
  format::Superblock s;
  s.generation = generation;
  s.unsynced_boot = unsynced_boot;
  return s;
}

TEST(SuperblockChoice, TheNewerSyncedSlotIsUsed) {
  format::Superblock slots[2] = {superblock(4, 0), superblock(3, 0)};
  bool valid[2] = {true, true};
  auto c = log::choose_superblock(slots, valid, kThisBoot);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->use, 0);
  EXPECT_EQ(c->synced, 0);
  EXPECT_EQ(c->max_generation, 4u);
}

TEST(SuperblockChoice, AnUnsyncedSlotOfThisBootIsUsedAndTheOtherIsTheSyncedOne) {
  format::Superblock slots[2] = {superblock(6, kThisBoot), superblock(3, 0)};
  bool valid[2] = {true, true};
  auto c = log::choose_superblock(slots, valid, kThisBoot);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->use, 0);
  EXPECT_EQ(c->synced, 1);
}

TEST(SuperblockChoice, AnUnsyncedSlotOfAnotherBootIsPassedOver) {
  format::Superblock slots[2] = {superblock(3, 0), superblock(8, kOtherBoot)};
  bool valid[2] = {true, true};
  auto c = log::choose_superblock(slots, valid, kThisBoot);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->use, 0);
  EXPECT_EQ(c->synced, 0);
  EXPECT_EQ(c->max_generation, 8u) << "the next write must still get a higher generation";
}

TEST(SuperblockChoice, AnUnsyncedSlotOfAnotherBootWithNoSyncedOneIsCorruption) {
  format::Superblock slots[2] = {superblock(3, 0), superblock(8, kOtherBoot)};
  bool valid[2] = {false, true};
  auto c = log::choose_superblock(slots, valid, kThisBoot);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::corruption);
  EXPECT_EQ(c.status().position(), format::kSuperblockPos[1]);
  EXPECT_NE(c.status().message().find("without a sync"), std::string::npos) << c.status().message();
}

TEST(SuperblockChoice, BytesThatFormatFourUsesMeanNothingInOlderFiles) {
  format::Superblock s = superblock(5, kOtherBoot);
  char raw[2][format::kSuperblockSize];
  format::encode_superblock(s, raw[0]);
  format::encode_superblock(superblock(2, 0), raw[1]);
  std::string_view bytes[2] = {{raw[0], sizeof raw[0]}, {raw[1], sizeof raw[1]}};
  log::SuperblockSlots v3 = log::decode_superblock_slots(bytes, 3);
  EXPECT_EQ(v3.slot[0].unsynced_boot, 0u);
  log::SuperblockSlots v4 = log::decode_superblock_slots(bytes, 4);
  EXPECT_EQ(v4.slot[0].unsynced_boot, kOtherBoot);
}

// ---- checkpoints without fdatasync ----

constexpr uint32_t kSegment = 64 * 1024;

OpenOptions options(FaultEnv* env, Sync sync) {
  OpenOptions o;
  o.env = env;
  o.segment_size = kSegment;
  o.checkpoint_bytes = 32 * 1024;
  o.sync = sync;
  return o;
}

std::unique_ptr<Db> open_db(const std::string& path, const OpenOptions& o) {
  auto db = Db::open(path, o);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  return db.ok() ? std::move(db).value() : nullptr;
}

std::string value_of(int i) { return "value " + std::to_string(i) + std::string(200, '.'); }

void produce(Db& db, int from, int count) {
  for (int i = from; i < from + count; i += 50) {
    WriteBatch b(db);
    for (int k = i; k < from + count && k < i + 50; ++k) ASSERT_TRUE(b.add({.topic = "t", .value = value_of(k)}).ok());
    ASSERT_TRUE(db.commit(b).ok());
  }
}

// Offset -> value of partition 0 of "t".
std::map<int64_t, std::string> contents(Db& db) {
  std::map<int64_t, std::string> out;
  testing::for_each_record(db, "t", 0, [&](const RecordView& v) { out[v.offset] = std::string(*v.value); });
  return out;
}

log::FileStart file_start(const std::string& path, FaultEnv& env) {
  auto f = env.open(path, io::OpenMode::read_only);
  EXPECT_TRUE(f.ok());
  auto s = log::read_file_start(**f, env.boot_tag());
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? *s : log::FileStart{};
}

// Under sync off nothing is ever synced, checkpoints included (as SQLite's
// synchronous=OFF): a power cut that loses every unsynced write takes the
// file back to how it was created, which it opens as.
TEST(UnsyncedCheckpoint, SyncOffNeverSyncsYetAPowerCutLeavesAFileThatOpens) {
  TempDir dir;
  std::string path = dir.file("off.rvl");
  FaultEnv env;
  {
    auto db = open_db(path, options(&env, Sync::off));
    ASSERT_TRUE(db->create_topic("t").ok());
    produce(*db, 0, 3000);  // ~700 KiB: a dozen segments, some 20 checkpoints
    auto stat = db->stat();
    ASSERT_TRUE(stat.ok());
    EXPECT_NE(stat->checkpoint_position, 0u);
    ASSERT_TRUE(db->close().ok());
  }
  log::FileStart fs = file_start(path, env);
  EXPECT_NE(fs.superblock.unsynced_boot, 0u);
  EXPECT_NE(fs.superblock.checkpoint_pos, 0u);
  ASSERT_GE(fs.choice.synced, 0);
  EXPECT_EQ(fs.slots.slot[fs.choice.synced].checkpoint_pos, 0u) << "a checkpoint was synced under sync off";

  ASSERT_TRUE(env.power_cut_drop_all().ok());
  auto db = open_db(path, options(&env, Sync::off));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->describe_topic("t").status().code(), Code::not_found);
  auto report = check_file(path, options(&env, Sync::off));
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok);
}

// Under sync normal a segment change syncs the log; the checkpoints between
// do not. While the machine runs, a new handle starts at the newest
// checkpoint; after a power cut, at the newest synced one (even when the
// superblock naming the lost checkpoint survived), and it finds every
// record the syncs covered.
TEST(UnsyncedCheckpoint, APowerCutFallsBackToTheSyncedCheckpointAndKeepsWhatWasSynced) {
  TempDir dir;
  std::string path = dir.file("normal.rvl");
  FaultEnv env;
  std::map<int64_t, std::string> all;
  {
    auto db = open_db(path, options(&env, Sync::normal));
    ASSERT_TRUE(db->create_topic("t").ok());
    produce(*db, 0, 3000);
    all = contents(*db);
    env.crash();  // the process dies; the machine keeps its page cache
  }
  log::FileStart fs = file_start(path, env);
  ASSERT_NE(fs.superblock.unsynced_boot, 0u) << "the newest checkpoint should not have been synced";
  ASSERT_GE(fs.choice.synced, 0);
  const format::Superblock synced = fs.slots.slot[fs.choice.synced];
  EXPECT_LT(synced.log_start, fs.superblock.log_start);
  {
    auto db = open_db(path, options(&env, Sync::normal));
    ASSERT_NE(db, nullptr);
    EXPECT_EQ(db->stat()->checkpoint_position, fs.superblock.checkpoint_pos);
    EXPECT_EQ(contents(*db), all);
    env.crash();
  }

  // The worst a power cut can do: the new superblock's sector reached the
  // disk, none of the log written since the last sync did.
  const uint64_t slot_pos = format::kSuperblockPos[fs.choice.use];
  std::string unsynced_slot = testing::read_all(path).substr(slot_pos, format::kSuperblockSize);
  ASSERT_TRUE(env.power_cut_drop_all().ok());
  {
    std::string bytes = testing::read_all(path);
    bytes.replace(slot_pos, unsynced_slot.size(), unsynced_slot);
    testing::write_all(path, bytes);
  }
  auto passed_over = check_file(path, options(&env, Sync::normal));
  ASSERT_TRUE(passed_over.ok());
  EXPECT_TRUE(passed_over->ok);
  ASSERT_EQ(passed_over->warnings.size(), 1u);
  EXPECT_NE(passed_over->warnings[0].find("without a sync before the machine restarted"), std::string::npos)
      << passed_over->warnings[0];
  auto db = open_db(path, options(&env, Sync::normal));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->stat()->checkpoint_position, synced.checkpoint_pos);
  std::map<int64_t, std::string> kept = contents(*db);
  // The log was synced when it entered its last segment: at most that
  // segment's records (~250) are gone, and what is left is a prefix.
  EXPECT_GT(kept.size(), all.size() - 300);
  for (const auto& [offset, value] : kept) EXPECT_EQ(value, all[offset]) << offset;
  EXPECT_EQ(kept.rbegin()->first + 1, static_cast<int64_t>(kept.size()));

  // Writing goes on, and the next superblock takes the lost one's place.
  produce(*db, static_cast<int>(kept.size()), 1000);
  ASSERT_TRUE(db->close().ok());
  auto report = check_file(path, options(&env, Sync::normal));
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_TRUE(report->warnings.empty()) << report->warnings[0];
  auto again = open_db(path, options(&env, Sync::normal));
  EXPECT_EQ(contents(*again).size(), kept.size() + 1000);
}

// A format 3 file stays format 3: written by this build under sync off, its
// checkpoints are synced and its superblocks say nothing of boots, so the
// builds that made it can still open it safely.
// tests/data/checkpoint-v1.rvl: format 3, topic "c" with 2 partitions.
TEST(UnsyncedCheckpoint, AFormatThreeFileIsStillWrittenAsFormatThree) {
  TempDir dir;
  std::string path = dir.file("v3.rvl");
  testing::write_all(path, testing::read_all(RIVULET_TEST_DATA_DIR "/checkpoint-v1.rvl"));
  FaultEnv env;
  const uint64_t checkpoint_before = file_start(path, env).superblock.checkpoint_pos;
  ASSERT_EQ(file_start(path, env).header.format_version, 3u);
  {
    OpenOptions o = options(&env, Sync::off);
    o.segment_size = 0;  // the file's own
    auto db = open_db(path, o);
    ASSERT_NE(db, nullptr);
    for (int i = 0; i < 20; ++i) {
      WriteBatch b(*db);
      for (int k = 0; k < 50; ++k) ASSERT_TRUE(b.add({.topic = "c", .value = value_of(k)}).ok());
      ASSERT_TRUE(db->commit(b).ok());
    }
    env.crash();
  }
  log::FileStart fs = file_start(path, env);
  EXPECT_EQ(fs.header.format_version, 3u);
  EXPECT_NE(fs.superblock.checkpoint_pos, checkpoint_before) << "no checkpoint was written";
  std::string bytes = testing::read_all(path);
  for (uint64_t slot : format::kSuperblockPos) EXPECT_EQ(bytes.substr(slot + 44, 4), std::string(4, '\0'));
  // A power cut that loses every unsynced write keeps that checkpoint.
  ASSERT_TRUE(env.power_cut_drop_all().ok());
  EXPECT_EQ(file_start(path, env).superblock.checkpoint_pos, fs.superblock.checkpoint_pos);
}

}  // namespace
}  // namespace rivulet
