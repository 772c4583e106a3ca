#include "sqlite_peer.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "profile_gate.hpp"
#include "rivulet_peer.hpp"  // file_usage
#include "sqlite_conn.hpp"

namespace bench {
namespace {

constexpr const char* kSchema =
    "CREATE TABLE records(id INTEGER PRIMARY KEY, topic TEXT, key BLOB, value BLOB, ts INTEGER)";
constexpr const char* kInsert = "INSERT INTO records(topic, key, value, ts) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kSelectPage = "SELECT key, value FROM records WHERE id > ?1 ORDER BY id LIMIT ?2";

void create_table(Conn& c, const char* synchronous) {
  std::string mode = c.pragma("PRAGMA journal_mode=WAL");
  if (mode != "wal") throw BenchError("sqlite journal_mode=WAL gave '" + mode + "'");
  c.exec(synchronous);
  c.exec(kSchema);
}

void bind_record(Conn& c, sqlite3_stmt* ins, const Dataset& ds, size_t i) {
  std::string_view k = ds.key(i);
  std::string_view v = ds.value(i);
  int rc = sqlite3_bind_text(ins, 1, kTopic, -1, SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_blob(ins, 2, k.data(), static_cast<int>(k.size()), SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_blob(ins, 3, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
  if (rc == SQLITE_OK) rc = sqlite3_bind_int64(ins, 4, ds.ts(i));
  if (rc != SQLITE_OK) fail(c.db(), rc, "bind");
}

// Checkpoint (TRUNCATE), measure db + wal, close.
void finish(Conn& c, const std::string& path, ProduceRun& run) {
  Stopwatch ckpt_watch;
  int wal_frames = -1, checkpointed = -1;
  int rc = sqlite3_wal_checkpoint_v2(c.db(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &wal_frames,
                                     &checkpointed);
  if (rc != SQLITE_OK) fail(c.db(), rc, "wal_checkpoint(TRUNCATE)");
  run.after_seconds = ckpt_watch.seconds();
  DiskUsage db = file_usage(path);
  DiskUsage wal = file_usage(path + "-wal");
  std::string page_size = c.pragma("PRAGMA page_size");
  std::string pages = c.pragma("PRAGMA page_count");
  run.disk.apparent = db.apparent + wal.apparent;
  run.disk.allocated = db.allocated + wal.allocated;
  run.disk.detail = "db " + std::to_string(db.apparent) + " B (" + pages + " pages of " + page_size +
                    " B) + wal " + std::to_string(wal.apparent) + " B after checkpoint(TRUNCATE)";
  run.close_seconds = c.close();
}

}  // namespace

const char* sqlite_version() { return sqlite3_libversion(); }

void remove_sqlite_files(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
}

ProduceRun SqlitePeer::produce_batched(const Dataset& ds, size_t n, const std::string& path,
                                       size_t per_commit) const {
  ProduceRun run;
  Conn c(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  create_table(c, "PRAGMA synchronous=OFF");
  sqlite3_stmt* begin = c.prepare("BEGIN");
  sqlite3_stmt* commit = c.prepare("COMMIT");
  sqlite3_stmt* ins = c.prepare(kInsert);

  std::optional<ProfileGate> gate(std::in_place);
  Stopwatch watch;
  size_t in_txn = 0;
  for (size_t i = 0; i < n; ++i) {
    if (in_txn == 0) c.step_done(begin, "BEGIN");
    bind_record(c, ins, ds, i);
    c.step_done(ins, "INSERT");
    if (++in_txn == per_commit) {
      c.step_done(commit, "COMMIT");
      in_txn = 0;
    }
  }
  if (in_txn != 0) c.step_done(commit, "COMMIT");
  run.seconds = watch.seconds();
  gate.reset();
  run.records = n;
  finish(c, path, run);
  return run;
}

ProduceRun SqlitePeer::produce_single(const Dataset& ds, size_t n, const std::string& path) const {
  ProduceRun run;
  Conn c(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  create_table(c, "PRAGMA synchronous=NORMAL");
  sqlite3_stmt* ins = c.prepare(kInsert);

  std::optional<ProfileGate> gate(std::in_place);
  Stopwatch watch;
  for (size_t i = 0; i < n; ++i) {
    bind_record(c, ins, ds, i);
    c.step_done(ins, "INSERT");  // autocommit: one transaction per row
  }
  run.seconds = watch.seconds();
  gate.reset();
  run.records = n;
  finish(c, path, run);
  return run;
}

ReadRun SqlitePeer::read_all(const std::string& path, size_t per_poll) const {
  ReadRun run;
  Stopwatch open_watch;
  Conn c(path, SQLITE_OPEN_READWRITE);
  sqlite3_stmt* page = c.prepare(kSelectPage);  // reads the schema
  run.open_seconds = open_watch.seconds();

  Checksum sum;
  std::optional<ProfileGate> gate(std::in_place);
  Stopwatch read_watch;
  // The table was filled in one go, so ids run 1..N without gaps: the next
  // page starts after the last id seen, which is the previous one + rows.
  sqlite3_int64 last_id = 0;
  for (;;) {
    sqlite3_bind_int64(page, 1, last_id);
    sqlite3_bind_int64(page, 2, static_cast<sqlite3_int64>(per_poll));
    sqlite3_int64 rows = 0;
    int rc;
    while ((rc = sqlite3_step(page)) == SQLITE_ROW) {
      const char* k = static_cast<const char*>(sqlite3_column_blob(page, 0));
      size_t klen = static_cast<size_t>(sqlite3_column_bytes(page, 0));
      const char* v = static_cast<const char*>(sqlite3_column_blob(page, 1));
      size_t vlen = static_cast<size_t>(sqlite3_column_bytes(page, 1));
      sum.add(std::string_view(k, klen), std::string_view(v, vlen));
      ++rows;
    }
    if (rc != SQLITE_DONE) fail(c.db(), rc, "SELECT page");
    sqlite3_reset(page);
    if (rows == 0) break;
    last_id += rows;
  }
  run.read_seconds = read_watch.seconds();
  gate.reset();
  run.sum = sum;
  c.close();
  return run;
}

}  // namespace bench
