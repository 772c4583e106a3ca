// rivulet_torture: many processes on one file for a given time, killed with
// SIGKILL at random moments and restarted, then a full verification.
//
//   rivulet_torture [--seconds N | --minutes M] [--dir DIR] [--seed S] [--keep]
//
// Roles (each a process running this binary with --role):
//   producer  produces keyed records to topic "in": sync normal or full,
//             single records (Db::produce) or batches over several
//             partitions (WriteBatch). After each commit returns it writes one
//             line "A FIRST LAST P:O..." to its stdout pipe in one write(2):
//             the pipe keeps it when the producer is killed right after.
//   consumer  follows every partition of "in" and "out" with Reader::poll
//             (one read-only, one read-write) and checks as it reads: dense
//             offsets, self-checksums, per-key order, and that out[p] at
//             offset k is the transform of in[p] at offset k.
//   member    a rivulet::Consumer of group "torture" subscribed to "in":
//             consume-transform-produce into "out" (same partition) with
//             WriteBatch + Consumer::add_offsets_to, exactly once.
// Every record is self-verifying: its value carries the producer's id, the
// record's number, its commit's first and last numbers, and a checksum of the
// key and all of that. Producer ids are fresh for every process started, so
// what a killed producer left is told apart from its successor's.
//
// At the end producers are stopped, members drain "in", consumers catch up,
// everyone is stopped, and the file is verified: check_file passes, every
// acknowledged record is at the partition and offset its commit returned,
// exactly once, commits are whole, per-key order holds, nothing is garbled,
// "out" holds each input's transform exactly once and in order, and no
// process reported a violation or died on its own. Exit status 1 on any
// violation (each printed with what and where), 0 otherwise.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rivulet/rivulet.hpp"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kPartitions = 4;
constexpr int kKeysPerProducer = 8;
constexpr const char* kGroup = "torture";

// ---- self-verifying values ----

uint64_t fnv1a(std::string_view a, std::string_view b = {}) {
  uint64_t h = 1469598103934665603ull;
  for (std::string_view s : {a, std::string_view("\0", 1), b}) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  }
  return h;
}

std::string hex(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// "<body> <checksum of key and body>".
std::string seal(std::string_view key, const std::string& body) { return body + " " + hex(fnv1a(key, body)); }

// The body if the checksum holds; nullopt if the value is garbled.
std::optional<std::string_view> unseal(std::string_view key, std::string_view value) {
  size_t sp = value.rfind(' ');
  if (sp == std::string_view::npos || value.size() - sp - 1 != 16) return std::nullopt;
  std::string_view body = value.substr(0, sp);
  if (hex(fnv1a(key, body)) != value.substr(sp + 1)) return std::nullopt;
  return body;
}

// An input record: key "p<id>-k<j>", body "<id> <n> <first> <last> <pad>".
struct InRec {
  long id = 0, n = 0, first = 0, last = 0;
};

std::string in_key(long id, int j) { return "p" + std::to_string(id) + "-k" + std::to_string(j); }

// Empty string if the record is sound, else what is wrong with it.
std::string parse_in(const rivulet::RecordView& r, InRec* out) {
  if (!r.key || !r.value) return "null key or value";
  auto body = unseal(*r.key, *r.value);
  if (!body) return "garbled (checksum mismatch)";
  // The padding needs no look: the checksum covers it.
  std::string b(*body);
  if (sscanf(b.c_str(), "%ld %ld %ld %ld", &out->id, &out->n, &out->first, &out->last) != 4 || out->first > out->n ||
      out->n > out->last) {
    return "malformed body";
  }
  std::string prefix = "p" + std::to_string(out->id) + "-k";
  if (r.key->substr(0, prefix.size()) != prefix) return "key does not name its producer";
  return "";
}

// The transform a member writes for input (p, o): key = input key, body
// "<p>:<o> <checksum of the input value>".
std::string out_body(int32_t p, int64_t o, std::string_view in_value) {
  return std::to_string(p) + ":" + std::to_string(o) + " " + hex(fnv1a(in_value));
}

// Empty if `r` (in out[p] at offset o) is the transform of in[p] at o.
std::string check_out(const rivulet::RecordView& r, std::string* in_hash) {
  if (!r.key || !r.value) return "null key or value";
  auto body = unseal(*r.key, *r.value);
  if (!body) return "garbled (checksum mismatch)";
  std::string want = std::to_string(r.partition) + ":" + std::to_string(r.offset) + " ";
  if (body->size() != want.size() + 16 || body->substr(0, want.size()) != want) {
    return "holds the transform of in " + std::string(body->substr(0, body->find(' '))) + ", expected in " +
           want.substr(0, want.size() - 1) + " (exactly once, in order)";
  }
  if (in_hash) *in_hash = std::string(body->substr(want.size()));
  return "";
}

std::string where(std::string_view topic, int32_t p, int64_t o) {
  return std::string(topic) + "[" + std::to_string(p) + "] offset " + std::to_string(o);
}

// ---- children ----

volatile sig_atomic_t g_stop = 0;

void child_setup() {
  // Die with the parent (a killed torture run leaves nothing behind).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) _exit(9);
  // SIGTERM (stop cleanly) came blocked from the parent, so one sent while
  // this process was starting waits for the handler instead of killing it.
  signal(SIGTERM, [](int) { g_stop = 1; });
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &term, nullptr);
}

void say(int fd, const std::string& line) {
  // One write(2) under PIPE_BUF: a line reaches the parent whole or not at all.
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(8);
}

int violation(const std::string& what) {
  say(2, "VIOLATION " + what + "\n");
  return 4;
}

int error(const char* role, const char* what, const rivulet::Status& st) {
  say(2, std::string(role) + " " + std::to_string(getpid()) + ": " + what + ": " + st.to_string() + "\n");
  return 1;
}

int run_producer(const std::string& path, long id, bool full, int max_batch, uint64_t seed, int pace_us) {
  rivulet::OpenOptions options;
  options.create_if_missing = false;
  options.sync = full ? rivulet::Sync::full : rivulet::Sync::normal;
  auto db = rivulet::Db::open(path, options);
  if (!db.ok()) return error("producer", "open", db.status());
  std::mt19937_64 rng(seed);
  for (long n = 0; !g_stop;) {
    int count = 1 + static_cast<int>(rng() % static_cast<uint64_t>(max_batch));
    long first = n, last = n + count - 1;
    std::vector<std::string> keys, values;
    for (long k = first; k <= last; ++k) {
      keys.push_back(in_key(id, static_cast<int>(rng() % kKeysPerProducer)));
      std::string body = std::to_string(id) + " " + std::to_string(k) + " " + std::to_string(first) + " " +
                         std::to_string(last) + " " + std::string(rng() % 200, static_cast<char>('a' + k % 26));
      values.push_back(seal(keys.back(), body));
    }
    std::string ack = "A " + std::to_string(first) + " " + std::to_string(last);
    if (count == 1 && rng() % 2 == 0) {
      auto a = (*db)->produce({.topic = "in", .key = keys[0], .value = values[0]});
      if (!a.ok()) return error("producer", "produce", a.status());
      ack += " " + std::to_string(a->partition) + ":" + std::to_string(a->offset);
    } else {
      rivulet::WriteBatch batch(**db);
      for (size_t i = 0; i < keys.size(); ++i) {
        rivulet::Status st = batch.add({.topic = "in", .key = keys[i], .value = values[i]});
        if (!st.ok()) return error("producer", "add", st);
      }
      rivulet::Status st = (*db)->commit(batch);
      if (!st.ok()) return error("producer", "commit", st);
      for (size_t i = 0; i < keys.size(); ++i) {
        rivulet::Appended a = batch.appended(i);
        ack += " " + std::to_string(a.partition) + ":" + std::to_string(a.offset);
      }
    }
    say(1, ack + "\n");
    n = last + 1;
    if (pace_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % (2 * pace_us)));
  }
  rivulet::Status st = (*db)->close();
  return st.ok() ? 0 : error("producer", "close", st);
}

// Follows "in" and "out" from the start, checking as it reads; reports
// "S <in records> <out records>" when it has read more.
int run_consumer(const std::string& path, bool read_only) {
  rivulet::OpenOptions options;
  options.create_if_missing = false;
  options.read_only = read_only;
  auto db = rivulet::Db::open(path, options);
  if (!db.ok()) return error("consumer", "open", db.status());
  std::vector<std::unique_ptr<rivulet::Reader>> readers;  // in[0..P), out[0..P)
  for (const char* topic : {"in", "out"}) {
    for (int p = 0; p < kPartitions; ++p) {
      auto r = (*db)->reader(topic, p, rivulet::StartAt::earliest());
      if (!r.ok()) return error("consumer", "reader", r.status());
      readers.push_back(std::move(r).value());
    }
  }
  std::vector<rivulet::Reader*> all;
  for (auto& r : readers) all.push_back(r.get());
  std::vector<int64_t> next(readers.size(), 0);
  std::map<std::string, std::pair<int32_t, long>> key_last;  // key -> (partition, n)
  long totals[2] = {0, 0};
  long reported[2] = {-1, -1};
  auto last_report = Clock::now() - 1s;
  std::string me = "consumer " + std::to_string(getpid()) + (read_only ? " (read-only)" : "");
  for (;;) {
    bool stopping = g_stop;  // read everything there is once more, then stop
    bool got = false;
    for (size_t i = 0; i < readers.size(); ++i) {
      bool is_in = i < kPartitions;
      auto recs = readers[i]->poll(0ms, 500);
      if (!recs.ok()) return error("consumer", "poll", recs.status());
      for (const rivulet::RecordView& r : *recs) {
        std::string at = where(is_in ? "in" : "out", r.partition, r.offset);
        if (r.offset != next[i]) {
          return violation(me + ": " + at + ": expected offset " + std::to_string(next[i]) + " (dense, in order)");
        }
        ++next[i];
        ++totals[is_in ? 0 : 1];
        got = true;
        if (!is_in) {
          if (std::string bad = check_out(r, nullptr); !bad.empty()) return violation(me + ": " + at + ": " + bad);
          continue;
        }
        InRec rec;
        if (std::string bad = parse_in(r, &rec); !bad.empty()) return violation(me + ": " + at + ": " + bad);
        auto [k, fresh] = key_last.try_emplace(std::string(*r.key), r.partition, rec.n);
        if (!fresh) {
          if (k->second.first != r.partition) {
            return violation(me + ": " + at + ": key " + k->first + " also in partition " +
                             std::to_string(k->second.first));
          }
          if (k->second.second >= rec.n) {
            return violation(me + ": " + at + ": record " + std::to_string(rec.n) + " of key " + k->first +
                             " after record " + std::to_string(k->second.second) + " (per-key order)");
          }
          k->second.second = rec.n;
        }
      }
    }
    if ((reported[0] != totals[0] || reported[1] != totals[1]) && (stopping || Clock::now() - last_report >= 50ms)) {
      say(1, "S " + std::to_string(totals[0]) + " " + std::to_string(totals[1]) + "\n");
      reported[0] = totals[0], reported[1] = totals[1];
      last_report = Clock::now();
    }
    if (stopping && !got) break;
    if (!got) {
      auto ready = (*db)->wait_any(all, 50ms);
      if (!ready.ok()) return error("consumer", "wait_any", ready.status());
    }
  }
  readers.clear();
  rivulet::Status st = (*db)->close();
  return st.ok() ? 0 : error("consumer", "close", st);
}

int run_member(const std::string& path, uint64_t seed) {
  std::mt19937_64 rng(seed);
  rivulet::OpenOptions open;
  open.create_if_missing = false;
  auto db = rivulet::Db::open(path, open);
  if (!db.ok()) return error("member", "open", db.status());
  std::set<rivulet::TopicPartition> fresh;        // taken, not read since
  std::map<rivulet::TopicPartition, int64_t> expect;  // next offset of partitions read
  rivulet::ConsumerOptions options;
  options.group = kGroup;
  options.auto_offset_reset = rivulet::OffsetReset::earliest;
  options.enable_auto_commit = false;  // offsets go with the output
  options.max_poll_records = 1 + rng() % 100;
  options.on_assigned = [&](std::span<const rivulet::TopicPartition> tps) {
    for (const auto& tp : tps) fresh.insert(tp);
  };
  options.on_revoked = [&](std::span<const rivulet::TopicPartition> tps) {
    for (const auto& tp : tps) fresh.erase(tp), expect.erase(tp);
  };
  auto consumer = rivulet::Consumer::create(**db, options);
  if (!consumer.ok()) return error("member", "create", consumer.status());
  if (auto st = (*consumer)->subscribe({"in"}); !st.ok()) return error("member", "subscribe", st);
  std::string me = "member " + std::to_string(getpid());
  while (!g_stop) {
    auto records = (*consumer)->poll(50ms);
    if (!records.ok()) return error("member", "poll", records.status());
    if (records->empty()) continue;
    rivulet::WriteBatch batch(**db);
    for (const rivulet::ConsumerRecord& r : *records) {
      rivulet::TopicPartition tp{std::string(r.topic), r.partition};
      std::string at = where(r.topic, r.partition, r.offset);
      if (fresh.erase(tp)) {
        // The first record after taking a partition is where the group
        // committed: the previous owner's output and offsets went together.
        auto c = (*consumer)->committed(tp);
        if (!c.ok()) return error("member", "committed", c.status());
        expect[tp] = *c ? (*c)->offset : 0;
      }
      if (r.offset != expect[tp]) {
        return violation(me + ": " + at + ": expected offset " + std::to_string(expect[tp]) +
                         " (the group's position)");
      }
      expect[tp] = r.offset + 1;
      InRec rec;
      if (std::string bad = parse_in(r, &rec); !bad.empty()) return violation(me + ": " + at + ": " + bad);
      std::string value = seal(*r.key, out_body(r.partition, r.offset, *r.value));
      rivulet::Status st = batch.add({.topic = "out", .key = r.key, .value = value, .partition = r.partition});
      if (!st.ok()) return error("member", "add", st);
    }
    if (auto st = (*consumer)->add_offsets_to(batch); !st.ok()) return error("member", "add_offsets_to", st);
    if (auto st = (*db)->commit(batch); !st.ok()) return error("member", "commit", st);
    if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 5000));
  }
  if (auto st = (*consumer)->close(); !st.ok()) return error("member", "close", st);
  consumer->reset();
  rivulet::Status st = (*db)->close();
  return st.ok() ? 0 : error("member", "close", st);
}

// ---- the parent ----

enum Role { kProducer, kConsumer, kMember, kRoles };
const char* kRoleName[kRoles] = {"producer", "consumer", "member"};

struct Child {
  Role role;
  int slot = 0;
  long id = -1;  // producers: the id its records carry
  pid_t pid = -1;
  int out = -1, err = -1;
  std::string out_buf, err_text;
  bool running = true;
  bool killed = false;    // by us, with SIGKILL
  bool stopping = false;  // sent SIGTERM
  int status = 0;
  long seen[2] = {0, 0};  // consumers: last progress report
  bool done() const { return !running && out < 0 && err < 0; }
};

// What one producer process was acknowledged for: the partition and offset
// of each record up to the last acknowledged one.
struct Producer {
  std::vector<std::pair<int32_t, int64_t>> acked;
};

struct Verdict {
  long violations = 0;
  void add(const std::string& what) {
    if (++violations <= 50) fprintf(stderr, "VIOLATION %s\n", what.c_str());
    if (violations == 50) fprintf(stderr, "(further violations not printed)\n");
  }
};

class Torture {
 public:
  Torture(std::string self, std::string path, uint64_t seed) : self_(std::move(self)), path_(std::move(path)), rng_(seed) {}

  int run(std::chrono::seconds duration);

 private:
  Child* start(Role role, int slot);
  void pump(std::chrono::milliseconds wait);
  void on_line(Child& c, const std::string& line);
  void on_exit(Child& c);
  bool wait_until(const std::function<bool()>& done, std::chrono::seconds limit, const std::string& what);
  std::vector<Child*> live(Role role);
  void stop(Role role);
  void verify();

  std::string self_, path_;
  std::mt19937_64 rng_;
  std::deque<Child> children_;
  std::vector<Producer> producers_;  // by id
  Verdict verdict_;
  bool restart_ = true;
  long started_[kRoles] = {}, kills_[kRoles] = {};
  long acked_records_ = 0, verified_in_ = 0, verified_out_ = 0;
  long unacked_commits_ = 0;  // in the file, though their producer was killed before hearing so
  Clock::time_point last_ack_ = Clock::now();
};

Child* Torture::start(Role role, int slot) {
  std::vector<std::string> args = {self_, "--role", kRoleName[role], path_};
  Child c;
  c.role = role;
  c.slot = slot;
  if (role == kProducer) {
    // Slots 0 and 1 produce single records, 2 and 3 batches of up to 12;
    // odd slots sync full, even ones normal. The pace keeps the file at a
    // size every restart can replay quickly (~400 records/s in all).
    c.id = static_cast<long>(producers_.size());
    producers_.emplace_back();
    args.insert(args.end(), {std::to_string(c.id), slot % 2 == 1 ? "full" : "normal", slot < 2 ? "1" : "12",
                             std::to_string(rng_()), slot < 2 ? "8000" : "50000"});
  } else if (role == kConsumer) {
    args.push_back(slot == 0 ? "ro" : "rw");
  } else {
    args.push_back(std::to_string(rng_()));
  }
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    perror("pipe2");
    exit(2);
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawnattr_t attr;  // SIGTERM blocked until the child can handle it (child_setup)
  posix_spawnattr_init(&attr);
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &term);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int rc = posix_spawn(&c.pid, self_.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  close(err[1]);
  if (rc != 0) {
    fprintf(stderr, "rivulet_torture: cannot start %s: %s\n", self_.c_str(), strerror(rc));
    exit(2);
  }
  c.out = out[0];
  c.err = err[0];
  ++started_[role];
  children_.push_back(std::move(c));
  return &children_.back();
}

std::vector<Child*> Torture::live(Role role) {
  std::vector<Child*> out;
  for (Child& c : children_) {
    if (c.role == role && c.running && !c.killed) out.push_back(&c);
  }
  return out;
}

void Torture::on_line(Child& c, const std::string& line) {
  std::string who = std::string(kRoleName[c.role]) + " " + std::to_string(c.pid);
  if (c.role == kProducer) {
    // "A FIRST LAST P:O ..." after each commit returned.
    Producer& p = producers_[static_cast<size_t>(c.id)];
    long first = -1, last = -1;
    int used = 0;
    if (sscanf(line.c_str(), "A %ld %ld%n", &first, &last, &used) != 2 ||
        first != static_cast<long>(p.acked.size()) || last < first) {
      verdict_.add(who + ": bad acknowledgement '" + line + "' after " + std::to_string(p.acked.size()));
      return;
    }
    const char* s = line.c_str() + used;
    for (long n = first; n <= last; ++n) {
      int part = -1;
      long long off = -1;
      int len = 0;
      if (sscanf(s, " %d:%lld%n", &part, &off, &len) != 2) {
        verdict_.add(who + ": bad acknowledgement '" + line + "'");
        return;
      }
      s += len;
      p.acked.emplace_back(part, off);
    }
    acked_records_ += last - first + 1;
    last_ack_ = Clock::now();
  } else if (c.role == kConsumer) {
    if (sscanf(line.c_str(), "S %ld %ld", &c.seen[0], &c.seen[1]) != 2) verdict_.add(who + ": bad line '" + line + "'");
  } else {
    verdict_.add(who + ": unexpected output '" + line + "'");
  }
}

// A child ended. Only a SIGKILL of ours or exit 0 after a SIGTERM of ours is
// expected; anything else (an error, a crash, a violation) is a violation.
void Torture::on_exit(Child& c) {
  bool expected = (c.killed && WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGKILL) ||
                  (c.stopping && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
  if (!expected) {
    std::string how = WIFEXITED(c.status) ? "exit " + std::to_string(WEXITSTATUS(c.status))
                                          : "signal " + std::to_string(WTERMSIG(c.status));
    std::string err = c.err_text;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    verdict_.add(std::string(kRoleName[c.role]) + " " + std::to_string(c.pid) + " ended on its own (" + how +
                 ")" + (err.empty() ? "" : ": " + err));
  }
  // A child that failed is not restarted: its successor would most likely
  // fail the same way, and the violation is already counted.
  if (restart_ && expected && !c.stopping) start(c.role, c.slot);
}

void Torture::pump(std::chrono::milliseconds wait) {
  std::vector<pollfd> fds;
  std::vector<std::pair<Child*, bool>> whose;  // (child, is stdout)
  for (Child& c : children_) {
    if (c.out >= 0) fds.push_back({c.out, POLLIN, 0}), whose.emplace_back(&c, true);
    if (c.err >= 0) fds.push_back({c.err, POLLIN, 0}), whose.emplace_back(&c, false);
  }
  if (::poll(fds.data(), fds.size(), static_cast<int>(wait.count())) > 0) {
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      Child& c = *whose[i].first;
      int& fd = whose[i].second ? c.out : c.err;
      char buf[65536];
      ssize_t n = read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(fd);
        fd = -1;
        continue;
      }
      if (!whose[i].second) {
        c.err_text.append(buf, static_cast<size_t>(n));
        continue;
      }
      c.out_buf.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = c.out_buf.find('\n')) != std::string::npos) {
        on_line(c, c.out_buf.substr(0, nl));
        c.out_buf.erase(0, nl + 1);
      }
    }
  }
  // Reaped children whose pipes are drained are done: judge them, once.
  for (size_t i = 0; i < children_.size(); ++i) {
    Child& c = children_[i];
    if (c.running && waitpid(c.pid, &c.status, WNOHANG) == c.pid) c.running = false;
    if (c.done() && c.pid > 0) {
      if (!c.out_buf.empty()) verdict_.add(std::string(kRoleName[c.role]) + ": partial line '" + c.out_buf + "'");
      on_exit(c);
      c.pid = 0;  // judged
    }
  }
  while (!children_.empty() && children_.front().pid == 0) children_.pop_front();
}

bool Torture::wait_until(const std::function<bool()>& done, std::chrono::seconds limit, const std::string& what) {
  auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() >= deadline) {
      verdict_.add("hang: " + what + " within " + std::to_string(limit.count()) + " s");
      return false;
    }
    pump(20ms);
  }
  return true;
}

void Torture::stop(Role role) {
  for (Child& c : children_) {
    if (c.role == role && c.running && !c.stopping) {
      c.stopping = true;
      kill(c.pid, SIGTERM);
    }
  }
}

int Torture::run(std::chrono::seconds duration) {
  {
    rivulet::OpenOptions options;
    options.segment_size = 1u << 20;  // many segment changes (and syncs of the superblock)
    auto db = rivulet::Db::open(path_, options);
    if (!db.ok()) {
      fprintf(stderr, "rivulet_torture: %s\n", db.status().to_string().c_str());
      return 2;
    }
    for (const char* t : {"in", "out"}) {
      if (auto st = (*db)->create_topic(t, {.partitions = kPartitions}); !st.ok()) {
        fprintf(stderr, "rivulet_torture: %s\n", st.to_string().c_str());
        return 2;
      }
    }
    if (auto st = (*db)->close(); !st.ok()) return 2;
  }
  const int counts[kRoles] = {4, 2, 3};
  for (int r = 0; r < kRoles; ++r) {
    for (int s = 0; s < counts[r]; ++s) start(static_cast<Role>(r), s);
  }
  auto begin = Clock::now(), end = begin + duration;
  auto next_kill = begin + std::chrono::milliseconds(100 + rng_() % 400);
  auto next_note = begin + 60s;
  while (Clock::now() < end) {
    pump(10ms);
    if (Clock::now() >= next_note) {
      next_note += 60s;
      printf("  %3ld min: %ld records acknowledged, %ld SIGKILLs, %ld violations\n",
             static_cast<long>(std::chrono::duration_cast<std::chrono::minutes>(Clock::now() - begin).count()),
             acked_records_, kills_[0] + kills_[1] + kills_[2], verdict_.violations);
      fflush(stdout);
    }
    if (Clock::now() - last_ack_ > 30s) {
      verdict_.add("hang: no producer had a commit acknowledged for 30 s");
      break;
    }
    if (Clock::now() < next_kill) continue;
    // Any role, any process, any moment; the replacement starts when the
    // victim is reaped.
    Role role = static_cast<Role>(rng_() % kRoles);
    std::vector<Child*> victims = live(role);
    if (!victims.empty()) {
      Child* v = victims[rng_() % victims.size()];
      kill(v->pid, SIGKILL);
      v->killed = true;
      ++kills_[role];
    }
    next_kill = Clock::now() + std::chrono::milliseconds(20 + rng_() % 400);
  }
  double minutes = std::chrono::duration<double>(Clock::now() - begin).count() / 60;

  // Stop producers (a clean close), let members drain "in" into "out" and
  // consumers catch up, then stop everyone.
  restart_ = false;
  stop(kProducer);
  wait_until([&] { return live(kProducer).empty(); }, 60s, "producers did not stop");
  std::vector<int64_t> in_end(kPartitions, 0);
  long in_total = 0;
  {
    rivulet::OpenOptions ro;
    ro.read_only = true;
    auto db = rivulet::Db::open(path_, ro);
    if (!db.ok()) {
      verdict_.add("cannot open the file after the run: " + db.status().to_string());
    } else {
      auto in = (*db)->describe_topic("in");
      for (int p = 0; in.ok() && p < kPartitions; ++p) in_end[p] = in->partitions[p].next_offset, in_total += in_end[p];
      wait_until(
          [&] {
            auto out = (*db)->describe_topic("out");
            if (!out.ok()) return false;
            for (int p = 0; p < kPartitions; ++p) {
              if (out->partitions[p].next_offset < in_end[p]) return false;
            }
            return true;
          },
          120s, "members did not transform every input");
    }
  }
  wait_until(
      [&] {
        for (Child* c : live(kConsumer)) {
          if (c->seen[0] < in_total || c->seen[1] < in_total) return false;
        }
        return true;
      },
      120s, "consumers did not read every record");
  stop(kMember);
  stop(kConsumer);
  wait_until([&] { return std::all_of(children_.begin(), children_.end(), [](const Child& c) { return c.done(); }); },
             60s, "members and consumers did not stop");
  for (Child& c : children_) {
    if (c.running) kill(c.pid, SIGKILL), waitpid(c.pid, nullptr, 0);
  }

  verify();

  long started = started_[0] + started_[1] + started_[2];
  std::error_code ec;
  printf("rivulet_torture: %.1f minutes, file %s (%.0f MB)\n", minutes, path_.c_str(),
         static_cast<double>(std::filesystem::file_size(path_, ec)) / 1e6);
  printf("  processes started  %ld (producers %ld, consumers %ld, group members %ld)\n", started,
         started_[kProducer], started_[kConsumer], started_[kMember]);
  printf("  SIGKILLs           %ld (producers %ld, consumers %ld, group members %ld)\n",
         kills_[0] + kills_[1] + kills_[2], kills_[kProducer], kills_[kConsumer], kills_[kMember]);
  printf("  records acknowledged %ld (plus %ld commits in the file whose producer was killed before it "
         "returned)\n",
         acked_records_, unacked_commits_);
  printf("  records verified   %ld in \"in\", %ld transforms in \"out\" (exactly once)\n", verified_in_,
         verified_out_);
  printf("  violations         %ld\n", verdict_.violations);
  return verdict_.violations == 0 ? 0 : 1;
}

void Torture::verify() {
  auto report = rivulet::check_file(path_);
  if (!report.ok()) {
    verdict_.add("check: " + report.status().to_string());
  } else {
    for (const std::string& p : report->problems) verdict_.add("check: " + p);
  }
  rivulet::OpenOptions ro;
  ro.read_only = true;
  auto db = rivulet::Db::open(path_, ro);
  if (!db.ok()) return verdict_.add("open for verification: " + db.status().to_string());

  // Every record of "in", checked alone and remembered by producer and number.
  struct Seen {
    int32_t p = -1;
    int64_t o = -1;
    long first = 0, last = 0;
  };
  std::vector<std::vector<Seen>> seen(producers_.size());
  std::vector<std::vector<uint64_t>> in_hash(kPartitions);  // of each value, by partition and offset
  std::map<std::string, std::pair<int32_t, long>> key_last;
  for (int p = 0; p < kPartitions; ++p) {
    auto reader = (*db)->reader("in", p, rivulet::StartAt::earliest());
    if (!reader.ok()) return verdict_.add("reader: " + reader.status().to_string());
    for (;;) {
      auto recs = (*reader)->poll(0ms, 10000);
      if (!recs.ok()) return verdict_.add(where("in", p, (*reader)->position()) + ": " + recs.status().to_string());
      if (recs->empty()) break;
      for (const rivulet::RecordView& r : *recs) {
        std::string at = where("in", p, r.offset);
        if (r.offset != static_cast<int64_t>(in_hash[p].size())) {
          verdict_.add(at + ": expected offset " + std::to_string(in_hash[p].size()));
        }
        in_hash[p].push_back(r.value ? fnv1a(*r.value) : 0);
        InRec rec;
        if (std::string bad = parse_in(r, &rec); !bad.empty()) {
          verdict_.add(at + ": " + bad);
          continue;
        }
        if (rec.id < 0 || rec.id >= static_cast<long>(producers_.size())) {
          verdict_.add(at + ": no producer " + std::to_string(rec.id) + " was started");
          continue;
        }
        auto& mine = seen[static_cast<size_t>(rec.id)];
        if (static_cast<size_t>(rec.n) >= mine.size()) mine.resize(static_cast<size_t>(rec.n) + 1);
        Seen& s = mine[static_cast<size_t>(rec.n)];
        std::string what = "record " + std::to_string(rec.id) + "/" + std::to_string(rec.n) + " at " + at;
        if (s.p >= 0) {
          verdict_.add(what + ": also at " + where("in", s.p, s.o) + " (duplicate)");
          continue;
        }
        s = {p, r.offset, rec.first, rec.last};
        ++verified_in_;
        auto [k, fresh] = key_last.try_emplace(std::string(*r.key), p, rec.n);
        if (!fresh) {
          if (k->second.first != p) verdict_.add(what + ": its key is also in partition " + std::to_string(k->second.first));
          if (k->second.second >= rec.n) {
            verdict_.add(what + ": after record " + std::to_string(k->second.second) + " of its key (per-key order)");
          }
          k->second.second = rec.n;
        }
      }
    }
  }

  // Per producer: what is in the file is a prefix of its records made of
  // whole commits, holding every acknowledged record where its commit said,
  // and at most the one commit that was in flight when it was killed.
  for (size_t id = 0; id < producers_.size(); ++id) {
    const Producer& pr = producers_[id];
    const auto& mine = seen[id];
    std::string who = "producer " + std::to_string(id);
    size_t m = 0;
    while (m < mine.size() && mine[m].p >= 0) ++m;
    if (m != mine.size()) verdict_.add(who + ": record " + std::to_string(m) + " is missing but later ones are there");
    for (size_t n = 0; n < pr.acked.size(); ++n) {
      if (n >= mine.size() || mine[n].p < 0) {
        verdict_.add(who + ": acknowledged record " + std::to_string(n) + " (at " +
                     where("in", pr.acked[n].first, pr.acked[n].second) + ") is missing");
      } else if (mine[n].p != pr.acked[n].first || mine[n].o != pr.acked[n].second) {
        verdict_.add(who + ": acknowledged record " + std::to_string(n) + " was said to be at " +
                     where("in", pr.acked[n].first, pr.acked[n].second) + " but is at " +
                     where("in", mine[n].p, mine[n].o));
      }
    }
    for (size_t n = 0; n < m;) {
      long first = mine[n].first, last = mine[n].last;
      bool whole = first == static_cast<long>(n) && last < static_cast<long>(m);
      for (long k = first; whole && k <= last; ++k) {
        whole = mine[static_cast<size_t>(k)].first == first && mine[static_cast<size_t>(k)].last == last;
      }
      if (!whole) {
        verdict_.add(who + ": record " + std::to_string(n) + " of commit " + std::to_string(first) + ".." +
                     std::to_string(last) + " is there but not its whole commit");
        break;
      }
      n = static_cast<size_t>(last) + 1;
    }
    if (m > pr.acked.size()) ++unacked_commits_;
    if (m > pr.acked.size() && mine[pr.acked.size()].last + 1 != static_cast<long>(m)) {
      verdict_.add(who + ": more than one unacknowledged commit is in the file (acknowledged " +
                   std::to_string(pr.acked.size()) + ", there " + std::to_string(m) + ")");
    }
  }

  // "out": each input's transform exactly once, at the input's offset.
  for (int p = 0; p < kPartitions; ++p) {
    auto reader = (*db)->reader("out", p, rivulet::StartAt::earliest());
    if (!reader.ok()) return verdict_.add("reader: " + reader.status().to_string());
    int64_t count = 0;
    for (;;) {
      auto recs = (*reader)->poll(0ms, 10000);
      if (!recs.ok()) return verdict_.add(where("out", p, (*reader)->position()) + ": " + recs.status().to_string());
      if (recs->empty()) break;
      for (const rivulet::RecordView& r : *recs) {
        ++count;
        std::string at = where("out", p, r.offset);
        std::string hash;
        if (std::string bad = check_out(r, &hash); !bad.empty()) {
          verdict_.add(at + ": " + bad);
        } else if (static_cast<size_t>(r.offset) >= in_hash[p].size()) {
          verdict_.add(at + ": the transform of a record \"in\" does not have");
        } else if (hash != hex(in_hash[p][static_cast<size_t>(r.offset)])) {
          verdict_.add(at + ": not the transform of the value at " + where("in", p, r.offset));
        } else {
          ++verified_out_;
        }
      }
    }
    if (count != static_cast<int64_t>(in_hash[p].size())) {
      verdict_.add("out[" + std::to_string(p) + "] holds " + std::to_string(count) + " transforms of " +
                   std::to_string(in_hash[p].size()) + " inputs");
    }
  }
  if (auto st = (*db)->close(); !st.ok()) verdict_.add("close: " + st.to_string());
}

int usage() {
  fprintf(stderr, "usage: rivulet_torture [--seconds N | --minutes M] [--dir DIR] [--seed S] [--keep]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 2 && args[0] == "--role") {
    child_setup();
    const std::string& role = args[1];
    if (role == "producer" && args.size() == 8) {
      return run_producer(args[2], std::stol(args[3]), args[4] == "full", std::stoi(args[5]), std::stoull(args[6]),
                          std::stoi(args[7]));
    }
    if (role == "consumer" && args.size() == 4) return run_consumer(args[2], args[3] == "ro");
    if (role == "member" && args.size() == 4) return run_member(args[2], std::stoull(args[3]));
    return usage();
  }
  long seconds = 60;
  std::string dir;
  bool own_dir = false;
  uint64_t seed = std::random_device{}();
  bool keep = false;
  for (size_t i = 0; i < args.size(); ++i) {
    bool has_value = i + 1 < args.size();
    if (args[i] == "--seconds" && has_value) {
      seconds = std::stol(args[++i]);
    } else if (args[i] == "--minutes" && has_value) {
      seconds = std::lround(std::stod(args[++i]) * 60);
    } else if (args[i] == "--dir" && has_value) {
      dir = args[++i];
    } else if (args[i] == "--seed" && has_value) {
      seed = std::stoull(args[++i]);
    } else if (args[i] == "--keep") {
      keep = true;
    } else {
      return usage();
    }
  }
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  if (ec) self = argv[0];
  if (dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rivulet-torture-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      perror("mkdtemp");
      return 2;
    }
    dir = tmpl;
    own_dir = true;
  } else {
    std::filesystem::create_directories(dir, ec);
  }
  std::string path = (std::filesystem::path(dir) / ("torture-" + std::to_string(getpid()) + ".rvl")).string();
  signal(SIGPIPE, SIG_IGN);
  printf("rivulet_torture: %ld s, seed %" PRIu64 " (--seed to replay the choices), file %s\n", seconds, seed,
         path.c_str());
  fflush(stdout);
  int rc = Torture(self, path, seed).run(std::chrono::seconds(seconds));
  if (rc == 0 && !keep) {
    std::filesystem::remove(path, ec);
    std::filesystem::remove(path + "-shm", ec);
    if (own_dir) std::filesystem::remove(dir, ec);
  } else {
    printf("  the file is kept: %s\n", path.c_str());
  }
  return rc;
}
