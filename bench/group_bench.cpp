// rivulet_group_bench: what issue 4 (consumer groups) asks of Rivulet, in
// one run:
//
//   1. offset commits per second: Db::commit_offsets of one OffsetCommit per
//      call, sync normal and sync full, against Db::produce of one record per
//      call on the same machine, in the same round
//   2. the cost of a transaction: a WriteBatch of 1,000 keyed 100-byte
//      records plus one WriteBatch::add_offset, against the same batch
//      without the offset, the two kinds interleaved in rounds
//   3. takeover after SIGKILL: two member processes of a group share a topic
//      of 8 partitions; one is killed; the time until the survivor has read a
//      record of a partition the dead one held
//
// Every Db is opened in a child process after fork(); the parent only
// forks, waits, kills and reports, so no lock or descriptor of a Db is ever
// shared between processes by fork(). Like the other benchmarks it exits 0
// whatever the numbers (only a bad command line exits 2).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "procs.hpp"
#include "report.hpp"
#include "rivulet/rivulet.hpp"
#include "rivulet_peer.hpp"
#include "rundir.hpp"
#include "sysinfo.hpp"
#include "targets.hpp"
#include "workload.hpp"

#ifndef RIVULET_BENCH_BUILD_TYPE
#define RIVULET_BENCH_BUILD_TYPE "unknown"
#endif

namespace bench {
namespace {

// ---------------------------------------------------------------- targets --

constexpr double kTxnTarget = 1.10;           // a transaction at most 10% slower than a plain batch
constexpr double kTakeoverTargetNs = 100e6;   // a SIGKILLed member's partitions read again within 100 ms

constexpr int32_t kPartitions = 8;
constexpr size_t kTxnRecords = 1000;          // records per batch in section 2
constexpr size_t kTxnWarmup = 5;              // untimed commits of each kind before the rounds
constexpr int kTakeoverRecords = 100;         // per partition: the survivor reads at once
constexpr const char* kGroup = "g";
constexpr const char* kInput = "input";       // the topic whose offsets the transactions commit
constexpr int64_t kWaitNs = 10'000'000'000;   // a member that takes longer than this to settle fails the round
constexpr size_t kMaxSamples = size_t{4} << 20;  // per-call latencies kept per run of section 1

struct Config {
  double seconds = 1;     // section 1: per configuration and round
  int rounds = 3;         // section 1
  int txn_rounds = 20;    // section 2
  int txn_commits = 25;   // section 2: commits of each kind per round
  int takeovers = 20;     // section 3
  std::string dir;
  std::string only;
  bool quick = false;
  bool keep = false;
  bool verbose = false;
};

std::string riv_file(const std::string& dir, const char* name) { return dir + "/" + name + ".riv"; }

std::vector<std::string> all_files(const std::string& dir) {
  std::vector<std::string> paths;
  for (const char* name : {"offsets", "produce", "txn", "takeover"}) {
    paths.push_back(riv_file(dir, name));
    paths.push_back(riv_file(dir, name) + "-shm");
  }
  return paths;
}

void remove_db(const std::string& path) {
  ::unlink(path.c_str());
  ::unlink((path + "-shm").c_str());
}

std::unique_ptr<rivulet::Db> create_db(const std::string& path, rivulet::Sync sync,
                                       std::initializer_list<const char*> topics) {
  auto db = take(rivulet::Db::open(path, with_sync(sync)), "Db::open");
  rivulet::TopicConfig config;
  config.partitions = kPartitions;
  for (const char* t : topics) check(db->create_topic(t, config), "create_topic");
  return db;
}

// ===================================================== 1. offset commits ==

enum class Op { offsets, produce };

struct CallShared {
  uint64_t calls;
  int64_t elapsed_ns;
  Latency lat;
};

struct CallResult {
  double rate = 0;
  uint64_t calls = 0;
  Latency lat;
  std::string error;
  bool ok() const { return error.empty() && calls > 0; }
};

// One configuration: a fresh file, then calls for `seconds`, each timed.
CallResult run_calls(const std::string& dir, const Dataset& ds, Op op, rivulet::Sync sync, double seconds,
                     bool keep) {
  std::string path = riv_file(dir, op == Op::offsets ? "offsets" : "produce");
  remove_db(path);
  Shared<CallShared> out;
  CallResult res;
  res.error = wait_all({spawn([&] {
    auto db = create_db(path, sync, {kTopic});
    rivulet::OffsetCommit offset{kTopic, 0, 0, {}};
    rivulet::ProducerRecord rec{.topic = kTopic};
    std::vector<int64_t> lat;
    lat.reserve(1 << 20);
    int64_t start = now_ns();
    int64_t stop = start + static_cast<int64_t>(seconds * 1e9);
    int64_t end = start;
    uint64_t i = 0;
    for (; end < stop; ++i) {
      int64_t t = end;
      if (op == Op::offsets) {
        offset.partition = static_cast<int32_t>(i % kPartitions);
        offset.offset = static_cast<int64_t>(i);
        check(db->commit_offsets(kGroup, std::span(&offset, 1)), "Db::commit_offsets");
      } else {
        size_t k = i % ds.size();
        rec.key = ds.key(k);
        rec.value = ds.value(k);
        rec.partition = static_cast<int32_t>(i % kPartitions);
        rec.timestamp_ms = ds.ts(k);
        auto appended = db->produce(rec);
        if (!appended.ok()) check(appended.status(), "Db::produce");
      }
      end = now_ns();
      if (lat.size() < kMaxSamples) lat.push_back(end - t);
    }
    out->calls = i;
    out->elapsed_ns = end - start;
    out->lat = summarize(std::move(lat));
    check(db->close(), "Db::close");
    return 0;
  })});
  if (res.error.empty()) {
    res.calls = out->calls;
    res.rate = out->elapsed_ns > 0 ? static_cast<double>(out->calls) * 1e9 / static_cast<double>(out->elapsed_ns) : 0;
    res.lat = out->lat;
  }
  if (!keep) remove_db(path);
  return res;
}

struct CallPair {
  CallResult offsets, produce;
  bool ok() const { return offsets.ok() && produce.ok() && produce.rate > 0; }
  double ratio() const { return ok() ? offsets.rate / produce.rate : -1; }
};

std::string call_text(const CallResult& r) {
  if (!r.ok()) return "ERROR: " + (r.error.empty() ? std::string("no call") : r.error);
  return rate(r.rate) + " (p50 " + nanos(r.lat.p50) + ")";
}

void print_call(const char* name, const CallResult& r) {
  if (!r.ok()) {
    std::printf("      %-32s %s\n", name, call_text(r).c_str());
    return;
  }
  std::printf("      %-32s %12s %10s %10s %10s %10llu\n", name, rate(r.rate).c_str(), nanos(r.lat.p50).c_str(),
              nanos(r.lat.p99).c_str(), nanos(r.lat.max).c_str(), static_cast<unsigned long long>(r.calls));
}

void run_offsets(const Config& cfg, const std::string& dir, const Dataset& ds, std::vector<Row>& rows) {
  std::printf("\n[1] offset commits: Db::commit_offsets(\"%s\", one OffsetCommit) per call, against Db::produce\n"
              "    of one record (%zu B key, %zu B value) per call; a fresh file per configuration, %.1f s each,\n"
              "    %d round(s), the two calls taking turns to go first; ratio = commit_offsets / produce\n",
              kGroup, kKeyBytes, kValueBytes, cfg.seconds, cfg.rounds);
  std::fflush(stdout);
  const std::pair<rivulet::Sync, const char*> syncs[] = {{rivulet::Sync::normal, "normal"},
                                                         {rivulet::Sync::full, "full"}};
  std::vector<CallPair> rounds[2];
  for (int r = 0; r < cfg.rounds; ++r) {
    for (size_t s = 0; s < 2; ++s) {
      CallPair pair;
      auto offsets = [&] { pair.offsets = run_calls(dir, ds, Op::offsets, syncs[s].first, cfg.seconds, cfg.keep); };
      auto produce = [&] { pair.produce = run_calls(dir, ds, Op::produce, syncs[s].first, cfg.seconds, cfg.keep); };
      if (r % 2 == 0) {
        offsets();
        produce();
      } else {
        produce();
        offsets();
      }
      std::string round = s == 0 ? "round " + std::to_string(r + 1) : "";
      std::printf("    %-9s sync %-7s commit_offsets %s, produce %s, ratio %s\n", round.c_str(),
                  (std::string(syncs[s].second) + ":").c_str(), call_text(pair.offsets).c_str(),
                  call_text(pair.produce).c_str(), pair.ok() ? fmt("%.2fx", pair.ratio()).c_str() : "-");
      std::fflush(stdout);
      rounds[s].push_back(pair);
    }
  }

  // The round with the median ratio (a failed round counts lowest): the two
  // calls of a round ran seconds apart, on the same disk weather.
  std::printf("\n      %-32s %12s %10s %10s %10s %10s\n", "median round", "calls/s", "p50", "p99", "max", "calls");
  for (size_t s = 0; s < 2; ++s) {
    std::vector<std::pair<double, size_t>> ratios;
    for (size_t i = 0; i < rounds[s].size(); ++i) ratios.push_back({rounds[s][i].ratio(), i});
    std::sort(ratios.begin(), ratios.end());
    const CallPair& m = rounds[s][ratios[ratios.size() / 2].second];
    print_call((std::string("sync ") + syncs[s].second + ": commit_offsets").c_str(), m.offsets);
    print_call((std::string("sync ") + syncs[s].second + ": produce").c_str(), m.produce);
    Row row{std::string("1 commit_offsets vs produce, calls/s, sync ") + syncs[s].second,
            m.offsets.ok() ? rate(m.offsets.rate) : "ERROR", m.produce.ok() ? rate(m.produce.rate) : "ERROR",
            m.ok() ? fmt("%.2fx", m.ratio()) : "", "(none)", Verdict::not_evaluated};
    rows.push_back(row);
  }
  std::fflush(stdout);
}

// ======================================================= 2. transactions ==

enum Kind { kPlain = 0, kTxn = 1 };
enum Part { kTotal = 0, kCommitOnly = 1 };

// Per-commit times of both kinds, [kind][part][round * commits + i].
class TxnSamples {
 public:
  TxnSamples(size_t rounds, size_t commits) : per_kind_(rounds * commits), commits_(commits), ns_(4 * per_kind_) {}
  int64_t& at(Kind k, Part p, size_t round, size_t i) const {
    return ns_[(k * 2 + p) * per_kind_ + round * commits_ + i];
  }
  std::vector<double> all(Kind k, Part p) const { return slice(k, p, 0, per_kind_); }
  std::vector<double> round(Kind k, Part p, size_t r) const { return slice(k, p, r * commits_, commits_); }

 private:
  std::vector<double> slice(Kind k, Part p, size_t from, size_t n) const {
    const int64_t* base = ns_.data() + (k * 2 + p) * per_kind_ + from;
    return std::vector<double>(base, base + n);
  }
  size_t per_kind_, commits_;
  Shared<int64_t> ns_;
};

void run_txn(const Config& cfg, const std::string& dir, const Dataset& ds, std::vector<Row>& rows) {
  size_t rounds = static_cast<size_t>(cfg.txn_rounds), commits = static_cast<size_t>(cfg.txn_commits);
  std::printf("\n[2] transactions: a WriteBatch of %zu keyed records (%zu B key, %zu B value, %d partitions by\n"
              "    the key) + one WriteBatch::add_offset(\"%s\", ...) committed with Db::commit, against the same\n"
              "    batch without the offset; sync normal, one file; %zu round(s) of %zu commits of each kind,\n"
              "    alternating which kind goes first, after %zu untimed commits of each; a commit's time is\n"
              "    clear + adds (+ add_offset) + commit (\"build + commit\"), and the Db::commit call alone\n",
              kTxnRecords, kKeyBytes, kValueBytes, kPartitions, kGroup, rounds, commits, kTxnWarmup);
  std::fflush(stdout);
  std::string path = riv_file(dir, "txn");
  remove_db(path);
  TxnSamples samples(rounds, commits);
  std::string error = wait_all({spawn([&] {
    auto db = create_db(path, rivulet::Sync::normal, {kTopic, kInput});
    rivulet::WriteBatch batch(*db);
    rivulet::ProducerRecord rec{.topic = kTopic};
    rivulet::OffsetCommit offset{kInput, 0, 0, {}};
    int64_t input = 0;  // the next input offset "consumed"
    auto one = [&](Kind kind, int64_t& total, int64_t& commit_only) {
      int64_t t0 = now_ns();
      batch.clear();
      for (size_t i = 0; i < kTxnRecords; ++i) {
        rec.key = ds.key(i);
        rec.value = ds.value(i);
        rec.timestamp_ms = ds.ts(i);
        check(batch.add(rec), "WriteBatch::add");
      }
      if (kind == kTxn) {
        offset.partition = static_cast<int32_t>(input % kPartitions);
        offset.offset = ++input;
        check(batch.add_offset(kGroup, offset), "WriteBatch::add_offset");
      }
      int64_t t1 = now_ns();
      check(db->commit(batch), "Db::commit");
      int64_t t2 = now_ns();
      total = t2 - t0;
      commit_only = t2 - t1;
    };
    int64_t unused_total = 0, unused_commit = 0;
    for (size_t i = 0; i < kTxnWarmup; ++i) {
      for (Kind k : {kPlain, kTxn}) one(k, unused_total, unused_commit);
    }
    for (size_t r = 0; r < rounds; ++r) {
      Kind order[2] = {kPlain, kTxn};
      if (r % 2 == 1) std::swap(order[0], order[1]);
      for (Kind k : order) {
        for (size_t i = 0; i < commits; ++i) one(k, samples.at(k, kTotal, r, i), samples.at(k, kCommitOnly, r, i));
      }
    }
    check(db->close(), "Db::close");
    return 0;
  })});
  if (!cfg.keep) remove_db(path);

  Row row{"2 transaction vs plain batch, median build + commit", "ERROR", "ERROR", "", fmt("<= %.2fx", kTxnTarget),
          Verdict::miss};
  if (!error.empty()) {
    std::printf("      ERROR: %s\n", error.c_str());
    rows.push_back(row);
    return;
  }
  double med[2][2];
  for (Kind k : {kPlain, kTxn}) {
    for (Part p : {kTotal, kCommitOnly}) med[k][p] = median(samples.all(k, p));
  }
  std::vector<double> round_ratios;
  for (size_t r = 0; r < rounds; ++r) {
    round_ratios.push_back(median(samples.round(kTxn, kTotal, r)) / median(samples.round(kPlain, kTotal, r)));
  }
  std::sort(round_ratios.begin(), round_ratios.end());
  std::printf("      %-40s %14s %14s\n", ("median of " + std::to_string(rounds * commits) + " commits").c_str(),
              "build + commit", "commit only");
  std::printf("      %-40s %14s %14s\n", ("plain: " + std::to_string(kTxnRecords) + " records").c_str(),
              nanos(med[kPlain][kTotal]).c_str(), nanos(med[kPlain][kCommitOnly]).c_str());
  std::string txn = "transaction: " + std::to_string(kTxnRecords) + " records + 1 offset";
  std::printf("      %-40s %14s %14s\n", txn.c_str(), nanos(med[kTxn][kTotal]).c_str(),
              nanos(med[kTxn][kCommitOnly]).c_str());
  std::printf("      %-40s %13.3fx %13.3fx\n", "transaction / plain", med[kTxn][kTotal] / med[kPlain][kTotal],
              med[kTxn][kCommitOnly] / med[kPlain][kCommitOnly]);
  std::printf("      per-round ratios of the medians (build + commit): min %.3fx, median %.3fx, max %.3fx\n",
              round_ratios.front(), median(round_ratios), round_ratios.back());
  std::fflush(stdout);
  row = ratio_row(row.what, true, med[kTxn][kTotal], true, med[kPlain][kTotal], nanos(med[kTxn][kTotal]),
                  nanos(med[kPlain][kTotal]), kTxnTarget, true);
  row.target = fmt("<= %.2fx", kTxnTarget);
  rows.push_back(row);
}

// =========================================================== 3. takeover ==

// What the parent and the two members of a round share.
struct MemberState {
  std::atomic<uint32_t> owned;  // partitions held, as bits, kept by on_assigned / on_revoked
};

struct Takeover {
  Word changes;  // bumped on every callback and on the survivor's first read; the parent waits on it
  Word stop;     // 1: the members close and exit
  std::atomic<uint32_t> victim;   // partitions of A at the kill, as bits
  std::atomic<int64_t> kill_ns;   // set by the parent just before kill(); 0 before
  std::atomic<int64_t> all_ns;    // B owns all partitions again (on_assigned), after the kill
  std::atomic<int64_t> read_ns;   // B's poll returned a record of a partition of A's
  MemberState member[2];          // A, B
};

constexpr uint32_t kAll = (1u << kPartitions) - 1;

uint32_t bits_of(std::span<const rivulet::TopicPartition> tps) {
  uint32_t bits = 0;
  for (const rivulet::TopicPartition& tp : tps) bits |= 1u << tp.partition;
  return bits;
}

std::string list_of(uint32_t bits) {
  std::string s = "[";
  for (int32_t p = 0; p < kPartitions; ++p) {
    if ((bits & (1u << p)) == 0) continue;
    if (s.size() > 1) s += ",";
    s += std::to_string(p);
  }
  return s + "]";
}

void changed(Takeover& t) {
  t.changes.fetch_add(1);
  futex_wake(&t.changes);
}

// The topic of a round: kTakeoverRecords records in every partition, so a
// member reads as soon as it owns one (no member ever commits).
int takeover_setup(const std::string& path, const Dataset& ds) {
  auto db = create_db(path, rivulet::Sync::normal, {kTopic});
  rivulet::WriteBatch batch(*db);
  for (int32_t p = 0; p < kPartitions; ++p) {
    for (int i = 0; i < kTakeoverRecords; ++i) {
      check(batch.add({.topic = kTopic, .value = ds.value(static_cast<size_t>(i)), .partition = p}), "WriteBatch::add");
    }
  }
  check(db->commit(batch), "Db::commit");
  check(db->close(), "Db::close");
  return 0;
}

// A member (self 0: A, the victim; 1: B, the survivor): a Consumer in group
// kGroup from the earliest offset, never committing, polling until told to
// stop. With `verbose` it prints every callback with its CLOCK_MONOTONIC time.
int takeover_member(Takeover& t, int self, const std::string& path, bool verbose) {
  const char* name = self == 0 ? "A" : "B";
  MemberState& me = t.member[self];
  auto db = take(rivulet::Db::open(path), "Db::open");
  auto note = [&](bool assigned, std::span<const rivulet::TopicPartition> tps) {
    int64_t now = now_ns();
    uint32_t bits = bits_of(tps);
    uint32_t owned = assigned ? me.owned.fetch_or(bits) | bits : me.owned.fetch_and(~bits) & ~bits;
    if (self == 1 && assigned && owned == kAll && t.kill_ns.load() != 0 && t.all_ns.load() == 0) t.all_ns.store(now);
    changed(t);
    if (verbose) {
      std::printf("        %s (pid %d) at %lld ns: %s %s, owns %s\n", name, static_cast<int>(::getpid()),
                  static_cast<long long>(now), assigned ? "assigned" : "revoked", list_of(bits).c_str(),
                  list_of(owned).c_str());
      std::fflush(stdout);
    }
  };
  rivulet::ConsumerOptions options;
  options.group = kGroup;
  options.auto_offset_reset = rivulet::OffsetReset::earliest;
  options.enable_auto_commit = false;
  options.on_assigned = [&](std::span<const rivulet::TopicPartition> tps) { note(true, tps); };
  options.on_revoked = [&](std::span<const rivulet::TopicPartition> tps) { note(false, tps); };
  auto consumer = take(rivulet::Consumer::create(*db, options), "Consumer::create");
  check(consumer->subscribe({kTopic}), "Consumer::subscribe");
  while (t.stop.load() == 0) {
    auto records = take(consumer->poll(std::chrono::milliseconds(50)), "Consumer::poll");
    if (self != 1 || records.empty() || t.kill_ns.load() == 0 || t.read_ns.load() != 0) continue;
    int64_t now = now_ns();
    uint32_t victim = t.victim.load();
    for (const rivulet::ConsumerRecord& r : records) {
      if ((victim & (1u << r.partition)) == 0) continue;
      t.read_ns.store(now);
      changed(t);
      if (verbose) {
        std::printf("        B at %lld ns: first record of A's, partition %d offset %lld\n",
                    static_cast<long long>(now), r.partition, static_cast<long long>(r.offset));
        std::fflush(stdout);
      }
      break;
    }
  }
  check(consumer->close(), "Consumer::close");
  consumer.reset();
  check(db->close(), "Db::close");
  return 0;
}

// After the kill, in ns: A reaped, B owning all partitions, B's first read
// of one of A's.
struct TakeoverSample {
  int64_t reaped = 0, all = 0, read = 0;
};

// Waits until `done` or a child of `pids` is gone or kWaitNs have passed.
bool wait_until(Takeover& t, const std::function<bool()>& done, std::initializer_list<pid_t> pids) {
  int64_t deadline = now_ns() + kWaitNs;
  for (;;) {
    uint32_t seen = t.changes.load();
    if (done()) return true;
    for (pid_t p : pids) {
      if (!running(p)) return false;
    }
    if (now_ns() > deadline) return false;
    futex_wait(&t.changes, seen, 10'000'000);
  }
}

std::string takeover_round(const Config& cfg, const std::string& path, const Dataset& ds, std::mt19937_64& rng,
                           TakeoverSample& sample) {
  remove_db(path);
  std::string error = wait_all({spawn([&] { return takeover_setup(path, ds); })});
  if (!error.empty()) return error;

  Shared<Takeover> t;
  auto give_up = [&](const std::string& what, std::initializer_list<pid_t> pids) {
    t->stop.store(1);
    for (pid_t p : pids) ::kill(p, SIGKILL);
    std::string why = wait_all(pids);
    return what + (why.empty() ? "" : " (" + why + ")");
  };
  // A first, alone with all partitions; then B joins and takes half.
  pid_t a = spawn([&] { return takeover_member(*t, 0, path, cfg.verbose); });
  if (!wait_until(*t, [&] { return t->member[0].owned.load() == kAll; }, {a})) {
    return give_up("member A did not get the partitions", {a});
  }
  pid_t b = spawn([&] { return takeover_member(*t, 1, path, cfg.verbose); });
  auto split = [&] {
    uint32_t oa = t->member[0].owned.load(), ob = t->member[1].owned.load();
    return std::popcount(oa) == kPartitions / 2 && std::popcount(ob) == kPartitions / 2 && (oa | ob) == kAll;
  };
  if (!wait_until(*t, split, {a, b})) return give_up("members A and B did not settle on 4 + 4 partitions", {a, b});
  // Both have read their records and sleep in poll; kill at a random point
  // of B's look cycle, which backs off from 10 ms to 50 ms while the file
  // is idle (within ~70 ms of the last activity).
  sleep_ns(20'000'000 + std::uniform_int_distribution<int64_t>(0, 280'000'000)(rng));
  if (!split()) return give_up("the assignment moved after settling", {a, b});

  t->victim.store(t->member[0].owned.load());
  int64_t killed = now_ns();
  t->kill_ns.store(killed);
  ::kill(a, SIGKILL);
  int status = 0;
  while (::waitpid(a, &status, 0) < 0 && errno == EINTR) {
  }
  sample.reaped = now_ns() - killed;
  if (cfg.verbose) {
    std::printf("        parent: SIGKILL to A (pid %d) at %lld ns, reaped %s later\n", static_cast<int>(a),
                static_cast<long long>(killed), nanos(static_cast<double>(sample.reaped)).c_str());
  }
  if (!wait_until(*t, [&] { return t->read_ns.load() != 0; }, {b})) {
    return give_up("member B did not read a partition of A's within 10 s", {b});
  }
  sample.read = t->read_ns.load() - killed;
  sample.all = t->all_ns.load() != 0 ? t->all_ns.load() - killed : sample.read;
  t->stop.store(1);
  error = wait_all({b});
  if (!cfg.keep) remove_db(path);
  return error;
}

void run_takeover(const Config& cfg, const std::string& dir, const Dataset& ds, std::vector<Row>& rows) {
  std::printf("\n[3] takeover after SIGKILL: topic of %d partitions, %d records in each, group \"%s\" (earliest,\n"
              "    no commits); member A (a process) takes all, member B (a process) joins and takes half;\n"
              "    20-300 ms later the parent SIGKILLs A. Takeover = B's poll returning a record of one of A's\n"
              "    partitions - the parent's CLOCK_MONOTONIC just before kill(). A fresh file each round.\n"
              "    (An idle member looks at the group every 10 ms backing off to 50 ms: that is how a death\n"
              "    is noticed.)\n",
              kPartitions, kTakeoverRecords, kGroup);
  std::printf("      %-8s %14s %14s %14s\n", "round", "A reaped", "B owns all", "B reads A's");
  std::fflush(stdout);
  std::string path = riv_file(dir, "takeover");
  std::mt19937_64 rng(4);
  std::vector<int64_t> reaped, all, read;
  std::string error;
  for (int r = 0; r < cfg.takeovers; ++r) {
    TakeoverSample s;
    std::string e = takeover_round(cfg, path, ds, rng, s);
    if (!e.empty()) {
      std::printf("      %-8d ERROR: %s\n", r + 1, e.c_str());
      if (error.empty()) error = e;
      continue;
    }
    reaped.push_back(s.reaped);
    all.push_back(s.all);
    read.push_back(s.read);
    std::printf("      %-8d %14s %14s %14s\n", r + 1, nanos(static_cast<double>(s.reaped)).c_str(),
                nanos(static_cast<double>(s.all)).c_str(), nanos(static_cast<double>(s.read)).c_str());
    std::fflush(stdout);
  }
  if (!cfg.keep) remove_db(path);
  Latency lr = summarize(reaped), la = summarize(all), ld = summarize(read);
  if (!read.empty()) {
    for (auto [name, at] : {std::pair{"p50", &Latency::p50}, std::pair{"max", &Latency::max}}) {
      std::printf("      %-8s %14s %14s %14s\n", name, nanos(lr.*at).c_str(), nanos(la.*at).c_str(),
                  nanos(ld.*at).c_str());
    }
  }
  bool ok = error.empty() && !read.empty();
  auto row = [&](const char* what, double v) {
    Row r{what, ok ? nanos(v) : "ERROR", "-", "", fmt("< %.0f ms", kTakeoverTargetNs / 1e6), Verdict::miss};
    if (ok && v < kTakeoverTargetNs) r.verdict = Verdict::pass;
    return r;
  };
  rows.push_back(row("3 takeover after SIGKILL, p50", ld.p50));
  rows.push_back(row(("3 takeover after SIGKILL, max of " + std::to_string(read.size())).c_str(), ld.max));
  std::fflush(stdout);
}

void run(const Config& cfg, const std::string& dir) {
  auto want = [&](const char* s) { return cfg.only.empty() || cfg.only == s; };
  Dataset ds(kTxnRecords);
  std::vector<Row> rows;
  if (want("offsets")) run_offsets(cfg, dir, ds, rows);
  if (want("txn")) run_txn(cfg, dir, ds, rows);
  if (want("takeover")) run_takeover(cfg, dir, ds, rows);
  print_table(rows,
              "reference: Db::produce of one record (1), the plain 1,000-record batch (2); ratio = Rivulet / "
              "reference");
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  Config cfg;
  CLI::App app{"Rivulet consumer groups: offset commits, transactions, takeover after SIGKILL"};
  app.add_option("--seconds", cfg.seconds, "offset commits: duration of each configuration per round")
      ->check(CLI::Range(0.05, 600.0));
  app.add_option("--rounds", cfg.rounds, "offset commits: rounds (the round with the median ratio is reported)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--txn-rounds", cfg.txn_rounds, "transactions: rounds, alternating which kind goes first")
      ->check(CLI::Range(1, 10000));
  app.add_option("--txn-commits", cfg.txn_commits, "transactions: commits of each kind per round")
      ->check(CLI::Range(1, 100000));
  app.add_option("--takeovers", cfg.takeovers, "takeover: rounds (a fresh file and members each)")
      ->check(CLI::Range(1, 10000));
  app.add_option("--dir", cfg.dir, "where to make the temporary directory (default: $TMPDIR, else /tmp)");
  app.add_option("--only", cfg.only, "run one section: offsets (1), txn (2), takeover (3)")
      ->transform(CLI::Transformer({{"1", "offsets"}, {"2", "txn"}, {"3", "takeover"}}))
      ->check(CLI::IsMember({"offsets", "txn", "takeover"}));
  app.add_flag("--quick", cfg.quick, "smoke run: 0.3 s x 1 round, 4 x 10 commits, 5 takeovers (explicit flags win)");
  app.add_flag("--verbose", cfg.verbose, "takeover: the members print every assignment change with its time");
  app.add_flag("--keep", cfg.keep, "keep the files instead of deleting them");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (cfg.quick) {
    if (app.count("--seconds") == 0) cfg.seconds = 0.3;
    if (app.count("--rounds") == 0) cfg.rounds = 1;
    if (app.count("--txn-rounds") == 0) cfg.txn_rounds = 4;
    if (app.count("--txn-commits") == 0) cfg.txn_commits = 10;
    if (app.count("--takeovers") == 0) cfg.takeovers = 5;
  }

  std::string dir = make_run_dir(cfg.dir, "rivulet-group");
  if (dir.empty()) return 0;
  if (!cfg.keep) remove_on_signals(dir, all_files(dir));

  std::printf("Rivulet consumer groups (issue 4)\n");
  print_run_header(command_line(argc, argv), dir, RIVULET_BENCH_BUILD_TYPE, nullptr);
  std::printf("runs:     offset commits %.1f s x 4 configurations x %d round(s); transactions %d x %d commits of\n"
              "          each kind; %d takeover(s)\n",
              cfg.seconds, cfg.rounds, cfg.txn_rounds, cfg.txn_commits, cfg.takeovers);
  std::fflush(stdout);

  run(cfg, dir);

  finish_run(dir, cfg.keep);
  return 0;
}
