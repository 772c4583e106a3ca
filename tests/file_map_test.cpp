// log::FileMap: what it maps ahead of readers. Page tables are per process,
// so pages one reader had mapped must not cost another a system call again
// (a consumer of 5,000 partitions made 60,000 calls for an 8 MB file).
#include <memory>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "forwarding_file.hpp"
#include "io/env.hpp"
#include "log/file_map.hpp"
#include "test_util.hpp"

namespace rivulet {
namespace {

constexpr uint64_t kKiB = 1024, kMiB = 1024 * kKiB;

// Counts what the mappings of a file are asked to populate.
struct PopulateCount {
  int calls = 0;
  uint64_t bytes = 0;
};

class CountingMapping final : public io::Mapping {
 public:
  CountingMapping(std::unique_ptr<io::Mapping> m, PopulateCount* count) : m_(std::move(m)), count_(count) {}
  const char* data() const override { return m_->data(); }
  uint64_t length() const override { return m_->length(); }
  void populate(uint64_t begin, uint64_t end) const override {
    ++count_->calls;
    count_->bytes += end - begin;
    m_->populate(begin, end);
  }

 private:
  std::unique_ptr<io::Mapping> m_;
  PopulateCount* count_;
};

class CountingFile final : public testing::ForwardingFile {
 public:
  CountingFile(std::unique_ptr<io::File> f, PopulateCount* count) : ForwardingFile(std::move(f)), count_(count) {}
  Result<std::unique_ptr<io::Mapping>> map(uint64_t length) override {
    Result<std::unique_ptr<io::Mapping>> m = ForwardingFile::map(length);
    if (!m.ok()) return m.status();
    return std::unique_ptr<io::Mapping>(new CountingMapping(std::move(m).value(), count_));
  }

 private:
  PopulateCount* count_;
};

class FileMapTest : public ::testing::Test {
 protected:
  // A file of `size` bytes, read through a FileMap.
  void make_file(uint64_t size) {
    Result<std::unique_ptr<io::File>> f = io::Env::posix()->open(dir_.file("log"), io::OpenMode::create_exclusive_rw);
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    const std::string bytes(size, 'x');
    const std::string_view part(bytes);
    ASSERT_TRUE((*f)->write_at(0, std::span<const std::string_view>(&part, 1)).ok());
    file_ = std::make_unique<CountingFile>(std::move(f).value(), &count_);
    map_ = std::make_unique<log::FileMap>(file_.get());
    ASSERT_TRUE(map_->refresh_size().ok());
  }

  testing::TempDir dir_;
  PopulateCount count_;
  std::unique_ptr<CountingFile> file_;
  std::unique_ptr<log::FileMap> map_;
};

TEST_F(FileMapTest, PagesOneReaderMappedAreNotPopulatedAgainForAnother) {
  make_file(4 * kMiB);
  log::FileMap::Ahead first, second, third;
  map_->map_ahead(&first, 0, 2 * kMiB, 2 * kMiB);
  EXPECT_EQ(count_.calls, 1);
  EXPECT_EQ(count_.bytes, 2 * kMiB);

  map_->map_ahead(&second, 512 * kKiB, kMiB, 256 * kKiB);  // inside what the first mapped
  EXPECT_EQ(count_.calls, 1);
  map_->map_ahead(&second, 1900 * kKiB, 2100 * kKiB, 256 * kKiB);  // runs past it: only the rest
  EXPECT_EQ(count_.calls, 2);
  EXPECT_EQ(count_.bytes, 2 * kMiB + 256 * kKiB);
  map_->map_ahead(&third, 0, 4 * kMiB, 4 * kMiB);  // the gaps, in one call
  EXPECT_EQ(count_.calls, 3);
  EXPECT_EQ(count_.bytes, 4 * kMiB);
}

TEST_F(FileMapTest, ThePieceTheFileEndsInIsPopulatedAgain) {
  // The file may grow into it (the log's tail): its new pages need mapping.
  make_file(kMiB + 1000);
  log::FileMap::Ahead first, second;
  map_->map_ahead(&first, kMiB, kMiB + 1000, 256 * kKiB);
  map_->map_ahead(&second, kMiB, kMiB + 1000, 256 * kKiB);
  EXPECT_EQ(count_.calls, 2);
  EXPECT_EQ(count_.bytes, 2000u);
}

TEST_F(FileMapTest, ARangeForgottenIsPopulatedAgain) {
  // A reused segment: its blocks were punched, which unmapped its pages.
  make_file(2 * kMiB);
  log::FileMap::Ahead first, second;
  map_->map_ahead(&first, 0, 2 * kMiB, 2 * kMiB);
  map_->forget_populated(kMiB, 2 * kMiB);
  map_->map_ahead(&second, 0, 2 * kMiB, 2 * kMiB);
  EXPECT_EQ(count_.calls, 2);
  EXPECT_EQ(count_.bytes, 3 * kMiB);
}

}  // namespace
}  // namespace rivulet
