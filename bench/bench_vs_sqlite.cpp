// rivulet_bench: Rivulet and SQLite on the same workloads, in the same run.
//
//   1. batched produce: 1,000 records per commit, Rivulet Sync::off vs SQLite
//      synchronous=OFF, 1,000 rows per transaction
//   2. one record per commit: Rivulet Db::produce with Sync::normal vs SQLite
//      synchronous=NORMAL, one autocommit INSERT per row
//   3. sequential read of the files of workload 1, reopened: Rivulet Readers
//      polling 1,000 records vs SQLite pages of 1,000 rows by id
//   4. bytes on disk per record after workloads 1 and 2
//
// Records: a 16-byte random key and a 100-byte random value, generated once
// and handed to both engines. Rounds interleave the engines (alternating who
// goes first) and the table reports the median round. The exit code is 0
// whatever the numbers: a benchmark reports, it does not fail (only a bad
// command line exits 2).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "profile_gate.hpp"
#include "report.hpp"
#include "rivulet_peer.hpp"
#include "sqlite_peer.hpp"
#include "sysinfo.hpp"
#include "workload.hpp"

#ifndef RIVULET_BENCH_BUILD_TYPE
#define RIVULET_BENCH_BUILD_TYPE "unknown"
#endif

namespace bench {
namespace {

// ---------------------------------------------------------------- targets --

constexpr double kBatchRateTarget = 10e6;
constexpr double kBatchRatioTarget = 10;
constexpr double kSingleRateTarget = 500e3;
constexpr double kSingleRatioTarget = 5;
constexpr double kReadRateTarget = 30e6;
constexpr double kReadRatioTarget = 10;
// What a record of workload 1 takes in Rivulet's file (batch overhead shared
// by 1,000 records, frame headers, record header and varints): for floors.
constexpr double kRecordBytesInFile = 126;

struct Config {
  size_t records = 2'000'000;
  size_t single_records = 300'000;
  int rounds = 5;
  int partitions = 1;
  size_t per_commit = 1000;
  size_t per_poll = 1000;
  std::string dir;
  std::string only;
  std::string engine = "both";
  bool quick = false;
  bool keep = false;
};

// ---------------------------------------------------------------- results --

// One engine's rounds of one workload.
struct Side {
  bool enabled = true;
  std::vector<double> figures;  // per round: records/s
  std::string error;            // first failure; later rounds are skipped
  bool ok() const { return enabled && error.empty() && !figures.empty(); }
  double median_figure() const { return median(figures); }
};

// Runs one engine's round, turning a failure into Side::error.
void attempt(Side& side, const char* engine, const std::function<void()>& round) {
  if (!side.enabled || !side.error.empty()) return;
  try {
    round();
  } catch (const std::exception& e) {
    side.error = e.what();
    std::printf("    %s FAILED: %s\n", engine, e.what());
  }
}

struct ProduceSeries {
  Side riv, sql;
  std::optional<ProduceRun> riv_last, sql_last;  // last successful round
  std::string riv_path, sql_path;                // its files
};

struct ReadSeries {
  Side riv, sql;
  std::vector<double> riv_open, sql_open;
};

enum class Verdict { pass, miss, not_evaluated, info };

struct Row {
  std::string workload, riv, sql, ratio, target;
  Verdict verdict = Verdict::info;
};

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass: return "PASS";
    case Verdict::miss: return "MISS";
    case Verdict::not_evaluated: return "n/a";
    case Verdict::info: return "info";
  }
  return "?";
}

// --------------------------------------------------------------- the runs --

class Bench {
 public:
  Bench(const Config& cfg, const std::string& dir)
      : cfg_(cfg), dir_(dir), ds_(std::max(cfg.records, cfg.single_records)) {
    riv_.partitions = cfg.partitions;
  }

  bool want(const char* name) const { return cfg_.only.empty() || cfg_.only == name; }
  bool riv_on() const { return cfg_.engine != "sqlite"; }
  bool sql_on() const { return cfg_.engine != "rivulet"; }

  void run() {
    bool batch = want("batch"), single = want("single"), read = want("read"), size = want("size");
    if (batch || read || size) {
      int rounds = batch ? cfg_.rounds : 1;
      std::printf("\n[1] batched produce: %zu records, %zu per commit, %d round(s)%s\n", cfg_.records,
                  cfg_.per_commit, rounds, batch ? "" : " (only to make the files for later workloads)");
      ProfileGate::armed = batch;
      produce(batch_, "w1", rounds, cfg_.records, true);
    }
    if (single || size) {
      int rounds = single ? cfg_.rounds : 1;
      std::printf("\n[2] one record per commit: %zu records, %d round(s)%s\n", cfg_.single_records, rounds,
                  single ? "" : " (only to measure the files)");
      ProfileGate::armed = single;
      produce(single_, "w2", rounds, cfg_.single_records, false);
    }
    if (read) {
      std::printf("\n[3] sequential read of the workload-1 files: %zu records, %zu per poll, %d round(s)\n",
                  cfg_.records, cfg_.per_poll, cfg_.rounds);
      ProfileGate::armed = true;
      read_all();
    }
    report(batch, single, read, size);
  }

  void cleanup() {
    if (cfg_.keep) {
      std::printf("\nfiles kept in %s (--keep)\n", dir_.c_str());
      return;
    }
    for (const std::string& p : made_riv_) ::unlink(p.c_str());
    for (const std::string& p : made_sql_) remove_sqlite_files(p);
  }

 private:
  std::string path(const char* workload, int round, const char* ext) const {
    return dir_ + "/" + workload + "-r" + std::to_string(round + 1) + ext;
  }

  void produce(ProduceSeries& s, const char* name, int rounds, size_t n, bool batched) {
    s.riv.enabled = riv_on();
    s.sql.enabled = sql_on();
    for (int r = 0; r < rounds; ++r) {
      std::string rp = path(name, r, ".riv"), sp = path(name, r, ".sqlite");
      auto riv_round = [&] {
        attempt(s.riv, "rivulet", [&] {
          made_riv_.push_back(rp);
          ::unlink(rp.c_str());
          ProduceRun run = batched ? riv_.produce_batched(ds_, n, rp, cfg_.per_commit)
                                   : riv_.produce_single(ds_, n, rp);
          s.riv.figures.push_back(static_cast<double>(run.records) / run.seconds);
          std::printf("    round %d rivulet: %s = %s (close %s)\n", r + 1, seconds(run.seconds).c_str(),
                      rate(run.records / run.seconds).c_str(), seconds(run.close_seconds).c_str());
          if (!cfg_.keep && !s.riv_path.empty()) ::unlink(s.riv_path.c_str());
          s.riv_last = run;
          s.riv_path = rp;
        });
      };
      auto sql_round = [&] {
        attempt(s.sql, "sqlite", [&] {
          made_sql_.push_back(sp);
          remove_sqlite_files(sp);
          ProduceRun run = batched ? sql_.produce_batched(ds_, n, sp, cfg_.per_commit)
                                   : sql_.produce_single(ds_, n, sp);
          s.sql.figures.push_back(static_cast<double>(run.records) / run.seconds);
          std::printf("    round %d sqlite:  %s = %s (checkpoint %s, close %s)\n", r + 1,
                      seconds(run.seconds).c_str(), rate(run.records / run.seconds).c_str(),
                      seconds(run.after_seconds).c_str(), seconds(run.close_seconds).c_str());
          if (!cfg_.keep && !s.sql_path.empty()) remove_sqlite_files(s.sql_path);
          s.sql_last = run;
          s.sql_path = sp;
        });
      };
      if (r % 2 == 0) {
        riv_round();
        sql_round();
      } else {
        sql_round();
        riv_round();
      }
      std::fflush(stdout);
    }
  }

  void read_all() {
    ReadSeries& s = read_;
    Checksum want = Checksum::of(ds_, cfg_.records);
    s.riv.enabled = riv_on();
    s.sql.enabled = sql_on();
    if (s.riv.enabled && !batch_.riv_last) s.riv.error = "no file: workload 1 failed";
    if (s.sql.enabled && !batch_.sql_last) s.sql.error = "no file: workload 1 failed";
    for (int r = 0; r < cfg_.rounds; ++r) {
      auto verify = [&](const Checksum& got) {
        if (!(got == want)) {
          throw BenchError("read back " + got.to_string() + ", expected " + want.to_string());
        }
      };
      auto riv_round = [&] {
        attempt(s.riv, "rivulet", [&] {
          ReadRun run = riv_.read_all(batch_.riv_path, cfg_.per_poll);
          verify(run.sum);
          s.riv.figures.push_back(static_cast<double>(run.sum.records) / run.read_seconds);
          s.riv_open.push_back(run.open_seconds);
          std::printf("    round %d rivulet: open %s, read %s = %s\n", r + 1, seconds(run.open_seconds).c_str(),
                      seconds(run.read_seconds).c_str(), rate(run.sum.records / run.read_seconds).c_str());
        });
      };
      auto sql_round = [&] {
        attempt(s.sql, "sqlite", [&] {
          ReadRun run = sql_.read_all(batch_.sql_path, cfg_.per_poll);
          verify(run.sum);
          s.sql.figures.push_back(static_cast<double>(run.sum.records) / run.read_seconds);
          s.sql_open.push_back(run.open_seconds);
          std::printf("    round %d sqlite:  open %s, read %s = %s\n", r + 1, seconds(run.open_seconds).c_str(),
                      seconds(run.read_seconds).c_str(), rate(run.sum.records / run.read_seconds).c_str());
        });
      };
      if (r % 2 == 0) {
        riv_round();
        sql_round();
      } else {
        sql_round();
        riv_round();
      }
      std::fflush(stdout);
    }
  }

  // ------------------------------------------------------------ the table --

  static std::string cell(const Side& s, const std::string& text) {
    if (!s.enabled) return "-";
    if (!s.error.empty()) return "ERROR";
    return text;
  }

  // A throughput workload: one row for the absolute target, one for the ratio.
  void rate_rows(const std::string& name, const Side& riv, const Side& sql, double rate_target,
                 const std::string& rate_target_text, double ratio_target) {
    Row a{name, cell(riv, rate(riv.median_figure())), cell(sql, rate(sql.median_figure())), "", "",
          Verdict::not_evaluated};
    if (riv.ok() && sql.ok()) a.ratio = fmt("%.2fx", riv.median_figure() / sql.median_figure());
    a.target = ">= " + rate_target_text;
    if (riv.enabled) a.verdict = riv.ok() && riv.median_figure() >= rate_target ? Verdict::pass : Verdict::miss;
    rows_.push_back(a);

    Row b{"", "", "", "", fmt(">= %.0fx SQLite", ratio_target), Verdict::not_evaluated};
    if (riv.enabled && sql.enabled) {
      b.verdict = riv.ok() && sql.ok() && riv.median_figure() >= ratio_target * sql.median_figure()
                      ? Verdict::pass
                      : Verdict::miss;
    }
    rows_.push_back(b);
  }

  void size_row(const std::string& name, const ProduceSeries& s, bool is_target) {
    auto per_record = [](const std::optional<ProduceRun>& run) {
      return static_cast<double>(run->disk.apparent) / static_cast<double>(run->records);
    };
    bool riv_ok = s.riv.enabled && s.riv_last.has_value();
    bool sql_ok = s.sql.enabled && s.sql_last.has_value();
    Row row{name,
            !s.riv.enabled ? "-" : riv_ok ? fmt("%.1f B", per_record(s.riv_last)) : "ERROR",
            !s.sql.enabled ? "-" : sql_ok ? fmt("%.1f B", per_record(s.sql_last)) : "ERROR",
            riv_ok && sql_ok ? fmt("%.2fx", per_record(s.riv_last) / per_record(s.sql_last)) : "",
            is_target ? "< SQLite" : "(no target)",
            Verdict::info};
    if (is_target) {
      row.verdict = Verdict::not_evaluated;
      if (s.riv.enabled && s.sql.enabled) {
        row.verdict = riv_ok && sql_ok && per_record(s.riv_last) < per_record(s.sql_last) ? Verdict::pass
                                                                                            : Verdict::miss;
      }
    }
    rows_.push_back(row);
  }

  void report(bool batch, bool single, bool read, bool size) {
    if (batch) {
      rate_rows("1 batched produce, 1000/commit, sync off", batch_.riv, batch_.sql, kBatchRateTarget,
                "10 M/s", kBatchRatioTarget);
    }
    if (single) {
      rate_rows("2 one record per commit, sync normal", single_.riv, single_.sql, kSingleRateTarget,
                "500 k/s", kSingleRatioTarget);
    }
    if (read) {
      rate_rows("3 sequential read, 1000 per poll", read_.riv, read_.sql, kReadRateTarget, "30 M/s",
                kReadRatioTarget);
      Row open{"3 (open before reading, median)", cell(read_.riv, seconds(median(read_.riv_open))),
               cell(read_.sql, seconds(median(read_.sql_open))), "", "(no target)", Verdict::info};
      rows_.push_back(open);
    }
    if (size) {
      size_row("4 bytes on disk / record, after 1", batch_, true);
      size_row("4 bytes on disk / record, after 2", single_, false);
    }

    std::printf("\n%-42s %12s %12s %8s %-16s %s\n", "workload", "Rivulet", "SQLite", "ratio", "target",
                "result");
    std::printf("%s\n", std::string(100, '-').c_str());
    int passed = 0, evaluated = 0;
    std::vector<std::string> missed;
    std::string last_name;
    for (const Row& row : rows_) {
      std::printf("%-42s %12s %12s %8s %-16s %s\n", row.workload.c_str(), row.riv.c_str(), row.sql.c_str(),
                  row.ratio.c_str(), row.target.c_str(), verdict_name(row.verdict));
      if (!row.workload.empty()) last_name = row.workload;
      if (row.verdict == Verdict::pass || row.verdict == Verdict::miss) {
        ++evaluated;
        if (row.verdict == Verdict::pass) {
          ++passed;
        } else {
          missed.push_back(last_name.substr(0, last_name.find(',')) + " " + row.target);
        }
      }
    }
    std::printf("%s\n", std::string(100, '-').c_str());
    std::printf("figures: median of rounds; ratio = Rivulet / SQLite; the bytes target applies to the\n"
                "batched file (workload 1) only, workload 2's sizes are shown for information.\n");
    if (size) {
      std::printf("\nfiles measured for workload 4:\n");
      auto show = [](const char* label, const std::optional<ProduceRun>& run) {
        if (run) std::printf("  %-18s %s\n", label, run->disk.detail.c_str());
      };
      show("1 rivulet:", batch_.riv_last);
      show("1 sqlite:", batch_.sql_last);
      show("2 rivulet:", single_.riv_last);
      show("2 sqlite:", single_.sql_last);
    }
    auto errors = [](const char* what, const Side& s) {
      if (!s.error.empty()) std::printf("  %s: %s\n", what, s.error.c_str());
    };
    errors("1 rivulet", batch_.riv);
    errors("1 sqlite", batch_.sql);
    errors("2 rivulet", single_.riv);
    errors("2 sqlite", single_.sql);
    errors("3 rivulet", read_.riv);
    errors("3 sqlite", read_.sql);

    print_summary(passed, evaluated, missed);
  }

  const Config& cfg_;
  std::string dir_;
  Dataset ds_;
  RivuletPeer riv_;
  SqlitePeer sql_;
  ProduceSeries batch_, single_;
  ReadSeries read_;
  std::vector<Row> rows_;
  std::vector<std::string> made_riv_, made_sql_;
};

// Interrupted (Ctrl-C, a closed pipe), the run still removes its files: every
// path it may create is known up front, and unlink/rmdir are signal-safe.
std::vector<std::string>* g_cleanup_paths = nullptr;
const char* g_cleanup_dir = nullptr;

extern "C" void on_fatal_signal(int sig) {
  if (g_cleanup_paths != nullptr) {
    for (const std::string& p : *g_cleanup_paths) ::unlink(p.c_str());
  }
  if (g_cleanup_dir != nullptr) ::rmdir(g_cleanup_dir);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void clean_up_on_signals(const Config& cfg, bool made_dir) {
  static std::vector<std::string> paths;
  static std::string dir;
  dir = cfg.dir;
  paths.push_back(dir + "/floors.tmp");
  for (const char* w : {"w1", "w2"}) {
    for (int r = 1; r <= cfg.rounds; ++r) {
      std::string base = dir + "/" + w + "-r" + std::to_string(r);
      paths.push_back(base + ".riv");
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) paths.push_back(base + ".sqlite" + suffix);
    }
  }
  g_cleanup_paths = &paths;
  if (made_dir) g_cleanup_dir = dir.c_str();
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, on_fatal_signal);
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  Config cfg;
  CLI::App app{"Rivulet vs SQLite on the same workloads (see docs/BENCHMARKS.md)"};
  app.add_option("--records", cfg.records, "records per round of workloads 1 and 3")
      ->check(CLI::PositiveNumber);
  app.add_option("--single-records", cfg.single_records, "records per round of workload 2")
      ->check(CLI::PositiveNumber);
  app.add_option("--rounds", cfg.rounds, "rounds per workload (the median is reported)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--partitions", cfg.partitions, "partitions of the Rivulet topic (round-robin)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--per-commit", cfg.per_commit, "records per commit in workload 1")
      ->check(CLI::PositiveNumber);
  app.add_option("--per-poll", cfg.per_poll, "records per poll / SELECT page in workload 3")
      ->check(CLI::PositiveNumber);
  app.add_option("--dir", cfg.dir, "directory for the files (default: a new mkdtemp under /var/tmp)");
  app.add_option("--only", cfg.only, "run one workload: batch (1), single (2), read (3), size (4)")
      ->transform(CLI::Transformer({{"1", "batch"}, {"2", "single"}, {"3", "read"}, {"4", "size"}}))
      ->check(CLI::IsMember({"batch", "single", "read", "size"}));
  app.add_option("--engine", cfg.engine, "both, or only rivulet / sqlite (e.g. for profiling)")
      ->check(CLI::IsMember({"both", "rivulet", "sqlite"}));
  app.add_flag("--quick", cfg.quick, "smoke run: 20,000 / 3,000 records, 1 round (explicit flags win)");
  app.add_flag("--keep", cfg.keep, "keep the files instead of deleting them");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (cfg.quick) {
    if (app.count("--records") == 0) cfg.records = 20'000;
    if (app.count("--single-records") == 0) cfg.single_records = 3'000;
    if (app.count("--rounds") == 0) cfg.rounds = 1;
  }

  std::string command = command_line(argc, argv);

  bool made_dir = false;
  if (cfg.dir.empty()) {
    char tmpl[] = "/var/tmp/rivulet-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::printf("cannot create a directory under /var/tmp: %s\n", std::strerror(errno));
      return 0;
    }
    cfg.dir = tmpl;
    made_dir = true;
  } else if (::mkdir(cfg.dir.c_str(), 0755) == 0) {
    made_dir = true;
  } else if (errno != EEXIST) {
    std::printf("cannot create %s: %s\n", cfg.dir.c_str(), std::strerror(errno));
    return 0;
  }

  if (!cfg.keep) clean_up_on_signals(cfg, made_dir);

  std::printf("Rivulet benchmark vs SQLite\n");
  print_run_header(command, cfg.dir, RIVULET_BENCH_BUILD_TYPE, sqlite_version());
  Floors fl = measure_floors(cfg.dir);
  std::printf("floors:   syscall %.0f ns, 250-B pwrite %.0f ns, buffered write %.2f GB/s, memcpy %.1f GB/s,\n"
              "          first touch of mapped pages %.2f GB/s (a mapped read of %.0f-B records: <= %.1f M/s)\n",
              fl.syscall_ns, fl.small_write_ns, fl.write_bytes_per_s / 1e9, fl.memcpy_bytes_per_s / 1e9,
              fl.mapped_touch_bytes_per_s / 1e9, kRecordBytesInFile, fl.mapped_touch_bytes_per_s / kRecordBytesInFile / 1e6);
  std::printf("records:  %zu B key + %zu B value, random; topic '%s' with %d partition(s), records round-robin;\n"
              "          timestamps given explicitly; page cache warm (files just written)\n",
              kKeyBytes, kValueBytes, kTopic, cfg.partitions);
  std::printf("rounds:   %d per workload, Rivulet and SQLite interleaved, alternating who goes first\n",
              cfg.rounds);

  Stopwatch gen;
  {
    Bench bench(cfg, cfg.dir);
    std::printf("data:     %zu records generated in %s\n", std::max(cfg.records, cfg.single_records),
                seconds(gen.seconds()).c_str());
    std::fflush(stdout);
    bench.run();
    bench.cleanup();
  }
  if (made_dir && !cfg.keep) ::rmdir(cfg.dir.c_str());
  return 0;
}
