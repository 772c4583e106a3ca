// Consumer groups' committed offsets: stored as records, replayed on open,
// atomic with the records of the same commit.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fault_env.hpp"
#include "rivulet/rivulet.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

using testing::TempDir;

std::unique_ptr<Db> open_db(const std::string& path, OpenOptions options = {}) {
  Result<std::unique_ptr<Db>> db = Db::open(path, options);
  EXPECT_TRUE(db.ok()) << db.status().to_string();
  return db.ok() ? std::move(db).value() : nullptr;
}

TEST(Groups, CommittedOffsetsSurviveReopenAndTheLatestCounts) {
  TempDir dir;
  std::string path = dir.file("g.rvl");
  {
    auto db = open_db(path);
    ASSERT_TRUE(db->create_topic("orders", {.partitions = 2}).ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(db->produce({.topic = "orders", .value = "v", .partition = 0}).ok());
    EXPECT_FALSE(db->committed("billing", "orders", 0)->has_value());
    std::vector<OffsetCommit> first{{"orders", 0, 2, "first"}, {"orders", 1, 0, ""}};
    ASSERT_TRUE(db->commit_offsets("billing", first).ok());
    std::vector<OffsetCommit> second{{"orders", 0, 4, "second"}};
    ASSERT_TRUE(db->commit_offsets("billing", second).ok());
    ASSERT_TRUE(db->close().ok());
  }
  auto db = open_db(path);
  Result<std::optional<CommittedOffset>> c = db->committed("billing", "orders", 0);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->offset, 4);
  EXPECT_EQ((*c)->metadata, "second");
  EXPECT_GT((*c)->commit_ms, 0);
  Result<GroupInfo> g = db->describe_group("billing");
  ASSERT_TRUE(g.ok());
  ASSERT_EQ(g->partitions.size(), 2u);
  EXPECT_EQ(g->partitions[0].end_offset, 5);
  EXPECT_EQ(g->partitions[0].lag, 1);
  EXPECT_EQ(g->partitions[1].lag, 0);
  // The internal topic is not a user topic.
  Result<std::vector<TopicInfo>> topics = db->list_topics();
  ASSERT_TRUE(topics.ok());
  for (const TopicInfo& t : *topics) EXPECT_EQ(t.name, "orders");
  EXPECT_EQ(db->produce({.topic = "__rivulet_offsets", .value = "x"}).status().code(), Code::invalid_argument);
}

// delete_topic("__rivulet_offsets") wrote its frame, which applying then
// refused as corruption: the handle stopped and the file never opened
// again. No admin call may write a change of an internal topic; the file
// opens after them with its offsets.
TEST(Groups, NoAdminCallChangesTheInternalTopics) {
  TempDir dir;
  const std::string path = dir.file("g.rvl");
  {
    auto db = open_db(path);
    ASSERT_TRUE(db->create_topic("t").ok());
    ASSERT_TRUE(db->produce({.topic = "t", .value = "v"}).ok());
    const OffsetCommit c{.topic = "t", .partition = 0, .offset = 1};
    ASSERT_TRUE(db->commit_offsets("g", {&c, 1}).ok());
    for (const char* name : {"__rivulet_offsets", "__rivulet_meta"}) {
      SCOPED_TRACE(name);
      Status deleted = db->delete_topic(name);
      EXPECT_EQ(deleted.code(), Code::invalid_argument) << deleted.to_string();
      EXPECT_EQ(db->create_topic(name).code(), Code::invalid_argument);
      EXPECT_EQ(db->alter_topic(name, {}).code(), Code::invalid_argument);
      EXPECT_FALSE(db->delete_records(name, 0, 0).ok());
    }
    Status after = db->produce({.topic = "t", .value = "w"}).status();
    EXPECT_TRUE(after.ok()) << after.to_string();
  }
  auto again = open_db(path);
  ASSERT_TRUE(again) << "the file no longer opens";
  auto committed = again->committed("g", "t", 0);
  ASSERT_TRUE(committed.ok()) << committed.status().to_string();
  ASSERT_TRUE(committed->has_value());
  EXPECT_EQ((*committed)->offset, 1);
}

// Its records are the file's own encoding of group offsets: hidden from
// describe_topic and reader() as from list_topics, as the metadata topic is.
TEST(Groups, TheOffsetsTopicCannotBeDescribedOrRead) {
  TempDir dir;
  auto db = open_db(dir.file("g.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  const OffsetCommit c{.topic = "t", .partition = 0, .offset = 0};
  ASSERT_TRUE(db->commit_offsets("g", {&c, 1}).ok());
  for (const char* name : {"__rivulet_offsets", "__rivulet_meta"}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(db->describe_topic(name).status().code(), Code::not_found);
    EXPECT_EQ(db->reader(name, 0).status().code(), Code::not_found);
  }
}

TEST(Groups, BadCommitsAreRefusedClearly) {
  TempDir dir;
  auto db = open_db(dir.file("g.rvl"));
  ASSERT_TRUE(db->create_topic("t").ok());
  auto commit = [&](std::string group, OffsetCommit o) {
    return db->commit_offsets(group, std::vector<OffsetCommit>{o}).code();
  };
  Status empty = db->commit_offsets("", std::vector<OffsetCommit>{{"t", 0, 0, ""}});
  EXPECT_EQ(empty.code(), Code::invalid_argument);
  EXPECT_NE(empty.message().find(dir.file("g.rvl")), std::string::npos) << "names the file: " << empty.message();
  // `group list` prints a name per line.
  EXPECT_EQ(commit("two\nlines", {"t", 0, 0, ""}), Code::invalid_argument);
  EXPECT_EQ(commit("tab\t", {"t", 0, 0, ""}), Code::invalid_argument);
  EXPECT_EQ(commit("g", {"nope", 0, 0, ""}), Code::not_found);
  EXPECT_EQ(commit("g", {"t", 1, 0, ""}), Code::out_of_range);
  EXPECT_EQ(commit("g", {"t", 0, -1, ""}), Code::invalid_argument);
  // Offset records are JSON: bytes that are not UTF-8 are refused up front,
  // not thrown out of the encoder half-way through a batch.
  EXPECT_EQ(commit("bad\xff", {"t", 0, 0, ""}), Code::invalid_argument);
  EXPECT_EQ(commit("g", {"t", 0, 0, "meta\xc3("}), Code::invalid_argument);
  EXPECT_EQ(commit(std::string(249, 'g'), {"t", 0, 0, ""}), Code::invalid_argument);
  WriteBatch batch(*db);
  ASSERT_TRUE(batch.add({.topic = "t", .value = "v"}).ok());
  EXPECT_EQ(batch.add_offset("\xe2\x82", {"t", 0, 0, ""}).code(), Code::invalid_argument);
  ASSERT_TRUE(db->commit(batch).ok());  // the failed add_offset left the batch usable
  EXPECT_EQ(db->describe_group("g").status().code(), Code::not_found);
  EXPECT_EQ(db->delete_group("g").code(), Code::not_found);
  EXPECT_TRUE(db->list_groups()->empty());
  // A valid UTF-8 name of the longest allowed size, with non-ASCII metadata.
  std::string longest(246, 'g');
  longest += "\xc3\xa9";
  ASSERT_EQ(commit(longest, {"t", 0, 1, "caf\xc3\xa9"}), Code::ok);
  Result<std::optional<CommittedOffset>> c = db->committed(longest, "t", 0);
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->metadata, "caf\xc3\xa9");
}

TEST(Groups, DeleteRemovesEveryOffsetOfTheGroupOnly) {
  TempDir dir;
  std::string path = dir.file("g.rvl");
  auto db = open_db(path);
  ASSERT_TRUE(db->create_topic("t", {.partitions = 3}).ok());
  std::vector<OffsetCommit> offsets{{"t", 0, 0, ""}, {"t", 2, 0, ""}};
  ASSERT_TRUE(db->commit_offsets("a", offsets).ok());
  ASSERT_TRUE(db->commit_offsets("b", offsets).ok());
  ASSERT_TRUE(db->delete_group("a").ok());
  auto names = [&](Db& d) {
    std::vector<std::string> out;
    Result<std::vector<GroupInfo>> groups = d.list_groups();
    if (groups.ok()) {
      for (const GroupInfo& g : *groups) out.push_back(g.name);
    }
    return out;
  };
  EXPECT_EQ(names(*db), std::vector<std::string>{"b"});
  auto other = open_db(path);  // replayed from the file
  EXPECT_EQ(names(*other), std::vector<std::string>{"b"});
  EXPECT_FALSE(other->committed("a", "t", 0)->has_value());
}

TEST(Groups, OffsetsCommitAtomicallyWithRecordsAcrossACrash) {
  TempDir dir;
  std::string path = dir.file("g.rvl");
  {
    auto db = open_db(path);
    ASSERT_TRUE(db->create_topic("in").ok());
    ASSERT_TRUE(db->create_topic("out").ok());
    ASSERT_TRUE(db->commit_offsets("job", std::vector<OffsetCommit>{{"in", 0, 0, ""}}).ok());
  }
  // A transform step: its outputs and its input offset in one commit. The
  // power goes at each step of that commit in turn.
  int cuts = 0;
  for (uint64_t n = 1;; ++n) {
    testing::FaultEnv env;
    OpenOptions options;
    options.env = &env;
    options.sync = Sync::full;
    auto db = open_db(path, options);
    ASSERT_NE(db, nullptr);
    env.cut_after(env.ops() + n, n);
    WriteBatch batch(*db);
    ASSERT_TRUE(batch.add({.topic = "out", .value = "result-1"}).ok());
    ASSERT_TRUE(batch.add({.topic = "out", .value = "result-2"}).ok());
    ASSERT_TRUE(batch.add_offset("job", {"in", 0, 0, "step"}).ok());
    Status st = db->commit(batch);
    bool cut = env.cut_fired();
    cuts += cut;
    db.reset();
    auto after = open_db(path);
    ASSERT_NE(after, nullptr);
    Result<std::optional<CommittedOffset>> c = after->committed("job", "in", 0);
    ASSERT_TRUE(c.ok() && c->has_value());
    int64_t outputs = after->describe_topic("out")->partitions[0].next_offset;
    bool committed = (*c)->metadata == "step";
    EXPECT_EQ(outputs, committed ? 2 : 0) << "records and offset must commit together (cut at step " << n << ")";
    if (!cut) {
      EXPECT_TRUE(st.ok()) << st.to_string();
      EXPECT_TRUE(committed);
      break;
    }
    if (committed) break;  // durable before the cut: nothing more to try
  }
  EXPECT_GT(cuts, 0);
}

}  // namespace
}  // namespace rivulet
