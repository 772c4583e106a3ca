// Consumer groups: the assignor, the Consumer API (subscribe, poll, commit,
// seek, pause), partitions moving between members in threads and processes
// (including members killed with SIGKILL), and the exactly-once path.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "group/assignor.hpp"
#include "procs.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
using testing::Proc;
using testing::Procs;

// ---- the assignor ----

std::vector<std::vector<group::AssignedPartition>> assign(const std::vector<group::AssignTopic>& topics,
                                                          const std::vector<group::AssignMember>& members) {
  return group::assign_round_robin(topics, members);
}

TEST(Assignor, DealsPartitionsInTurnByTopicNameAndJoinOrder) {
  std::vector<group::AssignTopic> topics{{"b", 2, 2, 2}, {"a", 1, 1, 3}};
  // Given out of join order: the assignor orders members by join_seq.
  std::vector<group::AssignMember> members{{7, {1, 2}}, {3, {1, 2}}};
  auto out = assign(topics, members);
  // a0 a1 a2 b0 b1 dealt to the member that joined at 3, then at 7, ...
  std::vector<group::AssignedPartition> first{{1, 0}, {1, 2}, {0, 1}};
  std::vector<group::AssignedPartition> second{{1, 1}, {0, 0}};
  EXPECT_EQ(out[1], first);
  EXPECT_EQ(out[0], second);
}

TEST(Assignor, GivesATopicOnlyToItsSubscribers) {
  std::vector<group::AssignTopic> topics{{"a", 1, 1, 3}, {"b", 2, 2, 2}, {"c", 3, 3, 2}};
  std::vector<group::AssignMember> members{{1, {1}}, {2, {1, 2}}};
  auto out = assign(topics, members);
  std::vector<group::AssignedPartition> m1{{0, 0}, {0, 2}};
  std::vector<group::AssignedPartition> m2{{0, 1}, {1, 0}, {1, 1}};
  EXPECT_EQ(out[0], m1);
  EXPECT_EQ(out[1], m2);  // and nobody gets c
}

TEST(Assignor, EveryPartitionOnceAndBalanced) {
  std::mt19937_64 rng(testing::test_seed());
  for (int round = 0; round < 200; ++round) {
    std::vector<group::AssignTopic> topics;
    int total = 0;
    for (int t = 0; t < 1 + int(rng() % 4); ++t) {
      int parts = 1 + int(rng() % 9);
      topics.push_back({"t" + std::to_string(t), uint64_t(100 + t), uint32_t(t + 1), parts});
      total += parts;
    }
    std::vector<group::AssignMember> members;
    for (int m = 0; m < 1 + int(rng() % 5); ++m) {
      std::vector<uint64_t> all;
      for (const auto& t : topics) all.push_back(t.hash);
      members.push_back({rng(), all});
    }
    auto out = assign(topics, members);
    std::set<std::pair<size_t, int32_t>> seen;
    size_t lo = SIZE_MAX, hi = 0;
    for (const auto& m : out) {
      lo = std::min(lo, m.size());
      hi = std::max(hi, m.size());
      for (const auto& a : m) EXPECT_TRUE(seen.insert({a.topic, a.partition}).second);
    }
    EXPECT_EQ(seen.size(), size_t(total));
    EXPECT_LE(hi - lo, 1u) << "all members subscribe to everything: shares differ by at most one";
  }
}

// ---- the Consumer API in one process ----

// Polls until `want` records came (or 5 s passed); returns their values.
std::vector<std::string> poll_values(Consumer& c, size_t want) {
  std::vector<std::string> got;
  auto until = Clock::now() + 5s;
  while (got.size() < want && Clock::now() < until) {
    auto r = c.poll(20ms);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) break;
    for (const ConsumerRecord& rec : *r) got.emplace_back(*rec.value);
  }
  return got;
}

class ConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::open(path_);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->create_topic("t", {.partitions = 4}).ok());
  }

  void produce(int n, const std::string& topic = "t") {
    for (int i = 0; i < n; ++i) {
      std::string v = "v" + std::to_string(produced_++);
      ASSERT_TRUE(db_->produce({.topic = topic, .value = v, .partition = i % 4}).ok());
    }
  }

  std::unique_ptr<Consumer> consumer(ConsumerOptions options) {
    auto c = Consumer::create(*db_, std::move(options));
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // Polls every consumer until `done` holds (or 5 s passed).
  static bool poll_until(std::vector<Consumer*> cs, const std::function<bool()>& done) {
    auto until = Clock::now() + 5s;
    while (!done()) {
      if (Clock::now() >= until) return false;
      for (Consumer* c : cs) EXPECT_TRUE(c->poll(1ms).ok());
    }
    return true;
  }

  testing::TempDir dir_;
  std::string path_ = dir_.file("c.rvl");
  std::unique_ptr<Db> db_;
  int produced_ = 0;
};

TEST_F(ConsumerTest, ResumesWhereTheGroupCommitted) {
  produce(10);
  {
    auto c = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest});
    ASSERT_TRUE(c->subscribe({"t"}).ok());
    EXPECT_EQ(poll_values(*c, 10).size(), 10u);
    ASSERT_TRUE(c->close().ok());  // auto-commits what poll returned
  }
  produce(5);
  auto c = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest});
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  std::vector<std::string> got = poll_values(*c, 5);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"v10", "v11", "v12", "v13", "v14"}));
  EXPECT_TRUE(c->poll(50ms)->empty());
  auto committed = c->committed({"t", 0});
  ASSERT_TRUE(committed.ok() && committed->has_value());
  EXPECT_EQ((*committed)->offset, 3);  // v0 v4 v8 went to partition 0
}

TEST_F(ConsumerTest, NewGroupStartsAsAutoOffsetResetSays) {
  produce(8);
  auto latest = consumer({.group = "late"});  // Kafka's default: latest
  ASSERT_TRUE(latest->subscribe({"t"}).ok());
  EXPECT_TRUE(latest->poll(50ms)->empty());
  produce(4);
  EXPECT_EQ(poll_values(*latest, 4).size(), 4u);

  auto earliest = consumer({.group = "early", .auto_offset_reset = OffsetReset::earliest});
  ASSERT_TRUE(earliest->subscribe({"t"}).ok());
  EXPECT_EQ(poll_values(*earliest, 12).size(), 12u);

  auto none = consumer({.group = "strict", .auto_offset_reset = OffsetReset::none});
  Status st = none->subscribe({"t"});
  EXPECT_EQ(st.code(), Code::not_found);
  EXPECT_NE(st.message().find("strict"), std::string::npos) << st.message();
}

TEST_F(ConsumerTest, CommitSeekPausePosition) {
  produce(8);
  auto c = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest, .enable_auto_commit = false});
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  EXPECT_EQ(c->assignment().size(), 4u);
  EXPECT_EQ(poll_values(*c, 8).size(), 8u);
  EXPECT_EQ(*c->position({"t", 1}), 2);
  EXPECT_FALSE(c->committed({"t", 1})->has_value()) << "auto-commit is off";
  ASSERT_TRUE(c->commit().ok());
  EXPECT_EQ((*c->committed({"t", 1}))->offset, 2);

  ASSERT_TRUE(c->seek({"t", 1}, StartAt::offset(1)).ok());
  std::vector<TopicPartition> others{{"t", 0}, {"t", 2}, {"t", 3}};
  ASSERT_TRUE(c->seek({"t", 0}, StartAt::earliest()).ok());
  ASSERT_TRUE(c->pause(others).ok());
  EXPECT_EQ(poll_values(*c, 1), std::vector<std::string>{"v5"});  // only t[1] from offset 1
  EXPECT_TRUE(c->poll(30ms)->empty());
  ASSERT_TRUE(c->resume(others).ok());
  EXPECT_EQ(poll_values(*c, 2).size(), 2u);  // t[0] again from the start

  EXPECT_EQ(c->seek({"t", 9}, StartAt::earliest()).code(), Code::invalid_argument);
  EXPECT_EQ(c->position({"other", 0}).status().code(), Code::invalid_argument);
}

// Too many topics fail before anything changes, as a bad name does: the
// earlier subscription and its partitions stay.
TEST_F(ConsumerTest, SubscribingToTooManyTopicsKeepsTheEarlierSubscription) {
  auto c = consumer({.group = "g"});
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  ASSERT_EQ(c->assignment().size(), 4u);
  std::vector<std::string> many;
  for (int i = 0; i < 29; ++i) many.push_back("topic" + std::to_string(i));
  Status st = c->subscribe(many);
  EXPECT_EQ(st.code(), Code::invalid_argument);
  EXPECT_NE(st.message().find("at most 28"), std::string::npos) << st.message();
  EXPECT_EQ(c->assignment().size(), 4u);
  EXPECT_EQ(db_->describe_group("g")->members.size(), 1u);
  many.pop_back();
  EXPECT_TRUE(c->subscribe(many).ok()) << "28 topics are allowed";
}

// A callback runs in the middle of a move: calls that would move the
// partitions again are refused there, the rest work.
TEST_F(ConsumerTest, CallbacksCannotMoveThePartitionsAgain) {
  produce(4);
  std::vector<Code> in_revoked;
  Consumer* self = nullptr;
  auto c = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest,
                     .on_revoked = [&](std::span<const TopicPartition> tps) {
                       in_revoked.push_back(self->close().code());
                       in_revoked.push_back(self->unsubscribe().code());
                       in_revoked.push_back(self->subscribe({"t"}).code());
                       in_revoked.push_back(self->poll(0ms).status().code());
                       in_revoked.push_back(self->commit().code());
                       in_revoked.push_back(self->position(tps[0]).status().code());
                     }});
  self = c.get();
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  EXPECT_EQ(poll_values(*c, 4).size(), 4u);
  ASSERT_TRUE(c->close().ok());
  EXPECT_EQ(in_revoked, (std::vector<Code>{Code::invalid_argument, Code::invalid_argument, Code::invalid_argument,
                                           Code::invalid_argument, Code::ok, Code::ok}));
  auto committed = db_->committed("g", "t", 0);
  ASSERT_TRUE(committed.ok() && committed->has_value());
  EXPECT_EQ((*committed)->offset, 1) << "the commit in the callback went through";
  EXPECT_TRUE(c->assignment().empty());
}

TEST_F(ConsumerTest, MembersShareThePartitionsAndTakeOverOnLeave) {
  std::vector<TopicPartition> revoked1;
  auto c1 = consumer({.group = "g", .on_revoked = [&](std::span<const TopicPartition> tps) {
                        revoked1.insert(revoked1.end(), tps.begin(), tps.end());
                      }});
  ASSERT_TRUE(c1->subscribe({"t"}).ok());
  EXPECT_EQ(c1->assignment().size(), 4u);
  auto c2 = consumer({.group = "g"});
  ASSERT_TRUE(c2->subscribe({"t"}).ok());
  ASSERT_TRUE(poll_until({c1.get(), c2.get()}, [&] { return c1->assignment().size() == 2 && c2->assignment().size() == 2; }));
  EXPECT_EQ(revoked1.size(), 2u);
  std::set<TopicPartition> all;
  for (auto& tp : c1->assignment()) all.insert(tp);
  for (auto& tp : c2->assignment()) all.insert(tp);
  EXPECT_EQ(all.size(), 4u);

  auto info = db_->describe_group("g");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  ASSERT_EQ(info->members.size(), 2u);
  EXPECT_EQ(info->members[0].assignment.size(), 2u);
  EXPECT_EQ(info->members[0].subscription, std::vector<std::string>{"t"});
  EXPECT_EQ(db_->delete_group("g").code(), Code::busy) << "a group with live members is not deleted";
  auto groups = db_->list_groups();
  ASSERT_TRUE(groups.ok());
  ASSERT_EQ(groups->size(), 1u) << "a group with members but no offsets is listed";

  ASSERT_TRUE(c2->close().ok());
  ASSERT_TRUE(poll_until({c1.get()}, [&] { return c1->assignment().size() == 4; }));
}

// A joining member's share may still be held by an earlier member, which
// lets go at its next poll: until then the newcomer says it awaits them.
TEST_F(ConsumerTest, SaysWhichPartitionsAnotherMemberStillHolds) {
  auto c1 = consumer({.group = "g"});
  ASSERT_TRUE(c1->subscribe({"t"}).ok());
  EXPECT_EQ(c1->assignment().size(), 4u);
  EXPECT_TRUE(c1->awaiting().empty());
  auto c2 = consumer({.group = "g"});
  ASSERT_TRUE(c2->subscribe({"t"}).ok());
  ASSERT_TRUE(c2->poll(0ms).ok());
  EXPECT_TRUE(c2->assignment().empty());
  const std::vector<TopicPartition> awaited = c2->awaiting();
  EXPECT_EQ(awaited.size(), 2u);

  ASSERT_TRUE(c1->poll(0ms).ok());  // lets go of c2's share
  ASSERT_TRUE(poll_until({c2.get()}, [&] { return c2->awaiting().empty(); }));
  EXPECT_EQ(c2->assignment(), awaited);
  EXPECT_EQ(c1->assignment().size(), 2u);
  ASSERT_TRUE(c2->unsubscribe().ok());
  EXPECT_TRUE(c2->awaiting().empty());
}

// A member waiting in poll() with nothing to read mostly sleeps: it looks
// at its group on a timer only to notice deaths, and that timer backs off
// from 10 to 50 ms while the file is idle (~30 wake-ups here; before, every
// 10 ms: ~150). Joins and commits still wake it at once.
TEST_F(ConsumerTest, AnIdleMemberSleepsThroughAPoll) {
  auto c = consumer({.group = "g"});
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  ASSERT_EQ(c->assignment().size(), 4u);
  auto switches = [] {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return u.ru_nvcsw;
  };
  long before = switches();
  auto r = c->poll(1500ms);
  long woken = switches() - before;
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->empty());
  EXPECT_LT(woken, 60) << "an idle member woke " << woken << " times in 1.5 s";
  // Still a member that reads at once what comes.
  produce(1);
  EXPECT_EQ(poll_values(*c, 1), std::vector<std::string>{"v0"});
}

// milliseconds::max() as a poll's timeout (or the auto-commit interval)
// overflowed the deadline (UBSan stops there), which wrapped into the past:
// the poll returned at once, empty.
TEST_F(ConsumerTest, PollWithTheLongestTimeoutWaitsForARecord) {
  auto c = consumer({.group = "g", .auto_commit_interval = std::chrono::milliseconds::max()});
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  std::thread producer([&] {
    std::this_thread::sleep_for(100ms);
    produce(1);
  });
  auto r = c->poll(std::chrono::milliseconds::max());
  producer.join();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 1u) << "returned without waiting";
  EXPECT_EQ((*r)[0].value, std::optional<std::string_view>("v0"));
}

// A member left without partitions (more members than partitions) waits
// for its next look, not for every commit to the topic others read.
TEST_F(ConsumerTest, AStandbyMemberSleepsThroughOthersCommits) {
  ASSERT_TRUE(db_->create_topic("one").ok());
  auto c1 = consumer({.group = "g"});
  ASSERT_TRUE(c1->subscribe({"one"}).ok());
  ASSERT_EQ(c1->assignment().size(), 1u);
  auto c2 = consumer({.group = "g"});
  ASSERT_TRUE(c2->subscribe({"one"}).ok());
  ASSERT_TRUE(c2->poll(0ms).ok());
  ASSERT_TRUE(c2->assignment().empty());
  std::atomic<bool> waiting{false};
  long woken = -1;
  std::thread standby([&] {
    rusage before{}, after{};
    getrusage(RUSAGE_THREAD, &before);
    waiting.store(true);
    EXPECT_TRUE(c2->poll(1000ms).ok());
    getrusage(RUSAGE_THREAD, &after);
    woken = after.ru_nvcsw - before.ru_nvcsw;
  });
  while (!waiting.load()) std::this_thread::yield();
  for (int i = 0; i < 3000; ++i) ASSERT_TRUE(db_->produce({.topic = "one", .value = "x"}).ok());
  standby.join();
  EXPECT_LT(woken, 60) << "a member with no partitions woke " << woken << " times in 1 s";
  EXPECT_TRUE(c2->assignment().empty());
}

TEST_F(ConsumerTest, PicksUpTopicsCreatedAfterSubscribing) {
  auto c = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest});
  ASSERT_TRUE(c->subscribe({"later"}).ok());
  EXPECT_TRUE(c->assignment().empty());
  ASSERT_TRUE(db_->create_topic("later", {.partitions = 2}).ok());
  ASSERT_TRUE(db_->produce({.topic = "later", .value = "x"}).ok());
  EXPECT_EQ(poll_values(*c, 1), std::vector<std::string>{"x"});
  EXPECT_EQ(c->assignment().size(), 2u);
}

TEST_F(ConsumerTest, RefusesBadUse) {
  EXPECT_EQ(Consumer::create(*db_, {}).status().code(), Code::invalid_argument);
  EXPECT_EQ(Consumer::create(*db_, {.group = "g\xff"}).status().code(), Code::invalid_argument);
  EXPECT_EQ(Consumer::create(*db_, {.group = "g\n"}).status().code(), Code::invalid_argument);
  EXPECT_EQ(Consumer::create(*db_, {.group = std::string(249, 'g')}).status().code(), Code::invalid_argument);
  auto c = consumer({.group = "g"});
  EXPECT_EQ(c->poll(0ms).status().code(), Code::invalid_argument) << "poll before subscribe";
  EXPECT_EQ(c->subscribe({"bad name"}).code(), Code::invalid_argument);
  EXPECT_EQ(c->subscribe({"__rivulet_offsets"}).code(), Code::invalid_argument);
  ASSERT_TRUE(c->close().ok());
  EXPECT_EQ(c->subscribe({"t"}).code(), Code::invalid_argument);

  OpenOptions ro;
  ro.read_only = true;
  auto rdb = Db::open(path_, ro);
  ASSERT_TRUE(rdb.ok());
  // A read-only handle can still have the shared area; only commits fail.
  auto rc = Consumer::create(**rdb, {.group = "g"});
  if (rc.ok()) {
    ASSERT_TRUE((*rc)->subscribe({"t"}).ok());
  } else {
    EXPECT_EQ(rc.status().code(), Code::read_only);
  }
}

// Members come and go in threads (each on its own Db handle, as processes
// would be) while records are produced: a partition is never held by two
// members at once (checked at every callback and record), and every record
// is read at least once.
// Damage in one partition does not swallow the records other partitions
// gave the same poll (their readers have moved past them): the poll hands
// them out and the next one reports the damage, as Reader::poll does within
// a partition and Kafka's consumer does with what it fetched before an error.
TEST(ConsumerGroups, DamageInOnePartitionDoesNotSwallowAnothersRecords) {
  testing::TempDir dir;
  std::string path = dir.file("c.rvl");
  OpenOptions o;
  o.checkpoint_bytes = 1;  // checkpoints as often as their size allows: open replays little
  {
    auto db = Db::open(path, o);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    ASSERT_TRUE((*db)->create_topic("t", {.partitions = 2}).ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "zero-first", .partition = 0}).ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "one-damaged", .partition = 1}).ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "zero-second", .partition = 0}).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  std::string bytes = testing::read_all(path);
  const size_t at = bytes.find("one-damaged");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = static_cast<char>(bytes[at] ^ 0x40);  // the batch fails its CRC when read
  testing::write_all(path, bytes);

  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << "open does not read before the checkpoint: " << db.status().to_string();
  ASSERT_GT((*db)->stat()->checkpoint_position, at);
  auto c = Consumer::create(**db, {.group = "g", .auto_offset_reset = OffsetReset::earliest,
                                   .enable_auto_commit = false});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_TRUE((*c)->subscribe({"t"}).ok());
  std::vector<std::string> got;
  Status failed;
  for (int polls = 0; polls < 10 && failed.ok(); ++polls) {
    auto r = (*c)->poll(0ms);
    if (!r.ok()) {
      failed = r.status();
    } else {
      for (const ConsumerRecord& rec : *r) got.emplace_back(*rec.value);
    }
  }
  EXPECT_EQ(got, (std::vector<std::string>{"zero-first", "zero-second"}));
  EXPECT_EQ(failed.code(), Code::corruption) << failed.to_string();
  EXPECT_EQ(*(*c)->position({"t", 0}), 2);
  EXPECT_EQ(*(*c)->position({"t", 1}), 0) << "the damaged record is not passed over";
}

TEST(ConsumerGroups, NoPartitionIsEverReadByTwoMembers) {
  testing::TempDir dir;
  std::string path = dir.file("g.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->create_topic("t", {.partitions = 6}).ok());
  }
  constexpr int kRecords = 3000;
  std::mutex mu;
  std::map<int32_t, int> owner;  // partition -> member holding it
  std::vector<int> seen(kRecords, 0);
  std::atomic<int> violations{0};
  std::atomic<bool> stop{false};
  std::atomic<int> next_member{0};
  uint64_t seed = testing::test_seed();

  std::thread producer([&] {
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok());
    for (int i = 0; i < kRecords; ++i) {
      std::string v = std::to_string(i);
      ASSERT_TRUE((*db)->produce({.topic = "t", .value = v, .partition = i % 6}).ok());
      if (i % 100 == 0) std::this_thread::sleep_for(2ms);
    }
  });
  auto member_loop = [&](int thread) {
    std::mt19937_64 rng(seed + thread);
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok());
    while (!stop) {
      int me = next_member++;
      ConsumerOptions options{.group = "g", .auto_offset_reset = OffsetReset::earliest};
      options.auto_commit_interval = 0ms;
      options.on_assigned = [&, me](std::span<const TopicPartition> tps) {
        std::lock_guard lock(mu);
        for (const auto& tp : tps) {
          if (owner.count(tp.partition)) ++violations;
          owner[tp.partition] = me;
        }
      };
      options.on_revoked = [&, me](std::span<const TopicPartition> tps) {
        std::lock_guard lock(mu);
        for (const auto& tp : tps) {
          if (owner[tp.partition] != me) ++violations;
          owner.erase(tp.partition);
        }
      };
      auto c = Consumer::create(**db, options);
      ASSERT_TRUE(c.ok());
      Status sub = (*c)->subscribe({"t"});
      ASSERT_TRUE(sub.ok()) << sub.to_string();
      auto until = Clock::now() + std::chrono::milliseconds(20 + rng() % 150);
      while (Clock::now() < until) {
        auto r = (*c)->poll(5ms);
        ASSERT_TRUE(r.ok()) << r.status().to_string();
        std::lock_guard lock(mu);
        for (const ConsumerRecord& rec : *r) {
          auto it = owner.find(rec.partition);
          if (it == owner.end() || it->second != me) ++violations;
          ++seen[std::stoi(std::string(*rec.value))];
        }
      }
      ASSERT_TRUE((*c)->close().ok());
    }
  };
  std::vector<std::thread> members;
  for (int t = 0; t < 3; ++t) members.emplace_back(member_loop, t);
  producer.join();
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& m : members) m.join();
  EXPECT_EQ(violations.load(), 0) << "seed " << seed;

  // A last member drains what the churn left: afterwards every record was
  // read at least once.
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok());
  auto c = Consumer::create(**db, {.group = "g", .auto_offset_reset = OffsetReset::earliest});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->subscribe({"t"}).ok());
  for (;;) {
    auto r = (*c)->poll(100ms);
    ASSERT_TRUE(r.ok());
    if (r->empty()) break;
    for (const ConsumerRecord& rec : *r) ++seen[std::stoi(std::string(*rec.value))];
  }
  int missing = 0;
  for (int n : seen) missing += n == 0;
  EXPECT_EQ(missing, 0) << "seed " << seed;
}

// ---- members in processes, killed with SIGKILL ----

class GroupProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::open(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->create_topic("in", {.partitions = 4}).ok());
    ASSERT_TRUE((*db)->create_topic("out").ok());
    WriteBatch batch(**db);
    for (int i = 0; i < kInputs; ++i) {
      std::string v = std::to_string(i);
      ASSERT_TRUE(batch.add({.topic = "in", .value = v, .partition = i % 4}).ok());
      if (batch.size() == 100) {
        ASSERT_TRUE((*db)->commit(batch).ok());
        batch.clear();
      }
    }
  }

  // Runs three members of `mode`, killing one at random every 30-150 ms
  // (and starting another) for a while, then lets them finish. Returns how
  // many times each input ("p:o") is in "out".
  std::map<std::string, int> run(const std::string& mode) {
    Procs procs;
    std::mt19937_64 rng(seed_);
    std::vector<Proc*> live;
    int started = 0;
    auto start = [&] {
      Proc* p = procs.start("member " + std::to_string(started++), "group_member",
                            {path_, "g", mode, std::to_string(kInputs)});
      EXPECT_NE(p, nullptr);
      if (p) live.push_back(p);
    };
    for (int i = 0; i < 3; ++i) start();
    auto kill_until = Clock::now() + 1500ms;
    while (Clock::now() < kill_until) {
      procs.pump(std::chrono::milliseconds(30 + rng() % 120));
      size_t victim = rng() % live.size();
      kill(live[victim]->pid, SIGKILL);
      ++kills_;
      live.erase(live.begin() + long(victim));
      start();
    }
    // Members with a limit stop once "out" holds an output per input; in
    // exactly-once mode it never holds more.
    bool finished = procs.wait_done(live, Clock::now() + 60s);
    EXPECT_TRUE(finished) << "members did not finish" << procs.report();
    for (Proc* p : live) EXPECT_TRUE(p->exited(0)) << p->report();
    report_ = procs.report();

    std::map<std::string, int> count;
    auto db = Db::open(path_);
    EXPECT_TRUE(db.ok());
    auto r = (*db)->reader("out", 0);
    EXPECT_TRUE(r.ok());
    for (;;) {
      auto got = (*r)->poll(0ms);
      EXPECT_TRUE(got.ok());
      if (!got.ok() || got->empty()) break;
      for (const RecordView& rec : *got) ++count[std::string(*rec.value)];
    }
    return count;
  }

  static std::string input(int i) { return std::to_string(i % 4) + ":" + std::to_string(i / 4); }

  static constexpr int kInputs = 4000;
  testing::TempDir dir_;
  std::string path_ = dir_.file("p.rvl");
  uint64_t seed_ = testing::test_seed();
  int kills_ = 0;
  std::string report_;
};

TEST_F(GroupProcesses, ExactlyOnceAcrossKilledMembers) {
  std::map<std::string, int> count = run("exactly");
  EXPECT_GT(kills_, 5);
  int wrong = 0;
  for (int i = 0; i < kInputs; ++i) {
    int n = count.count(input(i)) ? count[input(i)] : 0;
    if (n != 1 && wrong++ < 5) ADD_FAILURE() << input(i) << " is in the output " << n << " times";
  }
  EXPECT_EQ(count.size(), size_t(kInputs)) << "seed " << seed_ << report_;
  EXPECT_EQ(wrong, 0) << "seed " << seed_;
}

TEST_F(GroupProcesses, AtLeastOnceAcrossKilledMembers) {
  std::map<std::string, int> count = run("at-least");
  int missing = 0;
  for (int i = 0; i < kInputs; ++i) missing += count.count(input(i)) == 0;
  EXPECT_EQ(missing, 0) << "seed " << seed_ << report_;
  EXPECT_EQ(count.size(), size_t(kInputs));
}

// A member killed with SIGKILL loses its partitions to the survivor without
// anyone closing anything: the kernel drops the dead process's locks.
TEST_F(GroupProcesses, SurvivorTakesOverTheDeadMembersPartitions) {
  Procs procs;
  Proc* other = procs.start("member", "group_member", {path_, "g", "at-least"});
  ASSERT_NE(other, nullptr);
  auto db = Db::open(path_);
  ASSERT_TRUE(db.ok());
  // Commits nothing, so the other member finds records wherever it starts.
  auto c = Consumer::create(
      **db, {.group = "g", .auto_offset_reset = OffsetReset::earliest, .enable_auto_commit = false});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->subscribe({"in"}).ok());
  auto until = Clock::now() + 10s;
  // Both members hold two partitions each once the other has read its own.
  while (((*c)->assignment().size() != 2 || other->out_text.find("reading") == std::string::npos) &&
         Clock::now() < until) {
    ASSERT_TRUE((*c)->poll(5ms).ok());
    procs.pump(0ms);
  }
  ASSERT_EQ((*c)->assignment().size(), 2u) << procs.report();
  ASSERT_NE(other->out_text.find("reading"), std::string::npos) << procs.report();
  kill(other->pid, SIGKILL);
  while ((*c)->assignment().size() != 4 && Clock::now() < until) ASSERT_TRUE((*c)->poll(5ms).ok());
  EXPECT_EQ((*c)->assignment().size(), 4u);
}


// A database without topics: each test makes what it needs.
class ConsumerEdges : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Db::open(path_);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    db_ = std::move(db).value();
  }
  std::unique_ptr<Consumer> consumer(ConsumerOptions options) {
    auto c = Consumer::create(*db_, std::move(options));
    EXPECT_TRUE(c.ok()) << c.status().to_string();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  void produce(const std::string& topic, int n, const std::string& prefix = "v") {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(db_->produce({.topic = topic, .value = prefix + std::to_string(i)}).ok());
  }
  testing::TempDir dir_;
  std::string path_ = dir_.file("r.rvl");
  std::unique_ptr<Db> db_;
};

// A subscribed topic is deleted while a member reads it: the member keeps
// consuming its other topics.
TEST_F(ConsumerEdges, DeletingASubscribedTopicDoesNotBreakTheConsumer) {
  ASSERT_TRUE(db_->create_topic("a").ok());
  ASSERT_TRUE(db_->create_topic("b").ok());
  ASSERT_TRUE(db_->produce({.topic = "a", .value = "a0"}).ok());
  ASSERT_TRUE(db_->produce({.topic = "b", .value = "b0"}).ok());
  auto c = Consumer::create(*db_, {.group = "g", .auto_offset_reset = OffsetReset::earliest,
                                   .auto_commit_interval = std::chrono::milliseconds(0)});
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->subscribe({"a", "b"}).ok());
  size_t got = 0;
  for (int i = 0; i < 50 && got < 2; ++i) {
    auto r = (*c)->poll(std::chrono::milliseconds(10));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    got += r->size();
  }
  ASSERT_EQ(got, 2u);
  ASSERT_TRUE(db_->delete_topic("a").ok());
  ASSERT_TRUE(db_->produce({.topic = "b", .value = "b1"}).ok());
  std::vector<std::string> after;
  for (int i = 0; i < 50 && after.empty(); ++i) {
    auto r = (*c)->poll(std::chrono::milliseconds(10));
    EXPECT_TRUE(r.ok()) << "poll " << i << ": " << r.status().to_string();
    if (!r.ok()) continue;
    for (const ConsumerRecord& rec : *r) after.emplace_back(*rec.value);
  }
  EXPECT_EQ(after, std::vector<std::string>{"b1"});
  auto r = (*c)->poll(std::chrono::milliseconds(30));  // a look gives up the deleted topic's partition
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*c)->assignment(), (std::vector<TopicPartition>{{"b", 0}}));
  EXPECT_TRUE((*c)->close().ok());
}



// auto_offset_reset none: a committed offset that retention or
// delete_records has passed is an error, as Kafka's none is, not a silent
// jump to the end over records nobody in the group has read.
TEST_F(ConsumerEdges, ResetNoneDoesNotSkipRecordsPastAGoneCommittedOffset) {
  ASSERT_TRUE(db_->create_topic("t").ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(db_->produce({.topic = "t", .value = "v" + std::to_string(i)}).ok());
  ASSERT_TRUE(db_->commit_offsets("g", std::vector<OffsetCommit>{{"t", 0, 2, ""}}).ok());
  ASSERT_TRUE(db_->delete_records("t", 0, 5).ok());
  auto c = Consumer::create(*db_, {.group = "g", .auto_offset_reset = OffsetReset::none});
  ASSERT_TRUE(c.ok());
  Status st = (*c)->subscribe({"t"});
  if (st.ok()) {
    // If it started somewhere, it must not be past records 5..9.
    std::vector<std::string> got;
    for (int i = 0; i < 20; ++i) {
      auto r = (*c)->poll(std::chrono::milliseconds(5));
      if (!r.ok()) {
        st = r.status();
        break;
      }
      for (const ConsumerRecord& rec : *r) got.emplace_back(*rec.value);
    }
    if (st.ok()) {
      EXPECT_EQ(got.size(), 5u) << "records 5..9 were skipped; position " << *(*c)->position({"t", 0});
    }
  }
  if (!st.ok()) {
    EXPECT_NE(st.message().find("'g'"), std::string::npos) << st.to_string();
  }
}

// subscribe() fails when its first look cannot take a partition (here
// none without a committed offset for t[1]): the consumer leaves the group
// and gives back what it took, or the group would assign partitions to a
// member that never polls them.
TEST_F(ConsumerEdges, AFailedSubscribeLeavesTheGroupAndHoldsNothing) {
  ASSERT_TRUE(db_->create_topic("t", {.partitions = 2}).ok());
  ASSERT_TRUE(db_->commit_offsets("g", std::vector<OffsetCommit>{{"t", 0, 0, ""}}).ok());
  auto strict = consumer({.group = "g", .auto_offset_reset = OffsetReset::none});
  ASSERT_TRUE(strict);
  Status st = strict->subscribe({"t"});
  ASSERT_EQ(st.code(), Code::not_found) << st.to_string();
  EXPECT_TRUE(strict->assignment().empty());
  auto info = db_->describe_group("g");
  ASSERT_TRUE(info.ok()) << info.status().to_string();
  EXPECT_TRUE(info->members.empty());

  // Another member gets both partitions at once.
  auto other = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest});
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->subscribe({"t"}).ok());
  EXPECT_EQ(other->assignment().size(), 2u);
  EXPECT_TRUE(other->awaiting().empty());
  ASSERT_TRUE(db_->produce({.topic = "t", .value = "p0", .partition = 0}).ok());
  ASSERT_TRUE(db_->produce({.topic = "t", .value = "p1", .partition = 1}).ok());
  std::vector<std::string> got = poll_values(*other, 2);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"p0", "p1"}));
}

// delete_records (or retention) passes a member's position: as in Kafka,
// the member goes on where auto_offset_reset says instead of failing every
// poll; under none, poll fails naming the position.
TEST_F(ConsumerEdges, APositionDeletedUnderAMemberFollowsAutoOffsetReset) {
  ASSERT_TRUE(db_->create_topic("t").ok());
  produce("t", 10);
  auto c = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest, .enable_auto_commit = false,
                     .max_poll_records = 2});
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  ASSERT_EQ(poll_values(*c, 2), (std::vector<std::string>{"v0", "v1"}));
  ASSERT_TRUE(db_->delete_records("t", 0, 5).ok());
  EXPECT_EQ(poll_values(*c, 5), (std::vector<std::string>{"v5", "v6", "v7", "v8", "v9"}));

  auto strict = consumer({.group = "h", .auto_offset_reset = OffsetReset::none, .max_poll_records = 2});
  ASSERT_TRUE(strict);
  ASSERT_TRUE(db_->commit_offsets("h", std::vector<OffsetCommit>{{"t", 0, 5, ""}}).ok());
  ASSERT_TRUE(strict->subscribe({"t"}).ok());
  ASSERT_EQ(poll_values(*strict, 2), (std::vector<std::string>{"v5", "v6"}));
  ASSERT_TRUE(db_->delete_records("t", 0, 8).ok());
  auto r = strict->poll(10ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::out_of_range);
  EXPECT_NE(r.status().message().find("position 7 of t[0]"), std::string::npos) << r.status().to_string();
  EXPECT_EQ(*strict->position({"t", 0}), 7);
}

// Offsets are keyed by topic name: add_offsets_to must not put the position
// in a deleted topic on the new topic of its name, as commit() does not, or
// the group would skip the new topic's first records.
TEST_F(ConsumerEdges, AddOffsetsToLeavesOutATopicCreatedAgainUnderItsName) {
  ASSERT_TRUE(db_->create_topic("t").ok());
  ASSERT_TRUE(db_->create_topic("out").ok());
  produce("t", 5, "old");
  auto c = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest, .enable_auto_commit = false});
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  ASSERT_EQ(poll_values(*c, 5).size(), 5u);
  ASSERT_TRUE(db_->delete_topic("t").ok());
  ASSERT_TRUE(db_->create_topic("t").ok());
  produce("t", 8, "new");

  WriteBatch batch(*db_);
  ASSERT_TRUE(batch.add({.topic = "out", .value = "processed"}).ok());
  ASSERT_TRUE(c->add_offsets_to(batch).ok());
  ASSERT_TRUE(db_->commit(batch).ok());
  auto committed = db_->committed("g", "t", 0);
  ASSERT_TRUE(committed.ok());
  EXPECT_FALSE(committed->has_value()) << "the old topic's position " << (*committed)->offset << " was committed";
  ASSERT_TRUE(c->close().ok());

  auto next = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest, .enable_auto_commit = false});
  ASSERT_TRUE(next);
  ASSERT_TRUE(next->subscribe({"t"}).ok());
  EXPECT_EQ(poll_values(*next, 8).size(), 8u);
}

// commit() commits the positions, whatever this consumer committed before:
// here add_offsets_to moved the group's offset past a position the member
// then seeks back to, to read those records again after a restart too.
TEST_F(ConsumerEdges, CommitCommitsThePositionAfterAddOffsetsToAndASeekBack) {
  ASSERT_TRUE(db_->create_topic("t").ok());
  ASSERT_TRUE(db_->create_topic("out").ok());
  produce("t", 5);
  auto c = consumer({.group = "g", .auto_offset_reset = OffsetReset::earliest, .enable_auto_commit = false});
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->subscribe({"t"}).ok());
  const TopicPartition t0{"t", 0};
  ASSERT_TRUE(c->commit().ok());  // 0
  ASSERT_EQ(poll_values(*c, 5).size(), 5u);
  WriteBatch batch(*db_);
  ASSERT_TRUE(batch.add({.topic = "out", .value = "x"}).ok());
  ASSERT_TRUE(c->add_offsets_to(batch).ok());
  ASSERT_TRUE(db_->commit(batch).ok());
  ASSERT_EQ((*c->committed(t0))->offset, 5);

  ASSERT_TRUE(c->seek(t0, StartAt::earliest()).ok());
  ASSERT_TRUE(c->commit().ok());
  EXPECT_EQ((*c->committed(t0))->offset, 0);
}

// As DamageInOnePartitionDoesNotSwallowAnothersRecords, with the damage in
// the partition a poll looks at first: the other partition's records still
// come out (consumer.hpp: the error is returned by a poll that has no records
// of other partitions to hand out).
TEST(ConsumerGroups, DamageInTheFirstPartitionDoesNotStarveTheOthers) {
  testing::TempDir dir;
  std::string path = dir.file("c.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    ASSERT_TRUE((*db)->create_topic("t", {.partitions = 2}).ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "zero-damaged", .partition = 0}).ok());
    ASSERT_TRUE((*db)->produce({.topic = "t", .value = "one-first", .partition = 1}).ok());
    // A checkpoint after them: open does not replay (nor check) them.
    ASSERT_TRUE((*db)->vacuum().ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  ASSERT_TRUE(testing::damage_first(path, "zero-damaged"));  // its batch fails its CRC when read

  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  auto c = Consumer::create(**db, {.group = "g", .auto_offset_reset = OffsetReset::earliest,
                                   .enable_auto_commit = false});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_TRUE((*c)->subscribe({"t"}).ok());
  std::vector<std::string> got;
  int errors = 0;
  for (int polls = 0; polls < 10; ++polls) {
    auto r = (*c)->poll(std::chrono::milliseconds(0));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::corruption) << r.status().to_string();
      ++errors;
    } else {
      for (const ConsumerRecord& rec : *r) got.emplace_back(*rec.value);
    }
  }
  EXPECT_EQ(got, std::vector<std::string>{"one-first"});
  EXPECT_GT(errors, 0);
}

TEST(ConsumerGroups, APausedPartitionDoesNotPinWhatItReadBeforeThePause) {
  testing::TempDir dir;
  std::string path = dir.file("c.rvl");
  OpenOptions small;
  small.segment_size = 64 * 1024;
  auto db = Db::open(path, small);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  ASSERT_TRUE((*db)->create_topic("t").ok());
  ASSERT_TRUE((*db)->create_topic("filler").ok());
  ASSERT_TRUE((*db)->produce({.topic = "t", .value = "first"}).ok());
  // Past the first two segments, so that the first record is behind every
  // handle's chain position (which each handle marks too).
  for (int i = 0; i < 40; ++i) ASSERT_TRUE((*db)->produce({.topic = "filler", .value = std::string(4000, 'x')}).ok());
  auto other = Db::open(path, small);
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  const uint64_t heads = (*other)->stat()->lowest_read_mark;
  ASSERT_GE(heads, 2u);

  auto c = Consumer::create(**db, {.group = "g", .auto_offset_reset = OffsetReset::earliest,
                                   .enable_auto_commit = false});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_TRUE((*c)->subscribe({"t"}).ok());
  auto r = (*c)->poll(0ms);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*other)->stat()->lowest_read_mark, 0u) << "the records of the poll pin their segment";

  const TopicPartition t0{"t", 0};
  ASSERT_TRUE((*c)->pause({&t0, 1}).ok());
  EXPECT_EQ((*other)->stat()->lowest_read_mark, 0u) << "until the next poll, the records are still the caller's";
  r = (*c)->poll(0ms);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->empty());
  EXPECT_EQ((*other)->stat()->lowest_read_mark, heads) << "the paused partition still pins what it read";

  ASSERT_TRUE((*db)->produce({.topic = "t", .value = "second"}).ok());
  ASSERT_TRUE((*c)->resume({&t0, 1}).ok());
  r = (*c)->poll(0ms);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ(*(*r)[0].value, "second") << "resumed where it stood";
}

}  // namespace
}  // namespace rivulet
