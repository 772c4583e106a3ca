// The committed-offsets state and its view as of the last visible frame.
#include "meta/group_offsets.hpp"

#include <gtest/gtest.h>

namespace rivulet {
namespace {

using format::OffsetKey;
using format::OffsetValue;
using meta::GroupOffsets;

std::optional<int64_t> visible_offset(const GroupOffsets& o, const std::string& group, int32_t partition) {
  std::optional<meta::Committed> c = o.visible(group, "t", partition);
  return c ? std::optional<int64_t>(c->offset) : std::nullopt;
}

TEST(GroupOffsets, HiddenChangesShowOnlyOnceTheirFrameIsVisible) {
  GroupOffsets o;
  o.apply({"g", "t", 0}, OffsetValue{5, ""}, 100, 1);  // visible: nothing hidden yet
  o.hide_after(1);
  o.apply({"g", "t", 0}, OffsetValue{7, ""}, 200, 2);
  o.apply({"g", "t", 0}, OffsetValue{9, ""}, 300, 3);  // the same key again, later
  o.apply({"g", "t", 1}, OffsetValue{4, ""}, 300, 3);  // a new key
  o.apply({"h", "t", 0}, OffsetValue{1, ""}, 300, 3);  // a new group

  EXPECT_EQ(visible_offset(o, "g", 0), 5);
  EXPECT_EQ(visible_offset(o, "g", 1), std::nullopt);
  EXPECT_EQ(visible_offset(o, "h", 0), std::nullopt);
  auto groups = o.visible_groups();
  ASSERT_EQ(groups.size(), 1u) << "a group whose only commit is hidden is listed";
  ASSERT_EQ(groups["g"].size(), 1u);
  EXPECT_EQ(groups["g"].begin()->second.offset, 5);
  EXPECT_EQ(o.groups().at("g").at({"t", 0}).offset, 9) << "the state a checkpoint records is the whole log's";

  o.reveal_through(2);
  EXPECT_EQ(visible_offset(o, "g", 0), 7);
  EXPECT_EQ(visible_offset(o, "g", 1), std::nullopt);
  o.reveal_through(3);
  EXPECT_EQ(visible_offset(o, "g", 0), 9);
  EXPECT_EQ(visible_offset(o, "g", 1), 4);
  EXPECT_EQ(o.visible_groups().size(), 2u);
}

TEST(GroupOffsets, AHiddenDeletionKeepsTheOffsetUntilVisible) {
  GroupOffsets o;
  o.apply({"g", "t", 0}, OffsetValue{5, "m"}, 100);
  o.hide_after(1);
  o.apply({"g", "t", 0}, std::nullopt, 200, 2);
  EXPECT_TRUE(o.groups().empty());
  ASSERT_EQ(visible_offset(o, "g", 0), 5);
  EXPECT_EQ(o.visible("g", "t", 0)->metadata, "m");
  EXPECT_EQ(o.visible_groups().size(), 1u);
  o.reveal_through(2);
  EXPECT_EQ(visible_offset(o, "g", 0), std::nullopt);
  EXPECT_TRUE(o.visible_groups().empty());
}

}  // namespace
}  // namespace rivulet
