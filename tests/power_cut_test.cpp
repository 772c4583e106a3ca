// Power cuts and I/O errors at every step of one scripted workload that uses
// every kind of commit Rivulet has (issue 6, points 1 and 2).
//
// The workload (workload()) is a list of steps: opening and closing handles
// under each sync mode (two at once for a while), creating and deleting
// topics, single-record produces, WriteBatch commits over several topics and
// partitions, group offset commits, and transactions (records in two topics
// plus add_offset), with 64 KiB segments so that the log crosses several.
// Every commit can be recognised in the file: a record's value is
// "c<id>/<i>/<count>|<padding>" and an offset's metadata is "c<id>".
//
// Each run replays the workload on a fresh file through a FaultEnv that cuts
// the power (PowerCut.EveryStep...) or fails one mutating call
// (PowerCut.IoError...) at call n, for n = 1, 2, ... until the workload
// finishes without reaching call n. A model notes what each commit returned
// (and, for power cuts, how far the log was known durable), and afterwards
// the file is reopened with the plain POSIX env: it must open, pass check,
// and its whole state (live topics, every partition's records in order,
// every committed offset) must equal the model's state after exactly the
// commits the rules allow; so a lost commit, a partial commit or a commit
// out of order all show up as a difference.
//
// Replaying one failure: RIVULET_SEED=S RIVULET_POWERCUT_STEP=n (power cuts)
// or RIVULET_IOFAULT_STEP=n (I/O errors; the seed plays no part there).
// Long runs: RIVULET_POWERCUT_SEEDS=N sweeps N seeds (S, S+1, ...).
// Checkpoints (every 24 KiB of log) and the reuse of freed segments happen
// inside the workload's commits. New kinds of steps go into Step::Kind,
// Workload::run and ScriptBuilder, and into apply() if they change the state.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "fault_env.hpp"
#include "forwarding_file.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using testing::Fault;
using testing::FaultEnv;
using testing::TempDir;

constexpr uint32_t kSegmentSize = 64 * 1024;  // the smallest allowed: many segment rolls
constexpr uint64_t kCheckpointBytes = 24 * 1024;
constexpr int64_t kBaseTimeMs = 1'700'000'000'000;

// Seeds a default run sweeps (RIVULET_POWERCUT_SEEDS overrides). Sanitizer
// builds, which CI runs too, are about ten times slower: one seed there.
#if defined(__SANITIZE_ADDRESS__)
#define RIVULET_POWERCUT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RIVULET_POWERCUT_SANITIZED 1
#endif
#endif
#ifdef RIVULET_POWERCUT_SANITIZED
constexpr uint64_t kDefaultSeeds = 1;
#else
constexpr uint64_t kDefaultSeeds = 4;
#endif

std::optional<uint64_t> env_number(const char* name) {
  const char* s = std::getenv(name);
  if (!s || !*s) return std::nullopt;
  return std::stoull(s);
}

// ---- the real file system without fdatasync ----

// FaultEnv decides what a power cut keeps from its own record of which
// writes a successful sync() covered, so whether the disk underneath really
// synced plays no part in these tests. A real fdatasync costs milliseconds
// on a VM, and the sweeps make tens of thousands of them.
class NoSyncEnv final : public io::Env {
 public:
  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    Result<std::unique_ptr<io::File>> f = base()->open(path, mode);
    if (!f.ok()) return f.status();
    return std::unique_ptr<io::File>(new File(std::move(f).value()));
  }
  Result<std::unique_ptr<io::SharedFile>> open_shared(const std::string& path, const std::string& like) override {
    return base()->open_shared(path, like);
  }
  Result<io::FileId> file_id(const std::string& path) override { return base()->file_id(path); }
  Result<uint64_t> file_size(const std::string& path) override { return base()->file_size(path); }
  Status rename_noreplace(const std::string& from, const std::string& to) override {
    return base()->rename_noreplace(from, to);
  }
  Status remove(const std::string& path) override { return base()->remove(path); }
  Status sync_parent_dir(const std::string&) override { return Status::OK(); }
  uint32_t boot_tag() override { return base()->boot_tag(); }

 private:
  static io::Env* base() { return io::Env::posix(); }

  class File final : public testing::ForwardingFile {
   public:
    using ForwardingFile::ForwardingFile;
    Status sync() override { return Status::OK(); }
  };
};

NoSyncEnv* no_sync_env() {
  static NoSyncEnv env;
  return &env;
}

// Where the runs make their files: in memory (/dev/shm) where there is such
// a place. Each run creates, maps, truncates and removes a few files, which
// on the CI VM's disk (ext4, mounted with discard) costs five times what
// the rest of the run does; what a disk keeps after a power cut is
// FaultEnv's to decide anyway.
std::filesystem::path scratch_parent() {
  static const std::filesystem::path parent = [] {
    std::error_code ec;
    if (std::filesystem::is_directory("/dev/shm", ec) && ::access("/dev/shm", W_OK | X_OK) == 0) {
      return std::filesystem::path("/dev/shm");
    }
    return std::filesystem::temp_directory_path();
  }();
  return parent;
}

// ---- the workload: a script of steps and the commits they make ----

struct RecordSpec {
  std::string topic;
  int32_t partition = 0;
  std::string value;
  int64_t timestamp_ms = 0;  // fixed, so every run writes the same bytes
};

struct OffsetSpec {
  std::string group;
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
};

// One commit as the model sees it. A commit either changes the catalog
// (create or delete a topic), deletes a group's offsets, or writes records
// and/or offsets.
struct Commit {
  int id = 0;  // commits run in id order, from 1
  std::string create_topic;
  int32_t partitions = 0;
  std::string delete_topic;
  std::string delete_group;
  std::vector<RecordSpec> records;
  std::vector<OffsetSpec> offsets;  // metadata: tag()

  std::string tag() const { return "c" + std::to_string(id); }
};

struct Step {
  enum class Kind { open, close, create_topic, delete_topic, produce, batch, commit_offsets, delete_group };
  Kind kind = Kind::open;
  int handle = 0;            // which of the two Db handles runs it
  Sync sync = Sync::normal;  // open: the handle's durability mode
  int commit = 0;            // the id of the commit it makes; 0 for open and close
};

struct Script {
  std::vector<Step> steps;
  std::vector<Commit> commits;  // commits[id - 1]

  const Commit& commit(int id) const { return commits.at(static_cast<size_t>(id - 1)); }
};

const char* sync_name(Sync s) {
  switch (s) {
    case Sync::off:
      return "off";
    case Sync::normal:
      return "normal";
    case Sync::full:
      return "full";
  }
  return "?";
}

std::string describe(const Step& s) {
  static const char* const kNames[] = {"open",    "close", "create_topic",   "delete_topic",
                                       "produce", "batch", "commit_offsets", "delete_group"};
  std::string out = std::string(kNames[static_cast<int>(s.kind)]) + " on handle " + std::to_string(s.handle);
  if (s.kind == Step::Kind::open) out += std::string(" under ") + sync_name(s.sync);
  if (s.commit) out += " (commit c" + std::to_string(s.commit) + ")";
  return out;
}

class ScriptBuilder {
 public:
  void open(int h, Sync sync) { step(Step::Kind::open, h, 0).sync = sync; }
  void close(int h) { step(Step::Kind::close, h, 0); }

  void create_topic(int h, const std::string& name, int32_t partitions) {
    Commit& c = new_commit();
    c.create_topic = name;
    c.partitions = partitions;
    step(Step::Kind::create_topic, h, c.id);
  }

  void delete_topic(int h, const std::string& name) {
    Commit& c = new_commit();
    c.delete_topic = name;
    step(Step::Kind::delete_topic, h, c.id);
  }

  // One record in a commit of its own (Db::produce).
  void produce(int h, const std::string& topic, int32_t partition) {
    Commit& c = new_commit();
    add_records(c, {{topic, partition}}, 1);
    step(Step::Kind::produce, h, c.id);
  }

  // A WriteBatch with `per_partition` records for each of `targets`, plus,
  // if `offsets` is not empty, `group`'s offsets for them: a transaction.
  void batch(int h, const std::vector<TopicPartition>& targets, int per_partition, const std::string& group = "",
             const std::vector<TopicPartition>& offsets = {}) {
    Commit& c = new_commit();
    add_records(c, targets, per_partition);
    add_offsets(c, group, offsets);
    step(Step::Kind::batch, h, c.id);
  }

  void commit_offsets(int h, const std::string& group, const std::vector<TopicPartition>& offsets) {
    Commit& c = new_commit();
    add_offsets(c, group, offsets);
    step(Step::Kind::commit_offsets, h, c.id);
  }

  void delete_group(int h, const std::string& group) {
    Commit& c = new_commit();
    c.delete_group = group;
    step(Step::Kind::delete_group, h, c.id);
  }

  Script take() { return std::move(script_); }

 private:
  Step& step(Step::Kind kind, int h, int commit) {
    Step s;
    s.kind = kind;
    s.handle = h;
    s.commit = commit;
    script_.steps.push_back(s);
    return script_.steps.back();
  }

  Commit& new_commit() {
    Commit c;
    c.id = static_cast<int>(script_.commits.size()) + 1;
    script_.commits.push_back(c);
    return script_.commits.back();
  }

  static void add_records(Commit& c, const std::vector<TopicPartition>& targets, int per_partition) {
    int count = static_cast<int>(targets.size()) * per_partition;
    int i = 0;
    for (const TopicPartition& tp : targets) {
      for (int k = 0; k < per_partition; ++k, ++i) {
        // Padding of varied length (500-6499 bytes) makes frames of many
        // sizes, so frame ends fall on every part of a sector and the log
        // rolls into new segments.
        size_t pad = 500 + static_cast<size_t>(c.id * 7919 + i * 104729) % 6000;
        std::string value = c.tag() + "/" + std::to_string(i) + "/" + std::to_string(count) + "|" +
                            std::string(pad, static_cast<char>('a' + (c.id + i) % 26));
        c.records.push_back({tp.topic, tp.partition, std::move(value), kBaseTimeMs + c.id});
      }
    }
  }

  static void add_offsets(Commit& c, const std::string& group, const std::vector<TopicPartition>& offsets) {
    for (const TopicPartition& tp : offsets) {
      c.offsets.push_back({group, tp.topic, tp.partition, c.id * 10 + tp.partition});
    }
  }

  Script script_;
};

// The workload: 44 steps, 36 commits, 81 mutating calls, each of which every
// sweep fails or cuts in turn. Record sizes are chosen so that the log
// rolls into a new segment under normal, off and full and with two handles
// open (five segments in all).
Script workload() {
  ScriptBuilder b;
  // A new file under normal: topics of several partitions, single records,
  // batches over partitions and topics, a group's first offset commit
  // (which also creates the internal offsets topic).
  b.open(0, Sync::normal);
  b.create_topic(0, "orders", 3);
  b.create_topic(0, "payments", 2);
  b.create_topic(0, "audit", 1);
  b.create_topic(0, "scratch", 2);
  b.produce(0, "orders", 0);
  b.produce(0, "audit", 0);
  b.batch(0, {{"orders", 0}, {"orders", 1}, {"orders", 2}}, 2);
  b.batch(0, {{"payments", 0}, {"payments", 1}, {"scratch", 0}, {"scratch", 1}}, 1);
  b.commit_offsets(0, "billing", {{"orders", 0}, {"orders", 1}, {"orders", 2}});
  for (int i = 0; i < 3; ++i) b.batch(0, {{"orders", i % 3}, {"payments", i % 2}}, 2);
  b.close(0);

  // Reopened under off: commits that nothing syncs, a transaction, and a
  // topic deleted.
  b.open(0, Sync::off);
  for (int i = 0; i < 3; ++i) b.batch(0, {{"orders", (i + 1) % 3}, {"audit", 0}}, 2);
  b.produce(0, "scratch", 1);
  b.batch(0, {{"payments", 0}, {"audit", 0}}, 2, "billing", {{"orders", 0}, {"orders", 1}});
  b.delete_topic(0, "scratch");
  b.close(0);

  // Under full: batches, transactions and offset commits, each synced
  // before it returns.
  b.open(0, Sync::full);
  for (int i = 0; i < 2; ++i) {
    b.batch(0, {{"orders", i % 3}, {"orders", (i + 1) % 3}}, 2);
    b.batch(0, {{"payments", i % 2}, {"audit", 0}}, 1, "etl", {{"orders", i % 3}});
  }
  b.produce(0, "orders", 1);
  b.commit_offsets(0, "billing", {{"payments", 0}, {"payments", 1}});
  b.commit_offsets(0, "replay", {{"orders", 0}, {"audit", 0}});

  // A second handle, under normal, beside the full one: their commits
  // interleave, and the full handle's syncs cover the normal one's frames.
  b.open(1, Sync::normal);
  for (int i = 0; i < 2; ++i) {
    b.batch(1, {{"orders", i % 3}, {"payments", 1}}, 2);
    b.batch(0, {{"audit", 0}, {"orders", 2}}, 1, "etl", {{"payments", i % 2}});
    b.produce(1, "audit", 0);
  }
  b.delete_group(1, "replay");  // a commit of null offsets, one per partition
  b.close(1);

  // The deleted topic's name again, for a topic of another shape.
  b.create_topic(0, "scratch", 1);
  b.batch(0, {{"scratch", 0}, {"orders", 1}}, 2);
  b.commit_offsets(0, "billing", {{"scratch", 0}});
  b.batch(0, {{"payments", 1}, {"scratch", 0}, {"audit", 0}}, 1, "etl", {{"audit", 0}, {"scratch", 0}});

  // Most of the data goes: checkpoints free the old segments, cleaning
  // copies scratch's few batches out of them, and the new topic's batches
  // reuse them (a segment-end frame naming a lower segment).
  b.delete_topic(0, "orders");
  b.delete_topic(0, "payments");
  b.delete_topic(0, "audit");
  b.create_topic(0, "tail", 2);
  for (int i = 0; i < 24; ++i) b.batch(0, {{"tail", i % 2}, {"scratch", 0}}, 2);
  b.close(0);
  return b.take();
}

// ---- running steps ----

// The Db handles of one run, and how to run a step with them.
class Workload {
 public:
  Workload(const Script& script, std::string path, io::Env* env)
      : script_(script), path_(std::move(path)), env_(env) {}
  ~Workload() { drop_handles(); }

  Db* db(int h) { return db_[h].get(); }
  Sync sync(int h) const { return sync_[h]; }

  // Runs one step. With `retry`, a batch step commits again the WriteBatch
  // whose commit failed (a failed commit leaves the batch as it was, so it
  // may be retried) instead of building a new one.
  Status run(const Step& s, bool retry = false) {
    if (s.kind == Step::Kind::open) return open(s.handle, s.sync);
    if (s.kind == Step::Kind::close) return close(s.handle);
    Db* db = db_[s.handle].get();
    const Commit& c = script_.commit(s.commit);
    switch (s.kind) {
      case Step::Kind::create_topic:
        return db->create_topic(c.create_topic, {.partitions = c.partitions});
      case Step::Kind::delete_topic:
        return db->delete_topic(c.delete_topic);
      case Step::Kind::produce: {
        const RecordSpec& r = c.records.at(0);
        return db->produce({.topic = r.topic, .value = r.value, .partition = r.partition,
                            .timestamp_ms = r.timestamp_ms})
            .status();
      }
      case Step::Kind::batch:
        return commit_batch(db, c, retry);
      case Step::Kind::commit_offsets: {
        std::vector<OffsetCommit> offsets;
        for (const OffsetSpec& o : c.offsets) offsets.push_back({o.topic, o.partition, o.offset, c.tag()});
        return db->commit_offsets(c.offsets.at(0).group, offsets);
      }
      case Step::Kind::delete_group:
        return db->delete_group(c.delete_group);
      case Step::Kind::open:
      case Step::Kind::close:
        break;
    }
    return Status::OK();
  }

  Status open(int h, Sync sync) {
    batch_.reset();
    OpenOptions o;
    o.env = env_;
    o.sync = sync;
    o.segment_size = kSegmentSize;
    // Checkpoints every few commits: cuts land in them, and the segments
    // of deleted topics before them are freed, punched and reused.
    o.checkpoint_bytes = kCheckpointBytes;
    Result<std::unique_ptr<Db>> db = Db::open(path_, o);
    if (!db.ok()) return db.status();
    db_[h] = std::move(db).value();
    sync_[h] = sync;
    return Status::OK();
  }

  Status close(int h) {
    batch_.reset();
    Status st = db_[h]->close();
    db_[h].reset();
    return st;
  }

  // Destroys the handles without looking at what closing them says (after a
  // power cut, when every call fails).
  void drop_handles() {
    batch_.reset();
    for (auto& db : db_) db.reset();
  }

 private:
  Status commit_batch(Db* db, const Commit& c, bool retry) {
    if (!retry || !batch_ || batch_db_ != db || batch_commit_ != c.id) {
      batch_.reset();
      auto batch = std::make_unique<WriteBatch>(*db);
      for (const RecordSpec& r : c.records) {
        RIVULET_TRY(batch->add({.topic = r.topic, .value = r.value, .partition = r.partition,
                                .timestamp_ms = r.timestamp_ms}));
      }
      for (const OffsetSpec& o : c.offsets) {
        RIVULET_TRY(batch->add_offset(o.group, {o.topic, o.partition, o.offset, c.tag()}));
      }
      batch_ = std::move(batch);
      batch_db_ = db;
      batch_commit_ = c.id;
    }
    return db->commit(*batch_);
  }

  const Script& script_;
  const std::string path_;
  io::Env* const env_;
  std::unique_ptr<Db> db_[2];
  Sync sync_[2] = {Sync::normal, Sync::normal};
  // The last batch built, kept for a retry (reset whenever a handle closes,
  // since a batch must not outlive its Db).
  std::unique_ptr<WriteBatch> batch_;
  const Db* batch_db_ = nullptr;
  int batch_commit_ = 0;
};

// ---- the state of a file, and the model's ----

// What a reader can see: the live topics with each partition's record
// values in offset order, and every committed offset.
struct State {
  std::map<std::string, std::vector<std::vector<std::string>>> topics;
  std::map<std::tuple<std::string, std::string, int32_t>, std::pair<int64_t, std::string>> offsets;

  bool operator==(const State&) const = default;
};

void apply(const Commit& c, State* s) {
  if (!c.create_topic.empty()) s->topics[c.create_topic].assign(static_cast<size_t>(c.partitions), {});
  if (!c.delete_topic.empty()) s->topics.erase(c.delete_topic);
  for (const RecordSpec& r : c.records) s->topics.at(r.topic).at(static_cast<size_t>(r.partition)).push_back(r.value);
  // Offsets are kept by topic name: they outlive the topic's deletion.
  for (const OffsetSpec& o : c.offsets) s->offsets[{o.group, o.topic, o.partition}] = {o.offset, c.tag()};
  if (!c.delete_group.empty()) {
    std::erase_if(s->offsets, [&](const auto& kv) { return std::get<0>(kv.first) == c.delete_group; });
  }
}

// Reads everything a reader of `db` can see.
Status read_state(Db& db, State* out) {
  Result<std::vector<TopicInfo>> topics = db.list_topics();
  if (!topics.ok()) return topics.status();
  for (const TopicInfo& t : *topics) {
    std::vector<std::vector<std::string>>& parts = out->topics[t.name];
    for (const PartitionInfo& p : t.partitions) {
      std::vector<std::string>& values = parts.emplace_back();
      Result<std::unique_ptr<Reader>> r = db.reader(t.name, p.partition);
      if (!r.ok()) return r.status();
      for (;;) {
        Result<std::span<const RecordView>> recs = (*r)->poll(0ms);
        if (!recs.ok()) return recs.status();
        if (recs->empty()) break;
        for (const RecordView& v : *recs) {
          if (v.offset != static_cast<int64_t>(values.size())) {
            return {Code::corruption, t.name + "/" + std::to_string(p.partition) + ": offset " +
                                          std::to_string(v.offset) + " after " + std::to_string(values.size()) +
                                          " records"};
          }
          values.emplace_back(v.value ? std::string(*v.value) : "<null>");
        }
      }
    }
  }
  Result<std::vector<GroupInfo>> groups = db.list_groups();
  if (!groups.ok()) return groups.status();
  for (const GroupInfo& g : *groups) {
    for (const GroupPartitionInfo& p : g.partitions) {
      out->offsets[{g.name, p.topic, p.partition}] = {p.committed.offset, p.committed.metadata};
    }
  }
  return Status::OK();
}

// "c12/3/6" for a value (its padding left out).
std::string short_value(const std::string& v) { return v.substr(0, v.find('|')); }

// Up to 12 lines saying how `got` differs from `want`.
std::string diff(const State& want, const State& got) {
  std::vector<std::string> lines;
  std::set<std::string> names;
  for (const auto& [name, parts] : want.topics) names.insert(name);
  for (const auto& [name, parts] : got.topics) names.insert(name);
  for (const std::string& name : names) {
    auto w = want.topics.find(name), g = got.topics.find(name);
    if (w == want.topics.end() || g == got.topics.end()) {
      lines.push_back("topic " + name + (g == got.topics.end() ? " is missing" : " should not exist"));
      continue;
    }
    if (w->second.size() != g->second.size()) {
      lines.push_back("topic " + name + " has " + std::to_string(g->second.size()) + " partitions, not " +
                      std::to_string(w->second.size()));
      continue;
    }
    for (size_t p = 0; p < w->second.size(); ++p) {
      const std::vector<std::string>& a = w->second[p];
      const std::vector<std::string>& b = g->second[p];
      if (a == b) continue;
      size_t i = 0;
      while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
      lines.push_back(name + "/" + std::to_string(p) + ": " + std::to_string(b.size()) + " records, expected " +
                      std::to_string(a.size()) + "; at offset " + std::to_string(i) + " expected " +
                      (i < a.size() ? short_value(a[i]) : "the end") + ", found " +
                      (i < b.size() ? short_value(b[i]) : "the end"));
    }
  }
  std::set<std::tuple<std::string, std::string, int32_t>> keys;
  for (const auto& [k, v] : want.offsets) keys.insert(k);
  for (const auto& [k, v] : got.offsets) keys.insert(k);
  for (const auto& k : keys) {
    auto w = want.offsets.find(k), g = got.offsets.find(k);
    auto show = [](const auto& it, const auto& end) {
      return it == end ? std::string("none") : std::to_string(it->second.first) + " (" + it->second.second + ")";
    };
    std::string a = show(w, want.offsets.end()), b = show(g, got.offsets.end());
    if (a != b) {
      lines.push_back("offset of group " + std::get<0>(k) + " for " + std::get<1>(k) + "/" +
                      std::to_string(std::get<2>(k)) + ": " + b + ", expected " + a);
    }
  }
  std::string out;
  for (size_t i = 0; i < lines.size() && i < 12; ++i) out += "  " + lines[i] + "\n";
  if (lines.size() > 12) out += "  ... " + std::to_string(lines.size() - 12) + " more\n";
  return out;
}

// Commits of which some but not all records are visible, and records seen
// twice: what all-or-nothing commits never show. Empty if none. (The exact
// comparison with the model catches these too; this says it plainly.)
// Deleting a topic hides its records, so a commit counts as partial only
// within one topic, or across topics that the script never deletes.
std::string partial_commits(const Script& script, const State& got) {
  std::set<std::string> deleted;
  for (const Commit& c : script.commits) {
    if (!c.delete_topic.empty()) deleted.insert(c.delete_topic);
  }
  std::map<std::string, int> seen;                         // short value -> times
  std::map<std::pair<int, std::string>, int> visible;      // (commit, topic) -> records seen
  for (const auto& [name, parts] : got.topics) {
    for (const auto& values : parts) {
      for (const std::string& v : values) {
        std::string s = short_value(v);
        ++seen[s];
        if (s.size() > 1 && s[0] == 'c') ++visible[{std::atoi(s.c_str() + 1), name}];
      }
    }
  }
  std::string out;
  for (const auto& [v, times] : seen) {
    if (times > 1) out += "  record " + v + " is there " + std::to_string(times) + " times\n";
  }
  for (const Commit& c : script.commits) {
    std::map<std::string, int> written;  // topic -> records of c
    for (const RecordSpec& r : c.records) ++written[r.topic];
    bool all = false, none = false;  // in some never-deleted topic
    for (const auto& [topic, n] : written) {
      auto it = visible.find({c.id, topic});
      int v = it == visible.end() ? 0 : it->second;
      if (v != 0 && v != n) {
        out += "  commit " + c.tag() + ": " + std::to_string(v) + " of its " + std::to_string(n) + " records in " +
               topic + " are visible\n";
      }
      if (!deleted.count(topic)) {
        all |= v == n;
        none |= v == 0;
      }
    }
    if (all && none) out += "  commit " + c.tag() + ": its records are visible in some topics, not in others\n";
  }
  return out;
}

// check_file must pass: no corruption anywhere, whatever the tail.
void expect_check_passes(const std::string& path) {
  Result<CheckReport> report = check_file(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  std::string problems;
  for (const std::string& p : report->problems) problems += "  " + p + "\n";
  EXPECT_TRUE(report->ok) << "check found corruption (tail: " << report->tail << "):\n" << problems;
}

// Opens the file with the plain POSIX env (under off: these checks need no
// fdatasync) and reads its state.
std::unique_ptr<Db> open_and_read(const std::string& path, State* got) {
  OpenOptions o;
  o.sync = Sync::off;
  Result<std::unique_ptr<Db>> db = Db::open(path, o);
  EXPECT_TRUE(db.ok()) << "the file does not open after the failure: " << db.status().to_string();
  if (!db.ok()) return nullptr;
  Status st = read_state(**db, got);
  EXPECT_TRUE(st.ok()) << "reading the file back failed: " << st.to_string();
  return st.ok() ? std::move(db).value() : nullptr;
}

// The recovered file takes commits again and stays valid: the first
// writer after a crash writes over the torn tail (or a failed commit's
// leftovers).
void expect_writable_after_recovery(Db& db, const State& got, const std::string& path) {
  if (got.topics.empty()) return;
  const std::string& topic = got.topics.begin()->first;
  Result<Appended> a = db.produce({.topic = topic, .value = "after recovery", .partition = 0});
  EXPECT_TRUE(a.ok()) << "a commit after recovery failed: " << a.status().to_string();
  EXPECT_TRUE(db.close().ok());
  expect_check_passes(path);
}

// Runs the workload without faults: every step must succeed. Returns how
// many mutating calls it makes, which is how many runs each sweep makes.
uint64_t workload_calls(const Script& script) {
  TempDir dir(scratch_parent());
  FaultEnv env(no_sync_env());
  uint64_t segments = 0;
  bool checkpointed = false, reused = false;
  {
    Workload w(script, dir.file("w.rvl"), &env);
    for (const Step& s : script.steps) {
      Status st = w.run(s);
      EXPECT_TRUE(st.ok()) << describe(s) << ": " << st.to_string();
      if (!st.ok()) return 0;
      Result<DbStats> stats = s.commit ? w.db(s.handle)->stat() : Result<DbStats>(DbStats{});
      EXPECT_TRUE(stats.ok()) << stats.status().to_string();
      if (!stats.ok()) continue;
      segments = std::max<uint64_t>(segments, stats->segments.size());
      checkpointed |= stats->checkpoint_position != 0;
      for (const SegmentInfo& g : stats->segments) reused |= g.seq != g.index;
    }
  }
  // Segment rolls under each mode, checkpoints and reused segments are
  // among the steps the sweeps cut.
  EXPECT_GE(segments, 5u) << "the workload should cross several segments";
  EXPECT_TRUE(checkpointed) << "the workload should write checkpoints";
  EXPECT_TRUE(reused) << "the workload should reuse a freed segment";
  return env.ops();
}

// ---- power cuts ----

// What a run cut short by a power cut had been told, and what it may lose.
struct CutRun {
  bool fired = false;
  std::string where;   // the step the cut interrupted
  int last_acked = 0;  // commits 1..last_acked returned OK (they run in id order)
  int in_flight = 0;   // the commit the cut interrupted, if any: it may or may not be there
  // Commits 1..durable were durable when the cut came: a full commit
  // returned, or (under normal or full) a later commit rolled the log into
  // a new segment or a close returned, each of which syncs everything
  // before it (DESIGN.md, "Durability modes"). Under normal the commits
  // after the last of these may all be lost; nothing bounds off.
  int durable = 0;
};

uint64_t cut_seed(uint64_t base, uint64_t n) {
  uint64_t z = base + n * 0x9e3779b97f4a7c15ULL;  // SplitMix64's finaliser: near seeds, unrelated cuts
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Runs the workload with the power going at mutating call n (cut with
// `seed`), unless the workload ends first.
//
// Not with FaultEnv::cut_after(): it cuts the power inside call n, while
// this process and the workload's other handle live on, and when the cut
// takes back a fallocate the file gets shorter under that handle's mapping,
// so its next look at the log (in close(), say) dies of SIGBUS. No process
// outlives a real power cut to do that. So the disk freezes at call n
// instead (that call and every later one fails, as on a dead machine), the
// handles go, and then the power is cut with the same seed: the same bytes
// on disk as cut_after(n, seed) leaves.
CutRun run_until_power_cut(const Script& script, const std::string& path, FaultEnv& env, uint64_t n,
                           uint64_t seed) {
  CutRun run;
  env.fail_at(n, Fault::eio, /*sticky=*/true);
  Workload w(script, path, &env);
  uint64_t segments = 1;  // the most segments the log has been seen to use
  for (size_t i = 0; i < script.steps.size(); ++i) {
    const Step& s = script.steps[i];
    Status st = w.run(s);
    const bool cut = env.ops() >= n;
    if (st.ok() && s.commit) {
      run.last_acked = s.commit;
      if (w.sync(s.handle) == Sync::full) run.durable = s.commit;
      Result<DbStats> stats = w.db(s.handle)->stat();
      if (stats.ok() && stats->segments_used > segments) {
        // The log entered a new segment during this commit, before its
        // frame: under normal and full that synced every earlier commit.
        segments = stats->segments_used;
        if (w.sync(s.handle) != Sync::off) run.durable = std::max(run.durable, s.commit - 1);
      }
    }
    if (st.ok() && s.kind == Step::Kind::close && w.sync(s.handle) != Sync::off) run.durable = run.last_acked;
    if (!st.ok() && !cut) {
      ADD_FAILURE() << "step " << i << " (" << describe(s) << ") failed before any power cut: " << st.to_string();
      break;
    }
    if (cut) {
      run.fired = true;
      run.where = "step " + std::to_string(i) + ", " + describe(s);
      if (s.kind != Step::Kind::open) run.where += std::string(" under ") + sync_name(w.sync(s.handle));
      if (!st.ok() && s.commit) run.in_flight = s.commit;
      break;
    }
  }
  // Closing fails on the frozen disk; what it says is of no interest.
  w.drop_handles();
  env.clear_faults();
  if (run.fired) {
    Status st = env.power_cut(seed);
    EXPECT_TRUE(st.ok()) << "the simulated power cut failed: " << st.to_string();
  }
  return run;
}

// After a power cut: the file opens, check passes, and the file holds
// exactly commits 1..k for some k between the last durable commit and the
// commit in flight.
void verify_after_power_cut(const Script& script, const std::string& path, const CutRun& run) {
  SCOPED_TRACE("the cut came at " + run.where + "; commits returned: c1..c" + std::to_string(run.last_acked) +
               ", durable: c1..c" + std::to_string(run.durable) +
               (run.in_flight ? ", in flight: c" + std::to_string(run.in_flight) : std::string()));
  if (!std::filesystem::exists(path)) {
    // Cut before the new file was renamed into place.
    EXPECT_EQ(run.last_acked, 0) << "the file is gone, yet commits returned";
    return;
  }
  expect_check_passes(path);
  State got;
  std::unique_ptr<Db> db = open_and_read(path, &got);
  if (!db) return;
  const int lo = run.durable;
  const int hi = run.in_flight ? run.in_flight : run.last_acked;
  std::string partial = partial_commits(script, got);
  EXPECT_TRUE(partial.empty()) << "part of a commit is visible:\n" << partial;

  // The commits are a chain: the file must hold exactly c1..ck for some
  // k in [lo, hi].
  State model;
  int match = -1;
  for (int k = 0; k <= hi; ++k) {
    if (k > 0) apply(script.commit(k), &model);
    if (model == got) {
      match = k;
      if (k >= lo) break;
    }
  }
  if (match >= lo) {
    expect_writable_after_recovery(*db, got, path);
    return;
  }
  if (match >= 0) {
    State durable;
    for (int k = 1; k <= lo; ++k) apply(script.commit(k), &durable);
    ADD_FAILURE() << "durable commits were lost: the file holds exactly c1..c" << match << ", but c1..c" << lo
                  << " were durable:\n"
                  << diff(durable, got);
    return;
  }
  // Show the difference from the allowed state it is closest to.
  State nearest_state, m;
  int nearest = 0;
  size_t fewest = SIZE_MAX;
  for (int k = 0; k <= hi; ++k) {
    if (k > 0) apply(script.commit(k), &m);
    std::string d = diff(m, got);
    size_t lines = static_cast<size_t>(std::count(d.begin(), d.end(), '\n'));
    if (k >= lo && lines <= fewest) {
      fewest = lines;
      nearest = k;
      nearest_state = m;
    }
  }
  ADD_FAILURE() << "the file holds no allowed set of commits; compared with c1..c" << nearest << ":\n"
                << diff(nearest_state, got);
}

// Power cuts at call 1, 2, ... of the workload, one sweep per seed.
TEST(PowerCut, EveryStepOfTheWorkloadKeepsDurableCommitsAndNoPartOfOthers) {
  const Script script = workload();
  const uint64_t base_seed = testing::test_seed();
  const std::optional<uint64_t> only_step = env_number("RIVULET_POWERCUT_STEP");
  const uint64_t seeds = only_step ? 1 : env_number("RIVULET_POWERCUT_SEEDS").value_or(kDefaultSeeds);
  const uint64_t calls = workload_calls(script);
  ASSERT_GT(calls, 0u);
  auto start = std::chrono::steady_clock::now();
  uint64_t cuts = 0;
  for (uint64_t s = 0; s < seeds && !HasFailure(); ++s) {
    const uint64_t seed = base_seed + s;
    for (uint64_t n = only_step.value_or(1); !HasFailure(); ++n) {
      SCOPED_TRACE("replay: RIVULET_SEED=" + std::to_string(seed) + " RIVULET_POWERCUT_STEP=" + std::to_string(n) +
                   " (power cut at mutating call " + std::to_string(n) + ")");
      TempDir dir(scratch_parent());
      std::string path = dir.file("w.rvl");
      FaultEnv env(no_sync_env());
      CutRun run = run_until_power_cut(script, path, env, n, cut_seed(seed, n));
      if (!run.fired) {
        EXPECT_FALSE(only_step.has_value()) << "the workload makes fewer than " << n << " mutating calls";
        break;  // the workload ran to its end: every call was cut once
      }
      ++cuts;
      verify_after_power_cut(script, path, run);
      if (only_step) break;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("power_cuts", std::to_string(cuts));
  RecordProperty("seeds", std::to_string(seeds));
  std::cout << "[ power cuts ] " << cuts << " power cuts over " << seeds << " seed(s) from RIVULET_SEED="
            << base_seed << " in " << secs << " s\n";
  if (!only_step && !HasFailure()) {
    EXPECT_EQ(cuts, calls * seeds) << "each sweep cuts every mutating call of the workload once";
  }
}

// ---- I/O errors ----

// What a commit returned in a run with an injected I/O error.
enum class Outcome {
  not_run,
  acked,      // returned OK: must be in the file
  absent,     // failed before its frame was whole: must not be
  uncertain,  // failed in fdatasync after its frame was written: may be either
};

// The model's state after the acked commits and those in `present`.
State state_after(const Script& script, const std::vector<Outcome>& outcome, const std::set<int>& present) {
  State s;
  for (const Commit& c : script.commits) {
    if (outcome[static_cast<size_t>(c.id)] == Outcome::acked || present.count(c.id)) apply(c, &s);
  }
  return s;
}

const char* fault_name(Fault f) {
  switch (f) {
    case Fault::eio:
      return "eio";
    case Fault::enospc:
      return "enospc";
    case Fault::short_write:
      return "short_write";
    case Fault::kill_process:
      return "kill_process";
  }
  return "?";
}

// Runs the workload with one mutating call failing (or, sticky, every call
// from then on), checking that every failure is a clear error.
//
// What the workload does after a failed step:
// - One-shot fault (a transient error): it goes on as an application would.
//   A failed close or open needs nothing (open is retried). A failed commit
//   is retried on the same handle, with the same WriteBatch; the handle
//   either takes it or refuses, having stopped for good (DbImpl::fail: after
//   a failed fdatasync nothing about the file is known). On a refusal every
//   handle is closed and reopened, the failed commit is looked for in the
//   file (a commit whose fdatasync failed may or may not be there), and
//   committed again if it is not. From then on the run must go as if
//   nothing had happened.
// - Sticky fault (a dead disk): there is nothing to retry. The remaining
//   steps run on the handles as they are, each of them succeeding or
//   failing clearly; a handle whose open failed is gone, and its steps are
//   skipped.
class FaultRun {
 public:
  FaultRun(const Script& script, const std::string& path, FaultEnv& env, uint64_t n, bool sticky)
      : script_(script), path_(path), env_(env), n_(n), sticky_(sticky), w_(script, path, &env),
        outcome_(script.commits.size() + 1, Outcome::not_run) {}

  void run() {
    for (size_t i = 0; i < script_.steps.size() && !::testing::Test::HasFailure(); ++i) {
      const Step& s = script_.steps[i];
      if (s.kind != Step::Kind::open && !w_.db(s.handle)) continue;  // its open failed (sticky)
      SCOPED_TRACE("step " + std::to_string(i) + ": " + describe(s));
      const uint64_t before = env_.ops();
      Status st = w_.run(s);
      if (st.ok()) {
        acked(s);
        continue;
      }
      expect_clear_error(s, st);
      // A one-shot fault may fail the step it hits, nothing else (recover()
      // deals with its aftermath); a sticky one anything after it.
      EXPECT_TRUE(sticky_ ? fired() : before < n_ && n_ <= env_.ops())
          << "failed without an injected fault: " << st.to_string();
      if (s.commit) {
        // Only an fdatasync that failed after the frame was written leaves
        // the commit in doubt. A stopped handle refuses a commit before any
        // I/O, repeating the fdatasync error that stopped it.
        bool did_io = env_.ops() > before;
        bool sync_failed = st.message().find("fdatasync") != std::string::npos;
        outcome_[s.commit] = did_io && sync_failed ? Outcome::uncertain : Outcome::absent;
      }
      if (!sticky_) recover(s, st);
    }
    w_.drop_handles();
  }

  // Whether the workload reached the failing call.
  bool fired() const { return env_.ops() >= n_; }
  const std::vector<Outcome>& outcome() const { return outcome_; }
  int reopens() const { return reopens_; }

 private:
  void acked(const Step& s) {
    if (!s.commit) return;
    outcome_[s.commit] = Outcome::acked;
    const Commit& c = script_.commit(s.commit);
    if (!c.create_topic.empty()) topics_.insert(c.create_topic);
    if (!c.delete_topic.empty()) topics_.erase(c.delete_topic);
    for (const OffsetSpec& o : c.offsets) groups_.insert(o.group);
    if (!c.delete_group.empty()) groups_.erase(c.delete_group);
  }

  // A clear error: an I/O code, and a message that names the file. After
  // a sticky fault, a step may also meet the aftermath of an earlier failed
  // step: a topic or group it needs was never created (not_found), or a
  // topic it creates was never deleted (already_exists).
  void expect_clear_error(const Step& s, const Status& st) {
    EXPECT_NE(st.message().find(path_), std::string::npos) << "the error does not name the file: " << st.to_string();
    bool missing = false, exists = false;
    if (s.commit) {
      const Commit& c = script_.commit(s.commit);
      for (const RecordSpec& r : c.records) missing |= !topics_.count(r.topic);
      for (const OffsetSpec& o : c.offsets) missing |= !topics_.count(o.topic);
      if (!c.delete_topic.empty()) missing |= !topics_.count(c.delete_topic);
      if (!c.create_topic.empty()) exists = topics_.count(c.create_topic) > 0;
      if (!c.delete_group.empty()) missing |= !groups_.count(c.delete_group);
    }
    EXPECT_TRUE(st.code() == Code::io_error || st.code() == Code::no_space ||
                (sticky_ && missing && st.code() == Code::not_found) ||
                (sticky_ && exists && st.code() == Code::already_exists))
        << st.to_string();
  }

  // One-shot fault: gets the run back on track after step `s` failed.
  void recover(const Step& s, const Status& first) {
    if (s.kind == Step::Kind::close) return;  // the handle is closed anyway
    if (s.kind == Step::Kind::open) {
      Status again = w_.run(s);
      EXPECT_TRUE(again.ok()) << "open failed again with no fault: " << again.to_string();
      return;
    }
    Status again = w_.run(s, /*retry=*/true);
    if (again.ok()) {
      EXPECT_NE(outcome_[s.commit], Outcome::uncertain)
          << "the handle took a commit after a failed fdatasync (" << first.to_string() << ")";
      acked(s);
      return;
    }
    // The handle stopped for good: reopen everything, and find out whether
    // the failed commit is in the file.
    expect_clear_error(s, again);
    ++reopens_;
    if (!reopen_all()) return;
    if (outcome_[s.commit] == Outcome::uncertain) resolve(s.commit);
    if (outcome_[s.commit] == Outcome::absent) {
      Status third = w_.run(s);
      EXPECT_TRUE(third.ok()) << "the commit failed again on a new handle with no fault: " << third.to_string();
      if (third.ok()) acked(s);
    }
  }

  // Closes every handle and opens it again in its mode, so that the first
  // to open recovers the file from scratch and everything whole in it is
  // visible (with another handle open, a full commit whose fdatasync failed
  // stays invisible until some later sync).
  bool reopen_all() {
    std::vector<int> open;
    for (int h = 0; h < 2; ++h) {
      if (!w_.db(h)) continue;
      open.push_back(h);
      Status st = w_.close(h);
      EXPECT_TRUE(st.ok() || st.message().find(path_) != std::string::npos) << st.to_string();
    }
    for (int h : open) {
      Status st = w_.open(h, w_.sync(h));
      EXPECT_TRUE(st.ok()) << "reopening failed with no fault: " << st.to_string();
      if (!st.ok()) return false;
    }
    return true;
  }

  // Looks at the file for commit `id`, whose fdatasync failed.
  void resolve(int id) {
    Db* db = w_.db(0) ? w_.db(0) : w_.db(1);
    State got;
    Status st = read_state(*db, &got);
    ASSERT_TRUE(st.ok()) << st.to_string();
    State without = state_after(script_, outcome_, {});
    State with = state_after(script_, outcome_, {id});
    if (got == with) {
      outcome_[id] = Outcome::acked;
    } else if (got == without) {
      outcome_[id] = Outcome::absent;
    } else {
      ADD_FAILURE() << "after reopening, the file holds neither all of c" << id << " nor none of it:\n"
                    << diff(with, got);
    }
  }

  const Script& script_;
  const std::string path_;
  FaultEnv& env_;
  const uint64_t n_;
  const bool sticky_;
  Workload w_;
  std::vector<Outcome> outcome_;  // by commit id
  std::set<std::string> topics_;  // topics that acked commits created (and did not delete)
  std::set<std::string> groups_;  // groups that acked commits gave offsets (and did not delete)
  int reopens_ = 0;
};

// After an I/O error (no power cut, so the page cache kept every write): the
// file opens, check passes, every commit that returned OK is there whatever
// its sync mode, no failed commit is there unless its fdatasync failed, and
// none is there in part.
void verify_after_io_error(const Script& script, const std::string& path, const std::vector<Outcome>& outcome) {
  std::vector<int> uncertain;
  bool any_acked = false;
  for (const Commit& c : script.commits) {
    if (outcome[static_cast<size_t>(c.id)] == Outcome::uncertain) uncertain.push_back(c.id);
    any_acked |= outcome[static_cast<size_t>(c.id)] == Outcome::acked;
  }
  if (!std::filesystem::exists(path)) {
    EXPECT_FALSE(any_acked) << "the file is gone, yet commits returned";
    return;
  }
  expect_check_passes(path);
  State got;
  std::unique_ptr<Db> db = open_and_read(path, &got);
  if (!db) return;
  std::string partial = partial_commits(script, got);
  EXPECT_TRUE(partial.empty()) << "part of a commit is visible:\n" << partial;
  ASSERT_LE(uncertain.size(), 4u);
  for (uint32_t mask = 0; mask < (1u << uncertain.size()); ++mask) {
    std::set<int> present;
    for (size_t i = 0; i < uncertain.size(); ++i) {
      if (mask & (1u << i)) present.insert(uncertain[i]);
    }
    if (state_after(script, outcome, present) == got) {
      expect_writable_after_recovery(*db, got, path);
      return;
    }
  }
  std::string which;
  for (int id : uncertain) which += " c" + std::to_string(id);
  ADD_FAILURE() << "the file does not hold exactly the commits that returned OK"
                << (which.empty() ? "" : " (plus any of" + which + ")") << ":\n"
                << diff(state_after(script, outcome, {}), got);
}

// EIO, ENOSPC and short writes, one-shot and sticky, at call 1, 2, ... of
// the workload.
TEST(PowerCut, IoErrorAtEveryStepFailsCleanlyAndKeepsEveryAcknowledgedCommit) {
  const Script script = workload();
  const std::optional<uint64_t> only_step = env_number("RIVULET_IOFAULT_STEP");
  const uint64_t calls = workload_calls(script);
  ASSERT_GT(calls, 0u);
  auto start = std::chrono::steady_clock::now();
  uint64_t faults = 0, reopens = 0;
  for (Fault fault : {Fault::eio, Fault::enospc, Fault::short_write}) {
    for (bool sticky : {false, true}) {
      for (uint64_t n = only_step.value_or(1); !HasFailure(); ++n) {
        SCOPED_TRACE(std::string("replay: RIVULET_IOFAULT_STEP=") + std::to_string(n) + " (" + fault_name(fault) +
                     (sticky ? ", sticky," : ", once,") + " at mutating call " + std::to_string(n) + ")");
        TempDir dir(scratch_parent());
        std::string path = dir.file("w.rvl");
        FaultEnv env(no_sync_env());
        env.fail_at(n, fault, sticky);
        FaultRun run(script, path, env, n, sticky);
        run.run();
        if (!run.fired()) {
          EXPECT_FALSE(only_step.has_value()) << "the workload makes fewer than " << n << " mutating calls";
          break;  // the workload ran to its end without reaching call n
        }
        ++faults;
        reopens += static_cast<uint64_t>(run.reopens());
        env.clear_faults();
        verify_after_io_error(script, path, run.outcome());
        if (only_step) break;
      }
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("io_faults", std::to_string(faults));
  std::cout << "[ I/O faults ] " << faults << " injected faults (" << reopens
            << " runs reopened a stopped handle) in " << secs << " s\n";
  if (!only_step && !HasFailure()) {
    EXPECT_EQ(faults, 6 * calls) << "each of the six sweeps fails every mutating call of the workload once";
  }
}

}  // namespace
}  // namespace rivulet
