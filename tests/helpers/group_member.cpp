// Test helper for the consumer group tests: a member of GROUP that reads
// topic "in" and, for each record, produces "<partition>:<offset>" to topic
// "out". Runs until killed (or, with a limit, until "out" holds LIMIT
// records). Usage: group_member FILE GROUP exactly|at-least [LIMIT]
//
// exactly:  the output records and the input offsets commit together
//           (Consumer::add_offsets_to), so each input is in "out" once.
// at-least: the output commits first, the offsets after it (auto-commit):
//           a kill between them repeats inputs, but none is lost.
//
// Prints "assigned T[P]" / "revoked T[P]" lines as partitions move and
// "reading T[P]" the first time it reads a partition after taking it.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "rivulet/rivulet.hpp"

namespace {

int fail(const char* what, const rivulet::Status& st) {
  fprintf(stderr, "group_member %d: %s: %s\n", getpid(), what, st.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) {
    fprintf(stderr, "usage: group_member FILE GROUP exactly|at-least [LIMIT]\n");
    return 2;
  }
  bool exactly = strcmp(argv[3], "exactly") == 0;
  long limit = argc == 5 ? std::stol(argv[4]) : -1;
  setvbuf(stdout, nullptr, _IOLBF, 0);

  rivulet::OpenOptions open;
  open.create_if_missing = false;
  auto db = rivulet::Db::open(argv[1], open);
  if (!db.ok()) return fail("open", db.status());

  std::set<rivulet::TopicPartition> fresh;  // taken, not read since
  rivulet::ConsumerOptions options;
  options.group = argv[2];
  options.auto_offset_reset = rivulet::OffsetReset::earliest;
  options.enable_auto_commit = !exactly;
  options.auto_commit_interval = std::chrono::milliseconds(0);  // at every poll
  options.max_poll_records = 50;
  options.on_assigned = [&](std::span<const rivulet::TopicPartition> tps) {
    for (const auto& tp : tps) {
      printf("assigned %s[%d]\n", tp.topic.c_str(), tp.partition);
      fresh.insert(tp);
    }
  };
  options.on_revoked = [&](std::span<const rivulet::TopicPartition> tps) {
    for (const auto& tp : tps) {
      printf("revoked %s[%d]\n", tp.topic.c_str(), tp.partition);
      fresh.erase(tp);
    }
  };
  auto consumer = rivulet::Consumer::create(**db, options);
  if (!consumer.ok()) return fail("create", consumer.status());
  if (auto st = (*consumer)->subscribe({"in"}); !st.ok()) return fail("subscribe", st);

  for (;;) {
    auto records = (*consumer)->poll(std::chrono::milliseconds(100));
    if (!records.ok()) return fail("poll", records.status());
    if (records->empty()) {
      if (limit >= 0) {
        auto out = (*db)->describe_topic("out");
        if (out.ok() && out->partitions[0].next_offset >= limit) break;
      }
      continue;
    }
    rivulet::WriteBatch batch(**db);
    std::string values[50];
    size_t n = 0;
    for (const rivulet::ConsumerRecord& r : *records) {
      rivulet::TopicPartition tp{std::string(r.topic), r.partition};
      if (fresh.erase(tp)) printf("reading %s[%d] from %lld\n", tp.topic.c_str(), tp.partition, (long long)r.offset);
      values[n] = std::to_string(r.partition) + ":" + std::to_string(r.offset);
      rivulet::ProducerRecord out;
      out.topic = "out";
      out.value = values[n];
      out.partition = 0;
      if (auto st = batch.add(out); !st.ok()) return fail("add", st);
      ++n;
    }
    if (exactly) {
      if (auto st = (*consumer)->add_offsets_to(batch); !st.ok()) return fail("offsets", st);
    }
    if (auto st = (*db)->commit(batch); !st.ok()) return fail("commit", st);
  }
  if (auto st = (*consumer)->close(); !st.ok()) return fail("close", st);
  return 0;
}
