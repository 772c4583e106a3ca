// The I/O seam: every byte Rivulet reads or writes goes through a File from
// an Env (the role of LevelDB's Env and SQLite's VFS). The POSIX back end is
// the real one; testing/fault_env.hpp stacks fault injection on top of it.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "rivulet/status.hpp"

namespace rivulet::io {

// A read-only shared mapping of the start of a file. It may be longer than
// the file; touching bytes past the file's end is undefined (SIGBUS), so
// callers only read below a size they know the file has.
class Mapping {
 public:
  virtual ~Mapping() = default;
  virtual const char* data() const = 0;
  virtual uint64_t length() const = 0;
  // Maps the pages of [begin, end) (offsets in the file, below its size)
  // now, in one call, so that reading them takes no page fault. Advice:
  // where it cannot, reads fault as usual.
  virtual void populate(uint64_t begin, uint64_t end) const = 0;
};

// Which file a path or descriptor names (device and inode), to notice a
// file replaced or removed under an open handle.
struct FileId {
  uint64_t device = 0;
  uint64_t inode = 0;
  bool operator==(const FileId&) const = default;
};

enum class LockType { shared, exclusive };

enum class OpenMode {
  read_only,
  read_write,            // the file must exist
  create_exclusive_rw,   // the file must not exist (O_CREAT | O_EXCL)
};

class File {
 public:
  virtual ~File() = default;
  virtual const std::string& path() const = 0;

  // Reads exactly n bytes at pos. Reading past the end is an io_error.
  virtual Status read_at(uint64_t pos, void* buf, size_t n) = 0;
  // Writes all of `parts`, back to back, starting at pos (one gathering
  // write where the OS allows; short writes are retried). On failure part of
  // the data may have been written.
  virtual Status write_at(uint64_t pos, std::span<const std::string_view> parts) = 0;
  // fdatasync. A failure is sticky for the caller: after it, what the file
  // holds is unknown (Linux may drop the dirty pages).
  virtual Status sync() = 0;
  virtual Result<uint64_t> size() = 0;
  // Bytes of disk the file's blocks take (holes excluded).
  virtual Result<uint64_t> disk_bytes() = 0;
  // Makes sure [from, end) is allocated on disk (growing the file if needed),
  // so later writes there cannot fail for lack of space, where the file
  // system supports fallocate; elsewhere the file is only extended.
  // With mapped writes on, the POSIX File writes ranges it allocated itself
  // through a shared writable mapping (no system call per write); other
  // ranges with pwritev.
  // A range past a gap leaves the gap a hole (a segment reused or begun
  // far from the last one must not allocate the space between).
  virtual Status allocate(uint64_t from, uint64_t end) = 0;
  Status allocate(uint64_t end) { return allocate(0, end); }
  virtual Status truncate(uint64_t size) = 0;
  // Gives the blocks of [pos, pos + len) back to the file system (they read
  // as zeros after) without changing the file's size, so space comes back
  // without ever shrinking a file other processes have mapped. A file
  // system that cannot punch holes keeps the bytes: not an error, the
  // space is then only reused, not returned.
  virtual Status punch_hole(uint64_t pos, uint64_t len) = 0;
  virtual Result<std::unique_ptr<Mapping>> map(uint64_t length) = 0;

  virtual Result<FileId> id() = 0;

  // Whether write_at may copy through a shared mapping (off by default).
  // Worth it when syncs are rare: each fdatasync write-protects the mapped
  // pages again, and the next write to one then takes a page fault that
  // costs more than a pwritev.
  virtual void set_mapped_writes(bool on) = 0;
  // Whether writes start the disk writing what they left behind (off by
  // default), so that an fdatasync after many writes without one finds
  // little left to write: for a writer that syncs rarely but then waits.
  virtual void set_write_behind(bool on) = 0;

  // Open-file-description locks on single bytes (io/locks.hpp says which),
  // which the kernel releases when their holder dies. lock() takes or
  // converts a lock; with wait false it returns busy if another description
  // holds a conflicting one. Exclusive locks need a File opened for writing.
  virtual Status lock(uint64_t byte, LockType type, bool wait) = 0;
  virtual Status unlock(uint64_t byte) = 0;
};

// A read-write shared mapping of a SharedFile.
class SharedMapping {
 public:
  virtual ~SharedMapping() = default;
  virtual char* data() const = 0;
  virtual uint64_t length() const = 0;
};

// The small file beside the log that processes share in memory (coord/):
// mapped read-write, with byte locks that also tell whether another
// description holds them.
class SharedFile {
 public:
  virtual ~SharedFile() = default;
  virtual const std::string& path() const = 0;
  virtual Result<FileId> id() = 0;
  virtual Status lock(uint64_t byte, LockType type, bool wait) = 0;
  virtual Status unlock(uint64_t byte) = 0;
  // True if another open file description holds a lock on `byte` (a
  // process that died holds none).
  virtual Result<bool> locked_by_other(uint64_t byte) = 0;
  // Makes the file `size` bytes long, all zero.
  virtual Status reset(uint64_t size) = 0;
  virtual Result<uint64_t> size() = 0;
  virtual Result<std::unique_ptr<SharedMapping>> map(uint64_t length) = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // The real file system (a process-wide singleton).
  static Env* posix();

  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  // Opens the shared file at path read-write, creating it if missing with
  // the permission bits and owner of the file at `like` (as SQLite's -shm
  // takes the database's: whoever may write the one may write the other).
  virtual Result<std::unique_ptr<SharedFile>> open_shared(const std::string& path, const std::string& like) = 0;
  // The file a path names now; not_found if none.
  virtual Result<FileId> file_id(const std::string& path) = 0;
  // Size of the file at path; not_found if there is none.
  virtual Result<uint64_t> file_size(const std::string& path) = 0;
  // Renames from -> to, failing with already_exists if `to` exists. Where the
  // file system lacks renameat2 it is link + unlink: a crash between them
  // leaves both names (harmless for Rivulet's temporary file).
  virtual Status rename_noreplace(const std::string& from, const std::string& to) = 0;
  virtual Status remove(const std::string& path) = 0;
  // fsync of the directory holding `path`, so a rename or create is durable.
  virtual Status sync_parent_dir(const std::string& path) = 0;
  // Identifies the running boot of the machine (never 0), or 0 where that
  // is unknown. Unsynced writes survive a crash of the process but not of
  // the machine: while the tag stays the same, they are in the file.
  virtual uint32_t boot_tag() = 0;
};

// errno to Status: ENOSPC/EDQUOT -> no_space, ENOENT -> not_found,
// EEXIST -> already_exists,
// EACCES/EPERM/EROFS -> read_only, others -> io_error. The message names
// `what` (an operation) and the path.
Status errno_status(int err, std::string_view what, const std::string& path);

// invalid_argument for a path no system call takes as it is: an empty one,
// or one holding a NUL byte (the call would use the part before it, another
// file).
Status check_path(const std::string& path);

}  // namespace rivulet::io
