// Retention and the earliest offset: retention.ms, retention.bytes,
// delete_records and topic configs, as Kafka means them. Offsets never
// change or get reused; the earliest offset only moves forward.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "db/retention.hpp"
#include "fault_env.hpp"
#include "format/meta_record.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

std::unique_ptr<Db> open_db(const std::string& path, OpenOptions options = {}) {
  Result<std::unique_ptr<Db>> db = Db::open(path, options);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  return db.ok() ? std::move(db).value() : nullptr;
}

PartitionInfo partition_info(Db& db, const std::string& topic, int32_t p = 0) {
  Result<TopicInfo> t = db.describe_topic(topic);
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  return t.ok() ? t->partitions[static_cast<size_t>(p)] : PartitionInfo{};
}

// The values a reader from the earliest offset returns, with their offsets.
std::vector<std::pair<int64_t, std::string>> read_all_records(Db& db, const std::string& topic) {
  std::vector<std::pair<int64_t, std::string>> out;
  auto r = db.reader(topic, 0, StartAt::earliest());
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  for (;;) {
    auto got = (*r)->poll(0ms);
    EXPECT_TRUE(got.ok()) << got.status().to_string();
    if (!got.ok() || got->empty()) return out;
    for (const RecordView& v : *got) out.emplace_back(v.offset, std::string(*v.value));
  }
}

std::string value_of(int i) { return "record " + std::to_string(i) + std::string(80, '.'); }

TEST(Retention, BytesKeepsAtLeastTheLimitAndOffsetsGoOn) {
  TempDir dir;
  std::string path = dir.file("r.rvl");
  auto db = open_db(path);
  TopicConfig config;
  config.retention_bytes = 1000;
  ASSERT_TRUE(db->create_topic("t", config).ok());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(db->produce({.topic = "t", .value = value_of(i)}).ok());
  // Retention looks at most once a second per handle: a fresh handle's
  // first commit applies it.
  auto other = open_db(path);
  ASSERT_TRUE(other->produce({.topic = "t", .value = value_of(50)}).ok());

  PartitionInfo p = partition_info(*other, "t");
  EXPECT_GT(p.first_offset, 0);
  EXPECT_EQ(p.next_offset, 51);
  uint64_t one_batch = p.bytes / static_cast<uint64_t>(p.record_count);  // one record per commit
  // Kafka's rule: keep at least the limit; the batch that arrived with the
  // check is extra.
  EXPECT_GE(p.bytes, 1000u);
  EXPECT_LT(p.bytes, 1000u + 2 * one_batch);
  EXPECT_GT(p.dead_bytes, 0u);

  auto records = read_all_records(*other, "t");
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records.front().first, p.first_offset);
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].first, p.first_offset + static_cast<int64_t>(i));
    EXPECT_EQ(records[i].second, value_of(static_cast<int>(records[i].first)));
  }
  // A reader told to start below the earliest offset is refused clearly.
  auto below = other->reader("t", 0, StartAt::offset(0));
  EXPECT_EQ(below.status().code(), Code::out_of_range);

  // The first handle catches up too, and a reopen replays the same start.
  EXPECT_EQ(partition_info(*db, "t").first_offset, p.first_offset);
  ASSERT_TRUE(other->close().ok());
  ASSERT_TRUE(db->close().ok());
  auto again = open_db(path);
  EXPECT_EQ(partition_info(*again, "t").first_offset, p.first_offset);
  EXPECT_TRUE(check_file(path)->ok);
}

TEST(Retention, TimeDropsOldBatchesOnly) {
  TempDir dir;
  std::string path = dir.file("r.rvl");
  auto db = open_db(path);
  TopicConfig config;
  config.retention_ms = 60'000;
  ASSERT_TRUE(db->create_topic("t", config).ok());
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(db->produce({.topic = "t", .value = "old", .timestamp_ms = now - 3'600'000}).ok());
  }
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(db->produce({.topic = "t", .value = "new"}).ok());
  auto other = open_db(path);
  ASSERT_TRUE(other->produce({.topic = "t", .value = "new"}).ok());
  PartitionInfo p = partition_info(*other, "t");
  EXPECT_EQ(p.first_offset, 5);
  EXPECT_EQ(p.record_count, 4);
  for (auto& [offset, value] : read_all_records(*other, "t")) EXPECT_EQ(value, "new") << offset;
}

TEST(Retention, ANewerRecordInAnOldBatchKeepsLaterBatches) {
  // Time retention goes by the highest timestamp so far, so an old record
  // after a new one is kept with it (as Kafka keeps a segment whose largest
  // timestamp is recent).
  meta::Catalog catalog;
  format::MetaChange create;
  create.topic_id = 1;
  create.name = "t";
  create.config.retention_ms = 1000;
  ASSERT_TRUE(catalog.apply_meta(create, 0).ok());
  format::BatchHeader h;
  h.records_count = 1;
  h.last_offset_delta = 0;
  h.batch_length = 100;
  int64_t times[] = {10, 5'000, 20, 30};
  for (int i = 0; i < 4; ++i) {
    h.base_offset = i;
    h.max_timestamp = times[i];
    ASSERT_TRUE(catalog.apply_batch(1, 0, h, 1000 * (i + 1)).ok());
  }
  catalog.by_id(1)->partitions[0].visible_end = 4;
  auto changes = db::retention_changes(catalog, 5'500, 100);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].start_offset, 1);  // only the batch at offset 0 is older than 4,500 ms
  // Nothing not yet visible goes, whatever its age.
  catalog.by_id(1)->partitions[0].visible_end = 0;
  EXPECT_TRUE(db::retention_changes(catalog, 1'000'000, 100).empty());
}

TEST(Retention, CompactOnlyTopicsAreNotTrimmed) {
  TempDir dir;
  auto db = open_db(dir.file("r.rvl"));
  TopicConfig config;
  config.retention_bytes = 0;
  config.cleanup_policy = CleanupPolicy::compact;
  ASSERT_TRUE(db->create_topic("t", config).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(db->produce({.topic = "t", .key = "k", .value = "v"}).ok());
  auto other = open_db(dir.file("r.rvl"));
  ASSERT_TRUE(other->produce({.topic = "t", .key = "k", .value = "v"}).ok());
  EXPECT_EQ(partition_info(*other, "t").first_offset, 0);
}

TEST(Retention, AlterAppliesAtOnceAndPersists) {
  TempDir dir;
  std::string path = dir.file("r.rvl");
  {
    auto db = open_db(path);
    ASSERT_TRUE(db->create_topic("t", {.partitions = 2}).ok());
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(db->produce({.topic = "t", .value = value_of(i), .partition = 1}).ok());
    TopicConfig config = db->describe_topic("t")->config;
    EXPECT_EQ(config.retention_ms, -1);  // kept forever unless asked
    EXPECT_EQ(config.retention_bytes, -1);
    config.retention_bytes = 0;
    ASSERT_TRUE(db->alter_topic("t", config).ok());
    // No further commit needed: everything visible may go, offsets stay.
    PartitionInfo p = partition_info(*db, "t", 1);
    EXPECT_EQ(p.first_offset, 20);
    EXPECT_EQ(p.next_offset, 20);
    EXPECT_EQ(p.record_count, 0);
    ASSERT_TRUE(db->produce({.topic = "t", .value = "next", .partition = 1}).ok());
    EXPECT_EQ(partition_info(*db, "t", 1).next_offset, 21);

    config.partitions = 3;
    EXPECT_EQ(db->alter_topic("t", config).code(), Code::invalid_argument);
    config.partitions = 2;
    config.retention_ms = -2;
    EXPECT_EQ(db->alter_topic("t", config).code(), Code::invalid_argument);
    EXPECT_EQ(db->alter_topic("nope", {}).code(), Code::not_found);
    EXPECT_EQ(db->alter_topic("__rivulet_offsets", {}).code(), Code::invalid_argument);
    ASSERT_TRUE(db->close().ok());
  }
  auto db = open_db(path);
  TopicConfig config = db->describe_topic("t")->config;
  EXPECT_EQ(config.retention_bytes, 0);
  EXPECT_EQ(config.partitions, 2);
  EXPECT_EQ(partition_info(*db, "t", 1).first_offset, 20);
}

// The retention an alter applies at once is a frame of its own, after the
// config's: a full disk failing it must not report the committed alter as
// failed (a caller would retry or give up on a change already made).
TEST(Retention, AnAlterWhoseRetentionFailsToWriteIsStillCommitted) {
  TempDir dir;
  std::string path = dir.file("r.rvl");
  testing::FaultEnv env;
  auto db = open_db(path, {.env = &env});
  ASSERT_TRUE(db->create_topic("t").ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(db->produce({.topic = "t", .value = value_of(i)}).ok());
  TopicConfig config = db->describe_topic("t")->config;
  config.retention_bytes = 0;
  env.fail_at(env.ops() + 2, testing::Fault::enospc);  // the write after the config's
  Status st = db->alter_topic("t", config);
  EXPECT_TRUE(st.ok()) << st.to_string();
  EXPECT_EQ(db->describe_topic("t")->config.retention_bytes, 0);
  EXPECT_EQ(partition_info(*db, "t").first_offset, 0) << "the retention frame was not written";
  // The next write applies it.
  ASSERT_TRUE(db->produce({.topic = "t", .value = "next"}).ok());
  EXPECT_EQ(partition_info(*db, "t").first_offset, 5);
}

TEST(Retention, DeleteRecordsMovesTheEarliestOffsetForwardOnly) {
  TempDir dir;
  std::string path = dir.file("r.rvl");
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("t").ok());
  WriteBatch batch(*db);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(batch.add({.topic = "t", .value = value_of(i)}).ok());
  ASSERT_TRUE(db->commit(batch).ok());  // one batch of offsets 0..9

  auto reader = db->reader("t", 0, StartAt::offset(2));
  ASSERT_TRUE(reader.ok());
  // Inside a batch: offsets 0..3 go, 4..9 stay readable (Kafka's deleteRecords).
  ASSERT_TRUE(db->delete_records("t", 0, 4).ok());
  auto records = read_all_records(*db, "t");
  ASSERT_EQ(records.size(), 6u);
  EXPECT_EQ(records.front().first, 4);
  EXPECT_EQ(records.front().second, value_of(4));
  // A reader already below the new start is told, not handed deleted records.
  EXPECT_EQ((*reader)->poll(0ms).status().code(), Code::out_of_range);

  EXPECT_TRUE(db->delete_records("t", 0, 1).ok());  // already gone: nothing changes
  EXPECT_EQ(partition_info(*db, "t").first_offset, 4);
  EXPECT_EQ(db->delete_records("t", 0, 11).code(), Code::out_of_range);
  EXPECT_EQ(db->delete_records("t", 1, 0).code(), Code::out_of_range);
  EXPECT_EQ(db->delete_records("nope", 0, 0).code(), Code::not_found);
  ASSERT_TRUE(db->delete_records("t", 0, 10).ok());
  PartitionInfo p = partition_info(*db, "t");
  EXPECT_EQ(p.first_offset, 10);
  EXPECT_EQ(p.record_count, 0);
  EXPECT_EQ(p.bytes, 0u);
  EXPECT_GT(p.dead_bytes, 0u);
  ASSERT_TRUE(db->close().ok());
  EXPECT_TRUE(check_file(path)->ok);
}

TEST(Retention, AGroupBelowTheEarliestOffsetStartsAsAutoOffsetResetSays) {
  TempDir dir;
  auto db = open_db(dir.file("r.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(db->produce({.topic = "t", .value = value_of(i)}).ok());
  std::vector<OffsetCommit> offsets{{"t", 0, 1, ""}};
  ASSERT_TRUE(db->commit_offsets("g", offsets).ok());
  ASSERT_TRUE(db->delete_records("t", 0, 3).ok());
  auto consumer = Consumer::create(*db, {.group = "g", .auto_offset_reset = OffsetReset::earliest});
  ASSERT_TRUE(consumer.ok());
  ASSERT_TRUE((*consumer)->subscribe(std::vector<std::string>{"t"}).ok());
  std::vector<int64_t> got;
  for (int i = 0; i < 50 && got.size() < 3; ++i) {
    auto polled = (*consumer)->poll(20ms);
    ASSERT_TRUE(polled.ok()) << polled.status().to_string();
    for (const ConsumerRecord& r : *polled) got.push_back(r.offset);
  }
  EXPECT_EQ(got, (std::vector<int64_t>{3, 4, 5}));
}

TEST(Retention, ConfigsByKafkaNameRoundTrip) {
  TopicConfig c;
  ASSERT_TRUE(set_topic_config(&c, "retention.ms", "3600000").ok());
  ASSERT_TRUE(set_topic_config(&c, "retention.bytes", "-1").ok());
  ASSERT_TRUE(set_topic_config(&c, "cleanup.policy", "compact,delete").ok());
  ASSERT_TRUE(set_topic_config(&c, "message.timestamp.type", "LogAppendTime").ok());
  EXPECT_EQ(c.retention_ms, 3600000);
  EXPECT_EQ(c.cleanup_policy, CleanupPolicy::compact_delete);
  EXPECT_EQ(c.timestamp_type, TimestampType::log_append_time);
  for (auto& [key, value] : topic_config_entries(c)) {
    TopicConfig d;
    ASSERT_TRUE(set_topic_config(&d, key, value).ok()) << key << "=" << value;
  }
  Status unknown = set_topic_config(&c, "retention.hours", "1");
  EXPECT_EQ(unknown.code(), Code::invalid_argument);
  EXPECT_NE(unknown.message().find("retention.hours"), std::string::npos);
  EXPECT_EQ(set_topic_config(&c, "retention.ms", "soon").code(), Code::invalid_argument);
  EXPECT_EQ(set_topic_config(&c, "retention.ms", "-2").code(), Code::invalid_argument);
  EXPECT_EQ(set_topic_config(&c, "cleanup.policy", "keep").code(), Code::invalid_argument);
  EXPECT_EQ(set_topic_config(&c, "max.message.bytes", "10").code(), Code::invalid_argument);
}

TEST(Retention, MetadataRecordsRoundTripAndOlderCreatesGetDefaults) {
  format::MetaChange start;
  start.kind = format::MetaChange::Kind::partition_start;
  start.topic_id = 7;
  start.partition = 3;
  start.start_offset = 12345;
  format::EncodedMeta m = format::encode_meta(start);
  format::MetaChange back;
  ASSERT_TRUE(format::decode_meta(Bytes(m.key), Bytes(m.value), 0, &back).ok());
  EXPECT_EQ(back.kind, format::MetaChange::Kind::partition_start);
  EXPECT_EQ(back.topic_id, 7u);
  EXPECT_EQ(back.partition, 3);
  EXPECT_EQ(back.start_offset, 12345);

  format::MetaChange config;
  config.kind = format::MetaChange::Kind::topic_config;
  config.topic_id = 2;
  config.name = "t";
  config.config.retention_bytes = 99;
  config.config.cleanup_policy = CleanupPolicy::compact;
  m = format::encode_meta(config);
  ASSERT_TRUE(format::decode_meta(Bytes(m.key), Bytes(m.value), 0, &back).ok());
  EXPECT_EQ(back.kind, format::MetaChange::Kind::topic_config);
  EXPECT_EQ(back.config.retention_bytes, 99);
  EXPECT_EQ(back.config.cleanup_policy, CleanupPolicy::compact);

  // topic.create as format 1 wrote it, without the retention fields.
  std::string v1 = R"({"id":1,"name":"t","partitions":2,"timestamp_type":"create_time","max_message_bytes":100})";
  ASSERT_TRUE(format::decode_meta(Bytes(std::string_view("topic.create")), Bytes(v1), 0, &back).ok());
  EXPECT_EQ(back.config.partitions, 2);
  EXPECT_EQ(back.config.retention_ms, -1);
  EXPECT_EQ(back.config.cleanup_policy, CleanupPolicy::delete_);

  std::string bad = R"({"id":1,"partition":0,"offset":-4})";
  EXPECT_EQ(format::decode_meta(Bytes(std::string_view("partition.start")), Bytes(bad), 77, &back).code(),
            Code::corruption);
}

}  // namespace
}  // namespace rivulet
