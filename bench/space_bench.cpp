// rivulet_space_bench: the speed targets of the space and start-up issue
// (issue 5), in one run:
//
//   1. open time: Db::open (and the first Db::stat) of a file of a given
//      size, after a clean close (page cache warm, and once cold) and after a
//      producer was SIGKILLed in the middle of its commits
//   2. reader memory: anonymous RSS of a process reading the whole largest
//      file from earliest, besides the mapped file pages
//   3. produce throughput into a topic with retention.bytes against the same
//      into a topic without retention, and what each leaves on disk
//   4. one record per commit for millions of records: the rate and the
//      file's bytes per record step by step, which must not degrade
//
// Every Db is opened in a child process (fork, or fork + exec for the
// memory figure, so nothing of this program's own memory is counted); the
// parent only forks, waits, kills, drops cached pages and reports. Like the
// other benchmarks it exits 0 whatever the numbers (only a bad command line
// exits 2).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
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

constexpr double kOpenCleanTargetNs = 50e6;    // open after a clean close
constexpr double kOpenKilledTargetNs = 200e6;  // open after a writer was SIGKILLed
constexpr double kRssTargetBytes = 64.0 * (1 << 20);  // anonymous memory of a reader, besides mapped file pages
constexpr double kRetentionTarget = 0.5;       // produce with retention at least half as fast as without

constexpr int32_t kOpenPartitions = 4;         // sections 1 and 2: records round-robin over these
constexpr size_t kBatchRecords = 1000;         // records per commit, everywhere
constexpr size_t kDistinct = 100'000;          // distinct records in memory; bigger files cycle through them
constexpr uint64_t kMiB = uint64_t{1} << 20;
// What a record of 16 + 100 B takes in the log at 1,000 per commit (Kafka
// v2 record framing + batch and frame headers; docs/BENCHMARKS.md, workload
// 4): only used to pick section 3's record count, whose real size is printed.
constexpr double kLogBytesPerRecord = 126.1;
constexpr int64_t kWaitNs = 600'000'000'000;   // a child taking longer than this to get going fails the round
constexpr int64_t kRetentionPauseNs = 1'100'000'000;  // retention runs at most once a second per handle

struct Config {
  std::vector<uint64_t> sizes_mib{256, 4096};
  int rounds = 5;          // section 1: opens after a clean close, page cache warm
  int cold_rounds = 1;     // section 1: opens after dropping the file's cached pages
  int kill_rounds = 5;     // section 1: SIGKILL, then open
  int tail_commits = 20;   // section 1: commits the killed producer completes first
  uint32_t segment_mib = 64;
  uint64_t retention_mib = 64;
  double retention_times = 5;  // section 3: produce this many times the limit
  uint64_t retention_records = 0;  // section 3: 0 = from retention_times
  int retention_rounds = 3;
  uint64_t small_records = 8'000'000;  // section 4
  std::string dir;
  std::string only;
  bool quick = false;
  bool keep = false;
  std::string rss_child;  // internal: this process is section 2's reader of that file
};

std::string open_file(const std::string& dir, uint64_t mib) { return dir + "/open-" + std::to_string(mib) + ".riv"; }
std::string small_file(const std::string& dir) { return dir + "/small-commits.riv"; }
std::string retention_file(const std::string& dir, bool with) {
  return dir + (with ? "/retention-on.riv" : "/retention-off.riv");
}

std::vector<std::string> all_files(const Config& cfg, const std::string& dir) {
  std::vector<std::string> riv;
  for (uint64_t mib : cfg.sizes_mib) riv.push_back(open_file(dir, mib));
  riv.push_back(retention_file(dir, true));
  riv.push_back(retention_file(dir, false));
  riv.push_back(small_file(dir));
  std::vector<std::string> paths;
  for (const std::string& p : riv) {
    paths.push_back(p);
    paths.push_back(p + "-shm");
  }
  return paths;
}

void remove_db(const std::string& path) {
  ::unlink(path.c_str());
  ::unlink((path + "-shm").c_str());
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

rivulet::OpenOptions options(rivulet::Sync sync, uint32_t segment_mib) {
  rivulet::OpenOptions o = with_sync(sync);
  o.segment_size = segment_mib * static_cast<uint32_t>(kMiB);
  return o;
}

std::string mib(double bytes) { return fmt("%.1f MiB", bytes / static_cast<double>(kMiB)); }

// Records `first` .. `first + kBatchRecords` of the cycled data set, spread
// round-robin over `partitions`, into a cleared batch.
void fill_batch(rivulet::WriteBatch& batch, const Dataset& ds, uint64_t first, int32_t partitions) {
  batch.clear();
  rivulet::ProducerRecord rec{.topic = kTopic};
  for (uint64_t i = first; i < first + kBatchRecords; ++i) {
    size_t k = i % ds.size();
    rec.key = ds.key(k);
    rec.value = ds.value(k);
    rec.partition = static_cast<int32_t>(i % static_cast<uint64_t>(partitions));
    rec.timestamp_ms = Dataset::kBaseTs + static_cast<int64_t>(i / 100);
    check(batch.add(rec), "WriteBatch::add");
  }
}

// Records readable in topic kTopic, from a stat.
int64_t records_in(const rivulet::DbStats& s) {
  int64_t n = 0;
  for (const rivulet::TopicInfo& t : s.topics) {
    if (t.name != kTopic) continue;
    for (const rivulet::PartitionInfo& p : t.partitions) n += p.next_offset - p.first_offset;
  }
  return n;
}

// ------------------------------------------------- /proc and page cache --

// Fields of /proc/self/status, in bytes.
struct MemStatus {
  uint64_t rss_anon = 0, rss_file = 0, rss_shmem = 0, vm_hwm = 0;
  uint64_t vm_pte = 0;  // page tables: kernel memory the mappings cost, in neither Rss figure
};

MemStatus mem_status() {
  MemStatus m;
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return m;
  char line[256];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long kb = 0;
    if (std::sscanf(line, "RssAnon: %llu kB", &kb) == 1) m.rss_anon = kb * 1024;
    if (std::sscanf(line, "RssFile: %llu kB", &kb) == 1) m.rss_file = kb * 1024;
    if (std::sscanf(line, "RssShmem: %llu kB", &kb) == 1) m.rss_shmem = kb * 1024;
    if (std::sscanf(line, "VmHWM: %llu kB", &kb) == 1) m.vm_hwm = kb * 1024;
    if (std::sscanf(line, "VmPTE: %llu kB", &kb) == 1) m.vm_pte = kb * 1024;
  }
  std::fclose(f);
  return m;
}

// Writes the file's dirty pages back: so that writeback of a just-built
// file does not run under the timed opens, and because
// POSIX_FADV_DONTNEED leaves dirty pages in the cache. Returns ns, -1 on error.
int64_t write_back(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int64_t t = now_ns();
  int rc = ::fdatasync(fd);
  t = now_ns() - t;
  ::close(fd);
  return rc == 0 ? t : -1;
}

// Drops the file's pages from the page cache (clean ones: write_back first).
bool drop_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  return rc == 0;
}

// The share of the file's pages in the page cache (mincore over a mapping
// that is never touched), -1 if unknown: says what "cold" really was.
double resident_share(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st {};
  double share = -1;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    size_t len = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) {
      size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
      std::vector<unsigned char> in((len + page - 1) / page);
      if (::mincore(p, len, in.data()) == 0) {
        size_t n = 0;
        for (unsigned char c : in) n += c & 1;
        share = static_cast<double>(n) / static_cast<double>(in.size());
      }
      ::munmap(p, len);
    }
  }
  ::close(fd);
  return share;
}

// ============================================================ the files ==

struct Built {
  uint64_t records = 0, commits = 0, log_end = 0, file_size = 0;
  int64_t ns = 0;
};

// A new file whose log reaches `target` bytes: topic kTopic with
// kOpenPartitions partitions, batches of kBatchRecords, sync off.
std::string build(const Config& cfg, const std::string& path, uint64_t target, const Dataset& ds, Built& out) {
  remove_db(path);
  FsInfo fs = fs_info(path.substr(0, path.rfind('/')));
  if (fs.free < target + target / 16 + 256 * kMiB) {
    return "not enough space for " + human_bytes(target) + " (" + human_bytes(fs.free) + " free)";
  }
  Shared<Built> built;
  std::string error = wait_all({spawn([&] {
    int64_t t0 = now_ns();
    auto db = take(rivulet::Db::open(path, options(rivulet::Sync::off, cfg.segment_mib)), "Db::open");
    rivulet::TopicConfig config;
    config.partitions = kOpenPartitions;
    check(db->create_topic(kTopic, config), "create_topic");
    rivulet::WriteBatch batch(*db);
    uint64_t records = 0, commits = 0;
    rivulet::DbStats s;
    for (;;) {
      fill_batch(batch, ds, records, kOpenPartitions);
      check(db->commit(batch), "Db::commit");
      records += kBatchRecords;
      // A stat every 16 commits (~2 MB of log) is noise next to the commits.
      if (++commits % 16 == 0 && (s = take(db->stat(), "Db::stat")).log_end >= target) break;
    }
    check(db->close(), "Db::close");
    *built = {records, commits, s.log_end, s.file_size, now_ns() - t0};
    return 0;
  })});
  out = *built;
  return error;
}

// ============================================================ 1. open ==

struct OpenSample {
  int64_t open_ns = 0, stat_ns = 0;
  int64_t records = 0;
  uint64_t log_end = 0;
  uint64_t mapped = 0;  // RssFile after the open and stat, minus before
  int64_t total() const { return open_ns + stat_ns; }
};

// Opens `path` in a fresh child process and times Db::open, then the first
// Db::stat. Default options, as an application would open it.
std::string timed_open(const std::string& path, OpenSample& sample) {
  Shared<OpenSample> out;
  std::string error = wait_all({spawn([&] {
    uint64_t file_before = mem_status().rss_file;
    int64_t t0 = now_ns();
    auto db = take(rivulet::Db::open(path), "Db::open");
    int64_t t1 = now_ns();
    rivulet::DbStats s = take(db->stat(), "Db::stat");
    int64_t t2 = now_ns();
    uint64_t file_after = mem_status().rss_file;
    *out = {t1 - t0, t2 - t1, records_in(s), s.log_end, file_after > file_before ? file_after - file_before : 0};
    check(db->close(), "Db::close");  // not timed
    return 0;
  })});
  sample = *out;
  return error;
}

// A child opens the file, commits batches and is SIGKILLed once
// `tail` of its commits have returned, while it goes on committing.
// Returns the commits that had returned, through `done`.
std::string kill_producer(const Config& cfg, const std::string& path, const Dataset& ds, uint32_t& done) {
  Shared<Word> commits;
  uint32_t tail = static_cast<uint32_t>(cfg.tail_commits);
  pid_t pid = spawn([&] {
    auto db = take(rivulet::Db::open(path, options(rivulet::Sync::off, cfg.segment_mib)), "Db::open");
    rivulet::WriteBatch batch(*db);
    for (uint64_t i = 0;; i += kBatchRecords) {
      fill_batch(batch, ds, i, kOpenPartitions);
      check(db->commit(batch), "Db::commit");
      if (commits->fetch_add(1) + 1 == tail) futex_wake(&*commits);
    }
    return 0;
  });
  int64_t deadline = now_ns() + kWaitNs;
  for (;;) {
    uint32_t seen = commits->load();
    if (seen >= tail) break;
    if (!running(pid) || now_ns() > deadline) {
      ::kill(pid, SIGKILL);
      std::string why = wait_all({pid});
      return "the producer to be killed did not make " + std::to_string(tail) + " commits (" + why + ")";
    }
    futex_wait(&*commits, seen, 10'000'000);
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  done = commits->load();
  return "";
}

struct OpenResults {
  uint64_t mib = 0;
  bool ok = false;
  std::vector<double> warm, cold, killed, reread;  // ns, open + first stat
};

void print_sample(const char* what, int round, const OpenSample& s, const std::string& extra) {
  std::printf("      %-7s %2d  %10s  (open %s + stat %s), %lld records, %s of file pages mapped%s\n", what, round,
              nanos(static_cast<double>(s.total())).c_str(), nanos(static_cast<double>(s.open_ns)).c_str(),
              nanos(static_cast<double>(s.stat_ns)).c_str(), static_cast<long long>(s.records),
              mib(static_cast<double>(s.mapped)).c_str(), extra.c_str());
  std::fflush(stdout);
}

OpenResults run_open_size(const Config& cfg, const std::string& dir, uint64_t size_mib, const Dataset& ds) {
  OpenResults res;
  res.mib = size_mib;
  std::string path = open_file(dir, size_mib);
  Built b;
  std::string error = build(cfg, path, size_mib * kMiB, ds, b);
  if (!error.empty()) {
    std::printf("\n  %llu MiB: ERROR building the file: %s\n", static_cast<unsigned long long>(size_mib),
                error.c_str());
    return res;
  }
  int64_t wb = write_back(path);
  std::printf("\n  %llu MiB: built %llu records in %llu commits in %s (untimed); log_end %llu B (%.1f B/record),\n"
              "           file %s; written back (fdatasync) in %s before timing\n",
              static_cast<unsigned long long>(size_mib), static_cast<unsigned long long>(b.records),
              static_cast<unsigned long long>(b.commits), nanos(static_cast<double>(b.ns)).c_str(),
              static_cast<unsigned long long>(b.log_end),
              static_cast<double>(b.log_end) / static_cast<double>(b.records), human_bytes(b.file_size).c_str(),
              wb >= 0 ? nanos(static_cast<double>(wb)).c_str() : "(failed)");
  std::fflush(stdout);

  bool failed = false;
  auto one = [&](const char* what, int round, std::vector<double>& into, const std::string& extra) {
    OpenSample s;
    std::string e = timed_open(path, s);
    if (!e.empty()) {
      std::printf("      %-7s %2d  ERROR: %s\n", what, round, e.c_str());
      failed = true;
      return;
    }
    into.push_back(static_cast<double>(s.total()));
    print_sample(what, round, s, extra);
  };
  // Warm and killed first, both on pages as the writer left them in the
  // cache; cold last. The order matters on this kernel: mapping pages that
  // readahead brought back from disk (probably in large folios) costs
  // several times less than mapping the pages a writer put there, so a
  // killed round after a cold one would not be comparable with warm ones.
  for (int r = 1; r <= cfg.rounds; ++r) one("warm", r, res.warm, "");
  for (int r = 1; r <= cfg.kill_rounds; ++r) {
    uint32_t done = 0;
    std::string e = kill_producer(cfg, path, ds, done);
    if (!e.empty()) {
      std::printf("      %-7s %2d  ERROR: %s\n", "killed", r, e.c_str());
      failed = true;
      continue;
    }
    one("killed", r, res.killed, ", after " + std::to_string(done) + " commits then SIGKILL");
  }
  for (int r = 1; r <= cfg.cold_rounds; ++r) {
    write_back(path);  // the previous opener's close may have left a dirty superblock
    bool dropped = drop_cache(path);
    double share = resident_share(path);
    one("cold", r, res.cold,
        dropped ? fmt(", %.1f %% of the file cached before", share * 100) : std::string(", DONTNEED failed"));
  }
  // Warm again, on the pages the cold open read back from disk.
  if (cfg.cold_rounds > 0) one("reread", 1, res.reread, ", pages read back by the cold open");
  res.ok = !failed;
  auto summary = [](const std::vector<double>& v) {
    if (v.empty()) return std::string("-");
    return "median " + nanos(median(v)) + ", max " + nanos(*std::max_element(v.begin(), v.end()));
  };
  std::printf("      warm: %s; after SIGKILL: %s; cold: %s; reread: %s\n", summary(res.warm).c_str(),
              summary(res.killed).c_str(), summary(res.cold).c_str(), summary(res.reread).c_str());
  std::fflush(stdout);
  return res;
}

void open_rows(const Config& cfg, const std::vector<OpenResults>& all, std::vector<Row>& rows) {
  auto time_row = [](const std::string& what, const std::vector<double>& v, bool ok, double target_ns, bool max) {
    Row r{what, "ERROR", "-", "", target_ns > 0 ? fmt("< %.0f ms", target_ns / 1e6) : "(none)",
          target_ns > 0 ? Verdict::miss : Verdict::not_evaluated};
    if (v.empty()) return r;
    double x = max ? *std::max_element(v.begin(), v.end()) : median(v);
    r.riv = nanos(x);
    if (!ok) r.riv += " *";
    if (target_ns > 0) r.verdict = ok && x < target_ns ? Verdict::pass : Verdict::miss;
    return r;
  };
  for (const OpenResults& o : all) {
    std::string size = std::to_string(o.mib) + " MiB";
    std::string n = std::to_string(o.warm.size());
    rows.push_back(time_row("1 open after clean close, " + size + ", median", o.warm, o.ok, kOpenCleanTargetNs, false));
    rows.push_back(time_row("1 open after clean close, " + size + ", max of " + n, o.warm, o.ok, 0, true));
    if (cfg.kill_rounds > 0) {
      std::string k = std::to_string(o.killed.size());
      rows.push_back(
          time_row("1 open after SIGKILL, " + size + ", median", o.killed, o.ok, kOpenKilledTargetNs, false));
      rows.push_back(time_row("1 open after SIGKILL, " + size + ", max of " + k, o.killed, o.ok, 0, true));
    }
    if (cfg.cold_rounds > 0) {
      rows.push_back(time_row("1 open after clean close, " + size + ", cold, median", o.cold, o.ok, 0, false));
      rows.push_back(time_row("1 open after clean close, " + size + ", reread", o.reread, o.ok, 0, false));
    }
  }
  // Growth with size: the largest file against the smallest.
  if (all.size() < 2) return;
  const OpenResults& small = all.front();
  const OpenResults& big = all.back();
  auto growth = [&](const char* what, const std::vector<double>& b, const std::vector<double>& s) {
    if (b.empty() || s.empty()) return;
    double mb = median(b), ms = median(s);
    std::string name = "1 growth " + std::to_string(big.mib) + "/" + std::to_string(small.mib) + " MiB, " + what;
    rows.push_back({name, nanos(mb), nanos(ms), ms > 0 ? fmt("%.2fx", mb / ms) : "", "(none)", Verdict::not_evaluated});
  };
  growth("clean close", big.warm, small.warm);
  growth("after SIGKILL", big.killed, small.killed);
}

// ====================================================== 2. reader memory ==

// The reader, in a process of its own (this program exec'ed with
// --rss-child FILE): reads every partition of kTopic from earliest and
// prints one line "rss-result key=value ..." on stdout.
int rss_child(const std::string& path) {
  MemStatus before = mem_status();
  int64_t t0 = now_ns();
  auto db = take(rivulet::Db::open(path), "Db::open");
  int64_t t1 = now_ns();
  MemStatus opened = mem_status();
  rivulet::DbStats s = take(db->stat(), "Db::stat");
  int64_t expected = records_in(s);
  uint64_t partitions = 0;
  for (const rivulet::TopicInfo& t : s.topics) {
    if (t.name == kTopic) partitions = t.partitions.size();
  }

  uint64_t peak_anon = opened.rss_anon, peak_file = opened.rss_file, samples = 1;
  auto sample = [&] {
    MemStatus m = mem_status();
    peak_anon = std::max(peak_anon, m.rss_anon);
    peak_file = std::max(peak_file, m.rss_file);
    ++samples;
    return m;
  };
  Checksum sum;
  std::vector<std::unique_ptr<rivulet::Reader>> readers;  // kept to the end, as a consumer keeps them
  uint64_t polls = 0;
  int64_t t2 = now_ns();
  for (uint64_t p = 0; p < partitions; ++p) {
    readers.push_back(take(db->reader(kTopic, static_cast<int32_t>(p), rivulet::StartAt::earliest()), "Db::reader"));
    for (;;) {
      auto got = take(readers.back()->poll(std::chrono::milliseconds(0), kBatchRecords), "Reader::poll");
      if (got.empty()) break;
      for (const rivulet::RecordView& r : got) {
        sum.add(r.key.value_or(std::string_view()), r.value.value_or(std::string_view()));
      }
      if (++polls % 100 == 0) sample();  // every ~100 k records: ~20 us each, noise
    }
  }
  int64_t t3 = now_ns();
  MemStatus read = sample();
  readers.clear();
  MemStatus released = sample();
  check(db->close(), "Db::close");
  db.reset();
  MemStatus closed = mem_status();

  std::printf("rss-result records=%lld expected=%lld bytes=%llu log_end=%llu open_ns=%lld read_ns=%lld polls=%llu "
              "samples=%llu base_anon=%llu base_file=%llu open_anon=%llu open_file=%llu peak_anon=%llu "
              "peak_file=%llu read_anon=%llu read_file=%llu read_shmem=%llu released_anon=%llu closed_anon=%llu "
              "closed_file=%llu hwm=%llu read_pte=%llu\n",
              static_cast<long long>(sum.records), static_cast<long long>(expected),
              static_cast<unsigned long long>(sum.bytes), static_cast<unsigned long long>(s.log_end),
              static_cast<long long>(t1 - t0), static_cast<long long>(t3 - t2),
              static_cast<unsigned long long>(polls), static_cast<unsigned long long>(samples),
              static_cast<unsigned long long>(before.rss_anon), static_cast<unsigned long long>(before.rss_file),
              static_cast<unsigned long long>(opened.rss_anon), static_cast<unsigned long long>(opened.rss_file),
              static_cast<unsigned long long>(peak_anon), static_cast<unsigned long long>(peak_file),
              static_cast<unsigned long long>(read.rss_anon), static_cast<unsigned long long>(read.rss_file),
              static_cast<unsigned long long>(read.rss_shmem), static_cast<unsigned long long>(released.rss_anon),
              static_cast<unsigned long long>(closed.rss_anon), static_cast<unsigned long long>(closed.rss_file),
              static_cast<unsigned long long>(closed.vm_hwm), static_cast<unsigned long long>(read.vm_pte));
  return 0;
}

// Runs this program again as the reader (fork + exec, so the reader starts
// from a fresh image) and parses its "rss-result" line.
std::string run_rss_child(const std::string& path, std::map<std::string, double>& out) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
  pid_t pid = spawn([&] {
    ::dup2(fds[1], STDOUT_FILENO);  // the copy loses O_CLOEXEC
    const char* argv[] = {"rivulet_space_bench", "--rss-child", path.c_str(), nullptr};
    ::execv("/proc/self/exe", const_cast<char* const*>(argv));
    std::fprintf(stderr, "exec /proc/self/exe: %s\n", std::strerror(errno));
    return 127;
  });
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  std::string error = wait_all({pid});
  if (!error.empty()) return error;
  size_t at = text.find("rss-result ");
  if (at == std::string::npos) return "the reader printed no result";
  std::string line = text.substr(at + 11, text.find('\n', at) - at - 11);
  size_t pos = 0;
  while (pos < line.size()) {
    size_t end = line.find(' ', pos);
    if (end == std::string::npos) end = line.size();
    std::string kv = line.substr(pos, end - pos);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) out[kv.substr(0, eq)] = std::strtod(kv.c_str() + eq + 1, nullptr);
    pos = end + 1;
  }
  return "";
}

void run_rss(const Config& cfg, const std::string& dir, const Dataset& ds, std::vector<Row>& rows) {
  uint64_t size_mib = cfg.sizes_mib.back();
  std::string path = open_file(dir, size_mib);
  std::printf("\n[2] reader memory: a fresh process (this program, fork + exec) opens the %llu MiB file of [1] with\n"
              "    default options and reads every partition from earliest with Reader::poll(0 ms, %zu) until empty,\n"
              "    touching every key and value (checksum against the file's record count); the Readers live to the\n"
              "    end of the read. /proc/self/status is sampled before the open, after it, every 100 polls (~100 k\n"
              "    records), after the read, after the Readers are gone and after close. RssAnon: the process's\n"
              "    anonymous memory (heap, stacks, index, buffers); RssFile: mapped file pages (the log's mapping,\n"
              "    FILE-shm, the binary and its libraries), which the target leaves out.\n",
              static_cast<unsigned long long>(size_mib), kBatchRecords);
  std::fflush(stdout);
  Row row{"2 reader RssAnon, peak", "ERROR", "-", "", fmt("< %.0f MiB", kRssTargetBytes / kMiB), Verdict::miss};
  if (!exists(path)) {
    Built b;
    std::string e = build(cfg, path, size_mib * kMiB, ds, b);
    if (e.empty()) {
      write_back(path);
      std::printf("      built it first (untimed): %llu records, log_end %llu B, file %s\n",
                  static_cast<unsigned long long>(b.records), static_cast<unsigned long long>(b.log_end),
                  human_bytes(b.file_size).c_str());
    } else {
      std::printf("      ERROR building the file: %s\n", e.c_str());
      rows.push_back(row);
      return;
    }
  }
  std::map<std::string, double> r;
  std::string error = run_rss_child(path, r);
  if (!cfg.keep) remove_db(path);
  if (error.empty() && (r["records"] != r["expected"] || r["records"] <= 0)) {
    error = fmt("the reader read %.0f records", r["records"]) + fmt(" of %.0f", r["expected"]);
  }
  if (!error.empty()) {
    std::printf("      ERROR: %s\n", error.c_str());
    rows.push_back(row);
    return;
  }
  std::printf("      file: log_end %.0f B (%s), %.0f records, key + value bytes %.0f\n", r["log_end"],
              human_bytes(static_cast<uint64_t>(r["log_end"])).c_str(), r["records"], r["bytes"]);
  std::printf("      open %s; read %s (%s), %.0f polls, %.0f samples; checksum matches the record count\n",
              nanos(r["open_ns"]).c_str(), nanos(r["read_ns"]).c_str(),
              rate(r["read_ns"] > 0 ? r["records"] * 1e9 / r["read_ns"] : 0).c_str(), r["polls"], r["samples"]);
  std::printf("      %-28s %12s %12s\n", "", "RssAnon", "RssFile");
  auto line = [&](const char* what, const char* anon, const char* file) {
    std::printf("      %-28s %12s %12s\n", what, mib(r[anon]).c_str(), file ? mib(r[file]).c_str() : "");
  };
  line("before Db::open", "base_anon", "base_file");
  line("after Db::open", "open_anon", "open_file");
  line("peak of the samples", "peak_anon", "peak_file");
  line("after the read", "read_anon", "read_file");
  line("Readers destroyed", "released_anon", nullptr);
  line("after Db::close", "closed_anon", "closed_file");
  std::printf("      VmHWM (peak RSS, anon + file + shmem) %s; VmHWM - RssFile - RssShmem after the read %s\n"
              "      (an upper bound on the anonymous peak only if file pages never shrank, which holds here)\n",
              mib(r["hwm"]).c_str(), mib(r["hwm"] - r["read_file"] - r["read_shmem"]).c_str());
  std::printf("      page tables (VmPTE) after the read %s; RssFile above the log's size counts pages mapped\n"
              "      more than once (a file page is counted once per mapping that has touched it)\n",
              mib(r["read_pte"]).c_str());
  std::fflush(stdout);
  row.riv = mib(r["peak_anon"]);
  row.verdict = r["peak_anon"] < kRssTargetBytes ? Verdict::pass : Verdict::miss;
  rows.push_back(row);
  rows.push_back({"2 reader RssFile after the read (not a target)", mib(r["read_file"]), "-", "", "(none)",
                  Verdict::not_evaluated});
}

// =================================================== 3. retention cost ==

struct ProduceSample {
  int64_t ns = 0;
  uint64_t records = 0;
  // The partition at the end of the timed run, and after one more commit
  // past the next retention check.
  rivulet::PartitionInfo end, later;
  uint64_t log_end = 0;
};

std::string produce_run(const Config& cfg, const std::string& path, bool with, uint64_t n, const Dataset& ds,
                        ProduceSample& sample, DiskUsage& disk) {
  remove_db(path);
  Shared<ProduceSample> out;
  std::string error = wait_all({spawn([&] {
    auto db = take(rivulet::Db::open(path, options(rivulet::Sync::off, cfg.segment_mib)), "Db::open");
    rivulet::TopicConfig config;
    config.retention_bytes = with ? static_cast<int64_t>(cfg.retention_mib * kMiB) : -1;
    check(db->create_topic(kTopic, config), "create_topic");
    rivulet::WriteBatch batch(*db);
    int64_t t0 = now_ns();
    uint64_t i = 0;
    for (; i < n; i += kBatchRecords) {
      fill_batch(batch, ds, i, 1);
      check(db->commit(batch), "Db::commit");
    }
    int64_t t1 = now_ns();
    out->ns = t1 - t0;
    out->records = i;
    out->end = take(db->describe_topic(kTopic), "Db::describe_topic").partitions.at(0);
    // Retention runs in the first commit of a handle after each second, so
    // a run this short may have gone past the limit unchecked.
    sleep_ns(kRetentionPauseNs);
    fill_batch(batch, ds, i, 1);
    check(db->commit(batch), "Db::commit");
    out->later = take(db->describe_topic(kTopic), "Db::describe_topic").partitions.at(0);
    out->log_end = take(db->stat(), "Db::stat").log_end;
    check(db->close(), "Db::close");
    return 0;
  })});
  sample = *out;
  disk = file_usage(path);
  if (!cfg.keep) remove_db(path);
  return error;
}

void run_retention(const Config& cfg, const std::string& dir, const Dataset& ds, std::vector<Row>& rows) {
  uint64_t limit = cfg.retention_mib * kMiB;
  uint64_t n = cfg.retention_records;
  if (n == 0) n = static_cast<uint64_t>(cfg.retention_times * static_cast<double>(limit) / kLogBytesPerRecord);
  n = std::max<uint64_t>((n + kBatchRecords - 1) / kBatchRecords, 1) * kBatchRecords;
  std::printf("\n[3] produce with retention: topic of 1 partition, %llu records (16 B keys, 100 B values)\n"
              "    in commits of %zu, sync off, a fresh file per run; \"with\": retention.bytes = %llu MiB,\n"
              "    \"without\": -1. Timed from the first add to the last commit. Then (untimed) %.1f s later one\n"
              "    more commit, so that retention, which runs in a handle's first commit after each second,\n"
              "    looks again. %d round(s), alternating which goes first; size on disk = st_blocks * 512\n"
              "    after close; live = bytes of batches still readable.\n",
              static_cast<unsigned long long>(n), kBatchRecords, static_cast<unsigned long long>(cfg.retention_mib),
              static_cast<double>(kRetentionPauseNs) / 1e9, cfg.retention_rounds);
  std::fflush(stdout);
  struct Pair {
    ProduceSample s[2];  // [0] without, [1] with
    DiskUsage disk[2];
    double ratio() const {
      return s[0].ns > 0 && s[1].ns > 0 ? static_cast<double>(s[0].ns) / static_cast<double>(s[1].ns) : 0;
    }
  };
  std::vector<Pair> pairs;
  std::string error;
  auto per_s = [](const ProduceSample& s) {
    return s.ns > 0 ? static_cast<double>(s.records) * 1e9 / static_cast<double>(s.ns) : 0;
  };
  for (int r = 0; r < cfg.retention_rounds; ++r) {
    Pair p;
    std::string e;
    for (int k = 0; k < 2 && e.empty(); ++k) {
      bool with = (k == 0) == (r % 2 == 1);
      e = produce_run(cfg, retention_file(dir, with), with, n, ds, p.s[with], p.disk[with]);
    }
    if (!e.empty()) {
      std::printf("      round %d ERROR: %s\n", r + 1, e.c_str());
      if (error.empty()) error = e;
      continue;
    }
    std::printf("      round %d (%s first): without %s (%s), with %s (%s), ratio %.2fx\n", r + 1,
                r % 2 == 1 ? "with" : "without", rate(per_s(p.s[0])).c_str(),
                nanos(static_cast<double>(p.s[0].ns)).c_str(), rate(per_s(p.s[1])).c_str(),
                nanos(static_cast<double>(p.s[1].ns)).c_str(), p.ratio());
    std::fflush(stdout);
    pairs.push_back(p);
  }
  Row row{"3 produce with retention.bytes vs without", "ERROR", "ERROR", "", fmt(">= %.1fx", kRetentionTarget),
          Verdict::miss};
  if (pairs.empty()) {
    rows.push_back(row);
    return;
  }
  // The round with the median ratio: its two runs were seconds apart.
  std::sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.ratio() < b.ratio(); });
  const Pair& m = pairs[pairs.size() / 2];
  std::printf("\n      median round                 %12s %12s\n", "without", "with");
  auto line = [&](const char* what, const std::string& a, const std::string& b) {
    std::printf("      %-28s %12s %12s\n", what, a.c_str(), b.c_str());
  };
  auto both = [&](const char* what, auto f) { line(what, f(0), f(1)); };
  both("records/s", [&](int k) { return rate(per_s(m.s[k])); });
  both("produced (records)", [&](int k) { return std::to_string(m.s[k].records); });
  both("log_end at close", [&](int k) { return mib(static_cast<double>(m.s[k].log_end)); });
  both("size on disk at close", [&](int k) { return mib(static_cast<double>(m.disk[k].allocated)); });
  both("st_size at close", [&](int k) { return mib(static_cast<double>(m.disk[k].apparent)); });
  both("live at end of timed run", [&](int k) { return mib(static_cast<double>(m.s[k].end.bytes)); });
  both("  dead", [&](int k) { return mib(static_cast<double>(m.s[k].end.dead_bytes)); });
  both("  earliest offset", [&](int k) { return std::to_string(m.s[k].end.first_offset); });
  both("live after the next check", [&](int k) { return mib(static_cast<double>(m.s[k].later.bytes)); });
  both("  dead", [&](int k) { return mib(static_cast<double>(m.s[k].later.dead_bytes)); });
  both("  earliest offset", [&](int k) { return std::to_string(m.s[k].later.first_offset); });
  double produced = static_cast<double>(m.s[1].end.bytes + m.s[1].end.dead_bytes);
  std::printf("      the timed run wrote %s of batches, %.1fx the limit\n", mib(produced).c_str(),
              produced / static_cast<double>(limit));
  std::fflush(stdout);
  double ratio = m.ratio();
  row.riv = rate(per_s(m.s[1]));
  row.ref = rate(per_s(m.s[0]));
  row.ratio = fmt("%.2fx", ratio);
  row.verdict = error.empty() && ratio >= kRetentionTarget ? Verdict::pass : Verdict::miss;
  rows.push_back(row);
  rows.push_back({"3 size on disk at close, with vs without", mib(static_cast<double>(m.disk[1].allocated)),
                  mib(static_cast<double>(m.disk[0].allocated)),
                  m.disk[0].allocated > 0 ? fmt("%.2fx", static_cast<double>(m.disk[1].allocated) /
                                                             static_cast<double>(m.disk[0].allocated))
                                          : "",
                  "(none)", Verdict::not_evaluated});
  rows.push_back({"3 live bytes with retention, end of timed run", mib(static_cast<double>(m.s[1].end.bytes)),
                  mib(static_cast<double>(limit)), fmt("%.2fx", static_cast<double>(m.s[1].end.bytes) /
                                                                    static_cast<double>(limit)),
                  "(none)", Verdict::not_evaluated});
}

// ============================================ 4. one-record commits ==

constexpr int kSmallSteps = 8;

struct SmallStep {
  int64_t ns = 0;
  uint64_t records = 0;    // produced by the end of the step
  uint64_t log_end = 0;    // file position past the last frame
  uint64_t file_size = 0;  // st_size
  uint64_t rss_anon = 0;   // the producer's anonymous memory (its index grows with batches)
};

// One record per commit for the whole file's life is where work that grows
// with the file's batches (a checkpoint restates every batch list) shows: a
// rate that falls step by step, a file that grows faster than its records.
void run_small(const Config& cfg, const std::string& dir, const Dataset& ds, std::vector<Row>& rows) {
  const uint64_t per_step = std::max<uint64_t>(cfg.small_records / kSmallSteps, 1);
  std::printf("\n[4] one-record commits: topic of 1 partition, %llu records of 16 B keys + 100 B values, one\n"
              "    per commit (Db::produce), sync off, default checkpoint_bytes, in %d timed steps; after each\n"
              "    step the file's size per record so far and the producer's anonymous memory.\n",
              static_cast<unsigned long long>(per_step * kSmallSteps), kSmallSteps);
  std::fflush(stdout);
  const std::string path = small_file(dir);
  remove_db(path);
  Shared<SmallStep> steps(kSmallSteps);
  std::string error = wait_all({spawn([&] {
    auto db = take(rivulet::Db::open(path, options(rivulet::Sync::off, cfg.segment_mib)), "Db::open");
    check(db->create_topic(kTopic), "create_topic");
    uint64_t i = 0;
    for (int k = 0; k < kSmallSteps; ++k) {
      int64_t t0 = now_ns();
      for (uint64_t end = i + per_step; i < end; ++i) {
        size_t d = i % ds.size();
        check(db->produce({.topic = kTopic, .key = ds.key(d), .value = ds.value(d)}).status(), "Db::produce");
      }
      steps[k].ns = now_ns() - t0;
      steps[k].records = i;
      steps[k].log_end = take(db->stat(), "Db::stat").log_end;
      steps[k].file_size = file_usage(path).apparent;
      steps[k].rss_anon = mem_status().rss_anon;
    }
    check(db->close(), "Db::close");
    return 0;
  })});
  if (!cfg.keep) remove_db(path);
  auto per_s = [&](int k) { return steps[k].ns > 0 ? static_cast<double>(per_step) * 1e9 / static_cast<double>(steps[k].ns) : 0; };
  auto per_record = [&](int k) {
    return steps[k].records > 0 ? static_cast<double>(steps[k].file_size) / static_cast<double>(steps[k].records) : 0;
  };
  for (int k = 0; k < kSmallSteps && steps[k].records > 0; ++k) {
    std::printf("      up to %9llu records: %12s, file %s (%.0f B a record), producer RssAnon %s\n",
                static_cast<unsigned long long>(steps[k].records), rate(per_s(k)).c_str(),
                mib(static_cast<double>(steps[k].file_size)).c_str(), per_record(k),
                mib(static_cast<double>(steps[k].rss_anon)).c_str());
  }
  std::fflush(stdout);
  const int last = kSmallSteps - 1;
  if (!error.empty() || steps[last].records == 0) {
    std::printf("      ERROR: %s\n", error.c_str());
    rows.push_back({"4 one-record commits, last step vs first", "ERROR", "ERROR", "", "(none)", Verdict::miss});
    return;
  }
  rows.push_back({"4 one-record commits, last step vs first", rate(per_s(last)), rate(per_s(0)),
                  fmt("%.2fx", per_s(0) > 0 ? per_s(last) / per_s(0) : 0), "(none)", Verdict::not_evaluated});
  rows.push_back({"4 file bytes a record, end vs first step", fmt("%.0f B", per_record(last)),
                  fmt("%.0f B", per_record(0)), fmt("%.2fx", per_record(0) > 0 ? per_record(last) / per_record(0) : 0),
                  "(none)", Verdict::not_evaluated});
}

void run(const Config& cfg, const std::string& dir) {
  auto want = [&](const char* s) { return cfg.only.empty() || cfg.only == s; };
  Dataset ds(kDistinct);
  std::vector<Row> rows;
  if (want("open")) {
    std::printf("\n[1] open time: files of topic \"%s\", %d partitions (records round-robin), 16 B keys +\n"
                "    100 B values, %zu records per commit, sync off, segments of %u MiB, built until the log\n"
                "    reaches the size. Timed in a fresh child process (fork) each time: Db::open (default\n"
                "    options) until it returns, plus the first Db::stat(); the figure is both.\n"
                "    warm: after a clean close, the file's pages in the page cache as the writer left them.\n"
                "    killed: a child opens the file (sync off), commits %d batches of %zu and is SIGKILLed while\n"
                "    committing more, so the log has a tail after the last clean close; then a fresh child\n"
                "    times the open (which recovers, then closes cleanly).\n"
                "    cold (last): after fdatasync + posix_fadvise(DONTNEED) over the log file (FILE-shm, binary\n"
                "    and libraries stay cached). reread: warm again, on the pages the cold open read back.\n"
                "    \"file pages mapped\" = the opener's RssFile growth: how much of the file the open touched.\n",
                kTopic, kOpenPartitions, kBatchRecords, cfg.segment_mib, cfg.tail_commits, kBatchRecords);
    std::fflush(stdout);
    std::vector<OpenResults> all;
    for (uint64_t size : cfg.sizes_mib) {
      all.push_back(run_open_size(cfg, dir, size, ds));
      // The largest stays for [2] (which removes it).
      bool rss_next = want("rss") && size == cfg.sizes_mib.back();
      if (!cfg.keep && !rss_next) remove_db(open_file(dir, size));
    }
    open_rows(cfg, all, rows);
  }
  if (want("rss")) run_rss(cfg, dir, ds, rows);
  if (want("retention")) run_retention(cfg, dir, ds, rows);
  if (want("small")) run_small(cfg, dir, ds, rows);
  print_table(rows,
              "reference: growth rows: the smallest file (ratio = largest / smallest); 3: the run without "
              "retention (ratio = with / without); 4: the first step; * = some rounds failed");
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  Config cfg;
  CLI::App app{
      "Rivulet space and start-up (issue 5): open time, reader memory, produce with retention, one-record commits"};
  app.add_option("--sizes", cfg.sizes_mib, "open: file sizes in MiB, comma-separated (the largest is also read in rss)")
      ->delimiter(',')
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20));
  app.add_option("--rounds", cfg.rounds, "open: timed opens after a clean close (warm page cache) per size")
      ->check(CLI::Range(1, 1000));
  app.add_option("--cold-rounds", cfg.cold_rounds, "open: timed opens after dropping the file's cached pages")
      ->check(CLI::Range(0, 1000));
  app.add_option("--kill-rounds", cfg.kill_rounds, "open: rounds of SIGKILLing a producer, then a timed open")
      ->check(CLI::Range(0, 1000));
  app.add_option("--tail-commits", cfg.tail_commits, "open: commits of 1,000 records the killed producer completes")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--segment-mib", cfg.segment_mib, "segment size of the files made, in MiB (OpenOptions::segment_size)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--retention-mib", cfg.retention_mib, "retention: retention.bytes of the topic, in MiB")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20));
  app.add_option("--retention-times", cfg.retention_times, "retention: produce about this many times the limit")
      ->check(CLI::Range(0.01, 1000.0));
  app.add_option("--retention-records", cfg.retention_records,
                 "retention: records per run (overrides --retention-times)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--retention-rounds", cfg.retention_rounds, "retention: rounds (the median ratio is reported)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--dir", cfg.dir, "where to make the temporary directory (default: /var/tmp)");
  app.add_option("--small-records", cfg.small_records, "small: one-record commits in all")
      ->check(CLI::Range(uint64_t{kSmallSteps}, uint64_t{1} << 40));
  app.add_option("--only", cfg.only, "run one section: open (1), rss (2), retention (3), small (4)")
      ->transform(CLI::Transformer({{"1", "open"}, {"2", "rss"}, {"3", "retention"}, {"4", "small"}}))
      ->check(CLI::IsMember({"open", "rss", "retention", "small"}));
  app.add_flag("--quick", cfg.quick,
               "smoke run: sizes 64,256 MiB, 3 opens, 2 kills, 8 MiB retention, 1 round, 1 M small commits "
               "(explicit flags win)");
  app.add_flag("--keep", cfg.keep, "keep the files instead of deleting them");
  // Internal: section 2 runs this program again as the reader of FILE.
  app.add_option("--rss-child", cfg.rss_child)->group("");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (!cfg.rss_child.empty()) {
    try {
      return rss_child(cfg.rss_child);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "reader: %s\n", e.what());
      return 1;
    }
  }
  if (cfg.quick) {
    if (app.count("--sizes") == 0) cfg.sizes_mib = {64, 256};
    if (app.count("--rounds") == 0) cfg.rounds = 3;
    if (app.count("--kill-rounds") == 0) cfg.kill_rounds = 2;
    if (app.count("--retention-mib") == 0) cfg.retention_mib = 8;
    if (app.count("--retention-rounds") == 0) cfg.retention_rounds = 1;
    if (app.count("--small-records") == 0) cfg.small_records = 1'000'000;
  }
  std::sort(cfg.sizes_mib.begin(), cfg.sizes_mib.end());
  cfg.sizes_mib.erase(std::unique(cfg.sizes_mib.begin(), cfg.sizes_mib.end()), cfg.sizes_mib.end());

  // On disk, not in /tmp, which may be tmpfs: the files are gigabytes.
  std::string dir = make_run_dir(cfg.dir.empty() ? "/var/tmp" : cfg.dir, "rivulet-space");
  if (dir.empty()) return 0;
  if (!cfg.keep) remove_on_signals(dir, all_files(cfg, dir));

  std::printf("Rivulet space and start-up (issue 5)\n");
  print_run_header(command_line(argc, argv), dir, RIVULET_BENCH_BUILD_TYPE, nullptr);
  std::string sizes;
  for (uint64_t s : cfg.sizes_mib) sizes += (sizes.empty() ? "" : ", ") + std::to_string(s) + " MiB";
  std::printf("runs:     open: sizes %s, %d warm + %d cold + %d after SIGKILL each; rss: the %llu MiB file;\n"
              "          retention: %llu MiB limit, %d round(s); small: %llu one-record commits\n",
              sizes.c_str(), cfg.rounds, cfg.cold_rounds, cfg.kill_rounds,
              static_cast<unsigned long long>(cfg.sizes_mib.back()), static_cast<unsigned long long>(cfg.retention_mib),
              cfg.retention_rounds, static_cast<unsigned long long>(cfg.small_records));
  std::fflush(stdout);

  run(cfg, dir);

  finish_run(dir, cfg.keep);
  return 0;
}
