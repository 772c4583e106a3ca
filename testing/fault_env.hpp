// FaultEnv: an io::Env for tests that stacks on another Env (normally the
// real file system) and makes it misbehave on demand: failing calls with EIO
// or ENOSPC, tearing writes, and simulating crashes and power cuts that lose
// whatever was written but not yet synced.
//
// Counting. Every mutating call on a File opened through the env (write_at,
// sync, allocate, truncate) increments one env-wide counter, ops(). Call n is
// the one that makes ops() equal n (1-based, counted since construction).
// Reads, size(), map(), locks and the Env-level calls (open, rename, remove,
// sync_parent_dir) are not counted. Calls on a dead File are not counted.
//
// Faults. fail_at(n, fault, sticky) fails call n (sticky: every call from n
// on, like a dead disk). A failing call does nothing to the real file, except
// short_write, which writes the first half of a write_at's bytes. Whatever
// the fault, a failing sync returns io_error
// "fdatasync <path>: Input/output error (injected)".
//
// Power cuts. The env remembers, per path, the writes and size changes not yet
// followed by a successful sync() of that path (through any File), with the
// bytes they overwrote. power_cut(seed) undoes them at 512-byte sector
// granularity; the result is what a disk could hold after losing power:
// every sector shows the outcome of some subset of the unsynced changes,
// applied in order, and a sector being written when power went may be torn
// (a prefix of the new bytes, then the old ones). Lost bytes past the old end
// of the file read as zeros, or the file is cut back when nothing that
// survived lies beyond. Synced data is never touched.
//
// After a crash() or a power cut every File opened before it is dead: each
// call (reads, locks and map included) fails with io_error
// "... simulated power cut", as if its process had died, and its descriptor
// is closed, releasing its writer lock. Files opened afterwards work.
//
// Shared files (open_shared: the coordination file beside a log) are passed
// through untouched and uncounted; a crash or power cut only kills them,
// dropping their locks as a dying process would. Their contents are memory
// that Rivulet rebuilds when nobody has the log open.
//
// Not modelled: directory entries. Creating, renaming and removing files are
// durable at once (rename carries the unsynced changes along, remove forgets
// them). Paths are compared as strings, so open each file by one spelling.
//
// Thread-safe: one mutex guards the bookkeeping and is held across mutating
// calls, so the env serialises writes. The env may be destroyed before the
// Files it opened.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "io/env.hpp"

namespace rivulet::testing {

enum class Fault {
  eio,          // the call fails with io_error (EIO); nothing is done
  enospc,       // the call fails with no_space (ENOSPC); nothing is done
  short_write,  // write_at writes the first half of its bytes (rounded
                // down), then fails with no_space, as a disk filling up
                // mid-write; other calls fail as with enospc
  kill_process, // write_at writes the first half of its bytes, then the
                // process kills itself with SIGKILL (for tests that run it
                // in a child); other calls fail as with enospc
};

class FaultEnv final : public io::Env {
 public:
  explicit FaultEnv(io::Env* base = io::Env::posix());
  ~FaultEnv() override;
  FaultEnv(const FaultEnv&) = delete;
  FaultEnv& operator=(const FaultEnv&) = delete;

  // io::Env: forwarded to the base env.
  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override;
  Result<std::unique_ptr<io::SharedFile>> open_shared(const std::string& path, const std::string& like) override;
  Result<io::FileId> file_id(const std::string& path) override;
  Result<uint64_t> file_size(const std::string& path) override;
  Status rename_noreplace(const std::string& from, const std::string& to) override;
  Status remove(const std::string& path) override;
  Status sync_parent_dir(const std::string& path) override;
  // Not the base env's nor another FaultEnv's, and changed by every power
  // cut (a power cut is a reboot).
  uint32_t boot_tag() override;

  // Mutating File calls so far (failed and injected ones included).
  uint64_t ops() const;

  // Fails mutating call n (and, if sticky, every later one) with `fault`.
  // Replaces any earlier fail_at.
  void fail_at(uint64_t n, Fault fault, bool sticky = false);

  // Arms a power cut in place of mutating call n: that call does nothing and
  // fails with io_error "... simulated power cut", then power_cut(seed) runs.
  // Replaces any earlier cut_after. Step-by-step crash loops run a workload
  // on a fresh env with cut_after(1), cut_after(2), ... until the workload
  // finishes without cut_fired(). The cut happens while the failing call
  // holds the env's mutex; if restoring the files fails the process aborts
  // (the test environment itself is broken then).
  void cut_after(uint64_t n, uint64_t seed);

  // True once the cut armed by cut_after() has happened.
  bool cut_fired() const;

  // Disarms fail_at() and cut_after().
  void clear_faults();

  // Simulates losing power now (and booting again): kills every open File, then rewrites the
  // real files so each unsynced change survives, is lost or is torn, per
  // sector, as drawn from a PRNG seeded with `seed` (the same seed and the
  // same history give the same bytes). For each change the PRNG first picks
  // "all sectors survive" (1/4), "all are lost" (1/4) or "each sector on its
  // own" (1/2); a sector on its own survives, is lost or is torn with equal
  // odds. Afterwards nothing is unsynced. Fails only if the real files
  // cannot be rewritten.
  Status power_cut(uint64_t seed);

  // A power cut that loses every unsynced change: each file is back to its
  // bytes and size as of its last sync.
  Status power_cut_drop_all();

  // Simulates the process dying: kills every open File, but keeps the data
  // (the page cache survives a process crash). Unsynced changes stay
  // unsynced, so a later power cut can still lose them.
  void crash();

  // Implementation detail (public so the .cpp's File class can name it):
  // shared with the Files, which may outlive the env.
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace rivulet::testing
