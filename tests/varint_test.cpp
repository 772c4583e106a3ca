// Zigzag varints: known encodings, round trips at boundaries, and rejection
// of truncated, overlong and out-of-range input.
#include "util/varint.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

namespace rivulet::varint {
namespace {

std::string enc32(int32_t v) {
  std::string s(kMax32, '\0');
  s.resize(static_cast<size_t>(put32(s.data(), v) - s.data()));
  return s;
}

std::string enc64(int64_t v) {
  std::string s(kMax64, '\0');
  s.resize(static_cast<size_t>(put64(s.data(), v) - s.data()));
  return s;
}

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

TEST(Varint, Zigzag) {
  EXPECT_EQ(zigzag32(0), 0u);
  EXPECT_EQ(zigzag32(-1), 1u);
  EXPECT_EQ(zigzag32(1), 2u);
  EXPECT_EQ(zigzag32(-2), 3u);
  EXPECT_EQ(zigzag32(std::numeric_limits<int32_t>::max()), 0xFFFFFFFEu);
  EXPECT_EQ(zigzag32(std::numeric_limits<int32_t>::min()), 0xFFFFFFFFu);
  EXPECT_EQ(zigzag64(std::numeric_limits<int64_t>::min()), ~uint64_t{0});
  EXPECT_EQ(unzigzag32(0xFFFFFFFFu), std::numeric_limits<int32_t>::min());
  EXPECT_EQ(unzigzag64(~uint64_t{0}), std::numeric_limits<int64_t>::min());
}

// What Kafka's ByteUtils.writeVarint / protobuf's sint32 produce.
TEST(Varint, KnownEncodings) {
  EXPECT_EQ(enc32(0), bytes({0x00}));
  EXPECT_EQ(enc32(-1), bytes({0x01}));  // a null length
  EXPECT_EQ(enc32(1), bytes({0x02}));
  EXPECT_EQ(enc32(63), bytes({0x7e}));
  EXPECT_EQ(enc32(-64), bytes({0x7f}));
  EXPECT_EQ(enc32(64), bytes({0x80, 0x01}));
  EXPECT_EQ(enc32(150), bytes({0xac, 0x02}));  // zigzag 300: protobuf's classic example
  EXPECT_EQ(enc32(300), bytes({0xd8, 0x04}));
  EXPECT_EQ(enc32(-300), bytes({0xd7, 0x04}));
  EXPECT_EQ(enc32(std::numeric_limits<int32_t>::max()), bytes({0xfe, 0xff, 0xff, 0xff, 0x0f}));
  EXPECT_EQ(enc32(std::numeric_limits<int32_t>::min()), bytes({0xff, 0xff, 0xff, 0xff, 0x0f}));
  EXPECT_EQ(enc64(std::numeric_limits<int64_t>::min()),
            bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_EQ(enc64(1000), bytes({0xd0, 0x0f}));
}

void round_trip32(int32_t v) {
  const std::string s = enc32(v);
  EXPECT_EQ(s.size(), size32(v)) << v;
  int32_t out = 0;
  EXPECT_EQ(get32(s.data(), s.data() + s.size(), &out), s.data() + s.size()) << v;
  EXPECT_EQ(out, v);
  // Also readable as a varlong, as Kafka allows.
  int64_t out64 = 0;
  EXPECT_EQ(get64(s.data(), s.data() + s.size(), &out64), s.data() + s.size()) << v;
  EXPECT_EQ(out64, v);
}

void round_trip64(int64_t v) {
  const std::string s = enc64(v);
  EXPECT_EQ(s.size(), size64(v)) << v;
  int64_t out = 0;
  EXPECT_EQ(get64(s.data(), s.data() + s.size(), &out), s.data() + s.size()) << v;
  EXPECT_EQ(out, v);
}

TEST(Varint, RoundTripBoundaries) {
  constexpr int32_t kMin32 = std::numeric_limits<int32_t>::min(),
                    kMaxI32 = std::numeric_limits<int32_t>::max();
  constexpr int64_t kMinI64 = std::numeric_limits<int64_t>::min(),
                    kMaxI64 = std::numeric_limits<int64_t>::max();
  for (int32_t v : {0, 1, -1, 63, 64, -64, -65, 8191, 8192, -8192, -8193, 1048575, 1048576, kMin32, kMaxI32,
                    kMin32 + 1, kMaxI32 - 1}) {
    round_trip32(v);
    round_trip64(v);
  }
  for (int64_t v : {kMinI64, kMaxI64, kMinI64 + 1, kMaxI64 - 1, int64_t{1} << 62, -(int64_t{1} << 62),
                    int64_t{kMaxI32} + 1, int64_t{kMin32} - 1}) {
    round_trip64(v);
  }
  EXPECT_EQ(size32(63), 1u);
  EXPECT_EQ(size32(64), 2u);
  EXPECT_EQ(size32(8191), 2u);
  EXPECT_EQ(size32(8192), 3u);
  EXPECT_EQ(size32(kMin32), 5u);
  EXPECT_EQ(size64(kMinI64), 10u);
  EXPECT_EQ(size64(0), 1u);
}

TEST(Varint, RandomRoundTrip) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 100000; ++i) {
    const int shift = static_cast<int>(rng() % 64);
    const auto v = static_cast<int64_t>(rng() >> shift);
    round_trip64(v);
    round_trip64(-v);
    round_trip32(static_cast<int32_t>(v));
  }
}

TEST(Varint, TruncatedInputReturnsNull) {
  int32_t v32 = 0;
  int64_t v64 = 0;
  const std::string empty;
  EXPECT_EQ(get32(empty.data(), empty.data(), &v32), nullptr);
  EXPECT_EQ(get64(empty.data(), empty.data(), &v64), nullptr);
  for (int64_t value : {int64_t{64}, int64_t{1} << 40, std::numeric_limits<int64_t>::min()}) {
    const std::string s = enc64(value);
    for (size_t cut = 0; cut < s.size(); ++cut) {
      EXPECT_EQ(get64(s.data(), s.data() + cut, &v64), nullptr) << value << " cut " << cut;
      EXPECT_EQ(get32(s.data(), s.data() + cut, &v32), nullptr) << value << " cut " << cut;
    }
  }
}

TEST(Varint, NeverReadsPastEnd) {
  // The byte after `end` would end the varint; it must not be looked at.
  const std::string s = bytes({0x80, 0x80, 0x00});
  int32_t v = 0;
  EXPECT_EQ(get32(s.data(), s.data() + 2, &v), nullptr);
  EXPECT_EQ(get32(s.data(), s.data() + 3, &v), s.data() + 3);
  EXPECT_EQ(v, 0);  // a non-minimal zero is accepted, as Kafka does
}

TEST(Varint, OverlongRejected) {
  int32_t v32 = 0;
  int64_t v64 = 0;
  const std::string six = bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  EXPECT_EQ(get32(six.data(), six.data() + six.size(), &v32), nullptr);
  EXPECT_NE(get64(six.data(), six.data() + six.size(), &v64), nullptr);
  const std::string eleven = bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00});
  EXPECT_EQ(get64(eleven.data(), eleven.data() + eleven.size(), &v64), nullptr);
  // An unterminated run is overlong even when the buffer goes on.
  const std::string ff(20, '\xff');
  EXPECT_EQ(get32(ff.data(), ff.data() + ff.size(), &v32), nullptr);
  EXPECT_EQ(get64(ff.data(), ff.data() + ff.size(), &v64), nullptr);
}

TEST(Varint, Get32RejectsValuesBeyondInt32) {
  int32_t v = 0;
  // 2^32 as an unsigned varint: fits in five bytes but not in 32 bits.
  const std::string big = bytes({0x80, 0x80, 0x80, 0x80, 0x10});
  EXPECT_EQ(get32(big.data(), big.data() + big.size(), &v), nullptr);
  // The largest five-byte encoding that still fits (zigzag of INT32_MIN).
  const std::string max = bytes({0xff, 0xff, 0xff, 0xff, 0x0f});
  EXPECT_NE(get32(max.data(), max.data() + max.size(), &v), nullptr);
  EXPECT_EQ(v, std::numeric_limits<int32_t>::min());
  // A varlong outside int32 is not a varint.
  const std::string wide = enc64(int64_t{std::numeric_limits<int32_t>::max()} + 1);
  EXPECT_EQ(get32(wide.data(), wide.data() + wide.size(), &v), nullptr);
  // Same rule for the tenth byte of a varlong.
  int64_t v64 = 0;
  const std::string wide64 = bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02});
  EXPECT_EQ(get64(wide64.data(), wide64.data() + wide64.size(), &v64), nullptr);
}

}  // namespace
}  // namespace rivulet::varint
