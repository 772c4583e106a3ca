// Fuzz target: the input is a whole Rivulet file. Opens it read-only, reads
// every topic and partition, asks stat(), then runs `check` on it; a file
// that opened and checked clean is then written to once (write_once). Any
// error Status is fine; a crash, hang, sanitizer report, leak or lost
// offset is a bug.
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rivulet/rivulet.hpp"

namespace {

// Never freed: the atexit handler may run after static destructors.
std::string* g_dir = nullptr;

void remove_dir() {
  std::error_code ec;
  std::filesystem::remove_all(*g_dir, ec);
}

// One private directory per process, made once; every input overwrites the
// same file in it (Db::open puts FILE-shm beside it and removes it on close).
const std::string& file_path() {
  static const std::string path = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rivulet-fuzz-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) abort();
    g_dir = new std::string(tmpl);
    atexit(remove_dir);
    return tmpl + "/input.rvl";
  }();
  return path;
}

void write_file(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = fopen(path.c_str(), "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
}

// Reads every byte of a view, so ASan checks that all of it is really there.
volatile uint32_t g_sink;
void touch(rivulet::Bytes b) {
  uint32_t sum = 0;
  if (b) {
    for (char c : *b) sum += static_cast<unsigned char>(c);
  }
  g_sink = g_sink + sum;
}

void read_partition(rivulet::Db& db, const std::string& topic, int32_t partition) {
  using namespace std::chrono_literals;
  auto reader = db.reader(topic, partition, rivulet::StartAt::earliest());
  if (!reader.ok()) return;
  int64_t middle_ts = 0;
  size_t seen = 0;
  // Each non-empty poll moves the position forward; an input that makes
  // this loop spin is a hang the fuzzer reports.
  for (;;) {
    auto got = (*reader)->poll(0ms);
    if (!got.ok()) break;
    if (got->empty()) {
      // Nothing to read, so wait_any must not call the reader ready: a
      // consumer that waits, then polls, would spin.
      rivulet::Reader* readers[] = {reader->get()};
      auto ready = db.wait_any(readers, 0ms);
      if (ready.ok() && *ready == 0) __builtin_trap();
      break;
    }
    for (const rivulet::RecordView& r : *got) {
      touch(r.key);
      touch(r.value);
      for (const rivulet::Header& h : r.headers) {
        touch(h.key);
        touch(h.value);
      }
      if (seen++ % 2 == 0) middle_ts = r.timestamp_ms;
    }
  }
  // Seeking exercises the index (by time and by offset).
  if ((*reader)->seek(rivulet::StartAt::timestamp(middle_ts)).ok()) (void)(*reader)->poll(0ms, 10);
  if ((*reader)->seek(rivulet::StartAt::offset(static_cast<int64_t>(seen / 2))).ok()) {
    (void)(*reader)->poll(0ms, 10);
  }
  (void)(*reader)->seek(rivulet::StartAt::latest());
}

// Each topic's partition count and next offsets.
using Shape = std::map<std::string, std::vector<int64_t>>;

Shape shape_of(rivulet::Db& db) {
  Shape shape;
  auto topics = db.list_topics();
  if (!topics.ok()) return shape;
  for (const rivulet::TopicInfo& t : *topics) {
    for (const rivulet::PartitionInfo& p : t.partitions) shape[t.name].push_back(p.next_offset);
  }
  return shape;
}

// A file that opens and checks clean must take a write: a writer opening
// it, creating a topic and producing, then closing, may fail with an error,
// but must never lose a topic or offset the file had, nor leave a file that
// no longer opens (a crafted segment-end frame or topic id once made the
// next writer overwrite the log).
void write_once(const std::string& path, const Shape& before) {
  rivulet::OpenOptions options;
  options.create_if_missing = false;
  options.auto_create_topics = true;
  options.sync = rivulet::Sync::off;
  {
    auto db = rivulet::Db::open(path, options);
    if (!db.ok()) return;
    (void)(*db)->produce({.topic = "fuzz-written", .key = "k", .value = "v"});
    if (!before.empty()) (void)(*db)->produce({.topic = before.begin()->first, .value = "more", .partition = 0});
    (*db)->close().ignore();
  }
  rivulet::OpenOptions read_only;
  read_only.read_only = true;
  read_only.create_if_missing = false;
  auto db = rivulet::Db::open(path, read_only);
  if (!db.ok()) __builtin_trap();  // it opened before the write
  Shape after = shape_of(**db);
  for (const auto& [name, offsets] : before) {
    auto it = after.find(name);
    if (it == after.end() || it->second.size() != offsets.size()) __builtin_trap();
    for (size_t i = 0; i < offsets.size(); ++i) {
      if (it->second[i] < offsets[i]) __builtin_trap();
    }
  }
  (*db)->close().ignore();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = file_path();
  write_file(path, data, size);

  rivulet::OpenOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  auto db = rivulet::Db::open(path, options);
  Shape before;
  if (db.ok()) {
    before = shape_of(**db);
    auto topics = (*db)->list_topics();
    if (topics.ok()) {
      // A small file can declare topics of 100000 partitions; reading a few
      // hundred partitions covers the code without slowing every run.
      int budget = 256;
      for (const rivulet::TopicInfo& t : *topics) {
        for (const rivulet::PartitionInfo& p : t.partitions) {
          if (budget-- <= 0) break;
          read_partition(**db, t.name, p.partition);
        }
      }
    }
    (void)(*db)->stat();
    (*db)->close().ignore();
  }
  auto report = rivulet::check_file(path);
  if (db.ok() && report.ok() && report->ok) write_once(path, before);
  return 0;
}

#ifdef RIVULET_LIBFUZZER
#include "crc_fixup.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

// Mutates as libFuzzer would, then (7 times in 8) repairs checksums and the
// frame chain so the mutation is judged by more than a CRC check.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 8 != 0) rivulet::fuzz::fix_file(data, size);
  return size;
}
#endif
