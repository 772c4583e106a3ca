// The real I/O back end: io::Env and io::File on top of Linux system calls
// (pread/pwritev, fdatasync, fallocate, mmap, open-file-description locks).
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "io/env.hpp"
#include "io/fork_guard.hpp"
#include "io/locks.hpp"
#include "util/crc32c.hpp"

namespace rivulet::io {

namespace {

Code code_for_errno(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return Code::no_space;
    case ENOENT:
      return Code::not_found;
    case EACCES:
    case EPERM:
    case EROFS:
      return Code::read_only;
    case EEXIST:
      return Code::already_exists;
    default:
      return Code::io_error;
  }
}

class PosixMapping final : public Mapping {
 public:
  PosixMapping(void* addr, uint64_t length) : addr_(addr), length_(length) {}
  ~PosixMapping() override {
    if (length_ > 0) fork_guard::unmap(addr_, length_);
  }
  PosixMapping(const PosixMapping&) = delete;
  PosixMapping& operator=(const PosixMapping&) = delete;

  const char* data() const override { return static_cast<const char*>(addr_); }
  uint64_t length() const override { return length_; }
  void populate(uint64_t begin, uint64_t end) const override {
#ifdef MADV_POPULATE_READ
    end = std::min(end, length_);
    if (end <= begin) return;
    static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    begin -= begin % page;  // madvise wants a page-aligned start
    (void)::madvise(static_cast<char*>(addr_) + begin, end - begin, MADV_POPULATE_READ);
#else
    (void)begin;
    (void)end;
#endif
  }

 private:
  void* addr_;
  uint64_t length_;
};

// Drops the first n bytes (already written) from iov[*first ...], leaving
// *first at the first iovec with bytes still to write.
void consume_iovecs(std::vector<iovec>& iov, size_t* first, size_t n) {
  while (n > 0) {
    iovec& v = iov[*first];
    if (n >= v.iov_len) {
      n -= v.iov_len;
      ++*first;
    } else {
      v.iov_base = static_cast<char*>(v.iov_base) + n;
      v.iov_len -= n;
      n = 0;
    }
  }
}

struct flock byte_range(short type, uint64_t byte) {
  struct flock fl;
  std::memset(&fl, 0, sizeof fl);  // l_pid must be 0 for OFD locks
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = static_cast<off_t>(byte);
  fl.l_len = 1;
  return fl;
}

Status lock_byte(int fd, const std::string& path, uint64_t byte, LockType type, bool wait) {
  struct flock fl = byte_range(type == LockType::shared ? F_RDLCK : F_WRLCK, byte);
  int rc;
  do {
    rc = ::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Status::OK();
  if (!wait && (errno == EAGAIN || errno == EACCES)) {
    return Status(Code::busy, "lock " + path + ": held by another handle");
  }
  return errno_status(errno, "lock", path);
}

Status unlock_byte(int fd, const std::string& path, uint64_t byte) {
  struct flock fl = byte_range(F_UNLCK, byte);
  if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) return errno_status(errno, "unlock", path);
  return Status::OK();
}

Result<FileId> fd_id(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return errno_status(errno, "fstat", path);
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

// `addr`, an mmap of [0, length) of fd made under `hold`, registered with
// fork_guard; MAP_FAILED with errno set (and nothing left mapped) if the
// mmap failed or no descriptor was left to register it.
void* registered_mapping(const fork_guard::Hold& hold, void* addr, size_t length, int fd) {
  if (addr == MAP_FAILED || fork_guard::add_mapping(hold, addr, length, fd)) return addr;
  int err = errno;
  ::munmap(addr, length);
  errno = err;
  return MAP_FAILED;
}

// Above this a write goes through pwritev even with mapped writes on: the
// saved system call no longer matters, and copying large frames into the
// mapping measured 4x slower than pwritev (batched produce: 2.5 vs 11.5 M
// records/s) with a slower close too.
constexpr uint64_t kMaxMappedWrite = 16 << 10;
constexpr uint64_t kPrefault = 256 << 10;  // how far ahead mapped writes fault pages in
constexpr uint64_t kReleaseStep = 1 << 20;  // how far behind them pages are let go, at least
constexpr uint64_t kHugeBlock = 2 << 20;   // a PMD: one page-table entry maps it
constexpr uint64_t kWriteBehindStep = 1 << 20;  // see write_behind

class PosixFile final : public File {
 public:
  // `fd` registered with fork_guard by the caller.
  PosixFile(int fd, std::string path, bool writable) : fd_(fd), path_(std::move(path)), writable_(writable) {}
  // Closing releases the writer lock: OFD locks belong to the description.
  ~PosixFile() override {
    if (wmap_) fork_guard::unmap(wmap_, wmap_len_);
    fork_guard::close_descriptor(fd_);
  }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  const std::string& path() const override { return path_; }

  Status read_at(uint64_t pos, void* buf, size_t n) override {
    char* out = static_cast<char*>(buf);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, out + done, n - done, static_cast<off_t>(pos + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "read", path_);
      }
      if (r == 0) {
        return Status(Code::io_error, "read " + path_ + ": short read (wanted " +
                                          std::to_string(n) + " bytes at " + std::to_string(pos) +
                                          ", file ends after " + std::to_string(done) + ")");
      }
      done += static_cast<size_t>(r);
    }
    return Status::OK();
  }

  // Small writes into ranges this File allocated are copies into a shared
  // writable mapping: the bytes are in the page cache (safe from a process
  // crash, flushed by fdatasync) without a system call. Anything else goes
  // through pwritev, which extends the file and reports errors directly.
  Status write_at(uint64_t pos, std::span<const std::string_view> parts) override {
    uint64_t total = 0;
    for (std::string_view p : parts) total += p.size();
    if (mapped_writes_ && total <= kMaxMappedWrite && pos >= safe_begin_ && pos + total <= safe_end_ &&
        map_for_writes(pos + total)) {
      // Only for a run of small writes: one between large ones (a
      // retention record between batches) would fault in pages that the
      // next pwritev fills anyway, reading them first in a reused segment.
      if (pos + total > prefaulted_end_ && last_write_mapped_) prefault(pos, std::min(safe_end_, pos + kPrefault));
      last_write_mapped_ = true;
      char* at = wmap_ + pos;
      for (std::string_view p : parts) {
        std::memcpy(at, p.data(), p.size());
        at += p.size();
      }
      if (write_behind_) write_behind(pos, pos + total);
      return Status::OK();
    }
    last_write_mapped_ = false;
    std::vector<iovec> iov;
    iov.reserve(parts.size());
    for (std::string_view p : parts) {
      // Empty iovecs are legal but would make the consume loop's job harder.
      if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
    }
    size_t first = 0;
    while (first < iov.size()) {
      int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
      ssize_t w = ::pwritev(fd_, iov.data() + first, count, static_cast<off_t>(pos));
      if (w < 0) {
        if (errno == EINTR) continue;
        return errno_status(errno, "write", path_);
      }
      if (w == 0) {
        // The kernel never does this for a regular file; guard the loop anyway.
        return Status(Code::io_error, "write " + path_ + ": wrote 0 bytes");
      }
      consume_iovecs(iov, &first, static_cast<size_t>(w));
      pos += static_cast<uint64_t>(w);
    }
    if (write_behind_) write_behind(pos - total, pos);
    return Status::OK();
  }

  Status sync() override {
    int rc;
    do {
      rc = ::fdatasync(fd_);
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? Status::OK() : errno_status(errno, "fdatasync", path_);
  }

  Result<uint64_t> size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return errno_status(errno, "fstat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<uint64_t> disk_bytes() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return errno_status(errno, "fstat", path_);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  }

  // This File writes through its mapping only into the one range it last
  // allocated, [safe_begin_, safe_end_): the segment being written. A
  // `first` at the range's end extends it; any other starts a new range
  // (the log moved to another segment), even inside the old one: another
  // process may have punched a hole there since, which fallocate fills.
  Status allocate(uint64_t first, uint64_t end) override {
    if (end <= first) return Status::OK();
    int rc;
    do {
      rc = ::fallocate(fd_, 0, static_cast<off_t>(first), static_cast<off_t>(end - first));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      if (first != safe_end_) {
        safe_begin_ = prefaulted_end_ = first;
        const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
        released_end_ = (first + page - 1) / page * page;
      }
      safe_end_ = end;
      return Status::OK();
    }
    int err = errno;
    if (err == EOPNOTSUPP || err == ENOSYS) {
      // Documented fallback (see File::allocate): file systems without
      // fallocate (some FUSE and network ones) only get the file extended, so
      // a later write into this range can still fail with ENOSPC (which is
      // why such ranges are never written through the mapping).
      Result<uint64_t> cur = size();
      if (!cur.ok()) return cur.status();
      return end <= *cur ? Status::OK() : truncate(end);
    }
    return errno_status(err, "fallocate", path_);
  }

  Status truncate(uint64_t size) override {
    safe_end_ = std::min(safe_end_, size);
    safe_begin_ = std::min(safe_begin_, safe_end_);
    int rc;
    do {
      rc = ::ftruncate(fd_, static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? Status::OK() : errno_status(errno, "ftruncate", path_);
  }

  Status punch_hole(uint64_t pos, uint64_t len) override {
    // A write through the mapping into a hole would need a block, and
    // SIGBUS if the disk is full: the range written through the mapping
    // ends where a hole begins (writes past it use pwritev, which reports
    // ENOSPC).
    if (pos < safe_end_ && pos + len > safe_begin_) {
      safe_end_ = std::max(safe_begin_, pos);
      prefaulted_end_ = std::min(prefaulted_end_, safe_end_);
    }
    int rc;
    do {
      rc = ::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(pos),
                       static_cast<off_t>(len));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0 || errno == EOPNOTSUPP || errno == ENOSYS) return Status::OK();
    return errno_status(errno, "fallocate (punch hole)", path_);
  }

  // At a 2 MiB-aligned address, so that the kernel can map huge page-cache
  // folios whole (one page-table entry per 2 MiB instead of 512: on a
  // virtual machine, mapping 4 KiB pages one by one costs more than copying
  // them).
  Result<std::unique_ptr<Mapping>> map(uint64_t length) override {
    // mmap rejects a zero length, but an empty file is a normal thing to map.
    if (length == 0) return std::unique_ptr<Mapping>(new PosixMapping(nullptr, 0));
    fork_guard::Hold hold;
    void* addr = MAP_FAILED;
    if (length >= kHugeBlock) {
      void* room = ::mmap(nullptr, length + kHugeBlock, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (room != MAP_FAILED) {
        uintptr_t start = reinterpret_cast<uintptr_t>(room);
        uintptr_t aligned = (start + kHugeBlock - 1) / kHugeBlock * kHugeBlock;
        addr = ::mmap(reinterpret_cast<void*>(aligned), length, PROT_READ, MAP_SHARED | MAP_FIXED, fd_, 0);
        if (addr == MAP_FAILED) {
          ::munmap(room, length + kHugeBlock);
        } else {
          if (aligned > start) ::munmap(room, aligned - start);
          uintptr_t tail = aligned + length, room_end = start + length + kHugeBlock;
          if (room_end > tail) ::munmap(reinterpret_cast<void*>(tail), room_end - tail);
        }
      }
    }
    if (addr == MAP_FAILED) addr = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd_, 0);
    addr = registered_mapping(hold, addr, length, fd_);
    if (addr == MAP_FAILED) return errno_status(errno, "mmap", path_);
    return std::unique_ptr<Mapping>(new PosixMapping(addr, length));
  }

  Result<FileId> id() override { return fd_id(fd_, path_); }
  void set_mapped_writes(bool on) override { mapped_writes_ = on && writable_; }
  void set_write_behind(bool on) override { write_behind_ = on && writable_; }

  Status lock(uint64_t byte, LockType type, bool wait) override { return lock_byte(fd_, path_, byte, type, wait); }
  Status unlock(uint64_t byte) override { return unlock_byte(fd_, path_, byte); }

 private:
  // Faults in the mapped pages ahead of the mapped writes in one call, so
  // the small writes that fill them take no page fault each (where the
  // kernel has MADV_POPULATE_WRITE, 5.14 on; elsewhere they fault as usual).
  // Only the pages from `from` on, which hold nothing yet: faulting data in
  // writable would dirty it for nothing.
  // Also lets go of the pages behind `from`, written already (see
  // release_behind).
  void prefault(uint64_t from, uint64_t end) {
    prefaulted_end_ = end;
    uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    uint64_t start = from / page * page;
    release_behind(start);
#ifdef MADV_POPULATE_WRITE
    if (end > start) ::madvise(wmap_ + start, end - start, MADV_POPULATE_WRITE);
#endif
  }

  // Drops this mapping's page-table entries for [released_end_, end), pages
  // the writes have passed (appends never come back to them). The data
  // stays: MADV_DONTNEED on a shared file mapping leaves the pages in the
  // page cache, dirty, as after a pwritev. Kept mapped, every one of them
  // would have to be write-protected, with a TLB flush each, when written
  // back: on this VM most of the time a segment change's fdatasync took.
  // Advice: where it fails, the pages stay mapped as before.
  void release_behind(uint64_t end, uint64_t at_least = kReleaseStep) {
    if (end > released_end_ + at_least) {
      ::madvise(wmap_ + released_end_, end - released_end_, MADV_DONTNEED);
      released_end_ = end;
    }
  }

  // After a write of [begin, end): starts the disk writing what lies more
  // than a step behind `end`, a step at a time, without waiting for it
  // (sync_file_range), so that the next fdatasync finds little left to do.
  // Under `normal` that is a segment change, which waited for the whole
  // segment otherwise (~100 ms for 64 MiB on the development VM) with the
  // writer lock held. Appends only: a write elsewhere (the log went on in
  // another segment) starts again from there. Pages still in the writable
  // mapping are let go first, as release_behind does, or writeback would
  // write-protect them one by one. Advice, as release_behind: a failure
  // only leaves the work to the fdatasync.
  //
  // Appends only: a lone write elsewhere (a superblock, at every
  // checkpoint) leaves the stream where it was, or each would drop up to
  // two steps from it; two writes in a row elsewhere (the log went on in
  // another segment) start a new stream there.
  void write_behind(uint64_t begin, uint64_t end) {
    const bool follows_last = begin == last_write_end_;
    last_write_end_ = end;
    if (begin < behind_end_ || begin > behind_end_ + 2 * kWriteBehindStep) {
      if (!follows_last) return;
      behind_end_ = begin / kWriteBehindStep * kWriteBehindStep;
    }
    if (end < behind_end_ + 2 * kWriteBehindStep) return;
    const uint64_t to = end / kWriteBehindStep * kWriteBehindStep - kWriteBehindStep;
    if (wmap_ && to <= wmap_len_) release_behind(to, 0);
    ::sync_file_range(fd_, static_cast<off_t>(behind_end_), static_cast<off_t>(to - behind_end_),
                      SYNC_FILE_RANGE_WRITE);
    behind_end_ = to;
  }

  // A writable mapping covering [0, end), made (or remade larger) on
  // demand. Only ever touched below safe_end_, which the file has.
  bool map_for_writes(uint64_t end) {
    if (end <= wmap_len_) return true;
    if (!writable_) return false;
    uint64_t len = std::max<uint64_t>(uint64_t{1} << 30, end * 2);
    void* addr;
    {
      fork_guard::Hold hold;
      addr = registered_mapping(hold, ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0), len, fd_);
    }
    if (addr == MAP_FAILED) return false;  // pwritev still works
    if (wmap_) fork_guard::unmap(wmap_, wmap_len_);
    wmap_ = static_cast<char*>(addr);
    wmap_len_ = len;
    return true;
  }

  int fd_;
  std::string path_;
  bool writable_;
  bool mapped_writes_ = false;
  // [safe_begin_, safe_end_) is allocated on disk: see allocate().
  uint64_t safe_begin_ = 0;
  uint64_t safe_end_ = 0;
  uint64_t prefaulted_end_ = 0;
  uint64_t released_end_ = 0;  // see release_behind
  bool write_behind_ = false;
  uint64_t behind_end_ = 0;  // see write_behind
  uint64_t last_write_end_ = 0;
  bool last_write_mapped_ = false;
  char* wmap_ = nullptr;
  uint64_t wmap_len_ = 0;
};

class PosixSharedMapping final : public SharedMapping {
 public:
  PosixSharedMapping(char* addr, uint64_t length) : addr_(addr), length_(length) {}
  ~PosixSharedMapping() override { fork_guard::unmap(addr_, length_); }
  PosixSharedMapping(const PosixSharedMapping&) = delete;
  PosixSharedMapping& operator=(const PosixSharedMapping&) = delete;
  char* data() const override { return addr_; }
  uint64_t length() const override { return length_; }

 private:
  char* addr_;
  uint64_t length_;
};

class PosixSharedFile final : public SharedFile {
 public:
  // `fd` registered with fork_guard by the caller.
  PosixSharedFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixSharedFile() override { fork_guard::close_descriptor(fd_); }
  PosixSharedFile(const PosixSharedFile&) = delete;
  PosixSharedFile& operator=(const PosixSharedFile&) = delete;

  const std::string& path() const override { return path_; }
  Result<FileId> id() override { return fd_id(fd_, path_); }
  Status lock(uint64_t byte, LockType type, bool wait) override { return lock_byte(fd_, path_, byte, type, wait); }
  Status unlock(uint64_t byte) override { return unlock_byte(fd_, path_, byte); }

  Result<bool> locked_by_other(uint64_t byte) override {
    // F_OFD_GETLK ignores this description's own locks.
    struct flock fl = byte_range(F_WRLCK, byte);
    if (::fcntl(fd_, F_OFD_GETLK, &fl) != 0) return errno_status(errno, "lock test", path_);
    return fl.l_type != F_UNLCK;
  }

  Status reset(uint64_t size) override {
    int rc;
    do {
      rc = ::ftruncate(fd_, 0);
      if (rc == 0) rc = ::ftruncate(fd_, static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    return rc == 0 ? Status::OK() : errno_status(errno, "ftruncate", path_);
  }

  Result<uint64_t> size() override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return errno_status(errno, "fstat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::unique_ptr<SharedMapping>> map(uint64_t length) override {
    fork_guard::Hold hold;
    void* addr = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    addr = registered_mapping(hold, addr, length, fd_);
    if (addr == MAP_FAILED) return errno_status(errno, "mmap", path_);
    return std::unique_ptr<SharedMapping>(new PosixSharedMapping(static_cast<char*>(addr), length));
  }

 private:
  int fd_;
  std::string path_;
};

int open_flags(OpenMode mode) {
  switch (mode) {
    case OpenMode::read_only:
      return O_RDONLY;
    case OpenMode::read_write:
      return O_RDWR;
    case OpenMode::create_exclusive_rw:
      return O_RDWR | O_CREAT | O_EXCL;
  }
  return O_RDONLY;
}

int retry_open(const char* path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

// retry_open, the descriptor registered with fork_guard before any fork()
// can copy it: -1 with errno set if the open fails.
int open_registered(const char* path, int flags, mode_t mode) {
  fork_guard::Hold hold;
  int fd = retry_open(path, flags, mode);
  if (fd >= 0) fork_guard::add_descriptor(hold, fd);
  return fd;
}

int rename_syscall(const std::string& from, const std::string& to) {
#ifdef RENAME_NOREPLACE
  return ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE);
#else
  // glibc before 2.28 has no wrapper; the kernel has had the call since 3.15.
  constexpr unsigned kRenameNoReplace = 1;
  return static_cast<int>(
      ::syscall(SYS_renameat2, AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), kRenameNoReplace));
#endif
}

// Where renameat2 flags are unsupported, a hard link gives the same
// no-replace guarantee: link() fails with EEXIST if `to` exists.
Status rename_by_link(const std::string& from, const std::string& to) {
  const std::string both = from + " -> " + to;
  if (::link(from.c_str(), to.c_str()) != 0) return errno_status(errno, "rename (link)", both);
  if (::unlink(from.c_str()) != 0) return errno_status(errno, "rename (unlink)", both);
  return Status::OK();
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) override {
    RIVULET_TRY(check_path(path));
    int fd = open_registered(path.c_str(), open_flags(mode), 0644);
    if (fd < 0) return errno_status(errno, "open", path);
    return std::unique_ptr<File>(new PosixFile(fd, path, mode != OpenMode::read_only));
  }

  Result<std::unique_ptr<SharedFile>> open_shared(const std::string& path, const std::string& like) override {
    struct stat model;
    bool has_model = ::stat(like.c_str(), &model) == 0;
    mode_t mode = has_model ? (model.st_mode & 0777) : 0644;
    int fd = open_registered(path.c_str(), O_RDWR | O_CREAT, mode);
    if (fd < 0) return errno_status(errno, "open", path);
    // Just created (empty): the umask may have taken bits away, and root
    // would otherwise own a file that the database's owner cannot open.
    // Failures leave the file as created, which is what a user without
    // the rights would get anyway.
    struct stat st;
    if (has_model && ::fstat(fd, &st) == 0 && st.st_size == 0) {
      if ((st.st_mode & 0777) != mode) (void)::fchmod(fd, mode);
      if (::geteuid() == 0 && (st.st_uid != model.st_uid || st.st_gid != model.st_gid)) {
        (void)::fchown(fd, model.st_uid, model.st_gid);
      }
    }
    return std::unique_ptr<SharedFile>(new PosixSharedFile(fd, path));
  }

  Result<FileId> file_id(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return errno_status(errno, "stat", path);
    return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
  }

  Result<uint64_t> file_size(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return errno_status(errno, "stat", path);
    return static_cast<uint64_t>(st.st_size);
  }

  Status rename_noreplace(const std::string& from, const std::string& to) override {
    if (rename_syscall(from, to) == 0) return Status::OK();
    int err = errno;
    // EINVAL: the file system rejects the flag; ENOSYS: the kernel lacks it.
    if (err == EINVAL || err == ENOSYS) return rename_by_link(from, to);
    return errno_status(err, "rename", from + " -> " + to);
  }

  Status remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return errno_status(errno, "unlink", path);
    return Status::OK();
  }

  Status sync_parent_dir(const std::string& path) override {
    const std::string dir = parent_dir(path);
    int fd = retry_open(dir.c_str(), O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return errno_status(errno, "open directory", dir);
    int rc;
    do {
      rc = ::fsync(fd);
    } while (rc != 0 && errno == EINTR);
    int err = errno;
    ::close(fd);
    return rc == 0 ? Status::OK() : errno_status(err, "fsync directory", dir);
  }

  // Linux's random boot id (a new UUID at every boot), hashed to 32 bits.
  uint32_t boot_tag() override {
    static const uint32_t tag = [] {
      char id[64];
      int fd = retry_open("/proc/sys/kernel/random/boot_id", O_RDONLY, 0);
      if (fd < 0) return 0u;
      ssize_t n = ::read(fd, id, sizeof id);
      ::close(fd);
      if (n < 32) return 0u;
      uint32_t crc = crc32c::value(id, static_cast<size_t>(n));
      return crc == 0 ? 1u : crc;
    }();
    return tag;
  }
};

}  // namespace

Env* Env::posix() {
  // Never destroyed, so it stays usable from other static destructors.
  static Env* const env = new PosixEnv;
  return env;
}

Status check_path(const std::string& path) {
  if (path.empty()) return {Code::invalid_argument, "an empty path names no file"};
  if (path.find('\0') == std::string::npos) return Status::OK();
  std::string shown;  // the NUL made visible, so the message stays one C string
  for (char c : path) {
    if (c == '\0') {
      shown += "\\0";
    } else {
      shown += c;
    }
  }
  return {Code::invalid_argument, shown + ": a path may not hold a NUL byte"};
}

Status errno_status(int err, std::string_view what, const std::string& path) {
  std::string msg(what);
  msg += ' ';
  msg += path;
  msg += ": ";
  msg += std::strerror(err);
  return Status(code_for_errno(err), std::move(msg));
}

}  // namespace rivulet::io
