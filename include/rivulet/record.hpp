// Records as a producer hands them in and as a reader sees them.
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>

#include "rivulet/options.hpp"

namespace rivulet {

// Nullable bytes: std::nullopt is null, an empty view is zero bytes.
using Bytes = std::optional<std::string_view>;

struct Header {
  std::string_view key;
  Bytes value;
};

// A record to produce. Nothing is owned: the views must stay valid until the
// produce() or WriteBatch::add() call returns (they copy what they need).
struct ProducerRecord {
  std::string_view topic;
  Bytes key;
  Bytes value;
  std::span<const Header> headers;
  // Unset: keyed records go where Kafka's default partitioner sends them
  // (murmur2), unkeyed ones are spread round-robin.
  std::optional<int32_t> partition;
  // Unset: the time of the call. Ignored for log_append_time topics.
  // Any value is accepted and stored as given, negative ones too (Kafka
  // refuses them); retention.ms counts such a record as old as it says, and
  // StartAt::timestamp finds it as any other.
  std::optional<int64_t> timestamp_ms;
};

// Where a produced record landed.
struct Appended {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
};

// The headers of a record read from the file, decoded lazily from its bytes.
class RecordHeaders {
 public:
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Header;
    using difference_type = std::ptrdiff_t;
    using pointer = const Header*;
    using reference = const Header&;

    iterator() = default;
    iterator(const char* pos, const char* end, uint32_t left);
    const Header& operator*() const { return current_; }
    const Header* operator->() const { return &current_; }
    iterator& operator++();
    bool operator==(const iterator& o) const { return left_ == o.left_; }

   private:
    void decode();
    const char* pos_ = nullptr;
    const char* end_ = nullptr;
    uint32_t left_ = 0;
    Header current_;
  };

  RecordHeaders() = default;
  // `raw` holds `count` headers in Kafka's record-header encoding, already
  // validated by the reader that made this view.
  RecordHeaders(std::string_view raw, uint32_t count) : raw_(raw), count_(count) {}
  iterator begin() const { return {raw_.data(), raw_.data() + raw_.size(), count_}; }
  iterator end() const { return {}; }
  uint32_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

 private:
  std::string_view raw_;
  uint32_t count_ = 0;
};

// A record read from the file. Key, value and headers point into the file's
// read-only mapping (no copy): they stay valid until the next poll() or
// seek() on the Reader that returned them, or until that Reader is destroyed.
struct RecordView {
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  TimestampType timestamp_type = TimestampType::create_time;
  Bytes key;
  Bytes value;
  RecordHeaders headers;
};

}  // namespace rivulet
