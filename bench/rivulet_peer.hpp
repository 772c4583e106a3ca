// Rivulet's side of each workload, through the public API only.
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "rivulet/options.hpp"
#include "rivulet/status.hpp"
#include "workload.hpp"

namespace bench {

// A failed Rivulet call as a BenchError naming it.
inline void check(const rivulet::Status& st, const char* what) {
  if (!st.ok()) throw BenchError(std::string("rivulet ") + what + ": " + st.to_string());
}

template <typename T>
T take(rivulet::Result<T>&& r, const char* what) {
  if (!r.ok()) throw BenchError(std::string("rivulet ") + what + ": " + r.status().to_string());
  return std::move(r).value();
}

inline rivulet::OpenOptions with_sync(rivulet::Sync sync) {
  rivulet::OpenOptions o;
  o.sync = sync;
  return o;
}

struct RivuletPeer {
  int partitions = 1;

  // Workload 1: WriteBatch of `per_commit` records, then Db::commit, with
  // OpenOptions::sync = Sync::off. Records go round-robin over the partitions.
  ProduceRun produce_batched(const Dataset& ds, size_t n, const std::string& path,
                             size_t per_commit) const;
  // Workload 2: Db::produce of one record at a time, Sync::normal.
  ProduceRun produce_single(const Dataset& ds, size_t n, const std::string& path) const;
  // Workload 3: reopens `path`, then one Reader per partition polls
  // `per_poll` records at a time until the partition is drained.
  ReadRun read_all(const std::string& path, size_t per_poll) const;
};

// Sizes of a file on disk (st_size, st_blocks * 512); zero if missing.
DiskUsage file_usage(const std::string& path);

}  // namespace bench
