// CRC-32C: published test vectors, the extend() concatenation property, and
// agreement between the hardware and table implementations.
#include "util/crc32c.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace rivulet::crc32c {
namespace {

uint32_t crc_of(const std::vector<uint8_t>& v) { return value(v.data(), v.size()); }

TEST(Crc32c, CheckString) {
  EXPECT_EQ(value("123456789", 9), 0xE3069283u);
  EXPECT_EQ(extend_portable(0, "123456789", 9), 0xE3069283u);
}

TEST(Crc32c, EmptyInput) {
  EXPECT_EQ(value("", 0), 0u);
  EXPECT_EQ(extend(0x12345678, "", 0), 0x12345678u);
}

// RFC 3720 (iSCSI) appendix B.4.
TEST(Crc32c, Rfc3720Vectors) {
  EXPECT_EQ(crc_of(std::vector<uint8_t>(32, 0x00)), 0x8A9136AAu);
  EXPECT_EQ(crc_of(std::vector<uint8_t>(32, 0xFF)), 0x62A8AB43u);

  std::vector<uint8_t> ascending(32), descending(32);
  for (int i = 0; i < 32; ++i) {
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  EXPECT_EQ(crc_of(ascending), 0x46DD794Eu);
  EXPECT_EQ(crc_of(descending), 0x113FDB5Cu);

  const std::vector<uint8_t> read_command = {
      0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
      0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(crc_of(read_command), 0xD9963A56u);
}

TEST(Crc32c, ExtendConcatenates) {
  std::mt19937_64 rng(42);
  std::vector<uint8_t> buf(100000);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  const uint32_t whole = value(buf.data(), buf.size());
  for (int i = 0; i < 200; ++i) {
    const size_t a = rng() % (buf.size() + 1);
    const size_t b = a + rng() % (buf.size() - a + 1);
    uint32_t c = value(buf.data(), a);
    c = extend(c, buf.data() + a, b - a);
    c = extend(c, buf.data() + b, buf.size() - b);
    EXPECT_EQ(c, whole) << "split at " << a << ", " << b;
    uint32_t p = extend_portable(0, buf.data(), a);
    p = extend_portable(p, buf.data() + a, buf.size() - a);
    EXPECT_EQ(p, whole) << "portable split at " << a;
  }
}

// Covers both 3-way block sizes (256 and 8192 bytes), the folding path's
// threshold and step (512 and 128 bytes, on CPUs with VPCLMULQDQ) and their
// edges, at every alignment.
TEST(Crc32c, HardwareMatchesPortable) {
  std::mt19937_64 rng(7);
  std::vector<uint8_t> buf(3 * 8192 * 2 + 64);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 80; ++n) lengths.push_back(n);
  for (size_t base : {512, 640, 1024, 3 * 256, 3 * 8192, 2 * 3 * 8192}) {
    for (size_t d = 0; d < 20; ++d) {
      lengths.push_back(base + d);
      lengths.push_back(base - d);
    }
  }
  for (int i = 0; i < 100; ++i) lengths.push_back(rng() % (buf.size() - 16));
  for (size_t n : lengths) {
    for (size_t offset = 0; offset < 16; ++offset) {
      const uint32_t seed = static_cast<uint32_t>(rng());
      ASSERT_EQ(extend(seed, buf.data() + offset, n), extend_portable(seed, buf.data() + offset, n))
          << "length " << n << " offset " << offset;
    }
  }
}

TEST(Crc32c, ReportsHardware) {
#if defined(__x86_64__)
  EXPECT_EQ(hardware_accelerated(), static_cast<bool>(__builtin_cpu_supports("sse4.2")));
#endif
  RecordProperty("hardware_accelerated", hardware_accelerated() ? "yes" : "no");
}

}  // namespace
}  // namespace rivulet::crc32c
