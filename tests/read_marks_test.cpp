// ReadMarks: the lowest segment a handle's readers may still read, which
// space reclaiming must not reuse. Marks move and clear with every poll, and
// a cleared mark keeps its node for the next one: the lowest must follow.
#include <cstdint>

#include <gtest/gtest.h>

#include "db/read_marks.hpp"

namespace rivulet {
namespace {

TEST(ReadMarks, LowestFollowsMarksThatMoveClearAndComeBack) {
  ReadMarks marks;
  ReadMarks::Mark a, b;
  EXPECT_EQ(marks.lowest(), UINT64_MAX);
  marks.set(a, 5);
  marks.set(b, 3);
  EXPECT_EQ(marks.lowest(), 3u);
  marks.clear(b);
  EXPECT_EQ(marks.lowest(), 5u);
  marks.clear(b);  // clearing twice is harmless
  EXPECT_EQ(marks.lowest(), 5u);
  marks.set(b, 7);  // back, on its kept node, above a
  EXPECT_EQ(marks.lowest(), 5u);
  marks.set(a, 9);  // moved up: b is now the lowest
  EXPECT_EQ(marks.lowest(), 7u);
  marks.set(a, 2);
  EXPECT_EQ(marks.lowest(), 2u);
  marks.clear(a);
  EXPECT_EQ(marks.lowest(), 7u);
  marks.clear(b);
  EXPECT_EQ(marks.lowest(), UINT64_MAX);
}

TEST(ReadMarks, EqualMarksOfTwoReadersAreEachKept) {
  ReadMarks marks;
  ReadMarks::Mark a, b;
  marks.set(a, 4);
  marks.set(b, 4);
  marks.clear(a);
  EXPECT_EQ(marks.lowest(), 4u);  // b still holds segment 4
  marks.set(a, 6);
  marks.clear(b);
  EXPECT_EQ(marks.lowest(), 6u);
}

}  // namespace
}  // namespace rivulet
