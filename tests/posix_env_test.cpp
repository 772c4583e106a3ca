// Tests of the POSIX back end of the I/O seam (src/io/posix_env.cpp) against
// the real file system, including the writer lock's release when its holder
// process is killed.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.hpp"

#include "io/env.hpp"
#include "io/locks.hpp"

namespace rivulet::io {
namespace {

class PosixEnvTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }

  std::unique_ptr<File> open(const std::string& name, OpenMode mode) {
    Result<std::unique_ptr<File>> f = env_->open(path(name), mode);
    EXPECT_TRUE(f.ok()) << f.status().to_string();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  std::unique_ptr<File> create(const std::string& name, std::string_view content = {}) {
    std::unique_ptr<File> f = open(name, OpenMode::create_exclusive_rw);
    if (f && !content.empty()) {
      EXPECT_TRUE(write(*f, 0, content).ok());
    }
    return f;
  }

  static Status write(File& f, uint64_t pos, std::string_view bytes) {
    return f.write_at(pos, std::span<const std::string_view>(&bytes, 1));
  }

  static std::string read(File& f, uint64_t pos, size_t n) {
    std::string out(n, '?');
    Status s = f.read_at(pos, out.data(), n);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return out;
  }

  Env* env_ = Env::posix();
  ::rivulet::testing::TempDir dir_;
};

TEST_F(PosixEnvTest, PosixIsASingleton) { EXPECT_EQ(Env::posix(), Env::posix()); }

TEST_F(PosixEnvTest, CreateExclusiveFailsOnExistingFile) {
  ASSERT_NE(create("a"), nullptr);
  Result<std::unique_ptr<File>> again = env_->open(path("a"), OpenMode::create_exclusive_rw);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::already_exists);
  EXPECT_EQ(again.status().message(), "open " + path("a") + ": File exists");
}

TEST_F(PosixEnvTest, OpeningAMissingFileIsNotFound) {
  for (OpenMode mode : {OpenMode::read_only, OpenMode::read_write}) {
    Result<std::unique_ptr<File>> f = env_->open(path("missing"), mode);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), Code::not_found);
    EXPECT_NE(f.status().message().find(path("missing")), std::string::npos);
  }
}

// The system call sees the path up to its NUL byte: another file. Refused,
// even where creating, and so is an empty path.
TEST_F(PosixEnvTest, OpeningAnEmptyPathOrOneWithANulByteIsRefused) {
  ASSERT_NE(create("a", "keep"), nullptr);
  for (OpenMode mode : {OpenMode::read_only, OpenMode::read_write, OpenMode::create_exclusive_rw}) {
    Result<std::unique_ptr<File>> f = env_->open(path("a") + std::string("\0b", 2), mode);
    ASSERT_FALSE(f.ok());
    EXPECT_EQ(f.status().code(), Code::invalid_argument);
    EXPECT_EQ(f.status().message(), path("a") + "\\0b: a path may not hold a NUL byte");
    EXPECT_EQ(env_->open("", mode).status().code(), Code::invalid_argument);
  }
  EXPECT_EQ(::rivulet::testing::read_all(path("a")), "keep");
}

TEST_F(PosixEnvTest, WriteOnReadOnlyFileFails) {
  ASSERT_NE(create("a", "abc"), nullptr);
  std::unique_ptr<File> f = open("a", OpenMode::read_only);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(read(*f, 0, 3), "abc");
  Status s = write(*f, 0, "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("write " + path("a")), std::string::npos) << s.message();
}

TEST_F(PosixEnvTest, WriteGathersPartsAndReadsBack) {
  std::unique_ptr<File> f = create("a");
  ASSERT_NE(f, nullptr);
  std::vector<std::string_view> parts = {"hello", "", ", ", "world"};
  ASSERT_TRUE(f->write_at(0, parts).ok());
  EXPECT_EQ(read(*f, 0, 12), "hello, world");
  EXPECT_EQ(read(*f, 7, 5), "world");
  ASSERT_TRUE(f->write_at(3, std::vector<std::string_view>{}).ok());
  EXPECT_EQ(f->size().value(), 12u);
}

TEST_F(PosixEnvTest, WriteBeyondEndLeavesAZeroHole) {
  std::unique_ptr<File> f = create("a", "abc");
  ASSERT_NE(f, nullptr);
  std::vector<std::string_view> parts = {"xy", "z"};
  ASSERT_TRUE(f->write_at(10000, parts).ok());
  EXPECT_EQ(f->size().value(), 10003u);
  EXPECT_EQ(read(*f, 0, 3), "abc");
  EXPECT_EQ(read(*f, 3, 9997), std::string(9997, '\0'));
  EXPECT_EQ(read(*f, 10000, 3), "xyz");
}

TEST_F(PosixEnvTest, WriteWithMorePartsThanIovMax) {
  std::unique_ptr<File> f = create("a");
  ASSERT_NE(f, nullptr);
  std::vector<std::string> storage;
  std::string expected;
  for (int i = 0; i < 5000; ++i) {
    storage.push_back(std::to_string(i) + ",");
    expected += storage.back();
  }
  std::vector<std::string_view> parts(storage.begin(), storage.end());
  ASSERT_TRUE(f->write_at(7, parts).ok());
  EXPECT_EQ(read(*f, 7, expected.size()), expected);
}

TEST_F(PosixEnvTest, ReadingPastTheEndIsAShortRead) {
  std::unique_ptr<File> f = create("a", "0123456789");
  ASSERT_NE(f, nullptr);
  char buf[8];
  Status s = f->read_at(5, buf, sizeof buf);
  EXPECT_EQ(s.code(), Code::io_error);
  EXPECT_NE(s.message().find("short read"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(path("a")), std::string::npos) << s.message();
  EXPECT_TRUE(f->read_at(10, buf, 0).ok());
}

TEST_F(PosixEnvTest, SizeAllocateTruncate) {
  std::unique_ptr<File> f = create("a");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->size().value(), 0u);
  ASSERT_TRUE(f->allocate(8192).ok());
  EXPECT_EQ(f->size().value(), 8192u);
  EXPECT_EQ(env_->file_size(path("a")).value(), 8192u);
  EXPECT_EQ(read(*f, 0, 8192), std::string(8192, '\0'));
  ASSERT_TRUE(f->allocate(100).ok());  // never shrinks
  EXPECT_EQ(f->size().value(), 8192u);
  ASSERT_TRUE(write(*f, 0, "abcdef").ok());
  ASSERT_TRUE(f->truncate(3).ok());
  EXPECT_EQ(f->size().value(), 3u);
  EXPECT_EQ(read(*f, 0, 3), "abc");
  ASSERT_TRUE(f->truncate(5).ok());
  EXPECT_EQ(read(*f, 0, 5), std::string("abc\0\0", 5));
  ASSERT_TRUE(f->sync().ok());
}

// Write system calls this process has made so far (Linux's /proc/self/io).
uint64_t write_syscalls() {
  std::string io = ::rivulet::testing::read_all("/proc/self/io");
  size_t at = io.find("syscw: ");
  return at == std::string::npos ? 0 : std::stoull(io.substr(at + 7));
}

// With mapped writes on, small writes into the range a File allocated
// make no system call, wherever that range begins (a log's head segment
// starts past the file's header and superblocks, or lower in the file when
// a segment is reused); writes outside it, or past a hole punched in it,
// go through pwritev and land just the same.
TEST_F(PosixEnvTest, SmallWritesIntoTheRangeAFileAllocatedMakeNoSystemCall) {
  std::unique_ptr<File> f = create("log", std::string(16384, 'h'));
  ASSERT_NE(f, nullptr);
  f->set_mapped_writes(true);
  auto writes_made = [&](uint64_t from, int count) {
    uint64_t before = write_syscalls();
    for (int i = 0; i < count; ++i) EXPECT_TRUE(write(*f, from + 100 * static_cast<uint64_t>(i), "0123456789").ok());
    return write_syscalls() - before;
  };
  for (uint64_t first : {uint64_t{65536}, uint64_t{16384}}) {  // a head segment, then a lower (reused) one
    ASSERT_TRUE(f->allocate(first, first + 65536).ok());
    EXPECT_LT(writes_made(first, 200), 10u) << "range from " << first;
    EXPECT_EQ(read(*f, first + 100 * 199, 10), "0123456789");
  }
  EXPECT_GE(writes_made(200000, 50), 50u) << "outside the allocated range";
  ASSERT_TRUE(f->punch_hole(16384 + 8192, 4096).ok());
  EXPECT_LT(writes_made(16384, 20), 10u) << "before the hole";
  EXPECT_GE(writes_made(16384 + 8192, 20), 20u) << "from the hole on";
  EXPECT_EQ(read(*f, 16384 + 8192 + 1900, 10), "0123456789");
}

// Pages of `path` in [0, len) that are dirty (written, not yet handed to
// the disk), by Linux's cachestat (6.5 on); nullopt where it is missing.
std::optional<uint64_t> dirty_pages(const std::string& path, uint64_t len) {
  struct Range {
    uint64_t off, len;
  } range{0, len};
  struct Stat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
  } stat{};
  constexpr long kSysCachestat = 451;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  long rc = ::syscall(kSysCachestat, fd, &range, &stat, 0);
  ::close(fd);
  if (rc != 0) return std::nullopt;
  return stat.nr_dirty;
}

// With write-behind on, writes hand what they left more than a step or two
// behind to the disk as they go (so that a later fdatasync, under the
// writer lock at a segment change, finds little left to write): through
// the mapping and through pwritev alike, and again after the writes move
// to a lower range (a reused segment).
TEST_F(PosixEnvTest, WriteBehindLeavesOnlyTheLastStepsDirty) {
  constexpr uint64_t kMiB = 1 << 20, kRun = 8 * kMiB;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  // With `aside`, a lone 4 KiB write at `aside` after every MiB of the run,
  // as a checkpoint writes a superblock far from the log's end.
  auto write_run = [&](File& f, uint64_t from, size_t piece, std::optional<uint64_t> aside = std::nullopt) {
    ASSERT_TRUE(f.allocate(from, from + kRun).ok());
    const std::string bytes(piece, 'w');
    for (uint64_t pos = from; pos < from + kRun; pos += piece) {
      ASSERT_TRUE(write(f, pos, bytes).ok());
      if (aside && (pos + piece - from) % kMiB < piece) {
        ASSERT_TRUE(write(f, *aside, std::string(4096, 's')).ok());
      }
    }
  };
  std::unique_ptr<File> plain = create("plain");
  ASSERT_NE(plain, nullptr);
  plain->set_mapped_writes(true);
  write_run(*plain, 0, 4096);
  std::optional<uint64_t> left = dirty_pages(path("plain"), kRun);
  if (!left || *left < kRun / page / 2) GTEST_SKIP() << "no cachestat, or a file system without writeback here";

  for (size_t piece : {size_t{200}, size_t{64 << 10}}) {  // mapped writes, then pwritev
    const std::string name = "behind-" + std::to_string(piece);
    std::unique_ptr<File> f = create(name);
    ASSERT_NE(f, nullptr);
    f->set_mapped_writes(true);
    f->set_write_behind(true);
    write_run(*f, 16 * kMiB, piece);
    EXPECT_LE(dirty_pages(path(name), 32 * kMiB).value(), 3 * kMiB / page) << piece << "-byte writes";
    write_run(*f, 0, piece);  // a lower range: write-behind follows it there
    EXPECT_LE(dirty_pages(path(name), 32 * kMiB).value(), 6 * kMiB / page) << piece << "-byte writes, lower";
    EXPECT_EQ(read(*f, 16 * kMiB + kRun - 10, 10), std::string(10, 'w'));
    ASSERT_TRUE(f->sync().ok());
    write_run(*f, 32 * kMiB, piece, 16 * kMiB);  // lone writes elsewhere do not stop it
    EXPECT_LE(dirty_pages(path(name), 48 * kMiB).value(), 3 * kMiB / page + 1) << piece << "-byte writes, with others";
  }
}

// A File cannot know of holes another handle punched in a range it
// allocated earlier: allocating a range again (the writer entering a
// reused segment) allocates it on disk again, so that no write through
// the mapping ever lands in a hole (a block to find at fault time, SIGBUS
// on a full disk).
TEST_F(PosixEnvTest, AllocatingARangeAgainFillsHolesAnotherHandlePunched) {
  std::unique_ptr<File> writer = create("log", std::string(16384, 'h'));
  ASSERT_NE(writer, nullptr);
  writer->set_mapped_writes(true);
  ASSERT_TRUE(writer->allocate(16384, 16384 + (1 << 20)).ok());
  const uint64_t whole = writer->disk_bytes().value();
  std::unique_ptr<File> other = open("log", OpenMode::read_write);
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->punch_hole(16384 + 65536, 65536).ok());
  ASSERT_LT(writer->disk_bytes().value(), whole) << "the file system did not punch";
  ASSERT_TRUE(writer->allocate(16384 + 65536, 16384 + 131072).ok());
  EXPECT_EQ(writer->disk_bytes().value(), whole);
  ASSERT_TRUE(write(*writer, 16384 + 65536, "reused").ok());
  EXPECT_EQ(read(*other, 16384 + 65536, 6), "reused");
}

TEST_F(PosixEnvTest, FileSizeOfMissingFileIsNotFound) {
  Result<uint64_t> size = env_->file_size(path("missing"));
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::not_found);
  EXPECT_EQ(size.status().message(),
            "stat " + path("missing") + ": No such file or directory");
}

TEST_F(PosixEnvTest, MappingSeesLaterWrites) {
  std::unique_ptr<File> f = create("a", std::string(4096, 'a'));
  ASSERT_NE(f, nullptr);
  Result<std::unique_ptr<Mapping>> m = f->map(4096);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  ASSERT_EQ((*m)->length(), 4096u);
  EXPECT_EQ(std::string_view((*m)->data(), 4096), std::string(4096, 'a'));
  ASSERT_TRUE(write(*f, 100, "XYZ").ok());
  EXPECT_EQ(std::string_view((*m)->data() + 99, 5), "aXYZa");
}

// A large mapping starts on a 2 MiB boundary (so huge folios can be mapped
// whole) and reads the file as any mapping does.
TEST_F(PosixEnvTest, ALargeMappingIsAlignedAndReadsTheFile) {
  constexpr size_t kLength = (4 << 20) + 4096;
  std::string content(kLength, 'm');
  content[kLength - 1] = 'e';
  std::unique_ptr<File> f = create("big", content);
  ASSERT_NE(f, nullptr);
  Result<std::unique_ptr<Mapping>> m = f->map(kLength);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(reinterpret_cast<uintptr_t>((*m)->data()) % (2 << 20), 0u);
  EXPECT_EQ(std::string_view((*m)->data(), kLength), content);
}

TEST_F(PosixEnvTest, EmptyMapping) {
  std::unique_ptr<File> f = create("a");
  ASSERT_NE(f, nullptr);
  Result<std::unique_ptr<Mapping>> m = f->map(0);
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ((*m)->length(), 0u);
}

TEST_F(PosixEnvTest, RenameNoReplace) {
  ASSERT_NE(create("a", "AAA"), nullptr);
  ASSERT_NE(create("b", "BBBB"), nullptr);
  Status s = env_->rename_noreplace(path("a"), path("b"));
  EXPECT_EQ(s.code(), Code::already_exists);
  EXPECT_NE(s.message().find(path("a")), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(path("b")), std::string::npos) << s.message();
  EXPECT_EQ(env_->file_size(path("a")).value(), 3u);
  EXPECT_EQ(env_->file_size(path("b")).value(), 4u);

  ASSERT_TRUE(env_->rename_noreplace(path("a"), path("c")).ok());
  EXPECT_EQ(env_->file_size(path("a")).status().code(), Code::not_found);
  EXPECT_EQ(env_->file_size(path("c")).value(), 3u);
  EXPECT_EQ(env_->rename_noreplace(path("a"), path("d")).code(), Code::not_found);
}

TEST_F(PosixEnvTest, RemoveAndSyncParentDir) {
  ASSERT_NE(create("a"), nullptr);
  ASSERT_TRUE(env_->sync_parent_dir(path("a")).ok());
  ASSERT_TRUE(env_->remove(path("a")).ok());
  EXPECT_EQ(env_->file_size(path("a")).status().code(), Code::not_found);
  Status s = env_->remove(path("a"));
  EXPECT_EQ(s.code(), Code::not_found);
  EXPECT_EQ(s.message(), "unlink " + path("a") + ": No such file or directory");
  EXPECT_FALSE(env_->sync_parent_dir(path("nodir/a")).ok());
}

TEST_F(PosixEnvTest, ErrnoStatusMapping) {
  Status s = errno_status(ENOSPC, "write", "/x/y");
  EXPECT_EQ(s.code(), Code::no_space);
  EXPECT_EQ(s.message(), "write /x/y: No space left on device");
  EXPECT_EQ(errno_status(EDQUOT, "write", "p").code(), Code::no_space);
  EXPECT_EQ(errno_status(ENOENT, "open", "p").code(), Code::not_found);
  EXPECT_EQ(errno_status(EACCES, "open", "p").code(), Code::read_only);
  EXPECT_EQ(errno_status(EPERM, "open", "p").code(), Code::read_only);
  EXPECT_EQ(errno_status(EROFS, "open", "p").code(), Code::read_only);
  EXPECT_EQ(errno_status(EEXIST, "open", "p").code(), Code::already_exists);
  EXPECT_EQ(errno_status(EIO, "read", "p").code(), Code::io_error);
}

TEST_F(PosixEnvTest, WriterLockConflictsBetweenFilesInOneProcess) {
  std::unique_ptr<File> first = create("db");
  std::unique_ptr<File> second = open("db", OpenMode::read_write);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->lock(kWriterLockByte, LockType::exclusive, false).ok());
  Status busy = second->lock(kWriterLockByte, LockType::exclusive, false);
  EXPECT_EQ(busy.code(), Code::busy);
  EXPECT_NE(busy.message().find(path("db")), std::string::npos) << busy.message();
  ASSERT_TRUE(first->unlock(kWriterLockByte).ok());
  ASSERT_TRUE(second->lock(kWriterLockByte, LockType::exclusive, false).ok());
  EXPECT_EQ(first->lock(kWriterLockByte, LockType::exclusive, false).code(), Code::busy);
  second.reset();  // closing releases the lock
  EXPECT_TRUE(first->lock(kWriterLockByte, LockType::exclusive, false).ok());
}

TEST_F(PosixEnvTest, WaitingLockIsGrantedOnUnlock) {
  std::unique_ptr<File> first = create("db");
  std::unique_ptr<File> second = open("db", OpenMode::read_write);
  ASSERT_TRUE(first->lock(kWriterLockByte, LockType::exclusive, false).ok());
  std::thread waiter([&] { EXPECT_TRUE(second->lock(kWriterLockByte, LockType::exclusive, true).ok()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(first->unlock(kWriterLockByte).ok());
  waiter.join();
  EXPECT_EQ(first->lock(kWriterLockByte, LockType::exclusive, false).code(), Code::busy);
}

TEST_F(PosixEnvTest, WriterLockIsReleasedWhenHolderIsKilled) {
  ASSERT_NE(create("db"), nullptr);
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child never returns into gtest: it locks, reports, and waits to die.
    Result<std::unique_ptr<File>> f = Env::posix()->open(path("db"), OpenMode::read_write);
    char ok = (f.ok() && (*f)->lock(kWriterLockByte, LockType::exclusive, false).ok()) ? 'y' : 'n';
    if (::write(ready[1], &ok, 1) != 1) ::_exit(2);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char got = 0;
  ASSERT_EQ(::read(ready[0], &got, 1), 1);
  ::close(ready[0]);
  std::unique_ptr<File> f = open("db", OpenMode::read_write);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(got, 'y');
  EXPECT_EQ(f->lock(kWriterLockByte, LockType::exclusive, false).code(), Code::busy);

  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child, &wstatus, 0), child);
  EXPECT_TRUE(WIFSIGNALED(wstatus));

  Status s = f->lock(kWriterLockByte, LockType::exclusive, false);
  for (int i = 0; i < 200 && s.code() == Code::busy; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s = f->lock(kWriterLockByte, LockType::exclusive, false);
  }
  EXPECT_TRUE(s.ok()) << s.to_string();
}

TEST_F(PosixEnvTest, SharedFileLocksTellWhetherAnotherHandleHoldsThem) {
  Result<std::unique_ptr<SharedFile>> a = Env::posix()->open_shared(path("shm"), path("db"));
  Result<std::unique_ptr<SharedFile>> b = Env::posix()->open_shared(path("shm"), path("db"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(*(*b)->locked_by_other(7));
  ASSERT_TRUE((*a)->lock(7, LockType::exclusive, false).ok());
  EXPECT_TRUE(*(*b)->locked_by_other(7));
  EXPECT_FALSE(*(*a)->locked_by_other(7)) << "a description's own lock is not another's";
  EXPECT_EQ((*b)->lock(7, LockType::shared, false).code(), Code::busy);
  // Converting to shared lets other shared holders in, but no writer.
  ASSERT_TRUE((*a)->lock(7, LockType::shared, false).ok());
  ASSERT_TRUE((*b)->lock(7, LockType::shared, false).ok());
  EXPECT_EQ((*a)->lock(7, LockType::exclusive, false).code(), Code::busy);
  a->reset();
  EXPECT_TRUE((*b)->lock(7, LockType::exclusive, false).ok());
}

// Whoever may open the database may open its shared area: a new one takes
// the database's permission bits whatever the umask (SQLite's -shm does
// the same), and an existing one is left as it is.
TEST_F(PosixEnvTest, ANewSharedFileTakesItsModelsPermissions) {
  for (mode_t mode : {0660, 0600, 0666}) {
    std::string db = path("db" + std::to_string(mode)), shm = db + "-shm";
    testing::write_all(db, "x");
    ASSERT_EQ(::chmod(db.c_str(), mode), 0);
    mode_t old_umask = ::umask(077);
    Result<std::unique_ptr<SharedFile>> f = Env::posix()->open_shared(shm, db);
    ::umask(old_umask);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    struct stat st;
    ASSERT_EQ(::stat(shm.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, mode) << std::oct << mode;
  }
  std::string db = path("db432"), shm = db + "-shm";  // 0660
  ASSERT_TRUE((*Env::posix()->open_shared(shm, db))->reset(4096).ok());
  ASSERT_EQ(::chmod(shm.c_str(), 0640), 0);
  ASSERT_TRUE(Env::posix()->open_shared(shm, db).ok());
  struct stat st;
  ASSERT_EQ(::stat(shm.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u) << "an existing area file was changed";
}

TEST_F(PosixEnvTest, SharedFileMapsZeroedBytesThatEveryHandleSees) {
  Result<std::unique_ptr<SharedFile>> a = Env::posix()->open_shared(path("shm"), path("db"));
  Result<std::unique_ptr<SharedFile>> b = Env::posix()->open_shared(path("shm"), path("db"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE((*a)->reset(8192).ok());
  EXPECT_EQ(*(*b)->size(), 8192u);
  Result<std::unique_ptr<SharedMapping>> ma = (*a)->map(8192);
  Result<std::unique_ptr<SharedMapping>> mb = (*b)->map(8192);
  ASSERT_TRUE(ma.ok() && mb.ok());
  EXPECT_EQ((*mb)->data()[8191], 0);
  (*ma)->data()[8191] = 42;
  EXPECT_EQ((*mb)->data()[8191], 42);
  ASSERT_TRUE((*b)->reset(8192).ok());
  EXPECT_EQ((*ma)->data()[8191], 0) << "reset zeroes the bytes for every mapping";
  EXPECT_EQ(*(*a)->id(), *Env::posix()->file_id(path("shm")));
}

}  // namespace
}  // namespace rivulet::io
