// A SQLite connection for the benchmarks: owns its prepared statements,
// finalizes and closes on unwind, turns errors into BenchError. Opened with
// SQLITE_OPEN_NOMUTEX: one thread uses a connection.
#pragma once

#include <sqlite3.h>

#include <string>
#include <vector>

#include "workload.hpp"

namespace bench {

[[noreturn]] inline void fail(sqlite3* db, int rc, const std::string& what) {
  std::string msg = "sqlite " + what + ": " + sqlite3_errstr(rc);
  if (db != nullptr) msg += std::string(" (") + sqlite3_errmsg(db) + ")";
  throw BenchError(msg);
}

class Conn {
 public:
  Conn(const std::string& path, int flags) {
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = "sqlite open " + path + ": " + sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw BenchError(msg);
    }
  }
  ~Conn() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    if (db_ != nullptr) sqlite3_close(db_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  sqlite3* db() const { return db_; }

  void exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = std::string("sqlite ") + sql + ": " + (err ? err : sqlite3_errstr(rc));
      sqlite3_free(err);
      throw BenchError(msg);
    }
  }

  // Runs a one-row PRAGMA and returns its first column as text.
  std::string pragma(const char* sql) {
    sqlite3_stmt* s = prepare(sql);
    std::string out;
    if (sqlite3_step(s) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      if (t != nullptr) out = reinterpret_cast<const char*>(t);
    }
    sqlite3_reset(s);
    return out;
  }

  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) fail(db_, rc, std::string("prepare ") + sql);
    stmts_.push_back(s);
    return s;
  }

  void step_done(sqlite3_stmt* s, const char* what) {
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) fail(db_, rc, what);
    sqlite3_reset(s);
  }

  // Finalizes the statements and closes; returns the seconds close took.
  double close() {
    for (sqlite3_stmt* s : stmts_) sqlite3_finalize(s);
    stmts_.clear();
    Stopwatch watch;
    int rc = sqlite3_close(db_);
    double seconds = watch.seconds();
    if (rc != SQLITE_OK) fail(db_, rc, "close");
    db_ = nullptr;
    return seconds;
  }

 private:
  sqlite3* db_ = nullptr;
  std::vector<sqlite3_stmt*> stmts_;
};

}  // namespace bench
