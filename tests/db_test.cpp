// The engine through the public API: topics, producing, reading, partition
// choice, atomic batches, reopen.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <map>
#include <thread>

#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

std::unique_ptr<Db> open_db(const std::string& path, OpenOptions o = {}) {
  auto db = Db::open(path, o);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  return db.ok() ? std::move(db).value() : nullptr;
}

std::vector<std::string> read_values(Db& db, std::string_view topic, int32_t partition,
                                     StartAt start = StartAt::earliest()) {
  std::vector<std::string> out;
  testing::for_each_record(
      db, topic, partition, [&](const RecordView& v) { out.emplace_back(v.value.value_or("<null>")); }, start);
  return out;
}

TEST(Db, OpeningAMissingPathCreatesAFile) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db);
  auto topics = db->list_topics();
  ASSERT_TRUE(topics.ok());
  EXPECT_TRUE(topics->empty());
  EXPECT_TRUE(std::filesystem::exists(dir.file("a.rvl")));
}

TEST(Db, ReadOnlyOpenOfAMissingPathFailsWithoutCreating) {
  TempDir dir;
  OpenOptions o;
  o.read_only = true;
  auto db = Db::open(dir.file("missing.rvl"), o);
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Code::not_found);
  EXPECT_FALSE(std::filesystem::exists(dir.file("missing.rvl")));
}

// After close() every call fails, naming the file (a program may have
// several open). vacuum() used the released file and crashed.
TEST(Db, CallsAfterCloseFailAndNameTheFile) {
  TempDir dir;
  const std::string path = dir.file("a.rvl");
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("t").ok());
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(db->close().ok());
  const std::string closed = path + ": the file is closed";
  EXPECT_EQ(db->vacuum().status().message(), closed);
  EXPECT_EQ(db->produce({.topic = "t", .value = "v"}).status().message(), closed);
  EXPECT_EQ(db->list_topics().status().message(), closed);
  EXPECT_EQ(db->refresh().message(), closed);
  EXPECT_EQ(db->stat().status().message(), closed);
  EXPECT_EQ((*r)->poll(0ms).status().message(), closed);
  EXPECT_EQ((*r)->seek(StartAt::earliest()).message(), closed);
  EXPECT_EQ(Consumer::create(*db, {.group = "g"}).status().message(), closed);
  EXPECT_EQ(db->vacuum().status().code(), Code::invalid_argument);
}

TEST(Db, TopicAdministration) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("orders", {.partitions = 3}).ok());
  ASSERT_TRUE(db->create_topic("audit").ok());
  EXPECT_EQ(db->create_topic("orders").code(), Code::already_exists);
  EXPECT_EQ(db->create_topic("bad name").code(), Code::invalid_argument);
  EXPECT_EQ(db->create_topic(std::string(250, 'x')).code(), Code::invalid_argument);
  EXPECT_TRUE(db->create_topic(std::string(249, 'x')).ok());
  EXPECT_EQ(db->create_topic("..").code(), Code::invalid_argument);
  EXPECT_EQ(db->create_topic("zero", {.partitions = 0}).code(), Code::invalid_argument);
  EXPECT_EQ(db->create_topic("__rivulet_x").code(), Code::invalid_argument);
  EXPECT_TRUE(db->create_topic("a.b").ok());
  EXPECT_EQ(db->create_topic("a_b").code(), Code::already_exists) << "Kafka refuses '.'/'_' collisions";

  auto d = db->describe_topic("orders");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->partitions.size(), 3u);
  EXPECT_EQ(db->describe_topic("nope").status().code(), Code::not_found);

  ASSERT_TRUE(db->delete_topic("audit").ok());
  EXPECT_EQ(db->delete_topic("audit").code(), Code::not_found);
  EXPECT_EQ(db->describe_topic("audit").status().code(), Code::not_found);
  EXPECT_TRUE(db->create_topic("audit").ok()) << "a deleted topic's name can be reused";

  ASSERT_TRUE(db->close().ok());
  db = open_db(dir.file("a.rvl"));
  auto topics = db->list_topics();
  ASSERT_TRUE(topics.ok());
  std::vector<std::string> names;
  for (auto& t : *topics) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"a.b", "audit", "orders", std::string(249, 'x')}));
}

TEST(Db, ProduceAndReadBackWithOffsetsFromZero) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  for (int i = 0; i < 10; ++i) {
    std::string v = "v" + std::to_string(i);
    auto a = db->produce({.topic = "t", .value = v});
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    EXPECT_EQ(a->offset, i);
    EXPECT_EQ(a->partition, 0);
  }
  auto values = read_values(*db, "t", 0);
  ASSERT_EQ(values.size(), 10u);
  EXPECT_EQ(values[0], "v0");
  EXPECT_EQ(values[9], "v9");
  EXPECT_EQ(read_values(*db, "t", 0, StartAt::offset(7)), (std::vector<std::string>{"v7", "v8", "v9"}));
  EXPECT_TRUE(read_values(*db, "t", 0, StartAt::latest()).empty());
}

// Db::produce reuses one batch between calls; each call still sees the
// topics as they are now, as a fresh batch would.
TEST(Db, ProduceSeesTopicsAsTheyAreNow) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t", {.partitions = 1}).ok());
  ASSERT_TRUE(db->produce({.topic = "t", .value = "old"}).ok());
  ASSERT_TRUE(db->delete_topic("t").ok());
  auto gone = db->produce({.topic = "t", .value = "x"});
  EXPECT_EQ(gone.status().code(), Code::not_found) << gone.status().to_string();
  ASSERT_TRUE(db->create_topic("t", {.partitions = 3}).ok());
  for (int i = 0; i < 6; ++i) {
    auto a = db->produce({.topic = "t", .value = "new", .partition = i % 3});
    ASSERT_TRUE(a.ok()) << a.status().to_string();
    EXPECT_EQ(a->partition, i % 3);
    EXPECT_EQ(a->offset, i / 3);
  }
  EXPECT_EQ(read_values(*db, "t", 2), (std::vector<std::string>{"new", "new"}));
}

// A WriteBatch reused across commits (clear()) sees a topic altered, or
// deleted and made again, as a fresh batch would: by this handle at once,
// by another once this handle has caught up (a commit does).
TEST(Db, AReusedWriteBatchSeesTopicsAsTheyAreNow) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  auto other = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t", {.partitions = 1}).ok());
  WriteBatch batch(*db);
  ASSERT_TRUE(batch.add({.topic = "t", .value = "old"}).ok());
  ASSERT_TRUE(db->commit(batch).ok());

  // Made again by this handle, with three partitions.
  batch.clear();
  ASSERT_TRUE(db->delete_topic("t").ok());
  ASSERT_TRUE(db->create_topic("t", {.partitions = 3}).ok());
  Status st = batch.add({.topic = "t", .value = "a", .partition = 2});
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE(db->commit(batch).ok());
  EXPECT_EQ(read_values(*db, "t", 2), (std::vector<std::string>{"a"}));

  // Altered by this handle: the new record limit holds at once.
  batch.clear();
  ASSERT_TRUE(db->alter_topic("t", {.partitions = 3, .max_message_bytes = 100}).ok());
  EXPECT_EQ(batch.add({.topic = "t", .value = std::string(200, 'x')}).code(), Code::too_large);

  // Made again by another handle: the first commit after it names the
  // deleted topic; the next add lands in the new one.
  batch.clear();
  ASSERT_TRUE(other->delete_topic("t").ok());
  ASSERT_TRUE(other->create_topic("t", {.partitions = 2}).ok());
  ASSERT_TRUE(batch.add({.topic = "t", .value = "lost", .partition = 0}).ok()) << "this handle has not caught up";
  Status gone = db->commit(batch);
  EXPECT_EQ(gone.code(), Code::not_found) << gone.to_string();
  batch.clear();
  st = batch.add({.topic = "t", .value = "b", .partition = 1});
  ASSERT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE(db->commit(batch).ok());
  EXPECT_EQ(read_values(*other, "t", 1), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(read_values(*other, "t", 0).empty());
}

TEST(Db, ProducingToAnUnknownTopicSaysHowToCreateIt) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  auto a = db->produce({.topic = "nope", .value = "x"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), Code::not_found);
  EXPECT_NE(a.status().message().find("topic create nope"), std::string::npos) << a.status().message();
}

TEST(Db, AutoCreateTopics) {
  TempDir dir;
  OpenOptions o;
  o.auto_create_topics = true;
  o.auto_create_partitions = 2;
  auto db = open_db(dir.file("a.rvl"), o);
  ASSERT_TRUE(db->produce({.topic = "fresh", .value = "x"}).ok());
  auto d = db->describe_topic("fresh");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->partitions.size(), 2u);
}

TEST(Db, KeyedRecordsGoWhereKafkaWouldPutThem) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t", {.partitions = 7}).ok());
  // murmur2 values computed by Kafka's Java client (see FACTS.md).
  std::map<std::string, int32_t> hashes = {{"0", 971027396}, {"1", -1993445489}, {"128", -326012175},
                                           {"100:48069", 1009543857}};
  for (auto& [key, hash] : hashes) {
    auto a = db->produce({.topic = "t", .key = key, .value = "v"});
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a->partition, (hash & 0x7fffffff) % 7) << key;
  }
}

TEST(Db, UnkeyedRecordsAreSpreadAndExplicitPartitionsHonoured) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t", {.partitions = 3}).ok());
  std::set<int32_t> seen;
  for (int i = 0; i < 6; ++i) seen.insert(db->produce({.topic = "t", .value = "v"})->partition);
  EXPECT_EQ(seen.size(), 3u);
  auto a = db->produce({.topic = "t", .value = "v", .partition = 2});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->partition, 2);
  auto bad = db->produce({.topic = "t", .value = "v", .partition = 3});
  EXPECT_EQ(bad.status().code(), Code::out_of_range);
  EXPECT_EQ(db->produce({.topic = "t", .value = "v", .partition = -1}).status().code(), Code::out_of_range);
}

TEST(Db, RecordFieldsRoundTrip) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  std::string binary("\0\xff\x01k", 4);
  std::vector<Header> headers = {{"h", std::string_view("1")}, {"h", std::string_view("2")}, {"n", std::nullopt}};
  ASSERT_TRUE(db->produce({.topic = "t", .key = binary, .value = std::nullopt, .headers = headers,
                           .timestamp_ms = 1234})
                  .ok());
  ASSERT_TRUE(db->produce({.topic = "t", .key = std::nullopt, .value = std::string_view("")}).ok());
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok());
  auto recs = (*r)->poll(0ms);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 2u);
  const RecordView& a = (*recs)[0];
  EXPECT_EQ(a.key, std::optional<std::string_view>(binary));
  EXPECT_FALSE(a.value.has_value());
  EXPECT_EQ(a.timestamp_ms, 1234);
  EXPECT_EQ(a.timestamp_type, TimestampType::create_time);
  std::vector<std::pair<std::string, std::string>> got;
  for (const Header& h : a.headers) got.emplace_back(h.key, h.value.value_or("<null>"));
  EXPECT_EQ(got, (std::vector<std::pair<std::string, std::string>>{{"h", "1"}, {"h", "2"}, {"n", "<null>"}}));
  const RecordView& b = (*recs)[1];
  EXPECT_FALSE(b.key.has_value());
  ASSERT_TRUE(b.value.has_value());
  EXPECT_TRUE(b.value->empty());
  EXPECT_TRUE(b.headers.empty());
}

TEST(Db, BatchCommitsAcrossTopicsAndPartitions) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("a", {.partitions = 2}).ok());
  ASSERT_TRUE(db->create_topic("b").ok());
  WriteBatch batch(*db);
  ASSERT_TRUE(batch.add({.topic = "a", .value = "a0", .partition = 0}).ok());
  ASSERT_TRUE(batch.add({.topic = "b", .value = "b0"}).ok());
  ASSERT_TRUE(batch.add({.topic = "a", .value = "a1", .partition = 1}).ok());
  ASSERT_TRUE(batch.add({.topic = "a", .value = "a2", .partition = 0}).ok());
  EXPECT_EQ(batch.add({.topic = "zzz", .value = "x"}).code(), Code::not_found);
  EXPECT_EQ(batch.size(), 4u) << "a failed add leaves the batch as it was";
  ASSERT_TRUE(db->commit(batch).ok());
  EXPECT_EQ(batch.appended(3).partition, 0);
  EXPECT_EQ(batch.appended(3).offset, 1);
  EXPECT_EQ(batch.appended(2).offset, 0);
  EXPECT_EQ(db->commit(batch).code(), Code::invalid_argument) << "no double commit";
  EXPECT_EQ(read_values(*db, "a", 0), (std::vector<std::string>{"a0", "a2"}));
  EXPECT_EQ(read_values(*db, "a", 1), (std::vector<std::string>{"a1"}));
  EXPECT_EQ(read_values(*db, "b", 0), (std::vector<std::string>{"b0"}));
  auto stats = db->stat();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->frames, 3u) << "two topic creations and one commit";
}

// Nothing throws: appended() past the records says -1 rather than throwing
// std::out_of_range.
TEST(Db, AppendedPastTheLastRecordIsMinusOne) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  WriteBatch batch(*db);
  ASSERT_TRUE(batch.add({.topic = "t", .value = "v"}).ok());
  ASSERT_TRUE(db->commit(batch).ok());
  EXPECT_EQ(batch.appended(0).offset, 0);
  Appended past{};
  EXPECT_NO_THROW(past = batch.appended(1));
  EXPECT_EQ(past.partition, -1);
  EXPECT_EQ(past.offset, -1);
  EXPECT_EQ(past.timestamp_ms, -1);
}

// A moved-from batch (a null inside) is empty and refuses records instead
// of crashing; assigned a batch, it works again.
TEST(Db, AMovedFromWriteBatchIsEmptyAndRefusesRecords) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  WriteBatch a(*db);
  ASSERT_TRUE(a.add({.topic = "t", .value = "v"}).ok());
  WriteBatch b(std::move(a));
  EXPECT_EQ(b.size(), 1u);
  // NOLINTBEGIN(bugprone-use-after-move): the point of the test
  EXPECT_EQ(a.size(), 0u);
  EXPECT_TRUE(a.empty());
  a.clear();
  EXPECT_EQ(a.add({.topic = "t", .value = "w"}).code(), Code::invalid_argument);
  const OffsetCommit c{.topic = "t", .partition = 0, .offset = 0};
  EXPECT_EQ(a.add_offset("g", c).code(), Code::invalid_argument);
  EXPECT_EQ(db->commit(a).code(), Code::invalid_argument);
  EXPECT_EQ(a.appended(0).offset, -1);
  a = WriteBatch(*db);
  ASSERT_TRUE(a.add({.topic = "t", .value = "w"}).ok());
  // NOLINTEND(bugprone-use-after-move)
  ASSERT_TRUE(db->commit(b).ok());
  ASSERT_TRUE(db->commit(a).ok());
  EXPECT_EQ(read_values(*db, "t", 0), (std::vector<std::string>{"v", "w"}));
}

// A frame counts its batches in 16 bits: add() refuses a record for a
// 65536th partition, naming the file, and the batch stays committable.
TEST(Db, ABatchHoldsRecordsForAtMost65535Partitions) {
  TempDir dir;
  const std::string path = dir.file("a.rvl");
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("t", {.partitions = 65536}).ok());
  WriteBatch batch(*db);
  for (int32_t p = 0; p < 65535; ++p) ASSERT_TRUE(batch.add({.topic = "t", .value = "v", .partition = p}).ok()) << p;
  ASSERT_TRUE(batch.add({.topic = "t", .value = "again", .partition = 7}).ok()) << "a partition it has";
  Status st = batch.add({.topic = "t", .value = "v", .partition = 65535});
  EXPECT_EQ(st.code(), Code::too_large);
  EXPECT_EQ(st.message(), path + ": a commit may hold records for at most 65535 partitions; commit this batch first");
  EXPECT_EQ(batch.size(), 65536u);
  Status committed = db->commit(batch);
  ASSERT_TRUE(committed.ok()) << committed.to_string();
  EXPECT_EQ(read_values(*db, "t", 7), (std::vector<std::string>{"v", "again"}));
}

TEST(Db, ReadFromTimestamp) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  WriteBatch batch(*db);
  for (int64_t ts : {100, 300, 200, 400}) {
    ASSERT_TRUE(batch.add({.topic = "t", .value = std::to_string(ts), .timestamp_ms = ts}).ok());
  }
  ASSERT_TRUE(db->commit(batch).ok());
  ASSERT_TRUE(db->produce({.topic = "t", .value = "500", .timestamp_ms = 500}).ok());
  EXPECT_EQ(read_values(*db, "t", 0, StartAt::timestamp(150)), (std::vector<std::string>{"300", "200", "400", "500"}));
  EXPECT_EQ(read_values(*db, "t", 0, StartAt::timestamp(450)), (std::vector<std::string>{"500"}));
  EXPECT_TRUE(read_values(*db, "t", 0, StartAt::timestamp(501)).empty());
  EXPECT_EQ(read_values(*db, "t", 0, StartAt::timestamp(0)).size(), 5u);
}

TEST(Db, LogAppendTimeTopicsStampTheCommitTime) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t", {.timestamp_type = TimestampType::log_append_time}).ok());
  auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  auto a = db->produce({.topic = "t", .value = "v", .timestamp_ms = 5});
  ASSERT_TRUE(a.ok());
  EXPECT_GE(a->timestamp_ms, before);
  auto r = db->reader("t", 0);
  auto recs = (*r)->poll(0ms);
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ((*recs)[0].timestamp_ms, a->timestamp_ms);
  EXPECT_EQ((*recs)[0].timestamp_type, TimestampType::log_append_time);
}

// The timestamp type is the topic's at the commit, not as the producing
// handle last saw it: a producer that missed another handle's switch to
// LogAppendTime stored its own timestamp (here from 1970), and retention
// then dropped the record just produced. Switched back, producer times count.
TEST(Db, TheTimestampTypeIsTheTopicsAtTheCommit) {
  TempDir dir;
  const std::string path = dir.file("a.rvl");
  auto admin = open_db(path);
  auto producer = open_db(path);
  ASSERT_TRUE(admin && producer);
  TopicConfig config;
  ASSERT_TRUE(admin->create_topic("t", config).ok());
  // The producer knows the topic (a CreateTime record from 1970, which the
  // retention set below drops, rightly).
  ASSERT_TRUE(producer->produce({.topic = "t", .value = "first", .timestamp_ms = 1000}).ok());
  config.timestamp_type = TimestampType::log_append_time;
  config.retention_ms = 86400000;
  ASSERT_TRUE(admin->alter_topic("t", config).ok());

  const int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch()).count();
  auto landed = producer->produce({.topic = "t", .value = "second", .timestamp_ms = 1000});
  ASSERT_TRUE(landed.ok()) << landed.status().to_string();
  EXPECT_GE(landed->timestamp_ms, before) << "Appended says the record is from " << landed->timestamp_ms;
  {
    auto r = admin->reader("t", 0, StartAt::offset(landed->offset));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    auto got = (*r)->poll(0ms);
    ASSERT_TRUE(got.ok() && got->size() == 1);
    EXPECT_EQ((*got)[0].timestamp_ms, landed->timestamp_ms);
    EXPECT_EQ((*got)[0].timestamp_type, TimestampType::log_append_time);
  }
  // The next retention pass (at most once a second per handle) runs at a commit.
  std::this_thread::sleep_for(1100ms);
  ASSERT_TRUE(producer->produce({.topic = "t", .value = "third"}).ok());
  auto info = admin->describe_topic("t");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->partitions[0].first_offset, landed->offset) << "retention dropped the record just produced";

  // And back: a batch filled while the topic was LogAppendTime keeps the
  // producer's time once it is CreateTime again.
  WriteBatch batch(*producer);
  ASSERT_TRUE(batch.add({.topic = "t", .value = "fourth", .timestamp_ms = before + 5}).ok());
  config.timestamp_type = TimestampType::create_time;
  ASSERT_TRUE(admin->alter_topic("t", config).ok());
  ASSERT_TRUE(producer->commit(batch).ok());
  EXPECT_EQ(batch.appended(0).timestamp_ms, before + 5);
  auto r = admin->reader("t", 0, StartAt::offset(batch.appended(0).offset));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto got = (*r)->poll(0ms);
  ASSERT_TRUE(got.ok() && got->size() == 1);
  EXPECT_EQ((*got)[0].timestamp_ms, before + 5);
  EXPECT_EQ((*got)[0].timestamp_type, TimestampType::create_time);
}

TEST(Db, OversizedRecordsAreRefused) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t", {.max_message_bytes = 1000}).ok());
  std::string big(2000, 'x');
  EXPECT_EQ(db->produce({.topic = "t", .value = big}).status().code(), Code::too_large);
  EXPECT_TRUE(db->produce({.topic = "t", .value = std::string(900, 'x')}).ok());
}

// A commit is one frame in one segment: add() refuses the record that
// would take the batch past that (over all its partitions), and the batch
// stays as it was, to be committed.
TEST(Db, CommitsLargerThanASegmentAreRefusedByAdd) {
  TempDir dir;
  OpenOptions o;
  o.segment_size = 64 * 1024;
  const std::string path = dir.file("a.rvl");
  auto db = open_db(path, o);
  ASSERT_TRUE(db->create_topic("t", {.partitions = 3}).ok());
  WriteBatch batch(*db);
  std::string v(1000, 'x');
  size_t added = 0;
  Status st;
  for (int i = 0; i < 100 && st.ok(); ++i) {
    st = batch.add({.topic = "t", .value = v, .partition = i % 3});
    if (st.ok()) ++added;
  }
  EXPECT_EQ(st.code(), Code::too_large);
  EXPECT_TRUE(st.message().starts_with(path + ": record of 1009 bytes does not fit in this batch of ")) << st.message();
  EXPECT_TRUE(st.message().ends_with(" bytes: a commit fits in a segment (65456 bytes at most); commit the batch first"))
      << st.message();
  EXPECT_GT(added, 60u);
  EXPECT_EQ(batch.size(), added);
  ASSERT_TRUE(db->commit(batch).ok());
  size_t read = 0;
  for (int32_t p = 0; p < 3; ++p) read += read_values(*db, "t", p).size();
  EXPECT_EQ(read, added);

  // A record no commit can hold, however large max_message_bytes is.
  ASSERT_TRUE(db->create_topic("big", {.max_message_bytes = 1u << 20}).ok());
  batch.clear();
  st = batch.add({.topic = "big", .value = std::string(70000, 'x')});
  EXPECT_EQ(st.code(), Code::too_large);
  EXPECT_EQ(st.message(), path + ": record of 70011 bytes is larger than a commit can hold (a segment: 65456 bytes at most)");
  EXPECT_TRUE(batch.empty());
}

// A record over INT32_MAX bytes, which no batch can encode, passed add()
// (with max_message_bytes at its largest) without being added; the commit
// then wrote a batch of no records, which the handle called corrupt, and
// the file never opened again. The record is never touched (an untouched
// mapping costs no memory): add() looks at its size only.
TEST(Db, ARecordOverTwoGigabytesIsRefusedByAdd) {
  TempDir dir;
  const std::string path = dir.file("a.rvl");
  const size_t big = (size_t{1} << 31) + 16;
  void* mem = ::mmap(nullptr, big, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  {
    auto db = open_db(path);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->create_topic("t", {.max_message_bytes = UINT32_MAX}).ok());
    WriteBatch batch(*db);
    ASSERT_TRUE(batch.add({.topic = "t", .value = "small"}).ok());
    const std::string_view huge(static_cast<const char*>(mem), big);
    Status added = batch.add({.topic = "t", .value = huge});
    EXPECT_EQ(added.code(), Code::too_large) << added.to_string();
    EXPECT_TRUE(added.message().starts_with(path + ": record of 21474836")) << added.message();
    EXPECT_NE(added.message().find("is larger than a commit can hold"), std::string::npos) << added.message();
    EXPECT_EQ(batch.size(), 1u);
    ASSERT_TRUE(db->commit(batch).ok());
  }
  ::munmap(mem, big);
  auto again = open_db(path);
  ASSERT_TRUE(again) << "the file no longer opens";
  EXPECT_EQ(read_values(*again, "t", 0), (std::vector<std::string>{"small"}));
}

TEST(Db, LogSpansManySegmentsAndSurvivesReopen) {
  TempDir dir;
  OpenOptions o;
  o.segment_size = 64 * 1024;
  std::string path = dir.file("a.rvl");
  {
    auto db = open_db(path, o);
    ASSERT_TRUE(db->create_topic("t", {.partitions = 2}).ok());
    for (int i = 0; i < 2000; ++i) {
      std::string v = "value-" + std::to_string(i) + std::string(100, '.');
      ASSERT_TRUE(db->produce({.topic = "t", .value = v, .partition = i % 2}).ok());
    }
    auto s = db->stat();
    EXPECT_GT(s->segments_used, 4u);
    ASSERT_TRUE(db->close().ok());
  }
  auto db = open_db(path, o);
  auto p0 = read_values(*db, "t", 0);
  auto p1 = read_values(*db, "t", 1);
  ASSERT_EQ(p0.size(), 1000u);
  ASSERT_EQ(p1.size(), 1000u);
  EXPECT_EQ(p0[999].substr(0, 10), "value-1998");
  EXPECT_EQ(p1[0].substr(0, 7), "value-1");
  ASSERT_TRUE(db->produce({.topic = "t", .value = "after", .partition = 0}).ok());
  EXPECT_EQ(read_values(*db, "t", 0, StartAt::offset(1000)), (std::vector<std::string>{"after"}));
  auto report = check_file(path);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << (report->problems.empty() ? "" : report->problems[0]);
  EXPECT_EQ(report->records, 2001u + 1u) << "records plus one metadata record";
}

TEST(Db, TwoHandlesInOneProcessSeeEachOthersCommits) {
  TempDir dir;
  std::string path = dir.file("a.rvl");
  auto a = open_db(path);
  auto b = open_db(path);
  ASSERT_TRUE(a->create_topic("t").ok());
  ASSERT_TRUE(b->produce({.topic = "t", .value = "from b"}).ok()) << "b learns of the topic from the file";
  ASSERT_TRUE(a->produce({.topic = "t", .value = "from a"}).ok());
  ASSERT_TRUE(b->produce({.topic = "t", .value = "from b again"}).ok());
  EXPECT_EQ(read_values(*a, "t", 0), (std::vector<std::string>{"from b", "from a", "from b again"}));
  EXPECT_EQ(read_values(*b, "t", 0), (std::vector<std::string>{"from b", "from a", "from b again"}));
}

// seek(earliest/latest/offset) looked at the handle's catalog as it last
// saw it: an offset another handle had committed was out of range, and
// seek(latest) landed before records committed before the call.
TEST(Db, SeekSeesCommitsOfOtherHandles) {
  TempDir dir;
  const std::string path = dir.file("a.rvl");
  auto writer = open_db(path);
  auto reading = open_db(path);
  ASSERT_TRUE(writer->create_topic("t").ok());
  auto r = reading->reader("t", 0, StartAt::latest());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  for (const char* v : {"a", "b", "c"}) ASSERT_TRUE(writer->produce({.topic = "t", .value = v}).ok());
  Status st = (*r)->seek(StartAt::offset(2));
  EXPECT_TRUE(st.ok()) << st.to_string();
  ASSERT_TRUE((*r)->seek(StartAt::latest()).ok());
  EXPECT_EQ((*r)->position(), 3);
  auto got = (*r)->poll(0ms);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_TRUE(got->empty()) << "a reader just moved to latest handed out " << got->size() << " old records";
  ASSERT_TRUE(writer->delete_records("t", 0, 1).ok());
  ASSERT_TRUE((*r)->seek(StartAt::earliest()).ok());
  EXPECT_EQ((*r)->position(), 1);
}

TEST(Db, PollWaitsForACommitFromAnotherThread) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  auto r = db->reader("t", 0);
  std::thread producer([&] {
    std::this_thread::sleep_for(50ms);
    ASSERT_TRUE(db->produce({.topic = "t", .value = "late"}).ok());
  });
  auto recs = (*r)->poll(10s);
  producer.join();
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ((*recs)[0].value, std::optional<std::string_view>("late"));
}

// "Wait for ever": now + milliseconds::max() in nanoseconds overflowed
// (UBSan stops there), and the wrapped deadline in the past made the poll
// return at once, empty.
TEST(Db, PollWithTheLongestTimeoutWaitsForARecord) {
  TempDir dir;
  auto db = open_db(dir.file("a.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  auto r = db->reader("t", 0);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::thread producer([&] {
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(db->produce({.topic = "t", .value = "late"}).ok());
  });
  auto recs = (*r)->poll(std::chrono::milliseconds::max());
  producer.join();
  ASSERT_TRUE(recs.ok()) << recs.status().to_string();
  ASSERT_EQ(recs->size(), 1u) << "returned without waiting";
  EXPECT_EQ((*recs)[0].value, std::optional<std::string_view>("late"));

  // The longest spin overflowed the same way (UBSan stops there): it spins
  // until the poll's timeout instead.
  OpenOptions spinning;
  spinning.poll_spin = std::chrono::microseconds::max();
  auto spinner = open_db(dir.file("a.rvl"), spinning);
  auto idle = spinner->reader("t", 0, StartAt::latest());
  ASSERT_TRUE(idle.ok()) << idle.status().to_string();
  auto none = (*idle)->poll(20ms);
  ASSERT_TRUE(none.ok()) << none.status().to_string();
  EXPECT_TRUE(none->empty());
}

// A reader at its partition's end answers a poll(0) without looking while
// its wake channel saw no commit: it must still see every commit to its
// partition (from any handle, visible at once or only after a sync), a
// seek, and the topic's deletion.
TEST(Db, AnIdleReaderPolledWithoutWaitingSeesEveryLaterChange) {
  TempDir dir;
  const std::string path = dir.file("a.rvl");
  auto a = open_db(path);
  auto b = open_db(path);
  OpenOptions full;
  full.sync = Sync::full;
  auto c = open_db(path, full);
  ASSERT_TRUE(a->create_topic("t", {.partitions = 2}).ok());
  auto r = a->reader("t", 0);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto values = [&]() {
    std::vector<std::string> out;
    auto got = (*r)->poll(0ms);
    EXPECT_TRUE(got.ok()) << got.status().to_string();
    if (got.ok()) {
      for (const RecordView& v : *got) out.emplace_back(*v.value);
    }
    return out;
  };
  using Values = std::vector<std::string>;
  EXPECT_EQ(values(), Values{});
  EXPECT_EQ(values(), Values{});
  ASSERT_TRUE(b->produce({.topic = "t", .value = "other partition", .partition = 1}).ok());
  EXPECT_EQ(values(), Values{});
  ASSERT_TRUE(b->produce({.topic = "t", .value = "x", .partition = 0}).ok());
  EXPECT_EQ(values(), Values{"x"});
  EXPECT_EQ(values(), Values{});
  ASSERT_TRUE(c->produce({.topic = "t", .value = "durable", .partition = 0}).ok());
  EXPECT_EQ(values(), Values{"durable"});
  EXPECT_EQ(values(), Values{});
  ASSERT_TRUE((*r)->seek(StartAt::earliest()).ok());
  EXPECT_EQ(values(), (Values{"x", "durable"}));
  EXPECT_EQ(values(), Values{});
  ASSERT_TRUE(a->produce({.topic = "t", .value = "own", .partition = 0}).ok());
  EXPECT_EQ(values(), Values{"own"});
  EXPECT_EQ(values(), Values{});
  ASSERT_TRUE(b->delete_topic("t").ok());
  auto gone = (*r)->poll(0ms);
  ASSERT_FALSE(gone.ok()) << "a poll after the topic's deletion found nothing wrong";
  EXPECT_EQ(gone.status().code(), Code::not_found) << gone.status().to_string();
}

}  // namespace
}  // namespace rivulet

namespace rivulet {
namespace {

// Allocation steps grow to 4 MiB, past handles, reopenings and segment
// ends, and mapped and plain writes mix: 40 MiB in commits of ~100 KiB,
// written by three handles one after the other into 8 MiB segments, read
// back whole.
TEST(Db, LargeCommitsFromSeveralHandlesInTurnReadBackWhole) {
  TempDir dir;
  std::string path = dir.file("big.rvl");
  OpenOptions o;
  o.segment_size = 8u << 20;
  o.sync = Sync::off;
  std::vector<std::string> want;
  for (int handle = 0; handle < 3; ++handle) {
    auto db = open_db(path, o);
    if (handle == 0) {
      ASSERT_TRUE(db->create_topic("t").ok());
    }
    for (int c = 0; c < 140; ++c) {
      WriteBatch b(*db);
      for (int k = 0; k < 100; ++k) {
        std::string v = std::to_string(want.size()) + std::string(900 + want.size() % 200, static_cast<char>('a' + want.size() % 26));
        ASSERT_TRUE(b.add({.topic = "t", .value = v}).ok());
        want.push_back(std::move(v));
      }
      ASSERT_TRUE(db->commit(b).ok());
    }
    ASSERT_TRUE(db->close().ok());
  }
  auto db = open_db(path, o);
  EXPECT_EQ(read_values(*db, "t", 0), want);
  auto report = check_file(path);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok) << (report->problems.empty() ? "" : report->problems[0]);
}

}  // namespace
}  // namespace rivulet
