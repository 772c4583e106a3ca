// Test helper for the multi-process tests: produces COUNT numbered records
// to a topic that already exists, in commits of 1 to MAX_PER_COMMIT records.
// Usage: mp_producer FILE TOPIC PRODUCER_ID COUNT SYNC(off|normal|full) SEED [MAX_PER_COMMIT]
//
// Record n has key "p<ID>-k<n % 7>" (so per-key order can be checked) and
// value "<ID> <n> <FIRST> <LAST> <padding>", FIRST..LAST being the record
// numbers of its commit (so a whole commit can be told from part of one);
// the padding is a random number of copies of 'a' + n % 26, so a reader can
// tell a garbled value. After each commit returns, "<LAST>\n" goes to stdout
// in one write(2), so a parent that kills this process knows what was
// acknowledged. Exits 0 when done, nonzero with a message on stderr on error.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "rivulet/rivulet.hpp"

namespace {

int fail(const char* what, const rivulet::Status& st) {
  fprintf(stderr, "mp_producer: %s: %s\n", what, st.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr, "usage: mp_producer FILE TOPIC PRODUCER_ID COUNT SYNC(off|normal|full) SEED [MAX_PER_COMMIT]\n");
    return 2;
  }
  const char* topic = argv[2];
  long id = std::stol(argv[3]);
  long count = std::stol(argv[4]);
  std::mt19937_64 rng(std::stoull(argv[6]));
  long max_per_commit = argc == 8 ? std::stol(argv[7]) : 1;
  rivulet::OpenOptions options;
  options.create_if_missing = false;  // the test made the file and the topic
  if (strcmp(argv[5], "off") == 0) {
    options.sync = rivulet::Sync::off;
  } else if (strcmp(argv[5], "normal") == 0) {
    options.sync = rivulet::Sync::normal;
  } else if (strcmp(argv[5], "full") == 0) {
    options.sync = rivulet::Sync::full;
  } else {
    fprintf(stderr, "mp_producer: unknown sync mode '%s'\n", argv[5]);
    return 2;
  }
  if (max_per_commit < 1) {
    fprintf(stderr, "mp_producer: MAX_PER_COMMIT must be at least 1\n");
    return 2;
  }

  auto db = rivulet::Db::open(argv[1], options);
  if (!db.ok()) return fail("open", db.status());
  for (long n = 0; n < count;) {
    long first = n;
    long last = std::min(count - 1, first + static_cast<long>(rng() % static_cast<uint64_t>(max_per_commit)));
    std::vector<std::string> keys, values;
    for (long k = first; k <= last; ++k) {
      keys.push_back("p" + std::to_string(id) + "-k" + std::to_string(k % 7));
      char head[96];
      snprintf(head, sizeof head, "%ld %ld %ld %ld ", id, k, first, last);
      values.push_back(head + std::string(rng() % 300, static_cast<char>('a' + k % 26)));
    }
    if (first == last) {
      // Single records go through produce(), batches through WriteBatch:
      // both paths are in use.
      auto where = (*db)->produce({.topic = topic, .key = keys[0], .value = values[0]});
      if (!where.ok()) return fail("produce", where.status());
    } else {
      rivulet::WriteBatch batch(**db);
      for (size_t i = 0; i < keys.size(); ++i) {
        rivulet::Status st = batch.add({.topic = topic, .key = keys[i], .value = values[i]});
        if (!st.ok()) return fail("add", st);
      }
      rivulet::Status st = (*db)->commit(batch);
      if (!st.ok()) return fail("commit", st);
    }
    char ack[32];
    int len = snprintf(ack, sizeof ack, "%ld\n", last);
    if (write(1, ack, static_cast<size_t>(len)) != len) {
      perror("mp_producer: write");
      return 1;
    }
    n = last + 1;
  }
  rivulet::Status st = (*db)->close();
  if (!st.ok()) return fail("close", st);
  return 0;
}
