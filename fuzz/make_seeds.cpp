// Writes seed inputs for the fuzz targets, made with the library itself:
//   rivulet_fuzz_seeds OUT_DIR
// OUT_DIR/fuzz_open: small valid files (64 KiB segments, trailing zeros of
// the preallocation cut off): topics with keyed records, headers, nulls,
// a deleted and re-created topic, a second segment, an empty file, a torn
// tail. OUT_DIR/fuzz_frame and fuzz_batch: every frame and batch of those
// files. OUT_DIR/fuzz_json: record lines as `consume --format json` writes
// them, plus hand-written ones. Seeds, not the corpus: fuzz/README.md says
// how they become fuzz/corpus/.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "record_json.hpp"
#include "rivulet/rivulet.hpp"

using namespace rivulet;
namespace fs = std::filesystem;

namespace {

[[noreturn]] void die(const std::string& what) {
  fprintf(stderr, "rivulet_fuzz_seeds: %s\n", what.c_str());
  exit(1);
}

void check(const Status& st) {
  if (!st.ok()) die(st.to_string());
}

template <typename T>
T take(Result<T>&& r) {
  if (!r.ok()) die(r.status().to_string());
  return std::move(r).value();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_all(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) die("cannot write " + path.string());
}

// The preallocated space past the log reads as zeros and means nothing:
// keep seeds small. (A frame may end in zero bytes: never cut before the
// end of the log.)
std::string trim_zeros(std::string bytes, uint64_t log_end) {
  size_t end = bytes.find_last_not_of('\0');
  bytes.resize(std::max<uint64_t>(end == std::string::npos ? 0 : end + 1, log_end));
  return bytes;
}

uint64_t log_end(const std::string& path) {
  CheckReport report = take(check_file(path));
  if (!report.ok) die(path + ": " + report.problems.front());
  return report.log_end;
}

std::unique_ptr<Db> open_new(const std::string& path, Sync sync = Sync::normal) {
  OpenOptions o;
  o.segment_size = 64 << 10;
  o.sync = sync;
  return take(Db::open(path, o));
}

void produce(Db& db, std::string_view topic, Bytes key, Bytes value, std::vector<Header> headers = {},
             std::optional<int64_t> ts = std::nullopt) {
  ProducerRecord r{.topic = topic, .key = key, .value = value, .headers = headers};
  r.timestamp_ms = ts;
  take(db.produce(r));
}

// Topics, keys, headers, nulls, a multi-topic commit, a deleted and a
// re-created topic.
void make_basic(const std::string& path) {
  auto db = open_new(path);
  check(db->create_topic("orders", {.partitions = 3}));
  check(db->create_topic("events", {.timestamp_type = TimestampType::log_append_time}));
  check(db->create_topic("old"));
  produce(*db, "orders", "customer-7", "order shipped", {{"source", "cli"}, {"trace", std::nullopt}});
  produce(*db, "orders", std::nullopt, "no key");
  produce(*db, "orders", "customer-7", std::nullopt);  // a tombstone
  produce(*db, "orders", "", "");
  produce(*db, "events", "k", std::string("\x00\xff\xfe binary", 10), {{"", ""}}, 1700000000000);
  produce(*db, "old", "gone", "soon");
  WriteBatch batch(*db);
  for (int i = 0; i < 5; ++i) {
    std::string key = "customer-" + std::to_string(i);
    check(batch.add({.topic = "orders", .key = key, .value = "item " + std::to_string(i)}));
    check(batch.add({.topic = "events", .key = std::nullopt, .value = "event " + std::to_string(i)}));
  }
  check(db->commit(batch));
  check(db->delete_topic("old"));
  check(db->create_topic("old", {.partitions = 2}));
  produce(*db, "old", "again", "new id");
  check(db->close());
}

// Enough bytes to fill segment 0: a segment-end frame and segment 1.
void make_two_segments(const std::string& path) {
  auto db = open_new(path);
  check(db->create_topic("big"));
  for (int i = 0; i < 4; ++i) produce(*db, "big", std::to_string(i), std::string(20000, char('a' + i)));
  produce(*db, "big", "last", "small");
  check(db->close());
}

void make_empty(const std::string& path) { check(open_new(path)->close()); }

// Timestamps at the extremes (deltas wrap), under sync full.
void make_timestamps(const std::string& path) {
  auto db = open_new(path, Sync::full);
  check(db->create_topic("t"));
  WriteBatch batch(*db);
  for (int64_t ts : {int64_t{0}, INT64_MIN, INT64_MAX, int64_t{-1}, int64_t{1700000000000}}) {
    ProducerRecord r{.topic = "t", .key = "k", .value = "v"};
    r.timestamp_ms = ts;
    check(batch.add(r));
  }
  check(db->commit(batch));
  check(db->close());
}

// Copied while still open (the superblock not yet updated), with the last
// frame cut in half: a torn tail.
std::string make_torn(const std::string& path) {
  auto db = open_new(path);
  check(db->create_topic("t"));
  produce(*db, "t", "a", "first");
  produce(*db, "t", "b", std::string(300, 'x'));
  std::string bytes = read_all(path);
  uint64_t last_pos = 0, last_len = 0;
  check(dump_file(path, [&](const FrameInfo& f) {
    last_pos = f.position;
    last_len = f.length;
  }));
  for (uint64_t i = last_pos + last_len / 2; i < last_pos + last_len; ++i) bytes[i] = 0;
  check(db->close());
  return trim_zeros(bytes, last_pos);
}

// Small inputs mutate faster; the big records stay in the fuzz_open seeds.
constexpr size_t kMaxSeed = 4096;

// Every frame and batch of a file, as fuzz_frame and fuzz_batch take them.
void split(const std::string& path, const std::string& bytes, std::set<std::string>* frames,
           std::set<std::string>* batches) {
  check(dump_file(path, [&](const FrameInfo& f) {
    if (f.length <= kMaxSeed) frames->insert(bytes.substr(f.position, f.length));
    for (const BatchInfo& b : f.batches) {
      if (b.bytes <= kMaxSeed) batches->insert(bytes.substr(b.position, b.bytes));
    }
  }));
}

// Every record of every topic, as `consume --format json` prints it.
void json_lines(const std::string& path, std::vector<std::string>* lines) {
  OpenOptions o;
  o.read_only = true;
  auto db = take(Db::open(path, o));
  for (const TopicInfo& t : take(db->list_topics())) {
    for (const PartitionInfo& p : t.partitions) {
      auto reader = take(db->reader(t.name, p.partition));
      for (const RecordView& r : take(reader->poll(std::chrono::milliseconds(0)))) {
        std::string line;
        cli::append_record_json(line, t.name, r);
        if (line.size() <= kMaxSeed) lines->push_back(line);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) die("usage: rivulet_fuzz_seeds OUT_DIR");
  fs::path out = argv[1];
  for (const char* t : {"fuzz_open", "fuzz_frame", "fuzz_batch", "fuzz_json"}) fs::create_directories(out / t);
  fs::path work = out / "work";
  fs::remove_all(work);
  fs::create_directories(work);

  std::set<std::string> frames, batches;
  std::vector<std::string> lines;
  auto file = [&](const std::string& name, void (*make)(const std::string&)) {
    std::string path = (work / (name + ".rvl")).string();
    make(path);
    std::string bytes = read_all(path);
    write_all(out / "fuzz_open" / (name + ".rvl"), trim_zeros(bytes, log_end(path)));
    split(path, bytes, &frames, &batches);
    json_lines(path, &lines);
  };
  file("basic", make_basic);
  file("two-segments", make_two_segments);
  file("empty", make_empty);
  file("timestamps", make_timestamps);
  write_all(out / "fuzz_open" / "torn.rvl", make_torn((work / "torn.rvl").string()));
  fs::remove_all(work);

  int i = 0;
  for (const std::string& f : frames) write_all(out / "fuzz_frame" / ("frame-" + std::to_string(i++)), f);
  i = 0;
  for (const std::string& b : batches) write_all(out / "fuzz_batch" / ("batch-" + std::to_string(i++)), b);

  // Forms consume never writes but produce accepts.
  lines.push_back(R"({"key":"k","value":{"base64":"AAEC/w=="},"headers":[{"key":"h","value":null}]})");
  lines.push_back(R"({"value":"x","partition":2,"timestamp":-5,"offset":9,"topic":"ignored"})");
  lines.push_back(R"({"key":null,"value":null,"headers":null,"partition":null,"timestamp":null})");
  lines.push_back(R"({"value":"\u00e9\ud83d\ude00\n\t\"","headers":[{"key":{"base64":""}}]})");
  lines.push_back(R"({"timestamp":9223372036854775807,"partition":2147483647})");
  lines.push_back(R"({"value":{"base64":"YQ="}})");  // invalid: bad padding
  lines.push_back(R"([1,2,3])");
  std::string all;
  i = 0;
  for (const std::string& l : lines) {
    write_all(out / "fuzz_json" / ("line-" + std::to_string(i++)), l);
    all += l + "\n";
  }
  write_all(out / "fuzz_json" / "all-lines", all);
  printf("seeds in %s: %zu frames, %zu batches, %zu JSON lines\n", out.c_str(), frames.size(), batches.size(),
         lines.size());
  return 0;
}
