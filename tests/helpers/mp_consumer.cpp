// Test helper for the multi-process tests: follows every partition of a
// topic from the earliest offset and prints each record mp_producer wrote as
// "<partition> <offset> <key> <ID> <n> <FIRST> <LAST>" (the value without its
// padding). Usage: mp_consumer FILE TOPIC EXPECTED_TOTAL TIMEOUT_MS [rw|ro]
//
// Stops with exit 0 once EXPECTED_TOTAL records were seen, or with exit 3
// when TIMEOUT_MS passed without a new record (having printed what it saw).
// A record not in mp_producer's format (a garbled key, value or padding)
// stops it with exit 4; any error with exit 1. "ro" opens the file
// read-only, as `rivulet consume` does.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "rivulet/rivulet.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// The value's head "ID N FIRST LAST " if the record is exactly what
// mp_producer writes for it; empty otherwise.
std::string check_record(const rivulet::RecordView& r) {
  if (!r.key || !r.value) return {};
  std::string value(*r.value);
  long id, n, first, last;
  if (sscanf(value.c_str(), "%ld %ld %ld %ld", &id, &n, &first, &last) != 4) return {};
  char head[96];
  int len = snprintf(head, sizeof head, "%ld %ld %ld %ld ", id, n, first, last);
  if (n < 0 || first > n || n > last || value.compare(0, static_cast<size_t>(len), head) != 0) return {};
  if (value.find_first_not_of(static_cast<char>('a' + n % 26), static_cast<size_t>(len)) != std::string::npos) {
    return {};
  }
  if (*r.key != "p" + std::to_string(id) + "-k" + std::to_string(n % 7)) return {};
  return std::string(head, static_cast<size_t>(len - 1));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    fprintf(stderr, "usage: mp_consumer FILE TOPIC EXPECTED_TOTAL TIMEOUT_MS [rw|ro]\n");
    return 2;
  }
  const char* topic = argv[2];
  long expected = std::stol(argv[3]);
  auto idle_limit = std::chrono::milliseconds(std::stol(argv[4]));
  rivulet::OpenOptions options;
  options.create_if_missing = false;
  options.read_only = argc == 6 && strcmp(argv[5], "ro") == 0;

  auto db = rivulet::Db::open(argv[1], options);
  if (!db.ok()) {
    fprintf(stderr, "mp_consumer: open: %s\n", db.status().to_string().c_str());
    return 1;
  }
  auto info = (*db)->describe_topic(topic);
  if (!info.ok()) {
    fprintf(stderr, "mp_consumer: describe: %s\n", info.status().to_string().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<rivulet::Reader>> readers;
  for (const rivulet::PartitionInfo& p : info->partitions) {
    auto r = (*db)->reader(topic, p.partition, rivulet::StartAt::earliest());
    if (!r.ok()) {
      fprintf(stderr, "mp_consumer: reader: %s\n", r.status().to_string().c_str());
      return 1;
    }
    readers.push_back(std::move(r).value());
  }

  long total = 0;
  auto last_new = Clock::now();
  int code = 0;
  while (total < expected && code == 0) {
    bool got = false;
    for (auto& reader : readers) {
      // No wait on one partition can cover the others yet: wait briefly on
      // each while all are quiet, not at all once one had records.
      auto recs = reader->poll(std::chrono::milliseconds(got ? 0 : 5));
      if (!recs.ok()) {
        fprintf(stderr, "mp_consumer: poll: %s\n", recs.status().to_string().c_str());
        code = 1;
        break;
      }
      for (const rivulet::RecordView& r : *recs) {
        std::string head = check_record(r);
        if (head.empty()) {
          fprintf(stderr, "mp_consumer: garbled record at partition %d offset %lld: key '%.*s' value '%.200s'\n",
                  r.partition, static_cast<long long>(r.offset), r.key ? static_cast<int>(r.key->size()) : 6,
                  r.key ? r.key->data() : "(null)", r.value ? std::string(*r.value).c_str() : "(null)");
          code = 4;
          break;
        }
        printf("%d %lld %.*s %s\n", r.partition, static_cast<long long>(r.offset), static_cast<int>(r.key->size()),
               r.key->data(), head.c_str());
        ++total;
        got = true;
      }
      if (code != 0) break;
    }
    if (got) {
      last_new = Clock::now();
    } else if (code == 0 && Clock::now() - last_new >= idle_limit) {
      code = 3;
    }
  }
  readers.clear();
  rivulet::Status st = (*db)->close();
  if (!st.ok() && code == 0) {
    fprintf(stderr, "mp_consumer: close: %s\n", st.to_string().c_str());
    code = 1;
  }
  if (fflush(stdout) != 0) return 1;
  return code;
}
