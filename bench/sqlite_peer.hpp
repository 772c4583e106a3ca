// SQLite's side of each workload: one table
//   records(id INTEGER PRIMARY KEY, topic TEXT, key BLOB, value BLOB, ts INTEGER)
// in journal_mode=WAL, prepared statements, blobs bound with SQLITE_STATIC,
// the connection opened with SQLITE_OPEN_NOMUTEX (one thread uses it).
#pragma once

#include <cstddef>
#include <string>

#include "workload.hpp"

namespace bench {

struct SqlitePeer {
  // Workload 1: synchronous=OFF, BEGIN / `per_commit` INSERTs / COMMIT.
  ProduceRun produce_batched(const Dataset& ds, size_t n, const std::string& path,
                             size_t per_commit) const;
  // Workload 2: synchronous=NORMAL, one autocommit INSERT per record.
  ProduceRun produce_single(const Dataset& ds, size_t n, const std::string& path) const;
  // Workload 3: SELECT key, value FROM records WHERE id > ? ORDER BY id
  // LIMIT `per_poll`, page after page.
  ReadRun read_all(const std::string& path, size_t per_poll) const;
};

// Removes path, path-wal and path-shm.
void remove_sqlite_files(const std::string& path);

// "3.40.1"
const char* sqlite_version();

}  // namespace bench
