// Walks the records of one uncompressed Kafka RecordBatch v2 whose header
// parse_batch_header accepted. Every length and varint is bounds-checked:
// malformed bytes give a corruption Status naming the position, never a
// crash. Compressed batches give `unsupported`. Offset deltas must strictly
// increase and stay within lastOffsetDelta, but may skip values: a
// compacted batch has gaps (recordsCount < lastOffsetDelta + 1).
//
// next() is inline, with the error paths out of line: it runs once for every
// record read, and decoding straight into the caller's loop lets the
// compiler keep a record's fields in registers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "format/record_batch.hpp"
#include "rivulet/status.hpp"
#include "util/varint.hpp"

namespace rivulet::format {

struct DecodedRecord {
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  Bytes key;
  Bytes value;
  std::string_view headers_raw;  // `header_count` headers, validated
  uint32_t header_count = 0;
};

class RecordDecoder {
 public:
  RecordDecoder(std::string_view batch, const BatchHeader& header, uint64_t position);
  // Sets *out and returns true; returns false at the end of the batch or on
  // an error, which status() then holds (*out may be partly set).
  bool next(DecodedRecord* out);
  const Status& status() const { return status_; }
  // Where the next record starts, in bytes from the start of the batch: after
  // next() returned true, the end of the record it decoded (compaction copies
  // a surviving record's bytes as they are).
  size_t cursor() const { return pos_; }

 private:
  enum class Problem {
    compressed,
    bytes_after_last,
    ends_early,
    bad_length_varint,
    length_too_long,   // a: length, b: bytes left
    empty_record,
    bad_timestamp_delta,
    bad_offset_delta,
    offset_delta_order,  // a: the offset delta
    bad_key,
    bad_value,
    bad_header_count,
    header_count_too_big,  // a: count, b: bytes left
    bad_headers,
    length_mismatch,  // a: length, b: bytes of fields
  };
  // Records the error in status_ and returns false.
  [[gnu::cold, gnu::noinline]] bool fail(Problem problem, int64_t a = 0, int64_t b = 0);

  std::string_view batch_;
  BatchHeader header_;
  uint64_t position_;
  size_t pos_ = kBatchHeaderSize;
  int32_t index_ = 0;
  int32_t prev_offset_delta_ = -1;  // offset deltas must strictly increase
  Status status_;
};

namespace detail {

// Reads a nullable length-prefixed byte string that must end by `end`.
inline const char* get_nullable(const char* p, const char* end, Bytes* out) {
  int32_t len = 0;
  p = varint::get32(p, end, &len);
  if (p == nullptr || len < -1 || len > end - p) return nullptr;
  if (len == -1) {
    *out = std::nullopt;
    return p;
  }
  *out = std::string_view(p, static_cast<size_t>(len));
  return p + len;
}

// Skips `count` headers; returns nullptr if any is malformed or runs past end.
// Kafka rejects a null header key, so its length must be >= 0.
inline const char* skip_headers(const char* p, const char* end, int32_t count) {
  for (int32_t i = 0; i < count; ++i) {
    int32_t key_len = 0;
    p = varint::get32(p, end, &key_len);
    if (p == nullptr || key_len < 0 || key_len > end - p) return nullptr;
    p += key_len;
    Bytes value;
    p = get_nullable(p, end, &value);
    if (p == nullptr) return nullptr;
  }
  return p;
}

// Timestamps and offsets come from files; wrap instead of overflowing.
inline int64_t wrapping_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

}  // namespace detail

[[gnu::always_inline]] inline bool RecordDecoder::next(DecodedRecord* out) {
  if (header_.compression() != 0) return fail(Problem::compressed);
  if (index_ >= header_.records_count) {
    if (pos_ != batch_.size()) return fail(Problem::bytes_after_last);
    return false;
  }
  if (pos_ >= batch_.size()) return fail(Problem::ends_early);

  const char* const batch_end = batch_.data() + batch_.size();
  const char* p = batch_.data() + pos_;
  int32_t length = 0;
  p = varint::get32(p, batch_end, &length);
  if (p == nullptr) return fail(Problem::bad_length_varint);
  if (length < 0 || length > batch_end - p) return fail(Problem::length_too_long, length, batch_end - p);
  // From here on nothing may be read beyond this record's own bytes.
  const char* const end = p + length;
  if (p == end) return fail(Problem::empty_record);
  ++p;  // attributes: unused in v2, ignored as Kafka does

  int64_t ts_delta = 0;
  p = varint::get64(p, end, &ts_delta);
  if (p == nullptr) return fail(Problem::bad_timestamp_delta);
  int32_t offset_delta = 0;
  p = varint::get32(p, end, &offset_delta);
  if (p == nullptr) return fail(Problem::bad_offset_delta);
  if (offset_delta <= prev_offset_delta_ || offset_delta > header_.last_offset_delta) {
    return fail(Problem::offset_delta_order, offset_delta);
  }
  // Straight into *out: optionals built on the stack and copied cost a
  // store-forwarding stall each (a quarter of a sequential read's time).
  p = detail::get_nullable(p, end, &out->key);
  if (p == nullptr) return fail(Problem::bad_key);
  p = detail::get_nullable(p, end, &out->value);
  if (p == nullptr) return fail(Problem::bad_value);

  int32_t header_count = 0;
  p = varint::get32(p, end, &header_count);
  if (p == nullptr) return fail(Problem::bad_header_count);
  // Each header takes at least two bytes; rejecting early bounds the loop.
  if (header_count < 0 || header_count > (end - p) / 2) {
    return fail(Problem::header_count_too_big, header_count, end - p);
  }
  const char* const headers_begin = p;
  p = detail::skip_headers(p, end, header_count);
  if (p == nullptr) return fail(Problem::bad_headers);
  if (p != end) return fail(Problem::length_mismatch, length, length - (end - p));

  out->offset = detail::wrapping_add(header_.base_offset, offset_delta);
  // Kafka's rule: under LogAppendTime every record carries the batch's time.
  out->timestamp_ms =
      header_.log_append_time() ? header_.max_timestamp : detail::wrapping_add(header_.base_timestamp, ts_delta);
  out->headers_raw = std::string_view(headers_begin, static_cast<size_t>(p - headers_begin));
  out->header_count = static_cast<uint32_t>(header_count);

  pos_ = static_cast<size_t>(end - batch_.data());
  ++index_;
  prev_offset_delta_ = offset_delta;
  return true;
}

}  // namespace rivulet::format
