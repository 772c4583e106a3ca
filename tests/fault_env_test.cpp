// Tests of testing::FaultEnv (testing/fault_env.hpp): injected failures,
// op counting, and that simulated crashes and power cuts leave files only in
// states a real disk could show.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include "fault_env.hpp"
#include "io/locks.hpp"
#include "io/env.hpp"

namespace rivulet::testing {
namespace {

using io::File;
using io::OpenMode;

constexpr uint64_t kSector = 512;

class FaultEnvTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }

  std::unique_ptr<File> open(const std::string& name, OpenMode mode = OpenMode::read_write) {
    Result<std::unique_ptr<File>> f = env_.open(path(name), mode);
    EXPECT_TRUE(f.ok()) << f.status().to_string();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  // A new file holding `content`, synced.
  std::unique_ptr<File> create_synced(const std::string& name, std::string_view content) {
    std::unique_ptr<File> f = open(name, OpenMode::create_exclusive_rw);
    if (!f) return f;
    if (!content.empty()) {
      EXPECT_TRUE(write(*f, 0, content).ok());
    }
    EXPECT_TRUE(f->sync().ok());
    return f;
  }

  static Status write(File& f, uint64_t pos, std::string_view bytes) {
    return f.write_at(pos, std::span<const std::string_view>(&bytes, 1));
  }

  // The file's bytes as the real file system has them.
  std::string real(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    EXPECT_TRUE(in.good()) << path(name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  FaultEnv env_;
  ::rivulet::testing::TempDir dir_;
};

TEST_F(FaultEnvTest, CountsOnlyMutatingFileCalls) {
  std::unique_ptr<File> f = open("a", OpenMode::create_exclusive_rw);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(env_.ops(), 0u);
  ASSERT_TRUE(write(*f, 0, "hello").ok());
  ASSERT_TRUE(f->sync().ok());
  ASSERT_TRUE(f->allocate(4096).ok());
  ASSERT_TRUE(f->truncate(5).ok());
  EXPECT_EQ(env_.ops(), 4u);
  char buf[5];
  ASSERT_TRUE(f->read_at(0, buf, 5).ok());
  ASSERT_TRUE(f->size().ok());
  ASSERT_TRUE(f->map(5).ok());
  ASSERT_TRUE(f->lock(io::kWriterLockByte, io::LockType::exclusive, false).ok());
  ASSERT_TRUE(f->unlock(io::kWriterLockByte).ok());
  ASSERT_TRUE(env_.sync_parent_dir(path("a")).ok());
  ASSERT_TRUE(env_.file_size(path("a")).ok());
  EXPECT_EQ(env_.ops(), 4u);
}

TEST_F(FaultEnvTest, FailAtOnceWithEio) {
  std::unique_ptr<File> f = open("a", OpenMode::create_exclusive_rw);
  env_.fail_at(2, Fault::eio);
  ASSERT_TRUE(write(*f, 0, "one").ok());
  Status s = write(*f, 3, "two");
  EXPECT_EQ(s.code(), Code::io_error);
  EXPECT_EQ(s.message(), "write " + path("a") + ": Input/output error (injected)");
  ASSERT_TRUE(write(*f, 3, "three").ok());
  EXPECT_EQ(real("a"), "onethree");
}

TEST_F(FaultEnvTest, FailAtOnceWithEnospcHitsAnyMutatingCall) {
  std::unique_ptr<File> f = open("a", OpenMode::create_exclusive_rw);
  env_.fail_at(1, Fault::enospc);
  Status s = f->allocate(1 << 20);
  EXPECT_EQ(s.code(), Code::no_space);
  EXPECT_EQ(s.message(), "fallocate " + path("a") + ": No space left on device (injected)");
  EXPECT_EQ(f->size().value(), 0u);
  ASSERT_TRUE(f->allocate(100).ok());
  EXPECT_EQ(f->size().value(), 100u);
}

TEST_F(FaultEnvTest, StickyFaultFailsEveryLaterCall) {
  std::unique_ptr<File> f = open("a", OpenMode::create_exclusive_rw);
  env_.fail_at(2, Fault::enospc, /*sticky=*/true);
  ASSERT_TRUE(write(*f, 0, "ok").ok());
  EXPECT_EQ(write(*f, 2, "x").code(), Code::no_space);
  EXPECT_EQ(f->allocate(10).code(), Code::no_space);
  EXPECT_EQ(f->truncate(0).code(), Code::no_space);
  Status s = f->sync();
  EXPECT_EQ(s.code(), Code::io_error);
  EXPECT_EQ(s.message(), "fdatasync " + path("a") + ": Input/output error (injected)");
  EXPECT_EQ(write(*f, 2, "x").code(), Code::no_space);
  EXPECT_EQ(env_.ops(), 6u);
  char buf[2];
  EXPECT_TRUE(f->read_at(0, buf, 2).ok());  // reads still work
  env_.clear_faults();
  EXPECT_TRUE(write(*f, 2, "x").ok());
  EXPECT_EQ(real("a"), "okx");
}

TEST_F(FaultEnvTest, StickyEioFailsSyncs) {
  std::unique_ptr<File> f = open("a", OpenMode::create_exclusive_rw);
  env_.fail_at(1, Fault::eio, /*sticky=*/true);
  EXPECT_EQ(f->sync().code(), Code::io_error);
  EXPECT_EQ(f->sync().code(), Code::io_error);
  EXPECT_EQ(write(*f, 0, "x").code(), Code::io_error);
  EXPECT_EQ(f->truncate(1).code(), Code::io_error);
}

TEST_F(FaultEnvTest, ShortWriteWritesTheFirstHalf) {
  std::unique_ptr<File> f = open("a", OpenMode::create_exclusive_rw);
  env_.fail_at(1, Fault::short_write);
  std::vector<std::string_view> parts = {"abc", "defg", "hijklmn"};  // 14 bytes
  Status s = f->write_at(10, parts);
  EXPECT_EQ(s.code(), Code::no_space);
  EXPECT_NE(s.message().find("write " + path("a")), std::string::npos) << s.message();
  EXPECT_EQ(real("a"), std::string(10, '\0') + "abcdefg");

  env_.fail_at(2, Fault::short_write);
  EXPECT_EQ(write(*f, 0, "XYZ").code(), Code::no_space);  // 3 bytes: 1 lands
  EXPECT_EQ(real("a").substr(0, 3), std::string("X\0\0", 3));
  EXPECT_TRUE(write(*f, 0, "123").ok());  // not sticky
}

TEST_F(FaultEnvTest, DropAllRestoresLastSyncedBytesAndSize) {
  const std::string base(3000, 'o');
  std::unique_ptr<File> f = create_synced("a", base);
  ASSERT_TRUE(write(*f, 1000, std::string(1000, 'n')).ok());
  ASSERT_TRUE(write(*f, 5000, std::string(5000, 'p')).ok());
  ASSERT_TRUE(f->truncate(1500).ok());
  ASSERT_TRUE(write(*f, 4000, std::string(100, 'q')).ok());
  ASSERT_TRUE(f->allocate(20000).ok());
  ASSERT_TRUE(f->truncate(10).ok());
  ASSERT_TRUE(f->truncate(2500).ok());
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  EXPECT_EQ(real("a"), base);
}

TEST_F(FaultEnvTest, DropAllOfANewFileEmptiesIt) {
  std::unique_ptr<File> f = open("a", OpenMode::create_exclusive_rw);
  ASSERT_TRUE(write(*f, 0, std::string(3000, 'n')).ok());
  ASSERT_TRUE(f->allocate(8192).ok());
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  EXPECT_EQ(real("a"), "");
}

TEST_F(FaultEnvTest, SyncedWritesSurvivePowerCuts) {
  const std::string synced(1000, 's');
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const std::string name = "f" + std::to_string(seed);
    std::unique_ptr<File> f = create_synced(name, synced);
    ASSERT_TRUE(write(*f, 1000, std::string(3000, 'u')).ok());
    ASSERT_TRUE(env_.power_cut(seed).ok());
    std::string after = real(name);
    ASSERT_GE(after.size(), 1000u);
    EXPECT_EQ(after.substr(0, 1000), synced) << "seed " << seed;
  }
}

TEST_F(FaultEnvTest, FailedSyncLeavesChangesUnsynced) {
  std::unique_ptr<File> f = create_synced("a", "old");
  ASSERT_TRUE(write(*f, 0, "new").ok());
  env_.fail_at(env_.ops() + 1, Fault::eio);
  EXPECT_FALSE(f->sync().ok());
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  EXPECT_EQ(real("a"), "old");
}

TEST_F(FaultEnvTest, SyncThroughAnyFileOfThePathCounts) {
  std::unique_ptr<File> writer = create_synced("a", "old");
  std::unique_ptr<File> other = open("a");
  ASSERT_TRUE(write(*writer, 0, "new").ok());
  ASSERT_TRUE(other->sync().ok());
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  EXPECT_EQ(real("a"), "new");
}

// Runs the same history on a new file and cuts power with `seed`.
std::string cut_history(FaultEnv& env, const std::string& path, uint64_t seed) {
  Result<std::unique_ptr<File>> f = env.open(path, OpenMode::create_exclusive_rw);
  EXPECT_TRUE(f.ok());
  std::string base(5000, 'o');
  std::string_view v(base);
  EXPECT_TRUE((*f)->write_at(0, std::span<const std::string_view>(&v, 1)).ok());
  EXPECT_TRUE((*f)->sync().ok());
  for (int i = 0; i < 4; ++i) {
    std::string bytes(1700, static_cast<char>('a' + i));
    std::string_view b(bytes);
    EXPECT_TRUE((*f)->write_at(300 + 1100 * i, std::span<const std::string_view>(&b, 1)).ok());
  }
  EXPECT_TRUE(env.power_cut(seed).ok());
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_F(FaultEnvTest, PowerCutIsDeterministicPerSeed) {
  std::set<std::string> outcomes;
  for (uint64_t seed = 0; seed < 20; ++seed) {
    std::string first = cut_history(env_, path("x" + std::to_string(seed)), seed);
    std::string second = cut_history(env_, path("y" + std::to_string(seed)), seed);
    EXPECT_EQ(first, second) << "seed " << seed;
    outcomes.insert(first);
    for (char c : first) {
      ASSERT_TRUE(c == 'o' || (c >= 'a' && c <= 'd') || c == '\0');
    }
  }
  EXPECT_GT(outcomes.size(), 10u);
}

// One unsynced write over a synced file: each sector it touches must hold a
// prefix of the new bytes followed by the old ones (zeros past the old end),
// and the file may only be cut back to where surviving bytes end.
TEST_F(FaultEnvTest, PowerCutMixesOldAndNewBytesPerSector) {
  const uint64_t old_size = 4096, pos = 700, len = 5000, end = pos + len;
  int kept = 0, lost = 0, torn = 0, grew = 0;
  for (uint64_t seed = 0; seed < 100; ++seed) {
    const std::string name = "f" + std::to_string(seed);
    std::unique_ptr<File> f = create_synced(name, std::string(old_size, 'o'));
    ASSERT_TRUE(write(*f, pos, std::string(len, 'n')).ok());
    ASSERT_TRUE(env_.power_cut(seed).ok());
    const std::string got = real(name);
    ASSERT_GE(got.size(), old_size);
    ASSERT_LE(got.size(), end);
    if (got.size() > old_size) {
      ++grew;
      EXPECT_EQ(got.back(), 'n') << "seed " << seed;
    }
    EXPECT_EQ(got.substr(0, pos), std::string(pos, 'o'));
    for (uint64_t a = pos; a < got.size();) {
      const uint64_t b = std::min<uint64_t>({end, (a / kSector + 1) * kSector, got.size()});
      const uint64_t chunk_end = std::min(end, (a / kSector + 1) * kSector);
      uint64_t k = a;
      while (k < b && got[k] == 'n') ++k;
      for (uint64_t i = k; i < b; ++i) {
        ASSERT_EQ(got[i], i < old_size ? 'o' : '\0') << "seed " << seed << " byte " << i;
      }
      if (k == chunk_end) {
        ++kept;
      } else if (k == a) {
        ++lost;
      } else {
        ++torn;
      }
      a = b;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(lost, 0);
  EXPECT_GT(torn, 0);
  EXPECT_GT(grew, 0);
}

TEST_F(FaultEnvTest, SurvivingTruncateWinsOverEarlierLostWrites) {
  int truncate_kept = 0, truncate_lost = 0;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    const std::string name = "f" + std::to_string(seed);
    std::unique_ptr<File> f = create_synced(name, std::string(2000, 'o'));
    ASSERT_TRUE(write(*f, 1500, std::string(1500, 'a')).ok());  // size 3000
    ASSERT_TRUE(f->truncate(1000).ok());
    ASSERT_TRUE(write(*f, 0, std::string(100, 'b')).ok());
    ASSERT_TRUE(env_.power_cut(seed).ok());
    const std::string got = real(name);
    for (size_t i = 0; i < std::min<size_t>(100, got.size()); ++i) {
      ASSERT_TRUE(got[i] == 'o' || got[i] == 'b') << "seed " << seed;
    }
    if (got.size() == 1000) {  // the truncate survived: nothing of 'a' can
      ++truncate_kept;
      EXPECT_EQ(got.substr(100), std::string(900, 'o')) << "seed " << seed;
      continue;
    }
    ++truncate_lost;  // the file is the old one plus what survived of 'a'
    ASSERT_GE(got.size(), 2000u) << "seed " << seed;
    ASSERT_LE(got.size(), 3000u) << "seed " << seed;
    EXPECT_EQ(got.substr(100, 1400), std::string(1400, 'o')) << "seed " << seed;
    for (size_t i = 1500; i < got.size(); ++i) {
      ASSERT_TRUE(got[i] == 'a' || got[i] == (i < 2000 ? 'o' : '\0')) << "seed " << seed;
    }
    if (got.size() > 2000) {
      EXPECT_EQ(got.back(), 'a') << "seed " << seed;
    }
  }
  EXPECT_GT(truncate_kept, 0);
  EXPECT_GT(truncate_lost, 0);
}

// Random histories of writes, truncates and allocates after a synced start.
// Dropping everything must give back the synced file exactly; any cut must
// leave each byte holding a value that position had at some point.
TEST_F(FaultEnvTest, RandomHistories) {
  uint64_t rng = 12345;
  auto next = [&rng](uint64_t bound) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (rng >> 33) % bound;
  };
  for (int round = 0; round < 60; ++round) {
    const std::string name = "r" + std::to_string(round);
    std::string model(next(3000), 'A');
    std::unique_ptr<File> f = create_synced(name, model);
    const std::string synced = model;
    // Per position, a bit per value it has held: bit 0 for '\0', 1 + k for 'A' + k.
    auto bit = [](char c) { return c == '\0' ? 1u : 2u << (c - 'A'); };
    std::vector<uint32_t> seen(10000);
    auto note = [&] {
      for (size_t i = 0; i < seen.size(); ++i) seen[i] |= bit(i < model.size() ? model[i] : '\0');
    };
    note();
    for (int op = 0; op < 8; ++op) {
      const uint64_t kind = next(4);
      if (kind <= 1) {
        const uint64_t pos = next(6000), len = 1 + next(2500);
        const std::string bytes(len, static_cast<char>('B' + op));
        ASSERT_TRUE(write(*f, pos, bytes).ok());
        if (model.size() < pos + len) model.resize(pos + len, '\0');
        model.replace(pos, len, bytes);
      } else if (kind == 2) {
        const uint64_t size = next(7000);
        ASSERT_TRUE(f->truncate(size).ok());
        model.resize(size, '\0');
      } else {
        const uint64_t end = next(9000);
        ASSERT_TRUE(f->allocate(end).ok());
        if (model.size() < end) model.resize(end, '\0');
      }
      note();
    }
    ASSERT_EQ(real(name), model) << "round " << round;
    if (round % 2 == 0) {
      ASSERT_TRUE(env_.power_cut_drop_all().ok());
      EXPECT_EQ(real(name), synced) << "round " << round;
    } else {
      ASSERT_TRUE(env_.power_cut(round).ok());
      const std::string got = real(name);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_TRUE(seen[i] & bit(got[i])) << "round " << round << " byte " << i;
      }
    }
  }
}

TEST_F(FaultEnvTest, FilesAreDeadAfterAPowerCut) {
  std::unique_ptr<File> f = create_synced("a", "synced");
  ASSERT_TRUE(write(*f, 6, "+unsynced").ok());
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  const uint64_t ops = env_.ops();
  char buf[1];
  std::vector<Status> calls = {
      f->read_at(0, buf, 1), write(*f, 0, "x"), f->sync(),          f->size().status(),
      f->allocate(10),       f->truncate(0),    f->map(1).status(), f->lock(io::kWriterLockByte, io::LockType::exclusive, false),
      f->unlock(io::kWriterLockByte),
  };
  for (const Status& s : calls) {
    EXPECT_EQ(s.code(), Code::io_error);
    EXPECT_NE(s.message().find("simulated power cut"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(path("a")), std::string::npos) << s.message();
  }
  EXPECT_EQ(env_.ops(), ops);
  EXPECT_EQ(real("a"), "synced");

  // A new File works and starts with nothing unsynced.
  std::unique_ptr<File> g = open("a");
  ASSERT_TRUE(write(*g, 0, "S").ok());
  ASSERT_TRUE(g->sync().ok());
  ASSERT_TRUE(write(*g, 1, "Y").ok());
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  EXPECT_EQ(real("a"), "Synced");
}

TEST_F(FaultEnvTest, PowerCutReleasesWriterLocks) {
  std::unique_ptr<File> f = create_synced("a", "");
  ASSERT_TRUE(f->lock(io::kWriterLockByte, io::LockType::exclusive, false).ok());
  std::unique_ptr<File> g = open("a");
  EXPECT_EQ(g->lock(io::kWriterLockByte, io::LockType::exclusive, false).code(), Code::busy);
  ASSERT_TRUE(env_.power_cut(7).ok());
  std::unique_ptr<File> h = open("a");
  EXPECT_TRUE(h->lock(io::kWriterLockByte, io::LockType::exclusive, false).ok());
}

TEST_F(FaultEnvTest, CrashKillsFilesButKeepsTheirData) {
  std::unique_ptr<File> f = create_synced("a", "synced");
  ASSERT_TRUE(write(*f, 6, "+cached").ok());
  env_.crash();
  EXPECT_EQ(write(*f, 0, "x").code(), Code::io_error);
  EXPECT_EQ(real("a"), "synced+cached");
  // Still unsynced: the page cache has not reached the disk yet.
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  EXPECT_EQ(real("a"), "synced");
}

// A workload that appends and syncs five records, stopping at the first
// failure; returns how many records were synced.
int append_records(FaultEnv& env, const std::string& path, Status* failure) {
  Result<std::unique_ptr<File>> f = env.open(path, OpenMode::create_exclusive_rw);
  if (!f.ok()) {
    *failure = f.status();
    return 0;
  }
  for (int i = 0; i < 5; ++i) {
    std::string rec(700, static_cast<char>('a' + i));
    std::string_view v(rec);
    Status s = (*f)->write_at(700 * i, std::span<const std::string_view>(&v, 1));
    if (s.ok()) s = (*f)->sync();
    if (!s.ok()) {
      *failure = s;
      return i;
    }
  }
  return 5;
}

TEST_F(FaultEnvTest, CutAfterStepsThroughAWorkload) {
  for (uint64_t n = 1;; ++n) {
    FaultEnv env;
    const std::string name = "step" + std::to_string(n);
    env.cut_after(n, /*seed=*/n * 31);
    Status failure;
    int synced = append_records(env, path(name), &failure);
    if (!env.cut_fired()) {
      EXPECT_EQ(synced, 5);
      EXPECT_EQ(n, 11u);  // 5 writes + 5 syncs, so the 11th call never comes
      break;
    }
    EXPECT_EQ(env.ops(), n);
    EXPECT_EQ(failure.code(), Code::io_error);
    EXPECT_NE(failure.message().find("simulated power cut"), std::string::npos);
    EXPECT_EQ(synced, static_cast<int>((n - 1) / 2));
    const std::string got = real(name);
    ASSERT_GE(got.size(), 700u * synced) << "n " << n;
    for (int i = 0; i < synced; ++i) {
      EXPECT_EQ(got.substr(700 * i, 700), std::string(700, static_cast<char>('a' + i)));
    }
    ASSERT_LE(n, 11u);
  }
}

TEST_F(FaultEnvTest, RenameCarriesUnsyncedChanges) {
  std::unique_ptr<File> f = open("tmp", OpenMode::create_exclusive_rw);
  ASSERT_TRUE(write(*f, 0, "never synced").ok());
  f.reset();
  ASSERT_TRUE(env_.rename_noreplace(path("tmp"), path("final")).ok());
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  EXPECT_EQ(real("final"), "");
}

TEST_F(FaultEnvTest, RemovedFilesAreForgotten) {
  std::unique_ptr<File> f = open("gone", OpenMode::create_exclusive_rw);
  ASSERT_TRUE(write(*f, 0, "data").ok());
  f.reset();
  ASSERT_TRUE(env_.remove(path("gone")).ok());
  ASSERT_TRUE(env_.power_cut_drop_all().ok());
  EXPECT_EQ(env_.file_size(path("gone")).status().code(), Code::not_found);
}

TEST_F(FaultEnvTest, MapAndLocksPassThrough) {
  std::unique_ptr<File> f = create_synced("a", std::string(100, 'm'));
  Result<std::unique_ptr<io::Mapping>> m = f->map(100);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(write(*f, 0, "Z").ok());
  EXPECT_EQ((*m)->data()[0], 'Z');
  std::unique_ptr<File> g = open("a");
  ASSERT_TRUE(f->lock(io::kWriterLockByte, io::LockType::exclusive, false).ok());
  EXPECT_EQ(g->lock(io::kWriterLockByte, io::LockType::exclusive, false).code(), Code::busy);
  ASSERT_TRUE(f->unlock(io::kWriterLockByte).ok());
  EXPECT_TRUE(g->lock(io::kWriterLockByte, io::LockType::exclusive, false).ok());
}

TEST_F(FaultEnvTest, FilesMayOutliveTheirEnv) {
  std::unique_ptr<File> f;
  {
    FaultEnv env;
    Result<std::unique_ptr<File>> r = env.open(path("a"), OpenMode::create_exclusive_rw);
    ASSERT_TRUE(r.ok());
    f = std::move(r).value();
  }
  EXPECT_TRUE(write(*f, 0, "still here").ok());
  EXPECT_EQ(real("a"), "still here");
}

}  // namespace
}  // namespace rivulet::testing
