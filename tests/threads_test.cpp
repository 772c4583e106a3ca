// Many threads on one Db, and several Db handles in one process: every
// record committed once, offsets dense, readers see commits as they land.
// Run under ThreadSanitizer in CI.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;

TEST(Threads, ConcurrentProducersAndFollowingReaders) {
  testing::TempDir dir;
  std::string path = dir.file("a.rvl");
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->create_topic("t", {.partitions = 2}).ok());
  // A second handle in the same process is a separate writer, as another
  // process would be.
  auto other = Db::open(path);
  ASSERT_TRUE(other.ok());

  constexpr int kThreads = 4, kPerThread = 300;
  std::atomic<int> failures{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < kThreads; ++t) {
    producers.emplace_back([&, t] {
      Db& target = t % 2 ? **other : **db;
      for (int i = 0; i < kPerThread; ++i) {
        std::string v = std::to_string(t) + ":" + std::to_string(i);
        if (i % 3 == 0) {
          WriteBatch batch(target);
          if (!batch.add({.topic = "t", .value = v, .partition = i % 2}).ok() || !target.commit(batch).ok()) {
            ++failures;
          }
        } else if (!target.produce({.topic = "t", .value = v, .partition = i % 2}).ok()) {
          ++failures;
        }
      }
    });
  }
  std::vector<std::set<std::string>> seen(2);
  std::vector<std::thread> readers;
  for (int p = 0; p < 2; ++p) {
    readers.emplace_back([&, p] {
      auto r = (*db)->reader("t", p);
      if (!r.ok()) {
        ++failures;
        return;
      }
      int64_t expect = 0;
      while (seen[static_cast<size_t>(p)].size() < kThreads * kPerThread / 2) {
        auto recs = (*r)->poll(5s);
        if (!recs.ok() || recs->empty()) {
          ++failures;
          return;
        }
        for (const RecordView& v : *recs) {
          if (v.offset != expect++) ++failures;
          if (!seen[static_cast<size_t>(p)].insert(std::string(*v.value)).second) ++failures;
        }
      }
    });
  }
  for (auto& t : producers) t.join();
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(seen[0].size() + seen[1].size(), static_cast<size_t>(kThreads * kPerThread));
  auto d = (*other)->describe_topic("t");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->partitions[0].next_offset + d->partitions[1].next_offset, kThreads * kPerThread);
}

TEST(Threads, TopicCreatedByOneHandleIsUsableByAnother) {
  testing::TempDir dir;
  std::string path = dir.file("a.rvl");
  auto a = Db::open(path);
  auto b = Db::open(path);
  ASSERT_TRUE(a.ok() && b.ok());
  std::thread creator([&] { ASSERT_TRUE((*a)->create_topic("late").ok()); });
  creator.join();
  EXPECT_TRUE((*b)->produce({.topic = "late", .value = "x"}).ok());
  EXPECT_EQ((*b)->create_topic("late").code(), Code::already_exists);
}

}  // namespace
}  // namespace rivulet
