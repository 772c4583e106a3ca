// rivulet_torture: many processes on one file for a given time, killed with
// SIGKILL at random moments and restarted, then a full verification.
//
//   rivulet_torture [--seconds N | --minutes M] [--dir DIR] [--seed S] [--keep]
//
// Every role opens the file with checkpoint_bytes 256 KiB (a checkpoint
// every few commits), on a file of 1 MiB segments.
// Roles (each a process running this binary with --role):
//   producer  produces keyed records to topic "in": sync normal or full,
//             single records (Db::produce) or batches over several
//             partitions (WriteBatch). After each commit returns it writes one
//             line "A FIRST LAST P:O..." to its stdout pipe in one write(2):
//             the pipe keeps it when the producer is killed right after.
//   churner   commits mixes of records to "ret" (cleanup.policy delete,
//             retention.bytes 512 KiB per partition, values of 1-4 KiB: most
//             of the log's bytes, so segments die, are cleaned and reused)
//             and "kv" (compact, 64 keys, some tombstones, delete.retention.ms
//             2 s). Before each commit it writes "W FIRST LAST KINDS..." (what
//             each record is), after it "A FIRST LAST P:O...".
//   consumer  follows every partition of "in", "out", "ret" and "kv" with
//             Reader::poll (one read-only, one read-write) and checks as it
//             reads: dense offsets ("kv": increasing), self-checksums,
//             per-key order, that out[p] at offset k is the transform of
//             in[p] at offset k, and that a reader of "ret" that retention
//             overtook gets out_of_range (never a dropped record) and goes on
//             from the new earliest offset.
//   member    a rivulet::Consumer of group "torture" subscribed to "in":
//             consume-transform-produce into "out" (same partition) with
//             WriteBatch + Consumer::add_offsets_to, exactly once.
//   vacuum    calls Db::vacuum every 0.1-2 s, so kills land in full passes.
// Every record is self-verifying: its value carries the producer's id, the
// record's number, its commit's first and last numbers, and a checksum of the
// key and all of that. Producer ids are fresh for every process started, so
// what a killed producer left is told apart from its successor's.
//
// At the end producers are stopped, members drain "in", consumers catch up,
// everyone is stopped, and the file is verified: check_file passes, every
// acknowledged record is at the partition and offset its commit returned,
// exactly once, commits are whole, per-key order holds, nothing is garbled,
// "out" holds each input's transform exactly once and in order, "ret" holds
// every acknowledged record from its earliest offset on (which retention
// moved), "kv" holds for each key its last acknowledged record or a later
// one, and no process reported a violation or died on its own. Every second
// the size on disk is checked against a bound (Torture::sample). Exit
// status 1 on any violation (each printed with what and where), 0 otherwise.
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
constexpr int kSidePartitions = 2;            // of "ret" and "kv"
constexpr int64_t kRetentionBytes = 512 << 10;  // of "ret", per partition
constexpr int kRetMinValue = 1000;            // bytes of a "ret" value, at least
constexpr int kKvKeys = 64;
constexpr int64_t kDeleteRetentionMs = 2000;  // of "kv": tombstones go soon
constexpr uint32_t kSegmentSize = 1u << 20;

// Options every role opens the file with: checkpoints every 256 KiB of log.
rivulet::OpenOptions role_options() {
  rivulet::OpenOptions options;
  options.create_if_missing = false;
  options.checkpoint_bytes = 256u << 10;
  return options;
}

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

std::string kv_key(int j) { return "k" + std::to_string(j); }

// "<id> <n> <first> <last> <padding>", the body of every value but "out"'s.
std::string body(long id, long n, long first, long last, size_t pad) {
  return std::to_string(id) + " " + std::to_string(n) + " " + std::to_string(first) + " " + std::to_string(last) +
         " " + std::string(pad, static_cast<char>('a' + n % 26));
}

// Empty string if the value is sound, else what is wrong with it.
std::string parse_body(const rivulet::RecordView& r, InRec* out) {
  if (!r.key || !r.value) return "null key or value";
  auto body = unseal(*r.key, *r.value);
  if (!body) return "garbled (checksum mismatch)";
  // The padding needs no look: the checksum covers it.
  std::string b(*body);
  if (sscanf(b.c_str(), "%ld %ld %ld %ld", &out->id, &out->n, &out->first, &out->last) != 4 || out->first > out->n ||
      out->n > out->last) {
    return "malformed body";
  }
  return "";
}

// The same, and the key names its producer (records of "in" and "ret").
std::string parse_in(const rivulet::RecordView& r, InRec* out) {
  if (std::string bad = parse_body(r, out); !bad.empty()) return bad;
  std::string prefix = "p" + std::to_string(out->id) + "-k";
  if (r.key->substr(0, prefix.size()) != prefix) return "key does not name its producer";
  return "";
}

// The key number of a "kv" key, or -1 if it is not one.
int parse_kv_key(const rivulet::Bytes& key) {
  int j = -1, used = 0;
  if (!key || key->size() > 8) return -1;
  std::string k(*key);
  if (sscanf(k.c_str(), "k%d%n", &j, &used) != 1 || used != static_cast<int>(k.size()) || j < 0 || j >= kKvKeys) {
    return -1;
  }
  return j;
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

// Commits `records` (with produce() if `single`, else a WriteBatch) and sets
// `ack` to "A FIRST LAST P:O..." for records FIRST..LAST.
rivulet::Status commit_records(rivulet::Db& db, const std::vector<rivulet::ProducerRecord>& records, bool single,
                               long first, std::string* ack) {
  *ack = "A " + std::to_string(first) + " " + std::to_string(first + static_cast<long>(records.size()) - 1);
  if (single && records.size() == 1) {
    auto a = db.produce(records[0]);
    if (!a.ok()) return a.status();
    *ack += " " + std::to_string(a->partition) + ":" + std::to_string(a->offset);
    return rivulet::Status::OK();
  }
  rivulet::WriteBatch batch(db);
  for (const rivulet::ProducerRecord& r : records) RIVULET_TRY(batch.add(r));
  RIVULET_TRY(db.commit(batch));
  for (size_t i = 0; i < records.size(); ++i) {
    rivulet::Appended a = batch.appended(i);
    *ack += " " + std::to_string(a.partition) + ":" + std::to_string(a.offset);
  }
  return rivulet::Status::OK();
}

void pause_for(std::mt19937_64& rng, int pace_us) {
  if (pace_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % (2 * pace_us)));
}

int run_producer(const std::string& path, long id, bool full, int max_batch, uint64_t seed, int pace_us) {
  rivulet::OpenOptions options = role_options();
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
      values.push_back(seal(keys.back(), body(id, k, first, last, rng() % 200)));
    }
    std::vector<rivulet::ProducerRecord> records;
    for (size_t i = 0; i < keys.size(); ++i) records.push_back({.topic = "in", .key = keys[i], .value = values[i]});
    std::string ack;
    if (auto st = commit_records(**db, records, rng() % 2 == 0, first, &ack); !st.ok()) {
      return error("producer", "commit", st);
    }
    say(1, ack + "\n");
    n = last + 1;
    pause_for(rng, pace_us);
  }
  rivulet::Status st = (*db)->close();
  return st.ok() ? 0 : error("producer", "close", st);
}

// Commits of 1-8 records, each to "ret" (R), or to "kv" as a value (K<j>)
// or a tombstone (T<j>) of key j. "W FIRST LAST KINDS..." goes out before the
// commit, so that the parent knows what a commit in flight when the churner
// was killed may have left (or made compaction remove).
int run_churner(const std::string& path, long id, bool full, uint64_t seed, int pace_us) {
  rivulet::OpenOptions options = role_options();
  options.sync = full ? rivulet::Sync::full : rivulet::Sync::normal;
  auto db = rivulet::Db::open(path, options);
  if (!db.ok()) return error("churner", "open", db.status());
  std::mt19937_64 rng(seed);
  for (long n = 0; !g_stop;) {
    int count = 1 + static_cast<int>(rng() % 8);
    long first = n, last = n + count - 1;
    std::vector<std::string> keys, values;
    std::vector<char> kinds;
    std::string plan = "W " + std::to_string(first) + " " + std::to_string(last);
    for (long k = first; k <= last; ++k) {
      uint64_t dice = rng() % 10;
      kinds.push_back(dice < 6 ? 'R' : dice < 9 ? 'K' : 'T');
      if (kinds.back() == 'R') {
        keys.push_back(in_key(id, static_cast<int>(rng() % kKeysPerProducer)));
        values.push_back(seal(keys.back(), body(id, k, first, last, kRetMinValue + rng() % 3000)));
        plan += " R";
      } else {
        int j = static_cast<int>(rng() % kKvKeys);
        keys.push_back(kv_key(j));
        values.push_back(seal(keys.back(), body(id, k, first, last, rng() % 300)));
        plan += " " + std::string(1, kinds.back()) + std::to_string(j);
      }
    }
    std::vector<rivulet::ProducerRecord> records;
    for (size_t i = 0; i < keys.size(); ++i) {
      rivulet::Bytes value = kinds[i] == 'T' ? rivulet::Bytes() : rivulet::Bytes(values[i]);
      records.push_back({.topic = kinds[i] == 'R' ? "ret" : "kv", .key = keys[i], .value = value});
    }
    say(1, plan + "\n");
    std::string ack;
    if (auto st = commit_records(**db, records, rng() % 2 == 0, first, &ack); !st.ok()) {
      return error("churner", "commit", st);
    }
    say(1, ack + "\n");
    n = last + 1;
    pause_for(rng, pace_us);
  }
  rivulet::Status st = (*db)->close();
  return st.ok() ? 0 : error("churner", "close", st);
}

// Full passes now and then until stopped; "V" after each one that finished.
int run_vacuum(const std::string& path, uint64_t seed) {
  auto db = rivulet::Db::open(path, role_options());
  if (!db.ok()) return error("vacuum", "open", db.status());
  std::mt19937_64 rng(seed);
  while (!g_stop) {
    auto until = Clock::now() + std::chrono::milliseconds(100 + rng() % 1900);
    while (!g_stop && Clock::now() < until) std::this_thread::sleep_for(10ms);
    if (g_stop) break;
    auto report = (*db)->vacuum();
    if (!report.ok()) return error("vacuum", "vacuum", report.status());
    say(1, "V\n");
  }
  rivulet::Status st = (*db)->close();
  return st.ok() ? 0 : error("vacuum", "close", st);
}

// A partition a consumer follows.
struct Follow {
  std::string topic;
  std::unique_ptr<rivulet::Reader> reader;
  int64_t next = 0;  // offset of the next record (for "kv", the lowest it may have)
  Clock::time_point resume{};  // "ret": not polled before (a slow reader)
};

// A reader of "ret" failed with out_of_range: retention overtook it. That is
// the promise (a reader is told, never handed a dropped record): its
// position must be below the partition's earliest offset now, and it goes
// on from there. Empty if so, else the violation.
std::string skip_dropped(rivulet::Db& db, Follow& f, const rivulet::Status& st) {
  int32_t p = f.reader->partition();
  std::string at = where(f.topic, p, f.reader->position());
  auto info = db.describe_topic(f.topic);
  if (!info.ok()) return at + ": describe_topic: " + info.status().to_string();
  int64_t earliest = info->partitions[static_cast<size_t>(p)].first_offset;
  if (earliest <= f.reader->position()) {
    return at + ": poll failed with " + st.to_string() + " though the earliest offset is " + std::to_string(earliest);
  }
  if (auto s = f.reader->seek(rivulet::StartAt::earliest()); !s.ok()) return at + ": seek: " + s.to_string();
  if (f.reader->position() < earliest) {
    return at + ": seek to earliest went to " + std::to_string(f.reader->position()) + ", below " +
           std::to_string(earliest) + " (the earliest offset went back)";
  }
  f.next = f.reader->position();
  return "";
}

// Empty if record `r` of `f` is sound and where it should be, else what is
// wrong. `key_last` holds each key's (partition, record number) so far.
std::string check_followed(Follow& f, const rivulet::RecordView& r,
                           std::map<std::string, std::pair<int32_t, long>>* key_last) {
  bool is_kv = f.topic == "kv";
  if (is_kv ? r.offset < f.next : r.offset != f.next) {
    return "expected offset " + std::string(is_kv ? "at least " : "") + std::to_string(f.next) +
           (is_kv ? " (increasing)" : " (dense, in order)");
  }
  f.next = r.offset + 1;
  if (f.topic == "out") return check_out(r, nullptr);
  if (is_kv) {
    if (parse_kv_key(r.key) < 0) return "not a key of \"kv\"";
    InRec rec;
    return r.value ? parse_body(r, &rec) : "";  // a null value is a tombstone
  }
  InRec rec;
  if (std::string bad = parse_in(r, &rec); !bad.empty()) return bad;
  // Per-key order: one producer's records of a key, in one partition.
  auto [k, fresh] = key_last->try_emplace(f.topic + "/" + std::string(*r.key), r.partition, rec.n);
  if (fresh) return "";
  if (k->second.first != r.partition) return "key " + k->first + " also in partition " + std::to_string(k->second.first);
  if (k->second.second >= rec.n) {
    return "record " + std::to_string(rec.n) + " of key " + k->first + " after record " +
           std::to_string(k->second.second) + " (per-key order)";
  }
  k->second.second = rec.n;
  return "";
}

// Follows "in", "out", "ret" and "kv" from the start, checking as it reads;
// reports "S <in records> <out records> <times retention overtook it>" when
// it has read more. It reads "ret" in bursts 0-3 s apart, longer than
// retention.bytes takes to write, so retention often overtakes it.
int run_consumer(const std::string& path, bool read_only, uint64_t seed) {
  rivulet::OpenOptions options = role_options();
  options.read_only = read_only;
  auto db = rivulet::Db::open(path, options);
  if (!db.ok()) return error("consumer", "open", db.status());
  std::mt19937_64 rng(seed);
  std::vector<Follow> follows;
  for (const char* topic : {"in", "out", "ret", "kv"}) {
    int partitions = topic[0] == 'i' || topic[0] == 'o' ? kPartitions : kSidePartitions;
    for (int p = 0; p < partitions; ++p) {
      auto r = (*db)->reader(topic, p, rivulet::StartAt::earliest());
      if (!r.ok()) return error("consumer", "reader", r.status());
      follows.push_back({topic, std::move(r).value(), 0, {}});
      follows.back().next = follows.back().reader->position();
    }
  }
  std::map<std::string, std::pair<int32_t, long>> key_last;  // topic/key -> (partition, n)
  long totals[2] = {0, 0}, jumps = 0;
  long reported[3] = {-1, -1, -1};
  auto last_report = Clock::now() - 1s;
  std::string me = "consumer " + std::to_string(getpid()) + (read_only ? " (read-only)" : "");
  for (;;) {
    bool stopping = g_stop;  // read everything there is once more, then stop
    bool got = false;
    std::vector<rivulet::Reader*> waiting;
    auto wake = Clock::now() + 50ms;
    for (Follow& f : follows) {
      if (f.resume > Clock::now() && !stopping) {
        wake = std::min(wake, f.resume);
        continue;
      }
      waiting.push_back(f.reader.get());
      auto recs = f.reader->poll(0ms, 500);
      if (!recs.ok() && f.topic == "ret" && recs.status().code() == rivulet::Code::out_of_range) {
        if (std::string bad = skip_dropped(**db, f, recs.status()); !bad.empty()) return violation(me + ": " + bad);
        ++jumps;
        got = true;
        continue;
      }
      if (!recs.ok()) return error("consumer", "poll", recs.status());
      for (const rivulet::RecordView& r : *recs) {
        std::string at = where(f.topic, r.partition, r.offset);
        if (std::string bad = check_followed(f, r, &key_last); !bad.empty()) return violation(me + ": " + at + ": " + bad);
        if (f.topic == "in" || f.topic == "out") ++totals[f.topic == "in" ? 0 : 1];
        got = true;
      }
      if (f.topic == "ret" && !recs->empty()) f.resume = Clock::now() + std::chrono::milliseconds(rng() % 3000);
    }
    bool more = reported[0] != totals[0] || reported[1] != totals[1] || reported[2] != jumps;
    if (more && (stopping || Clock::now() - last_report >= 50ms)) {
      say(1, "S " + std::to_string(totals[0]) + " " + std::to_string(totals[1]) + " " + std::to_string(jumps) + "\n");
      reported[0] = totals[0], reported[1] = totals[1], reported[2] = jumps;
      last_report = Clock::now();
    }
    if (stopping && !got) break;
    if (!got) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - Clock::now());
      auto ready = (*db)->wait_any(waiting, std::max(wait, 1ms));
      if (!ready.ok()) return error("consumer", "wait_any", ready.status());
    }
  }
  follows.clear();
  rivulet::Status st = (*db)->close();
  return st.ok() ? 0 : error("consumer", "close", st);
}

int run_member(const std::string& path, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto db = rivulet::Db::open(path, role_options());
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

enum Role { kProducer, kConsumer, kMember, kChurner, kVacuum, kRoles };
const char* kRoleName[kRoles] = {"producer", "consumer", "member", "churner", "vacuum"};
const int kRoleCount[kRoles] = {4, 2, 3, 2, 1};  // processes of each role at a time

struct Child {
  Role role;
  int slot = 0;
  long id = -1;  // producers and churners: the id its records carry
  pid_t pid = -1;
  int out = -1, err = -1;
  std::string out_buf, err_text;
  bool running = true;
  bool killed = false;    // by us, with SIGKILL
  bool stopping = false;  // sent SIGTERM
  int status = 0;
  long seen[2] = {0, 0};  // consumers: last progress report
  long jumps = 0;         // consumers: times retention overtook a reader of "ret"
  bool done() const { return !running && out < 0 && err < 0; }
};

// A record a churner announced: 'R' (to "ret"), 'K' (a value of "kv" key
// `key`) or 'T' (a tombstone of it).
struct Planned {
  char kind = 0;
  int key = -1;
};

// What one producer (or churner) process was acknowledged for: the
// partition and offset of each record up to the last acknowledged one.
// Churners also announce each commit before making it: `planned` goes one
// commit further than `acked` if the churner was killed in between.
struct Producer {
  std::vector<std::pair<int32_t, int64_t>> acked;
  std::vector<Planned> planned;
};

struct Verdict {
  long violations = 0;
  void add(const std::string& what) {
    if (++violations <= 50) fprintf(stderr, "VIOLATION %s\n", what.c_str());
    if (violations == 50) fprintf(stderr, "(further violations not printed)\n");
  }
};

// The size on disk, as Torture::sample sees it every second.
struct Space {
  long samples = 0;
  uint64_t max_disk = 0, max_disk_live = 0, max_disk_bound = 0;  // the largest sample, its live bytes, its bound
  uint64_t max_disk_held = 0;                                     // and its segments held (space_bound)
  std::vector<double> open_ms;                                    // of each read-only open, in order
  long checkpoints = 0;                                           // distinct ones seen (a lower bound)
  uint64_t checkpoint_position = 0;
  uint64_t reused = 0;  // segment uses beyond the first of each segment
  double min_margin = 1;  // smallest (bound - on disk) / bound of a sample
  uint64_t uses = 0;    // segment uses in all (MiB of log written, about)
  uint64_t last_disk = 0, last_live = 0, last_held = 0;  // of the last sample
};

class Torture {
 public:
  Torture(std::string self, std::string path, uint64_t seed) : self_(std::move(self)), path_(std::move(path)), rng_(seed) {}

  int run(std::chrono::seconds duration);

 private:
  Child* start(Role role, int slot);
  void pump(std::chrono::milliseconds wait);
  void on_line(Child& c, const std::string& line);
  bool take_ack(const std::string& who, const std::string& line, Producer& p, size_t limit);
  bool take_plan(const std::string& who, const std::string& line, Producer& p);
  void on_exit(Child& c);
  bool wait_until(const std::function<bool()>& done, std::chrono::seconds limit, const std::string& what);
  std::vector<Child*> live(Role role);
  void stop(Role role);
  void sample(bool after_vacuum = false);
  void apply_retention();
  void verify();
  void verify_ret(rivulet::Db& db);
  void verify_kv(rivulet::Db& db, bool after_vacuum);
  void vacuum_and_verify_kv();

  std::string self_, path_;
  std::mt19937_64 rng_;
  std::deque<Child> children_;
  std::vector<Producer> producers_;  // by id
  std::vector<Producer> churners_;   // by id
  Verdict verdict_;
  bool restart_ = true;
  long started_[kRoles] = {}, kills_[kRoles] = {};
  long acked_records_ = 0, verified_in_ = 0, verified_out_ = 0;
  long unacked_commits_ = 0;  // in the file, though their producer was killed before hearing so
  long churn_acked_ = 0, verified_ret_ = 0, verified_kv_ = 0, vacuums_ = 0, jumps_ = 0;
  long kv_dropped_ = 0, kv_gone_keys_ = 0;  // records compaction removed; keys only a tombstone removed
  long kv_gone_after_vacuum_ = 0;
  int64_t ret_dropped_ = 0;                 // offsets of "ret" below the earliest at the end
  std::vector<int64_t> ret_earliest_ = std::vector<int64_t>(kSidePartitions, 0);
  Space space_;
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
  } else if (role == kChurner) {
    // Slot 0 syncs normal, 1 full; ~700 KB/s of "ret" in all, most of the
    // log, so retention empties segments for cleaning and reuse.
    c.id = static_cast<long>(churners_.size());
    churners_.emplace_back();
    args.insert(args.end(), {std::to_string(c.id), slot == 1 ? "full" : "normal", std::to_string(rng_()), "20000"});
  } else if (role == kConsumer) {
    args.insert(args.end(), {slot == 0 ? "ro" : "rw", std::to_string(rng_())});
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

// "A FIRST LAST P:O..." after a commit returned: records FIRST..LAST (the
// next ones, and fewer than `limit`) landed at those partitions and offsets.
bool Torture::take_ack(const std::string& who, const std::string& line, Producer& p, size_t limit) {
  long first = -1, last = -1;
  int used = 0;
  if (sscanf(line.c_str(), "A %ld %ld%n", &first, &last, &used) != 2 || first != static_cast<long>(p.acked.size()) ||
      last < first || static_cast<size_t>(last) >= limit) {
    verdict_.add(who + ": bad acknowledgement '" + line + "' after " + std::to_string(p.acked.size()));
    return false;
  }
  const char* s = line.c_str() + used;
  for (long n = first; n <= last; ++n) {
    int part = -1;
    long long off = -1;
    int len = 0;
    if (sscanf(s, " %d:%lld%n", &part, &off, &len) != 2) {
      verdict_.add(who + ": bad acknowledgement '" + line + "'");
      return false;
    }
    s += len;
    p.acked.emplace_back(part, off);
  }
  last_ack_ = Clock::now();
  return true;
}

// "W FIRST LAST KIND..." before a churner's commit.
bool Torture::take_plan(const std::string& who, const std::string& line, Producer& p) {
  long first = -1, last = -1;
  int used = 0;
  if (sscanf(line.c_str(), "W %ld %ld%n", &first, &last, &used) != 2 || first != static_cast<long>(p.planned.size()) ||
      p.acked.size() != p.planned.size() || last < first) {
    verdict_.add(who + ": bad announcement '" + line + "' after " + std::to_string(p.planned.size()));
    return false;
  }
  const char* s = line.c_str() + used;
  for (long n = first; n <= last; ++n) {
    char kind = 0;
    int len = 0, key_len = 0, key = -1;
    bool ok = sscanf(s, " %c%n", &kind, &len) == 1 &&
              (kind == 'R' || ((kind == 'K' || kind == 'T') && sscanf(s + len, "%d%n", &key, &key_len) == 1 &&
                               key >= 0 && key < kKvKeys));
    if (!ok) {
      verdict_.add(who + ": bad announcement '" + line + "'");
      return false;
    }
    s += len + key_len;
    p.planned.push_back({kind, key});
  }
  return true;
}

void Torture::on_line(Child& c, const std::string& line) {
  std::string who = std::string(kRoleName[c.role]) + " " + std::to_string(c.pid);
  if (c.role == kProducer) {
    Producer& p = producers_[static_cast<size_t>(c.id)];
    size_t before = p.acked.size();
    if (take_ack(who, line, p, SIZE_MAX)) acked_records_ += static_cast<long>(p.acked.size() - before);
  } else if (c.role == kChurner) {
    Producer& p = churners_[static_cast<size_t>(c.id)];
    size_t before = p.acked.size();
    if (line.starts_with("W ")) {
      take_plan(who, line, p);
    } else if (take_ack(who, line, p, p.planned.size())) {
      churn_acked_ += static_cast<long>(p.acked.size() - before);
    }
  } else if (c.role == kConsumer) {
    if (sscanf(line.c_str(), "S %ld %ld %ld", &c.seen[0], &c.seen[1], &c.jumps) != 3) {
      verdict_.add(who + ": bad line '" + line + "'");
    }
  } else if (c.role == kVacuum && line == "V") {
    ++vacuums_;
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
  jumps_ += c.jumps;
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

// Creates the file and its topics. False (and says why) if it cannot.
bool create_file(const std::string& path) {
  rivulet::OpenOptions options = role_options();
  options.create_if_missing = true;
  options.segment_size = kSegmentSize;  // many segment changes (and syncs of the superblock), and reuse
  auto db = rivulet::Db::open(path, options);
  rivulet::Status st = db.ok() ? rivulet::Status::OK() : db.status();
  for (const char* t : {"in", "out"}) {
    if (st.ok()) st = (*db)->create_topic(t, {.partitions = kPartitions});
  }
  if (st.ok()) {
    st = (*db)->create_topic("ret", {.partitions = kSidePartitions,
                                     .cleanup_policy = rivulet::CleanupPolicy::delete_,
                                     .retention_bytes = kRetentionBytes});
  }
  if (st.ok()) {
    st = (*db)->create_topic("kv", {.partitions = kSidePartitions,
                                    .cleanup_policy = rivulet::CleanupPolicy::compact,
                                    .delete_retention_ms = kDeleteRetentionMs});
  }
  if (st.ok()) st = (*db)->close();
  if (!st.ok()) fprintf(stderr, "rivulet_torture: %s\n", st.to_string().c_str());
  return st.ok();
}

long sum(const long (&per_role)[kRoles]) {
  long n = 0;
  for (long v : per_role) n += v;
  return n;
}

// "N (producers N, consumers N, ...)".
std::string per_role(const long (&counts)[kRoles]) {
  std::string out = std::to_string(sum(counts)) + " (";
  for (int r = 0; r < kRoles; ++r) out += std::string(r ? ", " : "") + kRoleName[r] + " " + std::to_string(counts[r]);
  return out + ")";
}

int Torture::run(std::chrono::seconds duration) {
  if (!create_file(path_)) return 2;
  for (int r = 0; r < kRoles; ++r) {
    for (int s = 0; s < kRoleCount[r]; ++s) start(static_cast<Role>(r), s);
  }
  auto begin = Clock::now(), end = begin + duration;
  auto next_kill = begin + std::chrono::milliseconds(100 + rng_() % 400);
  auto next_note = begin + 60s;
  auto next_sample = begin + 1s;
  while (Clock::now() < end) {
    pump(10ms);
    if (Clock::now() >= next_sample) {
      sample();
      next_sample = Clock::now() + 1s;
    }
    if (Clock::now() >= next_note) {
      next_note += 60s;
      printf("  %3ld min: %ld + %ld records acknowledged, %ld SIGKILLs, %.0f MB on disk, %ld violations\n",
             static_cast<long>(std::chrono::duration_cast<std::chrono::minutes>(Clock::now() - begin).count()),
             acked_records_, churn_acked_, sum(kills_), static_cast<double>(space_.max_disk) / 1e6,
             verdict_.violations);
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

  // Stop the writers of records (a clean close), let members drain "in"
  // into "out" and consumers catch up, then stop everyone.
  restart_ = false;
  for (Role r : {kProducer, kChurner, kVacuum}) stop(r);
  wait_until([&] { return live(kProducer).empty() && live(kChurner).empty() && live(kVacuum).empty(); }, 60s,
             "producers did not stop");
  std::vector<int64_t> in_end(kPartitions, 0);
  long in_total = 0;
  {
    rivulet::OpenOptions ro = role_options();
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

  apply_retention();
  sample();
  verify();
  vacuum_and_verify_kv();

  std::error_code ec;
  printf("rivulet_torture: %.1f minutes, file %s (%.0f MB)\n", minutes, path_.c_str(),
         static_cast<double>(std::filesystem::file_size(path_, ec)) / 1e6);
  printf("  processes started  %s\n", per_role(started_).c_str());
  printf("  SIGKILLs           %s\n", per_role(kills_).c_str());
  printf("  records acknowledged %ld (plus %ld commits in the file whose producer was killed before it "
         "returned)\n",
         acked_records_, unacked_commits_);
  printf("  records verified   %ld in \"in\", %ld transforms in \"out\" (exactly once)\n", verified_in_,
         verified_out_);
  printf("  churn acknowledged %ld records to \"ret\" and \"kv\"; verified %ld in \"ret\" (%" PRId64
         " offsets below the earliest dropped), %ld in \"kv\" (%ld removed by compaction, %ld keys gone with "
         "their tombstone)\n",
         churn_acked_, verified_ret_, ret_dropped_, verified_kv_, kv_dropped_, kv_gone_keys_);
  printf("  vacuums finished   %ld; readers overtaken by retention %ld; keys of \"kv\" gone after a last vacuum %ld\n",
         vacuums_, jumps_, kv_gone_after_vacuum_);
  printf("  space (%ld samples) at most %.1f MB on disk (%.1f MB live, %" PRIu64 " segments held, bound %.1f MB; "
         "closest to its bound: %.0f%% under) while %" PRIu64 " segments of log were written (%" PRIu64
         " reuses); after the last vacuum %.1f MB on disk, %.1f MB live, %" PRIu64 " held\n",
         space_.samples, static_cast<double>(space_.max_disk) / 1e6, static_cast<double>(space_.max_disk_live) / 1e6,
         space_.max_disk_held, static_cast<double>(space_.max_disk_bound) / 1e6, space_.min_margin * 100, space_.uses,
         space_.reused, static_cast<double>(space_.last_disk) / 1e6, static_cast<double>(space_.last_live) / 1e6,
         space_.last_held);
  std::vector<double> opens = space_.open_ms;
  std::sort(opens.begin(), opens.end());
  printf("  checkpoints        %ld seen by the samples (a lower bound); read-only opens: median %.1f ms, slowest "
         "%.1f ms, after the last vacuum (nothing else running) %.1f ms\n",
         space_.checkpoints, opens.empty() ? 0 : opens[opens.size() / 2], opens.empty() ? 0 : opens.back(),
         space_.open_ms.empty() ? 0 : space_.open_ms.back());
  printf("  violations         %ld\n", verdict_.violations);
  return verdict_.violations == 0 ? 0 : 1;
}

// The size on disk may grow with what is live, not with what was written.
// A segment in use whose live bytes fall under a quarter of its room is
// cleaned inline (CleanerLimits::max_live_fraction), so it holds at least a
// quarter live, but for the one being cleaned and one per "ret" partition
// spared because retention is about to empty it; after a vacuum, which
// cleans every segment short of 98% live, nearly all of it is live. Segments
// a reader may still read (segment_seq >= the lowest read mark) or not
// wholly before the newest checkpoint are neither reused nor punched,
// whatever they hold: `held` counts them. Free segments are punched when a
// checkpoint is written (every 256 KiB of log, a fraction of a second here),
// so those a reader held then and has left since are on disk until the next:
// the factor 4 leaves room for them. Plus an allocation step (at most 4 MiB)
// and the header blocks.
uint64_t space_bound(uint64_t live, uint64_t held, bool after_vacuum) {
  uint64_t data = after_vacuum ? live + live / 49 : 4 * live;
  return data + (held + 1 + kSidePartitions) * kSegmentSize + (4u << 20) + (16u << 10);
}

void Torture::sample(bool after_vacuum) {
  rivulet::OpenOptions ro = role_options();
  ro.read_only = true;
  auto t0 = Clock::now();
  auto db = rivulet::Db::open(path_, ro);
  space_.open_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  if (!db.ok()) return verdict_.add("open to sample the size: " + db.status().to_string());
  auto st = (*db)->stat();
  if (!st.ok()) return verdict_.add("stat: " + st.status().to_string());
  ++space_.samples;
  uint64_t hold = st->lowest_read_mark;
  size_t at = (st->checkpoint_position - (16u << 10)) / kSegmentSize;  // the newest checkpoint's segment
  if (st->checkpoint_position > 0 && at < st->segments.size()) hold = std::min(hold, st->segments[at].seq);
  uint64_t live = 0, held = 0, max_seq = 0;
  for (const rivulet::SegmentInfo& g : st->segments) {
    max_seq = std::max(max_seq, g.seq);
    live += g.state == rivulet::SegmentInfo::State::in_use ? g.live_bytes : 0;
    held += g.seq >= hold;
  }
  // Segment seqs count segment uses, in log order.
  space_.reused = std::max<uint64_t>(space_.reused, max_seq + 1 - st->segments.size());
  space_.uses = std::max<uint64_t>(space_.uses, max_seq + 1);
  space_.last_disk = st->disk_bytes, space_.last_live = live, space_.last_held = held;
  if (st->checkpoint_position != space_.checkpoint_position) ++space_.checkpoints;
  space_.checkpoint_position = st->checkpoint_position;
  uint64_t bound = space_bound(live, held, after_vacuum);
  if (st->disk_bytes > space_.max_disk) {
    space_.max_disk = st->disk_bytes, space_.max_disk_live = live, space_.max_disk_bound = bound;
    space_.max_disk_held = held;
  }
  space_.min_margin = std::min(space_.min_margin, (static_cast<double>(bound) - static_cast<double>(st->disk_bytes)) /
                                                      static_cast<double>(bound));
  if (st->disk_bytes > bound) {
    verdict_.add("size on disk " + std::to_string(st->disk_bytes) + (after_vacuum ? " after a vacuum" : "") + " is over its bound " + std::to_string(bound) +
                 " (" + std::to_string(live) + " bytes live, " + std::to_string(held) + " of " +
                 std::to_string(st->segments.size()) + " segments held by readers or the checkpoint)");
  }
  for (const rivulet::TopicInfo& t : st->topics) {
    for (size_t p = 0; t.name == "ret" && p < t.partitions.size() && p < ret_earliest_.size(); ++p) {
      if (t.partitions[p].first_offset < ret_earliest_[p]) {
        verdict_.add(where("ret", static_cast<int32_t>(p), t.partitions[p].first_offset) + ": earliest offset went back from " +
                     std::to_string(ret_earliest_[p]));
      }
      ret_earliest_[p] = std::max(ret_earliest_[p], t.partitions[p].first_offset);
    }
  }
  if (auto s = (*db)->close(); !s.ok()) verdict_.add("close after a sample: " + s.to_string());
}

// Retention runs with commits, at most once a second per handle: the last
// records to "ret" may not have been looked at. Altering the topic applies
// its retention at once, so that verify_ret can hold each partition to
// retention.bytes.
// Tombstones go only in a compaction pass after delete.retention.ms, and the
// last records of "kv" are younger than that: a last vacuum once they are
// old enough removes some (counted), and "kv" must still verify.
void Torture::vacuum_and_verify_kv() {
  std::this_thread::sleep_for(std::chrono::milliseconds(kDeleteRetentionMs + 100));
  {
    auto db = rivulet::Db::open(path_, role_options());
    if (!db.ok()) return verdict_.add("open to vacuum: " + db.status().to_string());
    auto report = (*db)->vacuum();
    if (!report.ok()) verdict_.add("vacuum at the end: " + report.status().to_string());
    if (auto st = (*db)->close(); !st.ok()) verdict_.add("close after vacuum: " + st.to_string());
  }
  sample(true);
  rivulet::OpenOptions ro = role_options();
  ro.read_only = true;
  auto db = rivulet::Db::open(path_, ro);
  if (!db.ok()) return verdict_.add("open after vacuum: " + db.status().to_string());
  long kv_gone_keys = kv_gone_keys_, verified_kv = verified_kv_;
  verify_kv(**db, true);
  kv_gone_after_vacuum_ = kv_gone_keys_;
  kv_gone_keys_ = kv_gone_keys, verified_kv_ = verified_kv;
  if (auto st = (*db)->close(); !st.ok()) verdict_.add("close: " + st.to_string());
}

void Torture::apply_retention() {
  auto db = rivulet::Db::open(path_, role_options());
  if (!db.ok()) return verdict_.add("open to apply retention: " + db.status().to_string());
  auto ret = (*db)->describe_topic("ret");
  rivulet::Status st = ret.ok() ? (*db)->alter_topic("ret", ret->config) : ret.status();
  if (st.ok()) st = (*db)->close();
  if (!st.ok()) verdict_.add("apply retention: " + st.to_string());
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
  verify_ret(**db);
  verify_kv(**db, false);
  if (auto st = (*db)->close(); !st.ok()) verdict_.add("close: " + st.to_string());
}

// Where each acknowledged churner record of `topic` landed: (partition,
// offset) -> (churner, record number). An offset acknowledged twice was
// reused.
using AckedAt = std::map<std::pair<int32_t, int64_t>, std::pair<size_t, size_t>>;
AckedAt acked_at(const std::vector<Producer>& churners, bool ret, Verdict* verdict) {
  AckedAt at;
  for (size_t id = 0; id < churners.size(); ++id) {
    const Producer& c = churners[id];
    for (size_t n = 0; n < c.acked.size(); ++n) {
      if ((c.planned[n].kind == 'R') != ret) continue;
      auto [it, fresh] = at.try_emplace(c.acked[n], id, n);
      if (!fresh) {
        verdict->add(where(ret ? "ret" : "kv", c.acked[n].first, c.acked[n].second) + ": acknowledged to record " +
                     std::to_string(id) + "/" + std::to_string(n) + " and to " + std::to_string(it->second.first) +
                     "/" + std::to_string(it->second.second) + " (offset reused)");
      }
    }
  }
  return at;
}

// The churner record a value of "ret" or "kv" names, checked against what
// was announced and acknowledged: empty if it is the record `kind` (of key
// `key`) its churner announced, at its acknowledged position if it was
// acknowledged (else it was in the commit in flight when the churner was
// killed), else what is wrong.
std::string check_churned(const std::vector<Producer>& churners, const AckedAt& acked, const rivulet::RecordView& r,
                          char kind, int key, std::set<std::pair<long, long>>* seen) {
  InRec rec;
  std::string bad = kind == 'R' ? parse_in(r, &rec) : parse_body(r, &rec);
  if (!bad.empty()) return bad;
  std::string what = "record " + std::to_string(rec.id) + "/" + std::to_string(rec.n);
  if (rec.id < 0 || static_cast<size_t>(rec.id) >= churners.size()) return "no churner " + std::to_string(rec.id) + " was started";
  const Producer& c = churners[static_cast<size_t>(rec.id)];
  size_t n = static_cast<size_t>(rec.n);
  if (n >= c.planned.size() || c.planned[n].kind != kind || c.planned[n].key != key) {
    return what + " is not what its churner announced";
  }
  if (!seen->emplace(rec.id, rec.n).second) return what + " is there twice";
  auto it = acked.find({r.partition, r.offset});
  if (n < c.acked.size() && c.acked[n] != std::pair<int32_t, int64_t>(r.partition, r.offset)) {
    return what + " was acknowledged at " + where(kind == 'R' ? "ret" : "kv", c.acked[n].first, c.acked[n].second);
  }
  if (n >= c.acked.size() && it != acked.end()) return what + " (never acknowledged) is where another record was acknowledged";
  return "";
}

// "ret": from each partition's earliest offset on, every acknowledged record
// is at its offset, dense, and the only others are of commits in flight when
// their churner was killed; below it records may be gone. Retention must
// have run, and (after apply_retention) left about retention.bytes.
void Torture::verify_ret(rivulet::Db& db) {
  AckedAt acked = acked_at(churners_, true, &verdict_);
  auto info = db.describe_topic("ret");
  if (!info.ok()) return verdict_.add("describe ret: " + info.status().to_string());
  std::set<std::pair<long, long>> seen;
  for (int32_t p = 0; p < kSidePartitions; ++p) {
    const rivulet::PartitionInfo& part = info->partitions[static_cast<size_t>(p)];
    ret_dropped_ += part.first_offset;
    auto reader = db.reader("ret", p, rivulet::StartAt::earliest());
    if (!reader.ok()) return verdict_.add("reader: " + reader.status().to_string());
    int64_t expect = part.first_offset;
    std::set<int64_t> there;
    for (;;) {
      auto recs = (*reader)->poll(0ms, 10000);
      if (!recs.ok()) return verdict_.add(where("ret", p, (*reader)->position()) + ": " + recs.status().to_string());
      if (recs->empty()) break;
      for (const rivulet::RecordView& r : *recs) {
        std::string at = where("ret", p, r.offset);
        if (r.offset != expect) verdict_.add(at + ": expected offset " + std::to_string(expect) + " (dense)");
        expect = r.offset + 1;
        there.insert(r.offset);
        if (std::string bad = check_churned(churners_, acked, r, 'R', -1, &seen); !bad.empty()) {
          verdict_.add(at + ": " + bad);
        } else {
          ++verified_ret_;
        }
      }
    }
    if (expect != part.next_offset) {
      verdict_.add("ret[" + std::to_string(p) + "] ends at " + std::to_string(expect) + ", its next offset is " +
                   std::to_string(part.next_offset));
    }
    long acked_here = 0;
    for (const auto& [pos, rec] : acked) {
      if (pos.first != p) continue;
      ++acked_here;
      if (pos.second >= part.first_offset && !there.count(pos.second)) {
        verdict_.add(where("ret", p, pos.second) + ": acknowledged record " + std::to_string(rec.first) + "/" +
                     std::to_string(rec.second) + " is missing (the earliest offset is " +
                     std::to_string(part.first_offset) + ")");
      }
    }
    // Every value is at least kRetMinValue bytes: past twice retention.bytes
    // of them, retention must have dropped some, and (applied at the end)
    // keeps less than retention.bytes plus the oldest batch kept.
    if (acked_here > 2 * kRetentionBytes / kRetMinValue && part.first_offset == 0) {
      verdict_.add("ret[" + std::to_string(p) + "]: " + std::to_string(acked_here) +
                   " records acknowledged, yet retention dropped none");
    }
    if (part.bytes > static_cast<uint64_t>(kRetentionBytes) + (64u << 10)) {
      verdict_.add("ret[" + std::to_string(p) + "] holds " + std::to_string(part.bytes) +
                   " bytes, over its retention.bytes " + std::to_string(kRetentionBytes) + " (and a batch)");
    }
  }
}

// "kv": every record there is intact, at a unique offset, and one its
// churner announced (at its acknowledged offset if it was acknowledged).
// For each key, its newest record there is its last acknowledged one or
// later (a commit in flight may have superseded it); the key may be gone
// only if that last record was a tombstone, or one was in flight, since
// compaction drops tombstones after delete.retention.ms. Compaction must
// have removed something once a partition held a few times the 64 KiB that
// start a pass (every record takes 40 bytes or more); after a vacuum, once
// every tombstone was older than delete.retention.ms, only each key's
// newest value may be left.
void Torture::verify_kv(rivulet::Db& db, bool after_vacuum) {
  AckedAt acked = acked_at(churners_, false, &verdict_);
  struct Key {
    int32_t p = -1;      // partition of the key's acknowledged records
    int64_t last = -1;   // offset of the last acknowledged one
    char kind = 0;       // and what it was
    bool tombstone_in_flight = false;
    int64_t newest = -1;  // offset of the newest record there
    int there = 0;        // records there
  };
  std::vector<Key> keys(kKvKeys);
  for (const auto& [pos, rec] : acked) {
    Key& k = keys[static_cast<size_t>(churners_[rec.first].planned[rec.second].key)];
    if (k.p >= 0 && k.p != pos.first) verdict_.add(where("kv", pos.first, pos.second) + ": its key is also in partition " + std::to_string(k.p));
    k.p = pos.first;
    if (pos.second > k.last) k.last = pos.second, k.kind = churners_[rec.first].planned[rec.second].kind;
  }
  for (const Producer& c : churners_) {
    for (size_t n = c.acked.size(); n < c.planned.size(); ++n) {
      if (c.planned[n].kind == 'T') keys[static_cast<size_t>(c.planned[n].key)].tombstone_in_flight = true;
    }
  }
  auto info = db.describe_topic("kv");
  if (!info.ok()) return verdict_.add("describe kv: " + info.status().to_string());
  std::set<std::pair<long, long>> seen;
  int64_t span = 0, present = 0, largest_span = 0;
  verified_kv_ = kv_gone_keys_ = 0;
  for (int32_t p = 0; p < kSidePartitions; ++p) {
    const rivulet::PartitionInfo& part = info->partitions[static_cast<size_t>(p)];
    span += part.next_offset - part.first_offset;
    largest_span = std::max(largest_span, part.next_offset - part.first_offset);
    auto reader = db.reader("kv", p, rivulet::StartAt::earliest());
    if (!reader.ok()) return verdict_.add("reader: " + reader.status().to_string());
    int64_t last = -1;
    for (;;) {
      auto recs = (*reader)->poll(0ms, 10000);
      if (!recs.ok()) return verdict_.add(where("kv", p, (*reader)->position()) + ": " + recs.status().to_string());
      if (recs->empty()) break;
      for (const rivulet::RecordView& r : *recs) {
        std::string at = where("kv", p, r.offset);
        ++present;
        if (r.offset <= last) verdict_.add(at + ": after offset " + std::to_string(last) + " (offsets must increase)");
        last = r.offset;
        int j = parse_kv_key(r.key);
        if (j < 0) {
          verdict_.add(at + ": not a key of \"kv\"");
          continue;
        }
        Key& k = keys[static_cast<size_t>(j)];
        if (k.p >= 0 && k.p != p) verdict_.add(at + ": key " + std::to_string(j) + " belongs in partition " + std::to_string(k.p));
        k.newest = std::max(k.newest, r.offset);
        std::string bad;
        if (after_vacuum && (++k.there > 1 || !r.value)) {
          verdict_.add(at + ": after a vacuum, a " + (r.value ? "second record" : "tombstone") + " of key " +
                       std::to_string(j) + " is left");
        }
        if (r.value) {
          bad = check_churned(churners_, acked, r, 'K', j, &seen);
        } else if (auto it = acked.find({p, r.offset}); it != acked.end()) {
          const Planned& w = churners_[it->second.first].planned[it->second.second];
          if (w.kind != 'T' || w.key != j) bad = "a tombstone of key " + std::to_string(j) + " where another record was acknowledged";
        } else if (!k.tombstone_in_flight) {
          bad = "a tombstone of key " + std::to_string(j) + " nobody acknowledged or had in flight";
        }
        if (!bad.empty()) {
          verdict_.add(at + ": " + bad);
        } else {
          ++verified_kv_;
        }
      }
    }
  }
  for (int j = 0; j < kKvKeys; ++j) {
    const Key& k = keys[static_cast<size_t>(j)];
    if (k.last < 0 || k.newest >= k.last) continue;
    if (k.newest < 0 && (k.kind == 'T' || k.tombstone_in_flight)) {
      ++kv_gone_keys_;
      continue;
    }
    verdict_.add(where("kv", k.p, k.last) + ": the last acknowledged record of key " + std::to_string(j) +
                 " is gone, " + (k.newest < 0 ? "and so is every other" : "yet an older one at " + std::to_string(k.newest) + " is there"));
  }
  kv_dropped_ = span - present;
  if (present >= span && largest_span * 40 > 4 * (64 << 10)) {
    verdict_.add("kv: compaction removed nothing (" + std::to_string(present) + " records)");
  }
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
    if (role == "consumer" && args.size() == 5) return run_consumer(args[2], args[3] == "ro", std::stoull(args[4]));
    if (role == "member" && args.size() == 4) return run_member(args[2], std::stoull(args[3]));
    if (role == "churner" && args.size() == 7) {
      return run_churner(args[2], std::stol(args[3]), args[4] == "full", std::stoull(args[5]), std::stoi(args[6]));
    }
    if (role == "vacuum" && args.size() == 4) return run_vacuum(args[2], std::stoull(args[3]));
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
