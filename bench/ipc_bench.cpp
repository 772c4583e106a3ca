// rivulet_ipc_bench: what issue 3 (many processes, one host) asks of Rivulet,
// measured against the floor the machine allows and against SQLite, in the
// same run:
//
//   1. latency from a producer process to a consumer process blocked in
//      Reader::poll, one record per commit (sync normal), back to back and
//      sparse; floor: a bare futex ping between two processes; SQLite: a
//      reader process polling a WAL table every 100 us
//   2. CPU of a consumer process blocked in Reader::poll with no data
//   3. durable commits (sync full), 1, 4 and 16 producers as threads (one Db)
//      and as processes (a Db each); floors: write + fdatasync; reference:
//      a bare group commit of 16 threads and of 16 processes; SQLite synchronous=FULL with 1
//      and 16 writers
//
// Every Db and SQLite connection is opened in a child process after fork();
// the parent only forks, starts, waits and reports. Like rivulet_bench it
// exits 0 whatever the numbers (only a bad command line exits 2).
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "procs.hpp"
#include "report.hpp"
#include "rivulet/rivulet.hpp"
#include "rivulet_peer.hpp"
#include "rundir.hpp"
#include "sqlite_conn.hpp"
#include "sqlite_peer.hpp"
#include "sysinfo.hpp"
#include "targets.hpp"
#include "workload.hpp"

#ifndef RIVULET_BENCH_BUILD_TYPE
#define RIVULET_BENCH_BUILD_TYPE "unknown"
#endif

namespace bench {
namespace {

// ---------------------------------------------------------------- targets --

constexpr double kP50Target = 1.5;        // Rivulet p50 <= 1.5x the futex floor's
constexpr double kP99Target = 2.0;        // Rivulet p99 <= 2x the futex floor's
constexpr double kSpinP50Target = 1000;    // ns: back to back p50 with the optional spin
constexpr std::chrono::microseconds kSpin{200};
constexpr double kIdleCpuTarget = 0.01;   // % of one CPU: 100 us a second, a few wake-ups at most
constexpr double kScalingTarget = 8.0;    // 16 producers >= 8x one producer

constexpr std::chrono::milliseconds kStall{10'000};  // a consumer that gets nothing this long gives up
constexpr int64_t kStallNs = std::chrono::nanoseconds(kStall).count();
constexpr int64_t kPollIntervalNs = 100'000;  // the SQLite reader's poll
constexpr size_t kMaxSamples = size_t{4} << 20;  // commit latencies kept per durable run (32 MiB of address space)

struct Config {
  size_t records = 100'000;
  size_t sparse_records = 15'000;  // ~1 ms each: 20 s per engine, to keep a full run under 3 minutes
  double idle_seconds = 3;
  double seconds = 2;
  int rounds = 5;
  std::string dir;
  std::string only;
  bool quick = false;
  bool keep = false;
};

// ------------------------------------------------------------------ files --

std::string file(const std::string& dir, const std::string& name) { return dir + "/" + name; }

std::vector<std::string> all_files(const std::string& dir) {
  std::vector<std::string> names = {"lat-b2b.riv", "lat-sparse.riv", "idle.riv", "fdatasync.tmp"};
  for (int n : {1, 4, 16}) {
    names.push_back("full-threads-" + std::to_string(n) + ".riv");
    names.push_back("full-procs-" + std::to_string(n) + ".riv");
  }
  for (std::string base : {"lat-b2b", "lat-sparse", "full-1", "full-16"}) {
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) names.push_back(base + ".sqlite" + suffix);
  }
  std::vector<std::string> paths;
  for (const std::string& n : names) paths.push_back(file(dir, n));
  return paths;
}

// -------------------------------------------------------------- rivulet --

int create_topic(const std::string& path) {
  auto db = take(rivulet::Db::open(path), "Db::open");
  check(db->create_topic(kTopic), "create_topic");
  check(db->close(), "Db::close");
  return 0;
}

// One record of kValueBytes in its own commit; the first 8 bytes of the value
// are `stamp` (the latency runs put the send time there).
void commit_one(rivulet::Db& db, rivulet::WriteBatch& batch, int64_t stamp) {
  char value[kValueBytes] = {};
  std::memcpy(value, &stamp, sizeof stamp);
  batch.clear();
  rivulet::ProducerRecord rec{.topic = kTopic, .value = std::string_view(value, sizeof value), .partition = 0};
  check(batch.add(rec), "WriteBatch::add");
  check(db.commit(batch), "Db::commit");
}

// --------------------------------------------------------------- sqlite --

constexpr const char* kSqlSchema = "CREATE TABLE records(id INTEGER PRIMARY KEY, sent INTEGER, value BLOB)";
constexpr const char* kSqlInsert = "INSERT INTO records(sent, value) VALUES (?1, ?2)";

int create_table(const std::string& path) {
  remove_sqlite_files(path);
  Conn c(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  std::string mode = c.pragma("PRAGMA journal_mode=WAL");
  if (mode != "wal") throw BenchError("sqlite journal_mode=WAL gave '" + mode + "'");
  c.exec(kSqlSchema);
  c.close();
  return 0;
}

// One row in its own transaction. Another writer may hold the lock past the
// busy timeout; then the insert is simply tried again.
void insert_one(Conn& c, sqlite3_stmt* ins, int64_t sent) {
  static const char value[kValueBytes] = {};
  sqlite3_bind_int64(ins, 1, sent);
  sqlite3_bind_blob(ins, 2, value, sizeof value, SQLITE_STATIC);
  for (;;) {
    int rc = sqlite3_step(ins);
    sqlite3_reset(ins);
    if (rc == SQLITE_DONE) return;
    if ((rc & 0xff) != SQLITE_BUSY) fail(c.db(), rc, "INSERT");
  }
}

// ============================================================ 1. latency ==

enum class Pattern { back_to_back, sparse };

// What the producer and consumer processes of one latency run share.
struct Ping {
  Word ready;      // the consumer is set up and about to wait
  Word acked;      // back to back: records the consumer has received
  Word published;  // futex floor: records the producer has published
};

class LatencyRun {
 public:
  LatencyRun(Pattern pattern, size_t n) : pattern_(pattern), n_(n), sent_(n), latency_(n) {}

  size_t n() const { return n_; }

  // Producer, before sending record i: back to back, wait until the consumer
  // has record i-1 (this return path is not timed); sparse, sleep 0.5-1.5 ms.
  void pace(size_t i) {
    if (i == 0) {
      while (ping_->ready.load() == 0) futex_wait(&ping_->ready, 0, 100'000'000);
      return;
    }
    if (pattern_ == Pattern::sparse) {
      sleep_ns(gap_(rng_));
      return;
    }
    for (uint32_t a; (a = ping_->acked.load(std::memory_order_acquire)) < i;) {
      futex_wait(&ping_->acked, a, 1'000'000'000);
    }
  }

  void consumer_ready() {
    ping_->ready.store(1);
    futex_wake(&ping_->ready);
  }

  // Consumer, on receiving record i stamped `sent` by the producer.
  void arrived(size_t i, int64_t sent) {
    if (i >= n_) throw BenchError("record " + std::to_string(i) + " beyond the " + std::to_string(n_) + " sent");
    latency_[i] = now_ns() - sent;
    if (pattern_ == Pattern::back_to_back) {
      ping_->acked.store(static_cast<uint32_t>(i + 1), std::memory_order_release);
      futex_wake(&ping_->acked);
    }
  }

  // The first records warm the caches and the page tables: not counted.
  static size_t warmup(size_t n) { return std::min<size_t>(100, n / 10); }
  void add_samples(std::vector<int64_t>& to) const {
    to.insert(to.end(), latency_.data() + warmup(n_), latency_.data() + n_);
  }

  // The futex floor passes send times through here instead of a file.
  Shared<int64_t>& sent() { return sent_; }
  Word* published() { return &ping_->published; }

 private:
  Pattern pattern_;
  size_t n_;
  Shared<Ping> ping_;
  Shared<int64_t> sent_;
  Shared<int64_t> latency_;
  std::mt19937_64 rng_{42};
  std::uniform_int_distribution<int64_t> gap_{500'000, 1'500'000};
};

// ---- futex floor: the producer publishes a count and wakes; nothing else.

int floor_producer(LatencyRun& run) {
  for (size_t i = 0; i < run.n(); ++i) {
    run.pace(i);
    run.sent()[i] = now_ns();
    run.published()->store(static_cast<uint32_t>(i + 1), std::memory_order_release);
    futex_wake(run.published());
  }
  return 0;
}

// With `spin`, it watches the count that long before it sleeps, as
// OpenOptions::poll_spin makes Rivulet's reader do: the floor of the spin
// target.
int floor_consumer(LatencyRun& run, std::chrono::microseconds spin) {
  run.consumer_ready();
  size_t seen = 0;
  int64_t last = now_ns();
  const int64_t spin_ns = std::chrono::nanoseconds(spin).count();
  while (seen < run.n()) {
    uint32_t p = run.published()->load(std::memory_order_acquire);
    if (p == seen) {
      const int64_t now = now_ns();
      if (now - last > kStallNs) throw BenchError("futex floor: no wake-up for 10 s");
      if (now - last < spin_ns) {
        cpu_relax();
        continue;
      }
      futex_wait(run.published(), p, kStallNs);
      continue;
    }
    for (; seen < p; ++seen) run.arrived(seen, run.sent()[seen]);
    last = now_ns();
  }
  return 0;
}

// ---- Rivulet: a WriteBatch of one record per commit, a Reader polling.

int rivulet_producer(LatencyRun& run, const std::string& path) {
  auto db = take(rivulet::Db::open(path, with_sync(rivulet::Sync::normal)), "Db::open");
  rivulet::WriteBatch batch(*db);
  for (size_t i = 0; i < run.n(); ++i) {
    run.pace(i);
    commit_one(*db, batch, now_ns());
  }
  check(db->close(), "Db::close");
  return 0;
}

// `spin`: OpenOptions::poll_spin, the optional spin before sleeping.
int rivulet_consumer(LatencyRun& run, const std::string& path, std::chrono::microseconds spin) {
  rivulet::OpenOptions options = with_sync(rivulet::Sync::normal);
  options.poll_spin = spin;
  auto db = take(rivulet::Db::open(path, options), "Db::open");
  auto reader = take(db->reader(kTopic, 0, rivulet::StartAt::earliest()), "Db::reader");
  run.consumer_ready();
  size_t got = 0;
  while (got < run.n()) {
    auto records = take(reader->poll(kStall), "Reader::poll");
    if (records.empty()) throw BenchError("rivulet: Reader::poll returned nothing for 10 s");
    for (const rivulet::RecordView& r : records) {
      int64_t sent = 0;
      if (!r.value || r.value->size() < sizeof sent || r.offset != static_cast<int64_t>(got)) {
        throw BenchError("rivulet: unexpected record at offset " + std::to_string(r.offset));
      }
      std::memcpy(&sent, r.value->data(), sizeof sent);
      run.arrived(got++, sent);
    }
  }
  reader.reset();
  check(db->close(), "Db::close");
  return 0;
}

// ---- SQLite: one autocommit INSERT per row, a reader polling every 100 us.

int sqlite_producer(LatencyRun& run, const std::string& path) {
  Conn c(path, SQLITE_OPEN_READWRITE);
  sqlite3_busy_timeout(c.db(), 10'000);  // the reader may hold a lock as it starts
  c.exec("PRAGMA synchronous=NORMAL");
  sqlite3_stmt* ins = c.prepare(kSqlInsert);
  for (size_t i = 0; i < run.n(); ++i) {
    run.pace(i);
    insert_one(c, ins, now_ns());
  }
  c.close();
  return 0;
}

int sqlite_consumer(LatencyRun& run, const std::string& path) {
  Conn c(path, SQLITE_OPEN_READWRITE);
  // The writer's first transaction (or a checkpoint) may hold a lock for a
  // moment as the reader starts: wait for it, as an application would.
  sqlite3_busy_timeout(c.db(), 10'000);
  sqlite3_stmt* select = c.prepare("SELECT id, sent FROM records WHERE id > ?1 ORDER BY id");
  run.consumer_ready();
  sqlite3_int64 last_id = 0;
  int64_t last = now_ns();
  while (static_cast<size_t>(last_id) < run.n()) {
    sqlite3_bind_int64(select, 1, last_id);
    bool any = false;
    int rc;
    while ((rc = sqlite3_step(select)) == SQLITE_ROW) {
      sqlite3_int64 id = sqlite3_column_int64(select, 0);
      run.arrived(static_cast<size_t>(id - 1), sqlite3_column_int64(select, 1));
      last_id = id;
      any = true;
    }
    sqlite3_reset(select);  // ends the read transaction, so checkpoints can proceed
    if (rc != SQLITE_DONE) fail(c.db(), rc, "SELECT");
    if (any) {
      last = now_ns();
    } else {
      if (now_ns() - last > kStallNs) throw BenchError("sqlite: no new row for 10 s");
      sleep_ns(kPollIntervalNs);
    }
  }
  c.close();
  return 0;
}

// One engine's rounds of one pattern, pooled.
struct LatencyResult {
  std::vector<int64_t> samples;
  Latency lat;
  double seconds = 0;
  std::string error;  // the first failure; later rounds are skipped
  bool ok() const { return error.empty() && !samples.empty(); }
};

using LatencySide = std::function<int(LatencyRun&)>;

// One round: a consumer process and a producer process, forked after setup.
void latency_round(LatencyResult& res, Pattern pattern, size_t n, const std::function<int()>& setup,
                   const LatencySide& producer, const LatencySide& consumer) {
  if (!res.error.empty()) return;
  LatencyRun run(pattern, n);
  if (setup) res.error = wait_all({spawn(setup)});
  if (!res.error.empty()) return;
  Stopwatch watch;
  pid_t c = spawn([&] { return consumer(run); });
  pid_t p = spawn([&] { return producer(run); });
  res.error = wait_all({c, p});
  res.seconds += watch.seconds();
  if (res.error.empty()) run.add_samples(res.samples);
}

struct PatternResults {
  LatencyResult floor, floor_spin, riv, riv_spin, sql;
};

void print_latency(const char* name, const LatencyResult& r) {
  if (r.ok()) {
    std::printf("      %-30s%10s %10s %10s %10s %8s\n", name, nanos(r.lat.p50).c_str(), nanos(r.lat.p99).c_str(),
                nanos(r.lat.p999).c_str(), nanos(r.lat.max).c_str(), seconds(r.seconds).c_str());
  } else {
    std::printf("      %-30sERROR: %s\n", name, r.error.empty() ? "no record" : r.error.c_str());
  }
}

// The engines take turns (rotating who goes first), so that a burst of load
// from elsewhere on the machine does not land on one engine only.
PatternResults latency_pattern(const Config& cfg, const std::string& dir, Pattern pattern) {
  bool b2b = pattern == Pattern::back_to_back;
  size_t n = b2b ? cfg.records : cfg.sparse_records;
  size_t rounds = std::min<size_t>(static_cast<size_t>(cfg.rounds), n / 10);
  std::string tag = b2b ? "b2b" : "sparse";
  std::string riv_path = file(dir, "lat-" + tag + ".riv"), sql_path = file(dir, "lat-" + tag + ".sqlite");
  std::printf("\n    %s, %zu records in %zu round(s), the first %zu of each not counted\n",
              b2b ? "back to back" : "sparse, every 0.5-1.5 ms", n, rounds, LatencyRun::warmup(n / rounds));
  std::fflush(stdout);

  PatternResults r;
  for (size_t round = 0; round < rounds; ++round) {
    size_t m = n / rounds + (round + 1 == rounds ? n % rounds : 0);
    std::function<void()> engines[] = {
        [&] {
          latency_round(r.floor, pattern, m, nullptr, floor_producer,
                        [](LatencyRun& run) { return floor_consumer(run, std::chrono::microseconds(0)); });
        },
        [&] {
          latency_round(r.floor_spin, pattern, m, nullptr, floor_producer,
                        [](LatencyRun& run) { return floor_consumer(run, kSpin); });
        },
        [&] {
          latency_round(
              r.riv, pattern, m,
              [&] {
                ::unlink(riv_path.c_str());
                return create_topic(riv_path);
              },
              [&](LatencyRun& run) { return rivulet_producer(run, riv_path); },
              [&](LatencyRun& run) { return rivulet_consumer(run, riv_path, std::chrono::microseconds(0)); });
        },
        [&] {
          latency_round(
              r.riv_spin, pattern, m,
              [&] {
                ::unlink(riv_path.c_str());
                return create_topic(riv_path);
              },
              [&](LatencyRun& run) { return rivulet_producer(run, riv_path); },
              [&](LatencyRun& run) { return rivulet_consumer(run, riv_path, kSpin); });
        },
        [&] {
          latency_round(
              r.sql, pattern, m, [&] { return create_table(sql_path); },
              [&](LatencyRun& run) { return sqlite_producer(run, sql_path); },
              [&](LatencyRun& run) { return sqlite_consumer(run, sql_path); });
        },
    };
    constexpr size_t kEngines = std::size(engines);
    for (size_t k = 0; k < kEngines; ++k) engines[(round + k) % kEngines]();
    auto p50 = [](const LatencyResult& e) { return e.error.empty() ? nanos(summarize(e.samples).p50) : "ERROR"; };
    std::printf("      round %zu: p50 so far: floor %s, rivulet %s, sqlite %s\n", round + 1, p50(r.floor).c_str(),
                p50(r.riv).c_str(), p50(r.sql).c_str());
    std::fflush(stdout);
  }
  for (LatencyResult* e : {&r.floor, &r.floor_spin, &r.riv, &r.riv_spin, &r.sql}) e->lat = summarize(e->samples);

  std::printf("      %-30s%10s %10s %10s %10s %8s\n", "", "p50", "p99", "p99.9", "max", "run");
  print_latency("futex floor", r.floor);
  print_latency("rivulet (Reader::poll)", r.riv);
  print_latency("spin floor (200 us)", r.floor_spin);
  print_latency("rivulet, poll_spin 200 us", r.riv_spin);
  print_latency("sqlite (poll every 100 us)", r.sql);
  if (r.riv.ok() && r.floor.ok()) {
    std::printf("      %-30s%9.1fx %9.1fx %9.1fx %9.1fx\n", "rivulet / floor", r.riv.lat.p50 / r.floor.lat.p50,
                r.riv.lat.p99 / r.floor.lat.p99, r.riv.lat.p999 / r.floor.lat.p999, r.riv.lat.max / r.floor.lat.max);
  }
  if (r.riv.ok() && r.sql.ok()) {
    std::printf("      %-30s%9.2fx %9.2fx %9.2fx %9.2fx\n", "rivulet / sqlite", r.riv.lat.p50 / r.sql.lat.p50,
                r.riv.lat.p99 / r.sql.lat.p99, r.riv.lat.p999 / r.sql.lat.p999, r.riv.lat.max / r.sql.lat.max);
  }
  if (!cfg.keep) {
    ::unlink(riv_path.c_str());
    remove_sqlite_files(sql_path);
  }
  std::fflush(stdout);
  return r;
}

// =============================================================== 2. idle ==

struct IdleResult {
  double wall_ns = 0, cpu_ns = 0, switches = 0;
  std::string error;
};

struct IdleShared {
  int64_t wall_ns, cpu_ns, switches;
};

int64_t cpu_time_ns(const rusage& ru) {
  auto ns = [](const timeval& tv) { return int64_t{tv.tv_sec} * 1'000'000'000 + int64_t{tv.tv_usec} * 1000; };
  return ns(ru.ru_utime) + ns(ru.ru_stime);
}

IdleResult run_idle(const Config& cfg, const std::string& dir) {
  std::string path = file(dir, "idle.riv");
  IdleResult res;
  Shared<IdleShared> out;
  res.error = wait_all({spawn([&] { return create_topic(path); })});
  if (res.error.empty()) {
    res.error = wait_all({spawn([&] {
      auto db = take(rivulet::Db::open(path), "Db::open");
      auto reader = take(db->reader(kTopic, 0, rivulet::StartAt::latest()), "Db::reader");
      auto timeout = std::chrono::milliseconds(static_cast<int64_t>(cfg.idle_seconds * 1000));
      // Only the wait is measured: the process's own usage before and after.
      // A first poll pays the one-time costs (its buffers, first touches).
      if (!take(reader->poll(std::chrono::milliseconds(0)), "Reader::poll").empty()) {
        throw BenchError("the idle reader got records");
      }
      rusage before{}, after{};
      ::getrusage(RUSAGE_SELF, &before);
      int64_t t0 = now_ns();
      auto records = take(reader->poll(timeout), "Reader::poll");
      int64_t t1 = now_ns();
      ::getrusage(RUSAGE_SELF, &after);
      if (!records.empty()) throw BenchError("the idle reader got records");
      out->wall_ns = t1 - t0;
      out->cpu_ns = cpu_time_ns(after) - cpu_time_ns(before);
      out->switches = (after.ru_nvcsw + after.ru_nivcsw) - (before.ru_nvcsw + before.ru_nivcsw);
      reader.reset();
      check(db->close(), "Db::close");
      return 0;
    })});
  }
  if (res.error.empty()) {
    res.wall_ns = static_cast<double>(out->wall_ns);
    res.cpu_ns = static_cast<double>(out->cpu_ns);
    res.switches = static_cast<double>(out->switches);
  }
  if (!cfg.keep) ::unlink(path.c_str());
  return res;
}

// ============================================================ 3. durable ==

// The start line and tallies of one durable run, shared by its producers.
struct Race {
  Word ready;   // producers set up and waiting for `go`
  Word go;      // 1: start; 2: a producer failed, give up
  std::atomic<int64_t> start_ns, stop_ns;
  std::atomic<int64_t> end_ns;        // when the last commit of any producer returned
  std::atomic<uint64_t> commits;
  std::atomic<uint64_t> stored;       // latency samples reserved in the shared array
};

class DurableRun {
 public:
  DurableRun() : samples_(kMaxSamples) {}

  // One producer: waits for the start, commits until the stop time, then
  // adds its commit latencies to the shared ones.
  void produce(const std::function<void()>& commit) {
    race_->ready.fetch_add(1);
    futex_wake(&race_->ready);
    while (race_->go.load() == 0) futex_wait(&race_->go, 0, 100'000'000);
    if (race_->go.load() != 1) return;
    int64_t stop = race_->stop_ns.load();
    std::vector<int64_t> lat;
    lat.reserve(1 << 16);
    int64_t end = now_ns();
    for (int64_t t = end; t < stop; t = end) {
      commit();
      end = now_ns();
      lat.push_back(end - t);
    }
    size_t at = race_->stored.fetch_add(lat.size());
    for (size_t i = 0; i < lat.size() && at + i < samples_.size(); ++i) samples_[at + i] = lat[i];
    race_->commits.fetch_add(lat.size());
    for (int64_t e = race_->end_ns.load(); e < end && !race_->end_ns.compare_exchange_weak(e, end);) {
    }
  }

  // A producer that failed before the start: the others are not to wait
  // for it (a thread that failed cannot be noticed from outside its process).
  void abort() {
    race_->go.store(2);
    futex_wake(&race_->go);
    futex_wake(&race_->ready);
  }

  // Parent: once `producers` are waiting, starts them for `seconds`.
  bool start(size_t producers, double seconds, const std::vector<pid_t>& children) {
    for (uint32_t r; (r = race_->ready.load()) < producers;) {
      if (race_->go.load() != 0) return false;
      for (pid_t p : children) {
        if (!running(p)) return false;
      }
      futex_wait(&race_->ready, r, 10'000'000);
    }
    int64_t now = now_ns();
    race_->start_ns.store(now);
    race_->stop_ns.store(now + static_cast<int64_t>(seconds * 1e9));
    race_->go.store(1);
    futex_wake(&race_->go);
    return true;
  }

  double rate() const {
    double elapsed = static_cast<double>(race_->end_ns.load() - race_->start_ns.load()) / 1e9;
    return elapsed > 0 ? static_cast<double>(race_->commits.load()) / elapsed : 0;
  }
  uint64_t commits() const { return race_->commits.load(); }
  Latency latency() const {
    size_t n = std::min<size_t>(race_->stored.load(), samples_.size());
    return summarize(std::vector<int64_t>(samples_.data(), samples_.data() + n));
  }

 private:
  Shared<Race> race_;
  Shared<int64_t> samples_;
};

// Runs `threads` producers in one process, each calling its own commit
// function made by make_commit (after the process has opened what it needs).
// The first failure of any thread fails the process.
int threaded(DurableRun& run, size_t threads, const std::function<std::function<void()>(size_t)>& make_commit) {
  std::mutex mu;
  std::string error;
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      try {
        std::function<void()> commit = make_commit(t);
        run.produce(commit);
      } catch (const std::exception& e) {
        run.abort();
        std::lock_guard lock(mu);
        if (error.empty()) error = e.what();
      }
    });
  }
  for (std::thread& th : pool) th.join();
  if (!error.empty()) throw BenchError(error);
  return 0;
}

struct DurableResult {
  std::string name;
  size_t producers = 0;
  double rate = 0;
  uint64_t commits = 0;
  Latency lat;
  std::string error;
  bool ok() const { return error.empty() && commits > 0; }
};

// `children` are the processes to fork; between them they run `producers`.
DurableResult run_durable(const std::string& name, size_t producers, double seconds,
                          const std::function<int()>& setup,
                          const std::vector<std::function<int(DurableRun&)>>& children) {
  DurableResult res;
  res.name = name;
  res.producers = producers;
  if (setup) res.error = wait_all({spawn(setup)});
  if (!res.error.empty()) return res;
  DurableRun run;
  std::vector<pid_t> pids;
  for (const auto& child : children) pids.push_back(spawn([&] { return child(run); }));
  run.start(producers, seconds, pids);  // on failure, wait_all says why
  res.error = wait_all(pids);
  if (res.error.empty()) {
    res.rate = run.rate();
    res.commits = run.commits();
    res.lat = run.latency();
  }
  return res;
}

void print_durable(const DurableResult& r) {
  if (!r.ok()) {
    std::printf("      %-40s ERROR: %s\n", r.name.c_str(), r.error.empty() ? "no commit" : r.error.c_str());
  } else {
    std::printf("      %-40s %10s %10s %10s %9llu\n", r.name.c_str(), rate(r.rate).c_str(), nanos(r.lat.p50).c_str(),
                nanos(r.lat.p99).c_str(), static_cast<unsigned long long>(r.commits));
  }
  std::fflush(stdout);
}

// What the textbook group commit gets on this machine for producers that
// each wait for their own write to be durable, with nothing else to do: a
// write takes a lock for its place; a producer whose write is not yet
// durable starts an fdatasync if none is in flight (covering everything
// written when it starts) and otherwise sleeps until the one in flight
// ends, which wakes every sleeper at once. The blocks are overwritten (as
// in the overwrite floor), so no sync commits the file system's journal.
// Its state is in memory shared across fork(), so the producers may be
// threads of one process or processes with a descriptor each. Rivulet does
// more per commit (a frame, its checksums, the shared heads, the catalog)
// but lines threads of one handle up behind one leader that writes for all
// of them, which this does not: a reference, not a bound.
class BareGroupCommit {
 public:
  static constexpr off_t kSize = 16 << 20;
  struct State {
    pthread_mutex_t mu;   // process-shared
    off_t at;             // under mu
    uint32_t written;     // under mu: writes so far
    std::atomic<uint32_t> synced;  // writes durable so far
    Word gen;
  };

  // Makes the file and the state, before the producers are forked.
  static void create(const std::string& path, State* state) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw BenchError(path + ": " + std::strerror(errno));
    std::vector<char> zeros(1 << 20);
    bool ok = true;
    for (off_t at = 0; ok && at < kSize; at += static_cast<off_t>(zeros.size())) {
      ok = ::pwrite(fd, zeros.data(), zeros.size(), at) == static_cast<ssize_t>(zeros.size());
    }
    ok = ok && ::fsync(fd) == 0;
    int err = errno;
    ::close(fd);
    if (!ok) throw BenchError(path + ": filling: " + std::strerror(err));
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(&state->mu, &attr);
    pthread_mutexattr_destroy(&attr);
  }

  BareGroupCommit(const std::string& path, State* state) : path_(path), s_(state) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) throw BenchError(path + ": " + std::strerror(errno));
  }
  ~BareGroupCommit() { ::close(fd_); }

  void commit(const char* data, size_t size) {
    uint32_t mine;
    pthread_mutex_lock(&s_->mu);
    bool wrote = ::pwrite(fd_, data, size, s_->at) == static_cast<ssize_t>(size);
    s_->at = (s_->at + static_cast<off_t>(size)) % (kSize - static_cast<off_t>(size));
    mine = ++s_->written;
    pthread_mutex_unlock(&s_->mu);
    if (!wrote) fail("pwrite");
    for (;;) {
      // The generation is odd while a sync is in flight; it moves after
      // `synced` does, so a sleeper cannot miss the end of a sync.
      uint32_t gen = s_->gen.load();
      if (static_cast<int32_t>(s_->synced.load() - mine) >= 0) return;
      if (gen % 2 == 1) {
        futex_wait(&s_->gen, gen);
      } else if (s_->gen.compare_exchange_strong(gen, gen + 1)) {
        pthread_mutex_lock(&s_->mu);
        uint32_t upto = s_->written;
        pthread_mutex_unlock(&s_->mu);
        const int rc = ::fdatasync(fd_);
        if (rc == 0) s_->synced.store(upto);
        s_->gen.store(gen + 2);
        futex_wake(&s_->gen);
        if (rc != 0) fail("fdatasync");
      }
    }
  }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw BenchError(path_ + ": " + what + ": " + std::strerror(errno));
  }

  std::string path_;
  State* s_;
  int fd_ = -1;
};

struct DurableResults {
  DurableResult fsync_append, fsync_overwrite, bare_group, bare_group_procs;
  std::vector<DurableResult> threads, procs, sql;  // 1, 4, 16 producers; SQLite 1, 16
};

DurableResults run_durables(const Config& cfg, const std::string& dir) {
  DurableResults out;
  double secs = cfg.seconds;
  std::printf("      %-40s %10s %10s %10s %9s\n", "", "records/s", "p50", "p99", "commits");

  // Two floors: appending moves the file size, so each fdatasync also
  // commits the file system's journal; overwriting written blocks of a file
  // whose size does not change flushes data only. A log file preallocated by
  // the engine pays something in between.
  std::string fsync_path = file(dir, "fdatasync.tmp");
  out.fsync_append = run_durable("floor: append 100 B + fdatasync", 1, secs, nullptr, {[&](DurableRun& run) {
    int fd = ::open(fsync_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) throw BenchError(fsync_path + ": " + std::strerror(errno));
    char buf[100] = {};
    run.produce([&] {
      if (::write(fd, buf, sizeof buf) != static_cast<ssize_t>(sizeof buf) || ::fdatasync(fd) != 0) {
        throw BenchError(std::string("write + fdatasync: ") + std::strerror(errno));
      }
    });
    ::close(fd);
    return 0;
  }});
  print_durable(out.fsync_append);
  out.fsync_overwrite = run_durable("floor: overwrite 100 B + fdatasync", 1, secs, nullptr, {[&](DurableRun& run) {
    int fd = ::open(fsync_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw BenchError(fsync_path + ": " + std::strerror(errno));
    constexpr off_t kSize = 16 << 20;
    std::vector<char> zeros(1 << 20);
    for (off_t at = 0; at < kSize; at += static_cast<off_t>(zeros.size())) {
      if (::pwrite(fd, zeros.data(), zeros.size(), at) != static_cast<ssize_t>(zeros.size())) {
        throw BenchError(fsync_path + ": " + std::strerror(errno));
      }
    }
    if (::fsync(fd) != 0) throw BenchError(fsync_path + ": " + std::strerror(errno));
    off_t at = 0;
    run.produce([&] {
      if (::pwrite(fd, zeros.data(), 100, at) != 100 || ::fdatasync(fd) != 0) {
        throw BenchError(std::string("pwrite + fdatasync: ") + std::strerror(errno));
      }
      at = (at + 100) % (kSize - 100);
    });
    ::close(fd);
    return 0;
  }});
  print_durable(out.fsync_overwrite);
  const char record[100] = {};
  {
    Shared<BareGroupCommit::State> state;
    BareGroupCommit::create(fsync_path, state.data());
    out.bare_group = run_durable("bare group commit, 16 threads", 16, secs, nullptr, {[&](DurableRun& run) {
      BareGroupCommit group(fsync_path, state.data());
      return threaded(run, 16, [&](size_t) { return [&] { group.commit(record, sizeof record); }; });
    }});
    print_durable(out.bare_group);
  }
  {
    Shared<BareGroupCommit::State> state;
    BareGroupCommit::create(fsync_path, state.data());
    std::vector<std::function<int(DurableRun&)>> children(16, [&](DurableRun& run) {
      BareGroupCommit group(fsync_path, state.data());
      run.produce([&] { group.commit(record, sizeof record); });
      return 0;
    });
    out.bare_group_procs = run_durable("bare group commit, 16 processes", 16, secs, nullptr, children);
    print_durable(out.bare_group_procs);
  }
  if (!cfg.keep) ::unlink(fsync_path.c_str());

  for (size_t n : {1, 4, 16}) {
    std::string path = file(dir, "full-threads-" + std::to_string(n) + ".riv");
    std::string name = "rivulet, " + std::to_string(n) + (n == 1 ? " thread" : " threads (one Db)");
    out.threads.push_back(run_durable(name, n, secs, [&] { return create_topic(path); }, {[&](DurableRun& run) {
      auto db = take(rivulet::Db::open(path, with_sync(rivulet::Sync::full)), "Db::open");
      threaded(run, n, [&](size_t) {
        auto batch = std::make_shared<rivulet::WriteBatch>(*db);
        return [&db, batch] { commit_one(*db, *batch, 0); };
      });
      check(db->close(), "Db::close");
      return 0;
    }}));
    print_durable(out.threads.back());
    if (!cfg.keep) ::unlink(path.c_str());
  }

  for (size_t n : {1, 4, 16}) {
    std::string path = file(dir, "full-procs-" + std::to_string(n) + ".riv");
    std::string name = "rivulet, " + std::to_string(n) + (n == 1 ? " process" : " processes (a Db each)");
    std::vector<std::function<int(DurableRun&)>> children(n, [&](DurableRun& run) {
      auto db = take(rivulet::Db::open(path, with_sync(rivulet::Sync::full)), "Db::open");
      rivulet::WriteBatch batch(*db);
      run.produce([&] { commit_one(*db, batch, 0); });
      check(db->close(), "Db::close");
      return 0;
    });
    out.procs.push_back(run_durable(name, n, secs, [&] { return create_topic(path); }, children));
    print_durable(out.procs.back());
    if (!cfg.keep) ::unlink(path.c_str());
  }

  for (size_t n : {1, 16}) {
    std::string path = file(dir, "full-" + std::to_string(n) + ".sqlite");
    std::string name = "sqlite FULL, " + std::to_string(n) + (n == 1 ? " connection" : " connections (threads)");
    out.sql.push_back(run_durable(name, n, secs, [&] { return create_table(path); }, {[&](DurableRun& run) {
      return threaded(run, n, [&](size_t) {
        auto c = std::make_shared<Conn>(path, SQLITE_OPEN_READWRITE);
        sqlite3_busy_timeout(c->db(), 10'000);
        c->exec("PRAGMA synchronous=FULL");
        sqlite3_stmt* ins = c->prepare(kSqlInsert);
        return [c, ins] { insert_one(*c, ins, 0); };
      });
    }}));
    print_durable(out.sql.back());
    if (!cfg.keep) remove_sqlite_files(path);
  }
  return out;
}

// ================================================================ report ==

void latency_rows(std::vector<Row>& rows, const char* name, const PatternResults& r) {
  rows.push_back(ratio_row(std::string("1 ") + name + " p50 vs futex floor", r.riv.ok(), r.riv.lat.p50, r.floor.ok(),
                           r.floor.lat.p50, nanos(r.riv.lat.p50), nanos(r.floor.lat.p50), kP50Target, true));
  rows.push_back(ratio_row(std::string("1 ") + name + " p99 vs futex floor", r.riv.ok(), r.riv.lat.p99, r.floor.ok(),
                           r.floor.lat.p99, nanos(r.riv.lat.p99), nanos(r.floor.lat.p99), kP99Target, true));
}

// One producer's result and many producers' in one round of durable runs.
using Pair = std::pair<const DurableResult*, const DurableResult*>;

// The row of the round with the median many-to-one ratio (a failed round
// counts lowest), judged against the scaling target or (`judged` false)
// shown for information.
void scaling_row(std::vector<Row>& rows, const std::string& name, const std::vector<DurableResults>& rounds,
                 const std::function<Pair(const DurableResults&)>& which, bool judged = true) {
  std::vector<std::pair<double, size_t>> ratios;
  for (size_t i = 0; i < rounds.size(); ++i) {
    auto [one, many] = which(rounds[i]);
    ratios.push_back({one->ok() && many->ok() ? many->rate / one->rate : -1, i});
  }
  std::sort(ratios.begin(), ratios.end());
  auto [one, many] = which(rounds[ratios[ratios.size() / 2].second]);
  Row row = ratio_row("3 " + name + ", records/s (median)", one->ok() && many->ok(), many->rate, one->ok(),
                      one->rate, rate(many->rate), rate(one->rate), kScalingTarget, false);
  if (!judged) {
    row.target = "(info)";
    row.verdict = Verdict::not_evaluated;
  }
  rows.push_back(row);
}

void run(const Config& cfg, const std::string& dir) {
  auto want = [&](const char* s) { return cfg.only.empty() || cfg.only == s; };
  std::vector<Row> rows;

  if (want("latency")) {
    std::printf("\n[1] latency, producer process -> consumer process: one %zu-byte record per commit, sync normal;\n"
                "    send time taken before add + commit, arrival when the consumer has the record\n",
                kValueBytes);
    PatternResults b2b = latency_pattern(cfg, dir, Pattern::back_to_back);
    PatternResults sparse = latency_pattern(cfg, dir, Pattern::sparse);
    latency_rows(rows, "back to back", b2b);
    {
      // The reference is the spin floor, for information: the target is absolute.
      Row row{"1 back to back p50, poll_spin 200 us", "ERROR", "-", "", "< 1 us", Verdict::miss};
      if (b2b.riv_spin.ok()) {
        row.riv = nanos(b2b.riv_spin.lat.p50);
        row.verdict = b2b.riv_spin.lat.p50 < kSpinP50Target ? Verdict::pass : Verdict::miss;
      }
      if (b2b.riv_spin.ok() && b2b.floor_spin.ok()) {
        row.ref = nanos(b2b.floor_spin.lat.p50);
        row.ratio = fmt("%.2fx", b2b.riv_spin.lat.p50 / b2b.floor_spin.lat.p50);
      }
      rows.push_back(row);
    }
    latency_rows(rows, "sparse", sparse);
  }

  if (want("idle")) {
    std::printf("\n[2] idle consumer: a process blocked in Reader::poll(%.1f s) with no data\n", cfg.idle_seconds);
    std::fflush(stdout);
    IdleResult idle = run_idle(cfg, dir);
    Row row{"2 idle consumer CPU (% of one CPU)", "ERROR", "-", "", fmt("<= %.2f%%", kIdleCpuTarget), Verdict::miss};
    if (idle.error.empty()) {
      double pct = 100 * idle.cpu_ns / idle.wall_ns;
      std::printf("      cpu %s in %s = %.3f%% of one CPU; %.0f context switches/s (wake-ups)\n",
                  nanos(idle.cpu_ns).c_str(), nanos(idle.wall_ns).c_str(), pct, idle.switches * 1e9 / idle.wall_ns);
      row.riv = fmt("%.3f%%", pct);
      row.verdict = pct <= kIdleCpuTarget ? Verdict::pass : Verdict::miss;
    } else {
      std::printf("      ERROR: %s\n", idle.error.c_str());
    }
    rows.push_back(row);
  }

  if (want("durable")) {
    std::printf("\n[3] durable commits: sync full, one %zu-byte record per commit, %.1f s per configuration\n",
                kValueBytes, cfg.seconds);
    std::fflush(stdout);
    // This machine's fdatasync switches between ~0.2 ms and ~4 ms over
    // seconds to minutes, so one producer and sixteen are compared within a
    // round (runs seconds apart), and the table takes the median round.
    std::vector<DurableResults> rounds;
    for (int r = 0; r < cfg.rounds; ++r) {
      std::printf("    round %d\n", r + 1);
      rounds.push_back(run_durables(cfg, dir));
      const DurableResults& d = rounds.back();
      auto ratio = [](const std::vector<DurableResult>& v) {
        return v.front().ok() && v.back().ok() ? fmt("%.2fx", v.back().rate / v.front().rate) : std::string("-");
      };
      std::printf("      16 / 1 producers: rivulet threads %s, rivulet processes %s, sqlite %s; "
                  "bare group commit / overwrite floor: 16 threads %s, 16 processes %s\n",
                  ratio(d.threads).c_str(), ratio(d.procs).c_str(), ratio(d.sql).c_str(),
                  ratio({d.fsync_overwrite, d.bare_group}).c_str(),
                  ratio({d.fsync_overwrite, d.bare_group_procs}).c_str());
    }
    auto first_last = [](const std::vector<DurableResult>& v) { return Pair(&v.front(), &v.back()); };
    scaling_row(rows, "16 threads vs 1", rounds, [&](const DurableResults& d) { return first_last(d.threads); });
    scaling_row(rows, "16 processes vs 1", rounds, [&](const DurableResults& d) { return first_last(d.procs); });
    scaling_row(rows, "16 threads vs bare group commit", rounds,
                [](const DurableResults& d) { return Pair(&d.bare_group, &d.threads.back()); }, false);
    scaling_row(rows, "16 processes vs bare group commit", rounds,
                [](const DurableResults& d) { return Pair(&d.bare_group_procs, &d.procs.back()); }, false);
  }

  print_table(rows,
              "reference: the futex floor's percentile (1; the spin floor's for poll_spin, information only),\n"
              "one producer's rate (3; for the last two rows, a bare textbook group commit of 16 threads or\n"
              "processes); ratio = Rivulet / reference");
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  Config cfg;
  CLI::App app{"Rivulet across processes: latency, idle CPU, durable commits, against floors and SQLite"};
  app.add_option("--records", cfg.records, "records per back-to-back latency run")->check(CLI::Range(10, 1 << 30));
  app.add_option("--sparse-records", cfg.sparse_records, "records per sparse latency run (about 1 ms each)")
      ->check(CLI::Range(10, 1 << 30));
  app.add_option("--rounds", cfg.rounds, "latency rounds per pattern, engines taking turns (samples are pooled)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--idle-seconds", cfg.idle_seconds, "how long the idle consumer waits")->check(CLI::Range(0.1, 600.0));
  app.add_option("--seconds", cfg.seconds, "duration of each durable-commit configuration")
      ->check(CLI::Range(0.05, 600.0));
  app.add_option("--dir", cfg.dir, "where to make the temporary directory (default: $TMPDIR, else /tmp)");
  app.add_option("--only", cfg.only, "run one section: latency (1), idle (2), durable (3)")
      ->transform(CLI::Transformer({{"1", "latency"}, {"2", "idle"}, {"3", "durable"}}))
      ->check(CLI::IsMember({"latency", "idle", "durable"}));
  app.add_flag("--quick", cfg.quick, "smoke run: 5,000 / 1,000 records in 2 rounds, 1 s idle, 0.5 s per configuration");
  app.add_flag("--keep", cfg.keep, "keep the files instead of deleting them");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (cfg.quick) {
    if (app.count("--records") == 0) cfg.records = 5'000;
    if (app.count("--rounds") == 0) cfg.rounds = 2;
    if (app.count("--sparse-records") == 0) cfg.sparse_records = 1'000;
    if (app.count("--idle-seconds") == 0) cfg.idle_seconds = 1;
    if (app.count("--seconds") == 0) cfg.seconds = 0.5;
  }

  std::string dir = make_run_dir(cfg.dir, "rivulet-ipc");
  if (dir.empty()) return 0;
  if (!cfg.keep) remove_on_signals(dir, all_files(dir));

  std::printf("Rivulet across processes (issue 3), against floors and SQLite\n");
  print_run_header(command_line(argc, argv), dir, RIVULET_BENCH_BUILD_TYPE, sqlite_version());
  std::printf("runs:     latency %zu back-to-back + %zu sparse records, %d rounds; idle %.1f s; durable %.1f s each\n",
              cfg.records, cfg.sparse_records, cfg.rounds, cfg.idle_seconds, cfg.seconds);
  std::fflush(stdout);

  run(cfg, dir);

  finish_run(dir, cfg.keep);
  return 0;
}
