// Handles and fork() without exec: a child inherits the parent's handles
// but must neither keep the parent "alive" after the parent dies nor change
// anything through them (io/fork_guard.hpp).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "forwarding_env.hpp"
#include "forwarding_file.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::TempDir;
using testing::wait_child;

// Reads one int from `fd`, or -1.
int read_int(int fd) {
  int v = -1;
  return ::read(fd, &v, sizeof v) == static_cast<ssize_t>(sizeof v) ? v : -1;
}

void write_int(int fd, int v) {
  if (::write(fd, &v, sizeof v) != static_cast<ssize_t>(sizeof v)) ::_exit(90);
}

// A member of group "g" forks a child that does nothing but live on, then
// is killed. The child holds copies of the member's descriptors: before
// the fork guard, they kept its liveness lock held, and the member's
// partitions were never handed to the survivor.
TEST(Fork, AMemberKilledWhileItsForkedChildLivesLosesItsPartitions) {
  TempDir dir;
  const std::string path = dir.file("f.rvl");
  {
    auto db = Db::open(path);
    ASSERT_TRUE(db.ok()) << db.status().to_string();
    ASSERT_TRUE((*db)->create_topic("in", {.partitions = 2}).ok());
    ASSERT_TRUE((*db)->close().ok());
  }
  int pids[2];
  ASSERT_EQ(::pipe(pids), 0);
  pid_t member = ::fork();
  ASSERT_GE(member, 0);
  if (member == 0) {
    // Never returns into gtest.
    auto db = Db::open(path);
    if (!db.ok()) ::_exit(2);
    auto c = Consumer::create(**db, {.group = "g", .enable_auto_commit = false});
    if (!c.ok() || !(*c)->subscribe({"in"}).ok()) ::_exit(3);
    auto until = Clock::now() + 10s;
    while ((*c)->assignment().size() != 2 && Clock::now() < until) {
      if (!(*c)->poll(5ms).ok()) ::_exit(4);
    }
    if ((*c)->assignment().size() != 2) ::_exit(5);
    pid_t idle = ::fork();
    if (idle == 0) {
      for (;;) ::pause();
    }
    write_int(pids[1], idle);
    for (;;) ::pause();
  }
  ::close(pids[1]);
  const int idle = read_int(pids[0]);
  ::close(pids[0]);
  ASSERT_GT(idle, 0) << "the member did not get both partitions; status " << wait_child(member);

  ASSERT_EQ(::kill(member, SIGKILL), 0);
  wait_child(member);
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  auto c = Consumer::create(**db, {.group = "g", .enable_auto_commit = false});
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_TRUE((*c)->subscribe({"in"}).ok());
  auto until = Clock::now() + 5s;
  while ((*c)->assignment().size() != 2 && Clock::now() < until) ASSERT_TRUE((*c)->poll(5ms).ok());
  EXPECT_EQ((*c)->assignment().size(), 2u) << "the dead member still counts while its forked child lives";
  ::kill(idle, SIGKILL);  // not our child: the init process reaps it
}

// Exit codes of the children below: which check failed.
enum ChildFailure {
  kViewChanged = 10,
  kProduceNotRefused,
  kPollNotRefused,
  kCloseFailed,
  kHung,
  kSeekNotRefused,
};

// An Env whose file writes wait while the gate is closed: a commit held
// in the middle, its thread leading the handle's commit queue and holding
// its mutexes.
class WriteGateEnv final : public testing::ForwardingEnv {
 public:
  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    Result<std::unique_ptr<io::File>> f = base_->open(path, mode);
    if (!f.ok()) return f.status();
    return std::unique_ptr<io::File>(new File(this, std::move(f).value()));
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
  bool someone_waits() const { return waiting_.load() != 0; }

 private:
  class File final : public testing::ForwardingFile {
   public:
    File(WriteGateEnv* env, std::unique_ptr<io::File> f) : ForwardingFile(std::move(f)), env_(env) {}
    Status write_at(uint64_t pos, std::span<const std::string_view> parts) override {
      {
        std::unique_lock lock(env_->mu_);
        env_->waiting_.fetch_add(1);
        env_->cv_.wait(lock, [&] { return env_->open_; });
        env_->waiting_.fetch_sub(1);
      }
      return ForwardingFile::write_at(pos, parts);
    }

   private:
    WriteGateEnv* env_;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  std::atomic<int> waiting_{0};
};

// Forks while a parent thread is mid-commit on `db` (its write held at the
// gate) and runs `in_child` in the child, which must finish within 2 s:
// the child's copy of the handle says a commit is being led, by a thread
// the child does not have. Returns the child's exit status.
template <typename F>
int fork_while_committing(WriteGateEnv& env, Db& db, F in_child) {
  env.close_gate();
  std::thread parent_commit([&] { EXPECT_TRUE(db.produce({.topic = "t", .value = "parent"}).ok()); });
  while (!env.someone_waits()) std::this_thread::sleep_for(1ms);
  pid_t child = ::fork();
  if (child == 0) {
    auto done = std::async(std::launch::async, in_child);
    ::_exit(done.wait_for(2s) == std::future_status::ready ? done.get() : kHung);
  }
  int status = wait_child(child);
  env.open_gate();
  parent_commit.join();
  return status;
}

std::unique_ptr<Db> open_gated_with_topic(WriteGateEnv& env, const std::string& path) {
  OpenOptions options;
  options.env = &env;
  auto db = Db::open(path, options);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  if (!db.ok()) return nullptr;
  EXPECT_TRUE((*db)->create_topic("t").ok());
  return std::move(db).value();
}

TEST(Fork, ACommitInTheChildIsRefusedWhileAParentThreadWasCommitting) {
  TempDir dir;
  WriteGateEnv env;
  auto db = open_gated_with_topic(env, dir.file("f.rvl"));
  ASSERT_TRUE(db);
  int status = fork_while_committing(env, *db, [&] {
    Status st = db->produce({.topic = "t", .value = "child"}).status();
    return !st.ok() && st.message().find("fork") != std::string::npos ? 0 : kProduceNotRefused;
  });
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << (WEXITSTATUS(status) == kHung ? "the child's commit hung" : "not refused");
}

TEST(Fork, DestroyingTheHandleInTheChildWhileAParentThreadWasCommittingDoesNotHang) {
  TempDir dir;
  WriteGateEnv env;
  auto db = open_gated_with_topic(env, dir.file("f.rvl"));
  ASSERT_TRUE(db);
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok());
  int status = fork_while_committing(env, *db, [&] {
    r->reset();
    db.reset();
    return 0;
  });
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "destroying the inherited handle in the child hung";
}

// WriteBatch::add looked its topic up in the inherited catalog and took
// the record in the child: it is refused there, naming fork(), as
// add_offset and a batch made in the child are.
TEST(Fork, AWriteBatchOfAnInheritedHandleIsRefusedInTheChild) {
  TempDir dir;
  auto db = Db::open(dir.file("f.rvl"));
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  ASSERT_TRUE((*db)->create_topic("t").ok());
  WriteBatch inherited(**db);
  ASSERT_TRUE(inherited.add({.topic = "t", .value = "parent"}).ok());
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto refused = [](const Status& st) { return !st.ok() && st.message().find("fork") != std::string::npos; };
    if (!refused(inherited.add({.topic = "t", .value = "child"}))) ::_exit(1);
    WriteBatch batch(**db);
    if (!refused(batch.add({.topic = "t", .value = "child"}))) ::_exit(2);
    if (!refused(batch.add_offset("g", {.topic = "t", .partition = 0, .offset = 0}))) ::_exit(3);
    if (batch.size() != 0 || inherited.size() != 1) ::_exit(4);
    ::_exit(0);
  }
  int status = wait_child(child);
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed check " << WEXITSTATUS(status);
  ASSERT_TRUE((*db)->commit(inherited).ok());
}

// A child uses the handle it inherited: its views of records read before
// the fork stay readable, every use is refused with an error naming fork(),
// and closing it there (as destructors at exit do) leaves the parent's
// handle, its reader and the shared area as they were.
TEST(Fork, AnInheritedHandleIsRefusedInTheChildAndLeavesTheParentAlone) {
  TempDir dir;
  const std::string path = dir.file("f.rvl");
  auto db = Db::open(path);
  ASSERT_TRUE(db.ok()) << db.status().to_string();
  ASSERT_TRUE((*db)->create_topic("t").ok());
  for (const char* v : {"a", "b", "c"}) ASSERT_TRUE((*db)->produce({.topic = "t", .value = v}).ok());
  auto r = (*db)->reader("t", 0);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto first = (*r)->poll(0ms, 1);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  // A reader at the end, which answers an idle poll(0) without looking.
  auto idle = (*db)->reader("t", 0, StartAt::latest());
  ASSERT_TRUE(idle.ok()) << idle.status().to_string();
  ASSERT_TRUE((*idle)->poll(0ms).ok());

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if ((*first)[0].value != std::optional<std::string_view>("a")) ::_exit(kViewChanged);
    auto produced = (*db)->produce({.topic = "t", .value = "from the child"});
    if (produced.ok() || produced.status().message().find("fork") == std::string::npos) {
      ::_exit(kProduceNotRefused);
    }
    auto polled = (*r)->poll(0ms);
    if (polled.ok() || polled.status().message().find("fork") == std::string::npos) ::_exit(kPollNotRefused);
    auto idle_polled = (*idle)->poll(0ms);
    if (idle_polled.ok() || idle_polled.status().message().find("fork") == std::string::npos) {
      ::_exit(kPollNotRefused);
    }
    // seek(earliest/latest/offset) read the inherited catalog without the check.
    for (StartAt at : {StartAt::earliest(), StartAt::latest(), StartAt::offset(1)}) {
      Status sought = (*r)->seek(at);
      if (sought.ok() || sought.message().find("fork") == std::string::npos) ::_exit(kSeekNotRefused);
    }
    idle->reset();
    r->reset();
    if (!(*db)->close().ok()) ::_exit(kCloseFailed);
    db->reset();
    ::_exit(0);
  }
  int status = wait_child(child);
  ASSERT_TRUE(WIFEXITED(status)) << "child status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "child failed check " << WEXITSTATUS(status);

  EXPECT_TRUE(std::filesystem::exists(path + "-shm")) << "the child's close removed the shared area";
  ASSERT_TRUE((*db)->produce({.topic = "t", .value = "d"}).ok());
  std::vector<std::string> rest;
  for (;;) {
    auto got = (*r)->poll(0ms);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    if (got->empty()) break;
    for (const RecordView& v : *got) rest.emplace_back(*v.value);
  }
  EXPECT_EQ(rest, (std::vector<std::string>{"b", "c", "d"}));
  // Another handle sees exactly what the parent committed.
  auto other = Db::open(path);
  ASSERT_TRUE(other.ok()) << other.status().to_string();
  auto described = (*other)->describe_topic("t");
  ASSERT_TRUE(described.ok());
  EXPECT_EQ(described->partitions[0].next_offset, 4);
}

}  // namespace
}  // namespace rivulet
