// Test helper: produces numbered records under sync=full until killed,
// writing "N\n" to stdout after each commit that returned, where N is the
// last record number in it. Usage: crash_producer FILE FIRST SEED [churn]
// With "churn" (sync normal, a checkpoint every 16 KiB), each commit also
// carries ~2 KiB for topic "churn", which the test gives a small
// retention.bytes: segments die fast, so checkpoints, cleaning (copying
// "t"'s batches out of mostly dead segments) and reuse run all the time.
// Each record's value is "N FIRST LAST", FIRST..LAST being its commit, so
// the checker can tell a whole commit from part of one.
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

#include "rivulet/rivulet.hpp"

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: crash_producer FILE FIRST SEED [churn]\n");
    return 2;
  }
  const bool churn = argc == 5;
  rivulet::OpenOptions options;
  options.sync = churn ? rivulet::Sync::normal : rivulet::Sync::full;
  if (churn) options.checkpoint_bytes = 16 * 1024;
  options.segment_size = 64 * 1024;  // many segment changes
  auto db = rivulet::Db::open(argv[1], options);
  if (!db.ok()) {
    fprintf(stderr, "open: %s\n", db.status().to_string().c_str());
    return 1;
  }
  std::mt19937_64 rng(std::stoull(argv[3]));
  long next = std::stol(argv[2]);
  std::string pad(200, 'p');
  for (;;) {
    long first = next, last = next + static_cast<long>(rng() % 5);
    rivulet::WriteBatch batch(**db);
    std::vector<std::string> values;
    for (long n = first; n <= last; ++n) {
      char head[64];
      snprintf(head, sizeof head, "%ld %ld %ld ", n, first, last);
      std::string v(head);
      v.append(pad, 0, rng() % 200);
      values.push_back(std::move(v));
    }
    for (const std::string& v : values) {
      char key[8];
      snprintf(key, sizeof key, "k%d", static_cast<int>(rng() % 10));
      if (!batch.add({.topic = "t", .key = key, .value = v}).ok()) return 3;
    }
    for (int i = 0; churn && i < 8; ++i) {
      if (!batch.add({.topic = "churn", .value = std::string(250, 'c')}).ok()) return 3;
    }
    rivulet::Status st = (*db)->commit(batch);
    if (!st.ok()) {
      fprintf(stderr, "commit: %s\n", st.to_string().c_str());
      return 4;
    }
    char ack[32];
    int len = snprintf(ack, sizeof ack, "%ld\n", last);
    if (write(1, ack, static_cast<size_t>(len)) != len) return 5;
    next = last + 1;
  }
}
