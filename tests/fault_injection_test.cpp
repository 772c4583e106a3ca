// The engine over the fault-injecting I/O back end: an I/O error or a full
// disk at any step of a commit leaves a valid file without that commit, and
// a power cut at any step loses nothing that a full-sync commit returned.
#include <gtest/gtest.h>

#include "fault_env.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using testing::Fault;
using testing::FaultEnv;
using testing::TempDir;

std::vector<std::string> all_values(Db& db) {
  std::vector<std::string> out;
  auto r = db.reader("t", 0);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return out;
  for (;;) {
    auto recs = (*r)->poll(0ms);
    EXPECT_TRUE(recs.ok()) << recs.status().to_string();
    if (!recs.ok() || recs->empty()) return out;
    for (const RecordView& v : *recs) out.emplace_back(*v.value);
  }
}

void expect_file_valid(const std::string& path) {
  auto report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(report->ok) << report->problems.front();
}

Status commit_three(Db& db, const std::string& tag) {
  WriteBatch batch(db);
  for (int i = 0; i < 3; ++i) RIVULET_TRY(batch.add({.topic = "t", .value = tag + "." + std::to_string(i)}));
  return db.commit(batch);
}

// Fails the k-th mutating I/O call of a commit with each kind of fault; the
// commit either succeeds or reports the error, and the file keeps exactly
// the commits that succeeded.
TEST(FaultInjection, FailedIoDuringACommitLeavesAValidFileWithoutIt) {
  for (Sync sync : {Sync::normal, Sync::full}) {
    for (Fault fault : {Fault::eio, Fault::enospc, Fault::short_write}) {
      for (uint64_t k = 1; k <= 6; ++k) {
        SCOPED_TRACE("sync " + std::to_string(static_cast<int>(sync)) + " fault " +
                     std::to_string(static_cast<int>(fault)) + " at call " + std::to_string(k));
        TempDir dir;
        std::string path = dir.file("a.rvl");
        FaultEnv env;
        OpenOptions o;
        o.env = &env;
        o.sync = sync;
        o.segment_size = 64 * 1024;
        std::vector<std::string> expected;
        {
          auto db = Db::open(path, o);
          ASSERT_TRUE(db.ok()) << db.status().to_string();
          ASSERT_TRUE((*db)->create_topic("t").ok());
          ASSERT_TRUE(commit_three(**db, "before").ok());
          for (int i = 0; i < 3; ++i) expected.push_back("before." + std::to_string(i));

          env.fail_at(env.ops() + k, fault);
          Status st = commit_three(**db, "faulty");
          bool sync_failed = !st.ok() && st.message().find("fdatasync") != std::string::npos;
          if (st.ok()) {
            for (int i = 0; i < 3; ++i) expected.push_back("faulty." + std::to_string(i));
          } else {
            EXPECT_TRUE(st.code() == Code::io_error || st.code() == Code::no_space) << st.to_string();
          }
          env.clear_faults();
          Status after = commit_three(**db, "after");
          if (after.ok()) {
            for (int i = 0; i < 3; ++i) expected.push_back("after." + std::to_string(i));
          } else {
            EXPECT_TRUE(sync_failed) << "only a failed fdatasync stops the handle: " << after.to_string();
          }
          if (sync_failed) {
            // The frame may or may not have reached the disk: both are right.
            (*db)->close().ignore();
            auto reopened = Db::open(path);
            ASSERT_TRUE(reopened.ok()) << reopened.status().to_string();
            auto got = all_values(**reopened);
            if (got.size() == expected.size() + 3) {
              for (int i = 0; i < 3; ++i) expected.push_back("faulty." + std::to_string(i));
            }
            EXPECT_EQ(got, expected);
            continue;
          }
          ASSERT_TRUE((*db)->close().ok());
        }
        expect_file_valid(path);
        auto db = Db::open(path);
        ASSERT_TRUE(db.ok()) << db.status().to_string();
        EXPECT_EQ(all_values(**db), expected);
      }
    }
  }
}

// The disk fills up for good: every commit fails cleanly, nothing already
// committed is lost, and the file opens once space is back.
TEST(FaultInjection, DiskFullForGoodKeepsEverythingCommitted) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  FaultEnv env;
  OpenOptions o;
  o.env = &env;
  {
    auto db = Db::open(path, o);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->create_topic("t").ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "kept"}).ok());
    env.fail_at(env.ops() + 1, Fault::enospc, /*sticky=*/true);
    for (int i = 0; i < 5; ++i) {
      auto a = (*db)->produce({.topic = "t", .value = "lost"});
      ASSERT_FALSE(a.ok());
      EXPECT_EQ(a.status().code(), Code::no_space) << a.status().to_string();
      EXPECT_NE(a.status().message().find(path), std::string::npos) << "the error names the file";
    }
    (*db)->close().ignore();
  }
  expect_file_valid(path);
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(all_values(**db), (std::vector<std::string>{"kept"}));
}

// A power cut at every mutating call of a workload in turn, each with its
// own seed: afterwards the file opens, check passes, every commit that
// returned under sync=full is there, and no commit is there in part.
TEST(FaultInjection, PowerCutAtEveryStepLosesNoFullSyncCommit) {
  uint64_t base_seed = testing::test_seed();
  SCOPED_TRACE("RIVULET_SEED=" + std::to_string(base_seed));
  int cuts = 0;
  for (uint64_t n = 1;; ++n) {
    SCOPED_TRACE("power cut at call " + std::to_string(n));
    TempDir dir;
    std::string path = dir.file("a.rvl");
    FaultEnv env;
    env.cut_after(n, base_seed + n);
    OpenOptions o;
    o.env = &env;
    o.sync = Sync::full;
    o.segment_size = 64 * 1024;
    std::vector<std::string> acked;
    {
      auto db = Db::open(path, o);
      if (db.ok() && (*db)->create_topic("t").ok()) {
        for (int c = 0; c < 40; ++c) {
          WriteBatch batch(**db);
          std::string pad(c * 50, 'x');
          for (int i = 0; i < 3; ++i) {
            ASSERT_TRUE(batch.add({.topic = "t", .value = std::to_string(c) + "." + std::to_string(i) + pad}).ok());
          }
          if (!(*db)->commit(batch).ok()) break;
          for (int i = 0; i < 3; ++i) acked.push_back(std::to_string(c) + "." + std::to_string(i) + pad);
        }
        (*db)->close().ignore();
      }
    }
    if (!env.cut_fired()) break;  // the workload ran to the end: every step was cut once
    ++cuts;
    env.clear_faults();
    if (!std::filesystem::exists(path)) {
      ASSERT_TRUE(acked.empty());
      continue;  // the cut came before the file was created
    }
    expect_file_valid(path);
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    auto topics = (*db)->list_topics();
    ASSERT_TRUE(topics.ok());
    if (topics->empty()) {
      ASSERT_TRUE(acked.empty());
      continue;
    }
    auto got = all_values(**db);
    ASSERT_GE(got.size(), acked.size()) << "a commit that returned under sync=full was lost";
    ASSERT_TRUE(std::equal(acked.begin(), acked.end(), got.begin()));
    ASSERT_EQ(got.size() % 3, 0u) << "part of a commit is visible";
    ASSERT_LE(got.size(), acked.size() + 3) << "at most the commit in flight may appear";
  }
  EXPECT_GT(cuts, 80);
  RecordProperty("power_cuts", std::to_string(cuts));
}

}  // namespace
}  // namespace rivulet
