// Shared test helpers: temporary directories, whole-file reads and writes,
// and a seed that randomized tests print so a failure can be replayed.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

#include "rivulet/rivulet.hpp"

namespace rivulet::testing {

class TempDir {
 public:
  // A new directory in `parent` (by default the system's temporary directory).
  explicit TempDir(const std::filesystem::path& parent = std::filesystem::temp_directory_path()) {
    std::string tmpl = (parent / "rivulet-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_all(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// Flips a bit of the first byte of `text` in the file at `path`, so that
// the batch holding it fails its checksum. False if the text is not there.
inline bool damage_first(const std::string& path, std::string_view text) {
  std::string bytes = read_all(path);
  const size_t at = bytes.find(text);
  if (at == std::string::npos) return false;
  bytes[at] = static_cast<char>(bytes[at] ^ 0x40);
  write_all(path, bytes);
  return true;
}

// Calls fn(const RecordView&) for each record of a partition from `start`
// on, polling without waiting until a poll returns nothing. A failure to
// make the reader or to poll fails the test and ends the walk.
template <class Fn>
void for_each_record(Db& db, std::string_view topic, int32_t partition, Fn fn,
                     StartAt start = StartAt::earliest()) {
  auto r = db.reader(topic, partition, start);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  if (!r.ok()) return;
  for (;;) {
    auto got = (*r)->poll(std::chrono::milliseconds(0));
    EXPECT_TRUE(got.ok()) << got.status().to_string();
    if (!got.ok() || got->empty()) return;
    for (const RecordView& v : *got) fn(v);
  }
}

// RIVULET_SEED=N replays a randomized test; otherwise a fresh seed is drawn.
inline uint64_t test_seed() {
  if (const char* s = getenv("RIVULET_SEED")) return std::stoull(s);
  return std::random_device{}();
}

// Waits for a child process and returns its wait status.
inline int wait_child(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace rivulet::testing
