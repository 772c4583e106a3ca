// The shared coordination area (coord/shared_state.hpp) and what Db builds
// on it: the writer lock that survives its holder's death, commits seen and
// waited for across handles, group commit, read marks, and an area that is
// rebuilt when nobody has the log open; and the consumer groups' member
// table in it.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "coord/group_membership.hpp"
#include "coord/shared_state.hpp"
#include "fault_env.hpp"
#include "io/locks.hpp"
#include "forwarding_env.hpp"
#include "forwarding_file.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using coord::SharedState;
using std::chrono::milliseconds;
using testing::TempDir;
using testing::wait_child;

constexpr coord::LogIdentity kLog{{1, 2}, 3};

std::unique_ptr<SharedState> attach(const std::string& path, coord::LogIdentity log = kLog) {
  Result<std::unique_ptr<SharedState>> s = SharedState::attach(io::Env::posix(), path, path, log);
  EXPECT_TRUE(s.ok()) << s.status().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::unique_ptr<Db> open_db(const std::string& path, OpenOptions options = {}) {
  Result<std::unique_ptr<Db>> db = Db::open(path, options);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  return db.ok() ? std::move(db).value() : nullptr;
}

std::vector<std::string> values(Reader& r, milliseconds timeout = milliseconds(0)) {
  std::vector<std::string> out;
  Result<std::span<const RecordView>> got = r.poll(timeout);
  EXPECT_TRUE(got.ok()) << got.status().to_string();
  if (got.ok()) {
    for (const RecordView& v : *got) out.emplace_back(v.value.value_or("<null>"));
  }
  return out;
}

// Runs `child` in a forked process that never returns into gtest.
template <typename F>
pid_t fork_child(F child) {
  pid_t pid = ::fork();
  if (pid == 0) {
    child();
    ::_exit(0);
  }
  return pid;
}

// Another process attaches to `path`, does `step` (true if it went well)
// and is killed with SIGKILL right after, holding whatever `step` took.
template <typename F>
void killed_after(const std::string& path, F step) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = fork_child([&] {
    auto theirs = attach(path);
    char ok = theirs && step(*theirs) ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
    for (;;) ::pause();
  });
  char got = 0;
  EXPECT_EQ(::read(ready[0], &got, 1), 1);
  EXPECT_EQ(got, 'y');
  ::kill(child, SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(wait_child(child)));
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(Coordination, FirstToAttachRebuildsTheAreaAndLastToLeaveRemovesIt) {
  TempDir dir;
  std::string path = dir.file("a-shm");
  // Leftovers of a crash: garbage where the lock word and heads would be.
  testing::write_all(path, std::string(100000, '\xff'));
  auto first = attach(path);
  ASSERT_NE(first, nullptr);
  EXPECT_TRUE(first->fresh());
  ASSERT_TRUE(first->publish_initial(7, 5).ok());
  auto second = attach(path);
  ASSERT_NE(second, nullptr);
  EXPECT_FALSE(second->fresh());
  EXPECT_EQ(second->written_seq(), 7u);
  EXPECT_EQ(second->committed_seq(), 7u);
  EXPECT_EQ(second->durable_seq(), 5u);
  bool took_over = true;
  ASSERT_TRUE(second->lock_writer(&took_over).ok());  // the garbage lock word is gone
  EXPECT_FALSE(took_over);
  second->unlock_writer();
  EXPECT_EQ(*second->live_handles(), 2u);
  first.reset();
  EXPECT_EQ(*second->live_handles(), 1u);
  EXPECT_TRUE(std::filesystem::exists(path));
  second.reset();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Coordination, AnAreaOfAnotherLogIsRefused) {
  TempDir dir;
  auto first = attach(dir.file("a-shm"));
  ASSERT_TRUE(first->publish_initial(1, 1).ok());
  Result<std::unique_ptr<SharedState>> other =
      SharedState::attach(io::Env::posix(), dir.file("a-shm"), dir.file("a-shm"), {{1, 99}, 3});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), Code::busy);
  EXPECT_NE(other.status().message().find("another file open under this name"), std::string::npos)
      << other.status().message();
}

// Two versions of Rivulet with a log open at once would read each other's
// shared words at the wrong offsets: the later one refuses, naming why.
TEST(Coordination, AnAreaOfAnotherVersionInUseIsRefused) {
  TempDir dir;
  std::string path = dir.file("a-shm");
  auto first = attach(path);
  ASSERT_TRUE(first->publish_initial(1, 1).ok());
  // What another version's handle holding the area would have left there.
  // The version's low byte (native-endian), written in place: the area is
  // mapped by `first`.
  char version = testing::read_all(path)[8];
  --version;
  int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, &version, 1, 8), 1);
  ::close(fd);
  Result<std::unique_ptr<SharedState>> other = SharedState::attach(io::Env::posix(), path, path, kLog);
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.status().code(), Code::unsupported);
  EXPECT_NE(other.status().message().find("another version of Rivulet"), std::string::npos)
      << other.status().message();
  // Versions differ in size too (4 ended before the wake channels): a
  // smaller area is another version's, not one whose builder died.
  const off_t full = static_cast<off_t>(testing::read_all(path).size());
  ASSERT_EQ(::truncate(path.c_str(), 147'776), 0);
  other = SharedState::attach(io::Env::posix(), path, path, kLog);
  EXPECT_EQ(other.status().code(), Code::unsupported) << other.status().to_string();
  ASSERT_EQ(::truncate(path.c_str(), full), 0);  // `first` maps all of it
}

TEST(Coordination, WriterLockOfAKilledHolderIsTakenOver) {
  TempDir dir;
  std::string path = dir.file("a-shm");
  auto mine = attach(path);
  ASSERT_TRUE(mine->publish_initial(1, 1).ok());
  killed_after(path, [](SharedState& theirs) {
    bool took_over = false;
    return theirs.lock_writer(&took_over).ok();
  });
  bool took_over = false;
  ASSERT_TRUE(mine->lock_writer(&took_over).ok());
  EXPECT_TRUE(took_over);
  mine->unlock_writer();
  ASSERT_TRUE(mine->lock_writer(&took_over).ok());
  EXPECT_FALSE(took_over);
  mine->unlock_writer();
}

// A committer counts itself in `writers` on its way to a frame so that a
// sync leader waits a moment for it; one killed on the way must not make
// every later leader wait kGatherWriters for a frame that never comes.
TEST(Coordination, ACommitterKilledOnItsWayToAFrameIsNotWaitedForByLaterSyncs) {
  TempDir dir;
  std::string path = dir.file("a-shm");
  auto mine = attach(path);
  ASSERT_TRUE(mine->publish_initial(1, 1).ok());
  killed_after(path, [](SharedState& theirs) {
    theirs.begin_write();
    return true;
  });
  EXPECT_EQ(mine->writers(), 1u);

  bool took_over = false;
  ASSERT_TRUE(mine->lock_writer(&took_over).ok());
  mine->publish_written(2, false, {});
  mine->unlock_writer();
  int syncs = 0;
  ASSERT_TRUE(mine->sync_through(2, [&] { ++syncs; return Status::OK(); }).ok());
  EXPECT_EQ(syncs, 1);
  EXPECT_EQ(mine->writers(), 0u) << "the dead committer is still counted";
}

// A shared file Env whose `on_lock` runs (once) before a non-waiting
// exclusive lock of a slot byte, as a sync leader takes when it looks for
// dead committers: a point inside sync_through where another handle can act.
class SlotLockHookEnv final : public testing::ForwardingEnv {
 public:
  std::function<void()> on_lock;

  Result<std::unique_ptr<io::SharedFile>> open_shared(const std::string& path, const std::string& like) override {
    Result<std::unique_ptr<io::SharedFile>> f = base_->open_shared(path, like);
    if (!f.ok()) return f.status();
    return std::unique_ptr<io::SharedFile>(new File(this, std::move(f).value()));
  }

 private:
  class File final : public io::SharedFile {
   public:
    File(SlotLockHookEnv* env, std::unique_ptr<io::SharedFile> base) : env_(env), base_(std::move(base)) {}
    const std::string& path() const override { return base_->path(); }
    Result<io::FileId> id() override { return base_->id(); }
    Status lock(uint64_t byte, io::LockType type, bool wait) override {
      if (byte >= io::kSlotLockBase && byte < io::kSlotLockBase + 1024 && type == io::LockType::exclusive && !wait && env_->on_lock) {
        std::function<void()> hook = std::move(env_->on_lock);
        env_->on_lock = nullptr;
        hook();
      }
      return base_->lock(byte, type, wait);
    }
    Status unlock(uint64_t byte) override { return base_->unlock(byte); }
    Result<bool> locked_by_other(uint64_t byte) override { return base_->locked_by_other(byte); }
    Status reset(uint64_t size) override { return base_->reset(size); }
    Result<uint64_t> size() override { return base_->size(); }
    Result<std::unique_ptr<io::SharedMapping>> map(uint64_t length) override { return base_->map(length); }

   private:
    SlotLockHookEnv* env_;
    std::unique_ptr<io::SharedFile> base_;
  };
};

// A sync leader whose own frame another handle's fdatasync covered (at a
// segment change, say) may skip its own only if that sync covered all it
// then publishes durable and committed: here B syncs frames 2-3 inside A's
// gather, then writes frame 4, and A must not call 4 durable unsynced.
TEST(Coordination, ASyncLeaderSkipsItsFdatasyncOnlyIfEverythingItPublishesIsDurable) {
  TempDir dir;
  const std::string path = dir.file("a-shm");
  SlotLockHookEnv hook_env;
  Result<std::unique_ptr<SharedState>> attached = SharedState::attach(&hook_env, path, path, kLog);
  ASSERT_TRUE(attached.ok()) << attached.status().to_string();
  std::unique_ptr<SharedState> a = std::move(attached).value();
  ASSERT_TRUE(a->publish_initial(1, 1).ok());
  auto b = attach(path);
  // A committer killed on its way to a frame: A's gather waits for it, then
  // looks for dead committers (the hook).
  killed_after(path, [](SharedState& theirs) {
    theirs.begin_write();
    return true;
  });
  bool took_over = false;
  ASSERT_TRUE(a->lock_writer(&took_over).ok());
  a->publish_written(2, false, {});
  a->unlock_writer();

  uint64_t covered = 1;  // the last frame some fdatasync covered
  bool hooked = false;
  hook_env.on_lock = [&] {
    hooked = true;
    bool t = false;
    ASSERT_TRUE(b->lock_writer(&t).ok());
    b->publish_written(3, false, {});
    covered = 3;  // B's fdatasync
    b->publish_durable(3);
    b->publish_written(4, false, {});
    b->unlock_writer();
  };
  auto sync_all = [&](SharedState& s) {
    return [&] {
      covered = std::max(covered, s.written_seq());
      return Status::OK();
    };
  };
  ASSERT_TRUE(a->sync_through(2, sync_all(*a)).ok());
  ASSERT_TRUE(hooked) << "B did not act inside A's sync";
  EXPECT_LE(a->durable_seq(), covered) << "frame 4 was published durable with no fdatasync after it was written";
  EXPECT_LE(a->committed_seq(), covered) << "frame 4 was made visible before it was durable";
  ASSERT_TRUE(b->sync_through(4, sync_all(*b)).ok());
  EXPECT_EQ(covered, 4u) << "B's commit of frame 4 returned without an fdatasync";
  EXPECT_EQ(a->committed_seq(), 4u);
}

// A sync leader whose fdatasync throws (out of memory) and that lives on
// still counts as alive: it must give up the role, or every later sync
// waits for it for ever.
TEST(Coordination, ASyncLeaderThatThrowsGivesUpTheRole) {
  TempDir dir;
  const std::string path = dir.file("a-shm");
  auto a = attach(path);
  ASSERT_TRUE(a->publish_initial(1, 1).ok());
  auto b = attach(path);
  bool took_over = false;
  ASSERT_TRUE(a->lock_writer(&took_over).ok());
  a->publish_written(2, false, {});
  a->unlock_writer();
  EXPECT_THROW(a->sync_through(2, []() -> Status { throw std::bad_alloc(); }).ignore(), std::bad_alloc);
  auto synced = std::async(std::launch::async, [&] { return b->sync_through(2, [] { return Status::OK(); }); });
  bool ready = synced.wait_for(std::chrono::seconds(2)) == std::future_status::ready;
  EXPECT_TRUE(ready) << "the role stayed with A, which lives on";
  if (!ready) a.reset();  // A gone: B takes the role over
  EXPECT_TRUE(synced.get().ok());
  EXPECT_EQ(b->committed_seq(), 2u);
}

// A reader killed while it sleeps (a consumer stopped with Ctrl-C) leaves
// its count on the channel it slept on: a child of `path`'s area, killed so.
void kill_asleep(const std::string& path, SharedState& mine, uint32_t channel) {
  pid_t child = fork_child([&] {
    auto theirs = attach(path);
    if (!theirs) ::_exit(2);
    uint32_t channels[] = {channel};
    uint32_t seen[] = {theirs->commit_epoch(channel)};
    theirs->wait_for_commit(channels, seen, std::chrono::steady_clock::now() + std::chrono::seconds(60),
                            std::chrono::microseconds(0), [] { return Status::OK(); });
    ::_exit(3);
  });
  for (int i = 0; i < 10'000 && mine.channel_waiters(channel) == 0; ++i) std::this_thread::sleep_for(milliseconds(1));
  ASSERT_EQ(mine.channel_waiters(channel), 1u) << "the child never slept on its channel";
  ::kill(child, SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(wait_child(child)));
  EXPECT_EQ(mine.channel_waiters(channel), 1u) << "taken back before anyone looked?";
}

void commit_to(SharedState& s, uint64_t seq, uint32_t channel) {
  bool took_over = false;
  ASSERT_TRUE(s.lock_writer(&took_over).ok());
  const uint32_t channels[] = {channel};
  s.publish_written(seq, true, channels);
  s.unlock_writer();
}

// Every commit to the dead waiter's channel would then make a futex wake for
// nobody (as dear as the commit itself here; a producer ran at half speed
// after a consumer was killed): the first commit whose wake finds nobody
// takes the count back, for a partition's channel and for the whole log's.
TEST(Coordination, AWaiterKilledAsleepIsNoLongerCountedAfterTheNextCommit) {
  for (uint32_t channel : {SharedState::wake_channel(7, 0), SharedState::kEveryChannel}) {
    TempDir dir;
    std::string path = dir.file("a-shm");
    auto mine = attach(path);
    ASSERT_TRUE(mine->publish_initial(1, 1).ok());
    kill_asleep(path, *mine, channel);
    commit_to(*mine, 2, channel);
    EXPECT_EQ(mine->channel_waiters(channel), 0u) << "the dead waiter is still counted on channel " << channel;
  }
}

// Whoever claims the dead handle's slot takes the count back too.
TEST(Coordination, AWaiterKilledAsleepIsNoLongerCountedOnceItsSlotIsClaimed) {
  TempDir dir;
  std::string path = dir.file("a-shm");
  auto mine = attach(path);
  ASSERT_TRUE(mine->publish_initial(1, 1).ok());
  const uint32_t channel = SharedState::wake_channel(7, 0);
  kill_asleep(path, *mine, channel);
  auto next = attach(path);  // claims the lowest free slot: the dead child's
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(mine->channel_waiters(channel), 0u) << "the dead waiter is still counted";
}

TEST(Coordination, WriterLockExcludesOtherHandles) {
  TempDir dir;
  auto a = attach(dir.file("a-shm"));
  ASSERT_TRUE(a->publish_initial(0, 0).ok());
  auto b = attach(dir.file("a-shm"));
  int inside = 0, most = 0;
  std::mutex mu;
  auto work = [&](SharedState* s) {
    for (int i = 0; i < 2000; ++i) {
      bool took_over = false;
      ASSERT_TRUE(s->lock_writer(&took_over).ok());
      ASSERT_FALSE(took_over);
      {
        std::lock_guard lock(mu);
        most = std::max(most, ++inside);
      }
      std::this_thread::yield();
      {
        std::lock_guard lock(mu);
        --inside;
      }
      s->unlock_writer();
    }
  };
  std::thread ta(work, a.get()), tb(work, b.get());
  ta.join();
  tb.join();
  EXPECT_EQ(most, 1);
}

TEST(Coordination, ReadMarksOfDeadHandlesAreIgnored) {
  TempDir dir;
  std::string path = dir.file("a-shm");
  auto mine = attach(path);
  ASSERT_TRUE(mine->publish_initial(1, 1).ok());
  EXPECT_EQ(*mine->lowest_read_mark(), SharedState::kNoReadMark);
  mine->set_read_mark(5000);
  auto other = attach(path);
  other->set_read_mark(4000);
  EXPECT_EQ(*mine->lowest_read_mark(), 4000u);
  other.reset();
  EXPECT_EQ(*mine->lowest_read_mark(), 5000u);

  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = fork_child([&] {
    auto theirs = attach(path);
    theirs->set_read_mark(100);
    char ok = 'y';
    if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
    for (;;) ::pause();
  });
  char got = 0;
  ASSERT_EQ(::read(ready[0], &got, 1), 1);
  EXPECT_EQ(*mine->lowest_read_mark(), 100u);
  ::kill(child, SIGKILL);
  wait_child(child);
  EXPECT_EQ(*mine->lowest_read_mark(), 5000u) << "a killed handle's mark is released";
  ::close(ready[0]);
  ::close(ready[1]);
}

// ---- through Db ----

TEST(Coordination, AWaitingReaderIsWokenByAnotherHandlesCommit) {
  TempDir dir;
  auto a = open_db(dir.file("ev.rvl"));
  ASSERT_TRUE(a->create_topic("t").ok());
  auto b = open_db(dir.file("ev.rvl"));
  auto r = b->reader("t", 0);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> got;
  std::thread waiter([&] { got = values(**r, milliseconds(20000)); });
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(a->produce({.topic = "t", .value = "hello"}).ok());
  waiter.join();
  EXPECT_EQ(got, std::vector<std::string>{"hello"});
}

// Runs `wait` in a thread while 2,000 commits go to partition `busy` of
// topic "t" and then one to partition 0; returns how often that thread
// slept and woke.
template <typename Wait>
long wake_ups_during_others_commits(Db& db, int32_t busy, Wait wait) {
  std::atomic<bool> waiting{false};
  long woken = -1;
  std::thread quiet([&] {
    auto switches = [] {
      rusage u{};
      getrusage(RUSAGE_THREAD, &u);
      return u.ru_nvcsw;
    };
    long before = switches();
    waiting.store(true);
    wait();
    woken = switches() - before;
  });
  while (!waiting.load()) std::this_thread::yield();
  std::this_thread::sleep_for(milliseconds(20));  // asleep in its wait
  for (int i = 0; i < 2000; ++i) EXPECT_TRUE(db.produce({.topic = "t", .value = "busy", .partition = busy}).ok());
  EXPECT_TRUE(db.produce({.topic = "t", .value = "mine", .partition = 0}).ok());
  quiet.join();
  return woken;
}

// A reader waits on its partition's wake channel, and Db::wait_any on its
// readers' channels: commits to partitions of other channels do not wake
// them (before, every commit to the file did: a follower of a quiet topic
// beside a busy one used half a CPU), and one to their own partition does.
TEST(Coordination, ReadersSleepThroughCommitsToOtherPartitions) {
  TempDir dir;
  auto db = open_db(dir.file("q.rvl"));
  ASSERT_TRUE(db->create_topic("t", {.partitions = 3}).ok());
  uint32_t id = db->describe_topic("t")->id;
  std::set<uint32_t> channels;
  for (uint32_t p = 0; p < 3; ++p) channels.insert(SharedState::wake_channel(id, p));
  ASSERT_EQ(channels.size(), 3u);
  auto r0 = db->reader("t", 0);
  auto r2 = db->reader("t", 2);
  ASSERT_TRUE(r0.ok() && r2.ok());

  std::vector<std::string> got;
  long woken = wake_ups_during_others_commits(*db, 1, [&] { got = values(**r0, milliseconds(10'000)); });
  EXPECT_EQ(got, std::vector<std::string>{"mine"});
  EXPECT_LT(woken, 20) << "Reader::poll of partition 0 woke " << woken << " times for 2,000 commits to partition 1";

  // Several channels at once need futex_waitv (Linux 5.16); without it
  // wait_any sleeps on every commit, as before.
  if (!SharedState::can_wait_on_many_channels()) GTEST_SKIP() << "no futex_waitv in this kernel";
  Result<int> ready = -1;
  std::vector<Reader*> both{r0->get(), r2->get()};
  woken = wake_ups_during_others_commits(*db, 1, [&] { ready = db->wait_any(both, milliseconds(10'000)); });
  ASSERT_TRUE(ready.ok()) << ready.status().to_string();
  EXPECT_EQ(*ready, 0);
  EXPECT_LT(woken, 20) << "Db::wait_any over partitions 0 and 2 woke " << woken
                       << " times for 2,000 commits to partition 1";
}

TEST(Coordination, WaitAnyWakesForTheReaderThatHasRecords) {
  TempDir dir;
  auto a = open_db(dir.file("ev.rvl"));
  ASSERT_TRUE(a->create_topic("t", {.partitions = 3}).ok());
  auto b = open_db(dir.file("ev.rvl"));
  std::vector<std::unique_ptr<Reader>> readers;
  std::vector<Reader*> raw;
  for (int p = 0; p < 3; ++p) {
    readers.push_back(std::move(b->reader("t", p)).value());
    raw.push_back(readers.back().get());
  }
  EXPECT_EQ(*b->wait_any(raw, milliseconds(0)), -1);
  EXPECT_EQ(*b->wait_any(raw, milliseconds(20)), -1);
  Result<int> woke = -1;
  std::thread waiter([&] { woke = b->wait_any(raw, milliseconds(20000)); });
  std::this_thread::sleep_for(milliseconds(50));
  ASSERT_TRUE(a->produce({.topic = "t", .value = "x", .partition = 2}).ok());
  waiter.join();
  ASSERT_TRUE(woke.ok());
  EXPECT_EQ(*woke, 2);
  EXPECT_EQ(values(*readers[2]), std::vector<std::string>{"x"});
  EXPECT_EQ(*b->wait_any(raw, milliseconds(0)), -1) << "nothing left to read";
  auto other = open_db(dir.file("ev.rvl"));
  auto foreign = other->reader("t", 0);
  std::vector<Reader*> mixed{raw[0], foreign->get()};
  EXPECT_EQ(b->wait_any(mixed, milliseconds(0)).status().code(), Code::invalid_argument);
}

// milliseconds::max() ("wait for ever") overflowed the deadline, which
// wrapped into the past: wait_any returned -1 at once.
TEST(Coordination, WaitAnyWithTheLongestTimeoutWaitsForARecord) {
  TempDir dir;
  auto db = open_db(dir.file("ev.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::thread producer([&] {
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_TRUE(db->produce({.topic = "t", .value = "late"}).ok());
  });
  Reader* readers[] = {r->get()};
  Result<int> woke = db->wait_any(readers, milliseconds::max());
  producer.join();
  ASSERT_TRUE(woke.ok()) << woke.status().to_string();
  EXPECT_EQ(*woke, 0) << "returned without waiting";
}

TEST(Coordination, ReadersPublishWhereTheyRead) {
  TempDir dir;
  std::string path = dir.file("ev.rvl");
  OpenOptions small;
  small.segment_size = 64 * 1024;
  auto db = open_db(path, small);
  ASSERT_TRUE(db->create_topic("t").ok());
  ASSERT_TRUE(db->produce({.topic = "t", .value = "one"}).ok());
  // Past the first two segments, so that the first record is behind every
  // handle's chain position (which each handle marks too).
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(db->produce({.topic = "t", .value = std::string(4000, 'x')}).ok());
  auto other = open_db(path, small);
  const uint64_t heads = other->stat()->lowest_read_mark;
  EXPECT_GE(heads, 2u);
  EXPECT_LT(heads, UINT64_MAX);

  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ((*r)->poll(milliseconds(0), 1)->size(), 1u);
  // The views of that poll are alive: their segment (the first) is marked.
  EXPECT_EQ(other->stat()->lowest_read_mark, 0u);
  ASSERT_TRUE((*r)->seek(StartAt::latest()).ok());  // releases them
  EXPECT_EQ(other->stat()->lowest_read_mark, heads);

  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = fork_child([&] {
    auto theirs = open_db(path, small);
    auto tr = theirs->reader("t", 0);
    char ok = tr.ok() && (*tr)->poll(milliseconds(0), 1)->size() == 1 ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
    for (;;) ::pause();
  });
  char got = 0;
  ASSERT_EQ(::read(ready[0], &got, 1), 1);
  ASSERT_EQ(got, 'y');
  EXPECT_EQ(other->stat()->lowest_read_mark, 0u);
  ::kill(child, SIGKILL);
  wait_child(child);
  EXPECT_EQ(other->stat()->lowest_read_mark, heads) << "a killed reader's mark is released";
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST(Coordination, LockHolderKilledMidFrameDoesNotStopOthers) {
  TempDir dir;
  std::string path = dir.file("ev.rvl");
  auto survivor = open_db(path);
  ASSERT_TRUE(survivor->create_topic("t").ok());
  ASSERT_TRUE(survivor->produce({.topic = "t", .value = "before"}).ok());

  pid_t child = fork_child([&] {
    testing::FaultEnv env;
    OpenOptions options;
    options.env = &env;
    Result<std::unique_ptr<Db>> db = Db::open(path, options);
    if (!db.ok()) ::_exit(3);
    // A big record first, so the file is allocated well past the next
    // frame and the next mutating call is the frame's write itself.
    if (!(*db)->produce({.topic = "t", .value = std::string(200000, 'x')}).ok()) ::_exit(4);
    env.fail_at(env.ops() + 1, testing::Fault::kill_process);
    (void)(*db)->produce({.topic = "t", .value = std::string(5000, 'h')});
    ::_exit(5);  // not reached: the write kills the process
  });
  int status = wait_child(child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child status " << status;

  auto r = survivor->reader("t", 0);
  ASSERT_TRUE(r.ok());
  std::vector<std::string> seen = values(**r);
  ASSERT_EQ(seen.size(), 2u) << "the half-written frame must not be visible";
  EXPECT_EQ(seen[0], "before");

  auto started = std::chrono::steady_clock::now();
  Result<Appended> after = survivor->produce({.topic = "t", .value = "after"});
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  EXPECT_EQ(after->offset, 2);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "took too long to take over";
  EXPECT_EQ(values(**r), std::vector<std::string>{"after"});

  auto late = open_db(path);
  auto lr = late->reader("t", 0);
  ASSERT_TRUE(lr.ok());
  EXPECT_EQ(values(**lr).size(), 3u);
  r->reset();
  lr->reset();
  late.reset();
  ASSERT_TRUE(survivor->close().ok());
  Result<CheckReport> report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(report->ok) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_EQ(report->records, 4u);  // the meta record and three
}

// An Env whose fdatasync (or, with gate_writes, every write) can be held
// back, to see what happens while one is in flight.
class GatedEnv final : public testing::ForwardingEnv {
 public:
  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    Result<std::unique_ptr<io::File>> f = base_->open(path, mode);
    if (!f.ok()) return f.status();
    return std::unique_ptr<io::File>(new GatedFile(this, std::move(f).value()));
  }

  void close_gate() {
    std::lock_guard lock(mu_);
    open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  int syncs() const { return syncs_.load(); }
  int waiting() const { return waiting_.load(); }
  std::atomic<bool> gate_writes{false};
  std::atomic<bool> fail_next_sync{false};

 private:
  class GatedFile final : public testing::ForwardingFile {
   public:
    GatedFile(GatedEnv* env, std::unique_ptr<io::File> f) : ForwardingFile(std::move(f)), env_(env) {}
    Status sync() override {
      env_->syncs_.fetch_add(1);
      env_->pass_gate();
      // As Linux reports a writeback error: once, to the first fdatasync on
      // the descriptor after it; the next one succeeds.
      if (env_->fail_next_sync.exchange(false)) return {Code::io_error, "fdatasync: Input/output error (injected)"};
      return ForwardingFile::sync();
    }
    Status write_at(uint64_t pos, std::span<const std::string_view> parts) override {
      if (env_->gate_writes) env_->pass_gate();
      return ForwardingFile::write_at(pos, parts);
    }

   private:
    GatedEnv* env_;
  };

  void pass_gate() {
    std::unique_lock lock(mu_);
    waiting_.fetch_add(1);
    cv_.wait(lock, [&] { return open_; });
    waiting_.fetch_sub(1);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  std::atomic<int> syncs_{0};
  std::atomic<int> waiting_{0};
};

// A handle whose file goes through `env`, under `sync`.
std::unique_ptr<Db> open_gated(GatedEnv& env, const std::string& path, Sync sync) {
  OpenOptions options;
  options.env = &env;
  options.sync = sync;
  return open_db(path, options);
}

// Waits (up to 2 s) until the log holds `frames` frames.
void wait_for_frames(Db& db, uint64_t frames) {
  for (int spins = 0; spins < 2000; ++spins) {
    Result<DbStats> s = db.stat();
    ASSERT_TRUE(s.ok()) << s.status().to_string();
    if (s->frames == frames) return;
    std::this_thread::sleep_for(milliseconds(1));
  }
}

TEST(Coordination, FullSyncCommitsShareOneSyncAndStayInvisibleUntilDurable) {
  TempDir dir;
  GatedEnv env;
  auto db = open_gated(env, dir.file("ev.rvl"), Sync::full);
  ASSERT_TRUE(db->create_topic("t").ok());
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok());

  env.close_gate();
  int before = env.syncs();
  constexpr int kThreads = 8;
  std::vector<std::thread> threads;
  std::atomic<int> done{0};
  threads.emplace_back([&] {
    EXPECT_TRUE(db->produce({.topic = "t", .value = "first"}).ok());
    done.fetch_add(1);
  });
  while (env.waiting() == 0) std::this_thread::sleep_for(milliseconds(1));  // the first sync is in flight
  for (int i = 1; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      EXPECT_TRUE(db->produce({.topic = "t", .value = "v" + std::to_string(i)}).ok());
      done.fetch_add(1);
    });
  }
  // Every frame gets written while the sync is held; none is visible or
  // acknowledged yet.
  wait_for_frames(*db, 1 + kThreads);  // the topic, then ours
  EXPECT_EQ(db->stat()->frames, 1u + kThreads);
  EXPECT_EQ(done.load(), 0);
  EXPECT_TRUE(values(**r).empty()) << "records are visible before they are durable";
  EXPECT_EQ(db->describe_topic("t")->partitions[0].next_offset, 0);

  env.open_gate();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(done.load(), kThreads);
  // The first sync, then one for everyone who arrived while it ran.
  EXPECT_EQ(env.syncs() - before, 2);
  EXPECT_EQ(values(**r).size(), static_cast<size_t>(kThreads));
}

// Offsets follow the same rule as records: a consumer that took over a
// partition at an offset a power cut could take back would skip records
// for good. Both changes of the commit stay hidden until its sync: a first
// commit of a key and a later one over it, in this handle and in another.
TEST(Coordination, UnderFullAnOffsetCommitIsHiddenUntilItsFrameIsDurable) {
  TempDir dir;
  GatedEnv env;
  const std::string path = dir.file("ev.rvl");
  auto db = open_gated(env, path, Sync::full);
  ASSERT_TRUE(db->create_topic("t", {.partitions = 2}).ok());
  const OffsetCommit first[] = {{"t", 0, 5, "m5"}};
  ASSERT_TRUE(db->commit_offsets("g", first).ok());
  auto other = Db::open(path);
  ASSERT_TRUE(other.ok());

  env.close_gate();
  std::thread committer([&] {
    const OffsetCommit next[] = {{"t", 0, 9, "m9"}, {"t", 1, 3, ""}};
    EXPECT_TRUE(db->commit_offsets("g", next).ok());
  });
  while (env.waiting() == 0) std::this_thread::sleep_for(milliseconds(1));  // written, its sync held
  wait_for_frames(*db, 4);  // two topics, two commits
  for (Db* handle : {db.get(), other->get()}) {
    auto c0 = handle->committed("g", "t", 0);
    ASSERT_TRUE(c0.ok() && c0->has_value());
    EXPECT_EQ((*c0)->offset, 5);
    EXPECT_EQ((*c0)->metadata, "m5");
    auto c1 = handle->committed("g", "t", 1);
    ASSERT_TRUE(c1.ok());
    EXPECT_FALSE(c1->has_value()) << "a first commit is visible before it is durable";
    auto g = handle->describe_group("g");
    ASSERT_TRUE(g.ok());
    ASSERT_EQ(g->partitions.size(), 1u);
    EXPECT_EQ(g->partitions[0].committed.offset, 5);
  }

  env.open_gate();
  committer.join();
  for (Db* handle : {db.get(), other->get()}) {
    auto g = handle->describe_group("g");
    ASSERT_TRUE(g.ok());
    ASSERT_EQ(g->partitions.size(), 2u);
    EXPECT_EQ(g->partitions[0].committed.offset, 9);
    EXPECT_EQ(g->partitions[0].committed.metadata, "m9");
    EXPECT_EQ(g->partitions[1].committed.offset, 3);
  }
}

// A child process that commits `value` under full and is held at its
// fdatasync for ever: its frame is written but not committed. Returns once
// the frame is written; the caller kills the child.
pid_t committer_held_at_its_sync(const std::string& path, const std::string& value) {
  int written[2];
  EXPECT_EQ(::pipe(written), 0);
  pid_t child = fork_child([&] {
    GatedEnv env;
    auto theirs = open_gated(env, path, Sync::full);
    if (!theirs) ::_exit(2);
    env.close_gate();
    std::thread tell([&] {
      while (env.waiting() == 0) std::this_thread::sleep_for(milliseconds(1));  // at its sync: the frame is written
      if (::write(written[1], "y", 1) != 1) ::_exit(4);
    });
    theirs->produce({.topic = "t", .value = value}).status().ignore();  // its sync waits at the gate for ever
    ::_exit(3);
  });
  char got = 0;
  EXPECT_EQ(::read(written[0], &got, 1), 1) << "the child never wrote its frame";
  ::close(written[0]);
  ::close(written[1]);
  return child;
}

// A handle under full on a new file with topic "t".
std::unique_ptr<Db> open_full_with_topic(const std::string& path) {
  OpenOptions full;
  full.sync = Sync::full;
  auto db = open_db(path, full);
  if (db) {
    EXPECT_TRUE(db->create_topic("t").ok());
  }
  return db;
}

void kill_child(pid_t child) {
  ::kill(child, SIGKILL);
  EXPECT_TRUE(WIFSIGNALED(wait_child(child)));
}

// A committer under full killed between writing its frame and its sync
// leaves the frame written but not committed. A reader that sleeps commits
// it after ~10 ms (docs/DESIGN.md, the dying-process table); one that only
// ever polls with timeout 0 must as well, or the records stay invisible to
// it until some other commit comes.
TEST(Coordination, AFrameWhoseCommitterDiedBeforeItsSyncReachesPollersThatNeverWait) {
  TempDir dir;
  const std::string path = dir.file("ev.rvl");
  auto db = open_full_with_topic(path);
  ASSERT_TRUE(db);
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok());
  pid_t child = committer_held_at_its_sync(path, "orphan");
  EXPECT_TRUE(values(**r).empty()) << "visible before any sync";
  kill_child(child);

  std::vector<std::string> got;
  for (int i = 0; i < 2000 && got.empty(); ++i) {
    got = values(**r);
    if (got.empty()) std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(got, std::vector<std::string>{"orphan"});
}

// A sync leader killed between publishing its frames durable and publishing
// them committed leaves them durable but invisible; every rescue goes
// through sync_through, which finds them durable: it must then publish them
// committed. The leader's death is written into FILE-shm by hand (FORMAT.md's
// offsets): durable = written, as its first publishing step leaves it.
TEST(Coordination, FramesALeaderKilledAfterPublishingThemDurableBecomeVisible) {
  TempDir dir;
  const std::string path = dir.file("ev.rvl");
  auto db = open_full_with_topic(path);
  ASSERT_TRUE(db);
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok());
  pid_t child = committer_held_at_its_sync(path, "orphan");  // leading the sync, inside its fdatasync
  EXPECT_TRUE(values(**r).empty());

  const std::string shm = std::filesystem::canonical(path).string() + "-shm";
  int fd = ::open(shm.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  void* m = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(m, MAP_FAILED);
  auto* words = static_cast<char*>(m);
  auto* committed = reinterpret_cast<std::atomic<uint64_t>*>(words + 128);
  auto* written = reinterpret_cast<std::atomic<uint64_t>*>(words + 144);
  auto* durable = reinterpret_cast<std::atomic<uint64_t>*>(words + 192);
  ASSERT_GT(written->load(), committed->load()) << "the child's frame is not pending";
  durable->store(written->load());
  kill_child(child);

  std::vector<std::string> got;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (got.empty() && std::chrono::steady_clock::now() < until) got = values(**r, milliseconds(50));
  EXPECT_EQ(got, std::vector<std::string>{"orphan"})
      << "durable " << durable->load() << ", committed " << committed->load() << ", written " << written->load();
  ::munmap(m, 4096);
  ::close(fd);
}

// The same frame when its committer was the last handle: the next open
// rebuilds the shared area from the file, where the frame is whole. Under
// full it must not become visible before an fdatasync makes it durable.
TEST(Coordination, AFrameWhoseCommitterDiedBeforeItsSyncIsSyncedBeforeARebuildShowsIt) {
  TempDir dir;
  const std::string path = dir.file("ev.rvl");
  ASSERT_TRUE(open_full_with_topic(path));  // and closed again
  kill_child(committer_held_at_its_sync(path, "unsynced"));

  GatedEnv env;
  auto db = open_gated(env, path, Sync::full);
  ASSERT_TRUE(db);
  EXPECT_GE(env.syncs(), 1) << "the rebuilt area shows the frame without syncing it";
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(values(**r), std::vector<std::string>{"unsynced"});
}

// A frame does not say whether its writer ran under full: a rebuilder
// under normal, or a read-only one (a consumer), syncs it first too.
TEST(Coordination, AFrameWhoseCommitterDiedBeforeItsSyncIsSyncedWhateverTheRebuildersMode) {
  for (bool read_only : {true, false}) {
    TempDir dir;
    const std::string path = dir.file("ev.rvl");
    ASSERT_TRUE(open_full_with_topic(path));
    kill_child(committer_held_at_its_sync(path, "unsynced"));

    GatedEnv env;
    OpenOptions options;
    options.env = &env;
    options.read_only = read_only;
    options.sync = Sync::normal;
    auto db = open_db(path, options);
    ASSERT_TRUE(db);
    EXPECT_GE(env.syncs(), 1) << (read_only ? "read-only" : "normal")
                              << ": the rebuilt area shows the frame without syncing it";
    auto r = db->reader("t", 0);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(values(**r), std::vector<std::string>{"unsynced"});
  }
}

// Under full, a frame written but not yet durable is not visible, and
// cleaning must not act on it: compacting an older value away because of a
// newer one nobody can see yet left this handle's readers with neither
// until the sync ended (other processes apply frames in order, so not them).
TEST(Coordination, CompactionWaitsForTheNewerValueToBeVisible) {
  TempDir dir;
  GatedEnv env;
  auto db = open_gated(env, dir.file("ev.rvl"), Sync::full);
  TopicConfig config;
  config.cleanup_policy = CleanupPolicy::compact;
  ASSERT_TRUE(db->create_topic("c", config).ok());
  ASSERT_TRUE(db->create_topic("other").ok());
  ASSERT_TRUE(db->produce({.topic = "c", .key = "k", .value = "old"}).ok());

  env.close_gate();
  // One commit of enough bytes that the next commit owes a cleaning step,
  // ending with the newer value of k; its sync is held.
  std::thread newer([&] {
    WriteBatch batch(*db);
    for (int i = 0; i < 800; ++i) {
      ASSERT_TRUE(batch.add({.topic = "c", .key = "filler" + std::to_string(i), .value = std::string(100, 'x')}).ok());
    }
    ASSERT_TRUE(batch.add({.topic = "c", .key = "k", .value = "new"}).ok());
    EXPECT_TRUE(db->commit(batch).ok());
  });
  while (env.waiting() == 0) std::this_thread::sleep_for(milliseconds(1));
  const uint64_t frames = db->stat()->frames;
  // The next commit's write step runs the cleaner, which compacts "c".
  std::thread next([&] { EXPECT_TRUE(db->produce({.topic = "other", .value = "x"}).ok()); });
  for (int spins = 0; spins < 2000 && db->stat()->frames == frames; ++spins) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  ASSERT_GT(db->stat()->frames, frames) << "the second commit was never written";

  auto r = db->reader("c", 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(values(**r), std::vector<std::string>{"old"}) << "the visible value was compacted away";

  env.open_gate();
  newer.join();
  next.join();
  auto after = db->reader("c", 0);
  ASSERT_TRUE(after.ok());
  std::vector<std::string> got = values(**after);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), "new");
}

// A failed fdatasync may have dropped pages of frames written while it
// ran; the next fdatasync on the same descriptor succeeds all the same
// (Linux reports a writeback error once). So the commits waiting for the
// next sync must fail too, not be acknowledged by it.
TEST(Coordination, CommitsWaitingBehindAFailedSyncFailToo) {
  TempDir dir;
  GatedEnv env;
  auto db = open_gated(env, dir.file("ev.rvl"), Sync::full);
  ASSERT_TRUE(db->create_topic("t").ok());

  env.close_gate();
  constexpr int kThreads = 6;
  std::vector<std::thread> threads;
  std::atomic<int> acknowledged{0};
  auto produce = [&](std::string value) {
    if (db->produce({.topic = "t", .value = value}).ok()) acknowledged.fetch_add(1);
  };
  threads.emplace_back(produce, "first");
  while (env.waiting() == 0) std::this_thread::sleep_for(milliseconds(1));  // its sync is in flight
  for (int i = 1; i < kThreads; ++i) threads.emplace_back(produce, "v" + std::to_string(i));
  wait_for_frames(*db, 1 + kThreads);
  ASSERT_EQ(db->stat()->frames, 1u + kThreads);  // every frame written, waiting for a sync
  env.fail_next_sync = true;
  env.open_gate();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(acknowledged.load(), 0) << "a commit was acknowledged by the sync after a failed one";
  EXPECT_FALSE(db->produce({.topic = "t", .value = "after"}).ok()) << "the handle goes on after a failed sync";
}

// Commits that line up behind one being written go through together: each
// gets its own result (one failing fails no other), and every record lands
// once, in each thread's order.
TEST(Coordination, CommitsQueuedBehindAWriteEachGetTheirOwnResult) {
  for (Sync sync : {Sync::normal, Sync::full}) {
    SCOPED_TRACE(sync == Sync::full ? "sync full" : "sync normal");
    TempDir dir;
    GatedEnv env;
    auto db = open_gated(env, dir.file("ev.rvl"), sync);
    ASSERT_TRUE(db->create_topic("t").ok());
    ASSERT_TRUE(db->create_topic("gone").ok());
    WriteBatch doomed(*db);
    ASSERT_TRUE(doomed.add({.topic = "gone", .value = "never"}).ok());
    ASSERT_TRUE(db->delete_topic("gone").ok());

    env.gate_writes = true;
    env.close_gate();
    std::vector<std::thread> threads;
    threads.emplace_back([&] { EXPECT_TRUE(db->produce({.topic = "t", .key = "first", .value = "0"}).ok()); });
    while (env.waiting() == 0) std::this_thread::sleep_for(milliseconds(1));  // its frame is being written
    // First in line behind it: the commit that fails.
    Status doomed_status;
    threads.emplace_back([&] { doomed_status = db->commit(doomed); });
    std::this_thread::sleep_for(milliseconds(5));
    constexpr int kThreads = 6, kEach = 20;
    std::atomic<int> failed{0};
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        for (int n = 0; n < kEach; ++n) {
          Status st = db->produce({.topic = "t", .key = "k" + std::to_string(i), .value = std::to_string(n)}).status();
          if (!st.ok()) failed.fetch_add(1);
        }
      });
    }
    std::this_thread::sleep_for(milliseconds(20));  // let them line up
    env.gate_writes = false;
    env.open_gate();
    for (std::thread& t : threads) t.join();

    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(doomed_status.code(), Code::not_found) << doomed_status.to_string();
    std::map<std::string, int> next;  // per key, the value expected next
    int64_t offset = 0;
    testing::for_each_record(*db, "t", 0, [&](const RecordView& v) {
      EXPECT_EQ(v.offset, offset++);
      std::string key(v.key.value_or(""));
      if (key == "first") return;
      EXPECT_EQ(std::string(*v.value), std::to_string(next[key]++)) << key;
    });
    EXPECT_EQ(offset, 1 + kThreads * kEach);
    for (int i = 0; i < kThreads; ++i) EXPECT_EQ(next["k" + std::to_string(i)], kEach);
    ASSERT_TRUE(db->close().ok());
    Result<CheckReport> report = check_file(dir.file("ev.rvl"));
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->ok);
  }
}

// ---- the member table of consumer groups ----

// A shared file whose liveness checks first call a hook: a test runs other
// members' joins and leaves there, in the middle of a look at the table.
class HookedSharedFile final : public io::SharedFile {
 public:
  HookedSharedFile(std::unique_ptr<io::SharedFile> f, const std::function<void(uint64_t)>* hook)
      : f_(std::move(f)), hook_(hook) {}
  const std::string& path() const override { return f_->path(); }
  Result<io::FileId> id() override { return f_->id(); }
  Status lock(uint64_t byte, io::LockType type, bool wait) override { return f_->lock(byte, type, wait); }
  Status unlock(uint64_t byte) override { return f_->unlock(byte); }
  Result<bool> locked_by_other(uint64_t byte) override {
    if (*hook_) (*hook_)(byte);
    return f_->locked_by_other(byte);
  }
  Status reset(uint64_t size) override { return f_->reset(size); }
  Result<uint64_t> size() override { return f_->size(); }
  Result<std::unique_ptr<io::SharedMapping>> map(uint64_t length) override { return f_->map(length); }

 private:
  std::unique_ptr<io::SharedFile> f_;
  const std::function<void(uint64_t)>* hook_;
};

class HookedEnv final : public testing::ForwardingEnv {
 public:
  Result<std::unique_ptr<io::SharedFile>> open_shared(const std::string& path, const std::string& like) override {
    Result<std::unique_ptr<io::SharedFile>> f = base_->open_shared(path, like);
    if (!f.ok()) return f.status();
    return std::unique_ptr<io::SharedFile>(new HookedSharedFile(std::move(f).value(), &hook));
  }

  // Called before every liveness check, from any thread; set it before
  // the threads start.
  std::function<void(uint64_t)> hook;

 private:
};

std::unique_ptr<coord::GroupMembership> join_group(SharedState& shared, const std::string& group, uint64_t topic) {
  Result<std::unique_ptr<coord::GroupMembership>> m = coord::GroupMembership::join(shared, group, {&topic, 1});
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? std::move(m).value() : nullptr;
}

// Runs `churn` in a thread and waits until it is done, or for 300 ms if the
// table lock of the look it interrupts holds it back (the look must then
// go on, or neither would).
class Churn {
 public:
  void run(std::function<void()> churn) {
    thread_ = std::thread([this, churn = std::move(churn)] {
      churn();
      done_ = true;
    });
    for (int i = 0; i < 300 && !done_; ++i) std::this_thread::sleep_for(milliseconds(1));
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }
  ~Churn() { join(); }

 private:
  std::thread thread_;
  std::atomic<bool> done_{false};
};

TEST(Coordination, AMemberLookingAtItsGroupNeverCountsAnotherGroupsMember) {
  TempDir dir;
  HookedEnv env;
  std::string path = dir.file("g-shm");
  Result<std::unique_ptr<SharedState>> s = SharedState::attach(&env, path, path, kLog);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_TRUE((*s)->publish_initial(1, 1).ok());
  constexpr uint64_t kA = 1, kB = 2;  // what members of group a and of group b subscribe to
  auto me = join_group(**s, "a", kA);
  auto mate = join_group(**s, "a", kA);
  const uint32_t mate_slot = mate->index();
  const std::vector<uint64_t> before{me->join_seq(), mate->join_seq()}, after{me->join_seq()};
  std::unique_ptr<coord::GroupMembership> stranger;
  Churn churn;
  std::atomic<bool> fired{false};
  // While `me` checks that its mate is alive, the mate leaves and a member
  // of group b takes its entry.
  env.hook = [&](uint64_t byte) {
    if (byte != io::kMemberLockBase + mate_slot || fired.exchange(true)) return;
    churn.run([&] {
      mate.reset();
      stranger = join_group(**s, "b", kB);
    });
  };
  Result<std::vector<coord::LiveMember>> members = me->members();
  ASSERT_TRUE(fired.load());
  ASSERT_TRUE(members.ok()) << members.status().to_string();
  std::vector<uint64_t> seen;
  for (const coord::LiveMember& m : *members) {
    EXPECT_EQ(m.topics, std::vector<uint64_t>{kA}) << "entry " << m.index << " is a member of group b";
    seen.push_back(m.join_seq);
  }
  EXPECT_TRUE(seen == before || seen == after) << "the group as it was before or after the change";
  churn.join();
  ASSERT_TRUE(stranger);
  EXPECT_EQ(stranger->index(), mate_slot) << "the member of group b took the mate's entry";
}

TEST(Coordination, DescribingGroupsSeesTheTableAsOfOneMoment) {
  TempDir dir;
  HookedEnv env;
  std::string path = dir.file("g-shm");
  Result<std::unique_ptr<SharedState>> s = SharedState::attach(&env, path, path, kLog);
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_TRUE((*s)->publish_initial(1, 1).ok());
  auto f = join_group(**s, "f", 1);
  auto b = join_group(**s, "b", 2);
  auto a = join_group(**s, "a", 3);
  ASSERT_EQ(f->index(), 0u);
  ASSERT_EQ(b->index(), 1u);
  ASSERT_EQ(a->index(), 2u);
  std::unique_ptr<coord::GroupMembership> a_again;
  Churn churn;
  std::atomic<bool> fired{false};
  // Once the describe has passed entry 0: f leaves, a new member of group a
  // takes entry 0, and the old one leaves entry 2. Group a always has a
  // member; a describe reading entry 2 after the change misses it.
  env.hook = [&](uint64_t byte) {
    if (byte != io::kMemberLockBase + 1 || fired.exchange(true)) return;
    churn.run([&] {
      f.reset();
      a_again = join_group(**s, "a", 3);
      a.reset();
    });
  };
  Result<std::vector<coord::LiveGroup>> groups = coord::GroupMembership::live_groups(**s);
  ASSERT_TRUE(fired.load());
  ASSERT_TRUE(groups.ok()) << groups.status().to_string();
  std::vector<std::string> names;
  for (const coord::LiveGroup& g : *groups) {
    names.push_back(g.name);
    EXPECT_EQ(g.members.size(), 1u) << g.name;
  }
  const std::vector<std::string> before{"a", "b", "f"}, after{"a", "b"};
  EXPECT_TRUE(names == before || names == after) << "groups seen: " << ::testing::PrintToString(names);
  churn.join();
  ASSERT_TRUE(a_again);
  EXPECT_EQ(a_again->index(), 0u) << "the new member of group a took f's entry";
}

}  // namespace
}  // namespace rivulet
