// The data both engines are fed, and what a benchmark round reports.
// Everything here is engine-neutral: rivulet_peer.cpp and sqlite_peer.cpp
// turn it into calls of their engine.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bench {

inline constexpr size_t kKeyBytes = 16;
inline constexpr size_t kValueBytes = 100;
inline constexpr const char* kTopic = "bench";

// A failure of an engine call inside a round. The round is abandoned and the
// table shows ERROR for that engine; the program still exits 0.
struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Pre-generated records: random 16-byte keys, random 100-byte values and
// increasing timestamps, made once and handed to both engines byte for byte.
class Dataset {
 public:
  explicit Dataset(size_t n, uint64_t seed = 0x5eed'1234'abcd'9876ULL) : n_(n) {
    keys_.resize(n * kKeyBytes);
    values_.resize(n * kValueBytes);
    uint64_t s = seed;
    auto fill = [&s](std::vector<char>& buf) {
      size_t i = 0;
      for (; i + 8 <= buf.size(); i += 8) {
        uint64_t x = next(s);
        std::memcpy(buf.data() + i, &x, 8);
      }
      for (; i < buf.size(); ++i) buf[i] = static_cast<char>(next(s));
    };
    fill(keys_);
    fill(values_);
  }

  size_t size() const { return n_; }
  std::string_view key(size_t i) const { return {keys_.data() + i * kKeyBytes, kKeyBytes}; }
  std::string_view value(size_t i) const { return {values_.data() + i * kValueBytes, kValueBytes}; }
  // A millisecond clock that advances every 100 records (a producer doing
  // 100 k records/s). Both engines get it explicitly, so neither pays for
  // reading the clock and both store the same numbers.
  int64_t ts(size_t i) const { return kBaseTs + static_cast<int64_t>(i / 100); }

  static constexpr int64_t kBaseTs = 1'700'000'000'000;

 private:
  // splitmix64: fast and good enough for incompressible bytes.
  static uint64_t next(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  size_t n_;
  std::vector<char> keys_;
  std::vector<char> values_;
};

// What the read workload folds every record into, so that the compiler
// cannot skip touching keys and values, and so that a reader returning the
// wrong records is caught (both engines must match the dataset's sum).
struct Checksum {
  uint64_t records = 0;
  uint64_t bytes = 0;        // key + value lengths
  uint64_t first_bytes = 0;  // key[0] + value[0], as unsigned bytes

  void add(std::string_view key, std::string_view value) {
    ++records;
    bytes += key.size() + value.size();
    if (!key.empty()) first_bytes += static_cast<unsigned char>(key[0]);
    if (!value.empty()) first_bytes += static_cast<unsigned char>(value[0]);
  }
  bool operator==(const Checksum&) const = default;

  static Checksum of(const Dataset& ds, size_t n) {
    Checksum c;
    for (size_t i = 0; i < n; ++i) c.add(ds.key(i), ds.value(i));
    return c;
  }
  std::string to_string() const {
    return std::to_string(records) + " records, " + std::to_string(bytes) + " bytes, first-byte sum " +
           std::to_string(first_bytes);
  }
};

// Sizes of what an engine left on disk for one data set.
struct DiskUsage {
  uint64_t apparent = 0;   // st_size summed over the engine's files
  uint64_t allocated = 0;  // st_blocks * 512 summed over the same files
  std::string detail;      // engine-specific breakdown, printed under the table
};

// One produce round.
struct ProduceRun {
  double seconds = 0;        // from the first record handed in to the last commit returned
  double after_seconds = 0;  // SQLite: wal_checkpoint(TRUNCATE); Rivulet: 0
  double close_seconds = 0;  // Db::close() / sqlite3_close()
  uint64_t records = 0;
  DiskUsage disk;            // after the checkpoint, after close
};

// One read round.
struct ReadRun {
  double open_seconds = 0;  // Db::open() / sqlite3_open_v2() + prepare
  double read_seconds = 0;  // readers made, every record polled and touched
  Checksum sum;
};

struct Stopwatch {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

}  // namespace bench
