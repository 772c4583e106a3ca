// Walks the records of one uncompressed Kafka RecordBatch v2 whose header
// parse_batch_header accepted. Every length and varint is bounds-checked:
// malformed bytes give a corruption Status naming the position, never a
// crash. Compressed batches give `unsupported`. Offset deltas must strictly
// increase and stay within lastOffsetDelta, but may skip values: a
// compacted batch has gaps (recordsCount < lastOffsetDelta + 1).
//
// for_each() is inline, with the error paths out of line: it runs for every
// record read, and its loop keeps the cursor and the batch's fields in local
// variables, which the compiler holds in registers (as members of the
// decoder they were reloaded from memory after every store the caller's
// loop made). next() is the same loop stopped after one record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "format/record_batch.hpp"
#include "rivulet/status.hpp"
#include "util/varint.hpp"

namespace rivulet::format {

// Key and value are kept as pointer and length (-1 for null) rather than as
// Bytes: a std::optional is not split into registers by the compiler, and
// storing its flag byte then copying it whole stalled the read loop.
struct DecodedRecord {
  int64_t offset = 0;
  int64_t timestamp_ms = 0;
  const char* key_data = nullptr;
  const char* value_data = nullptr;
  int32_t key_size = -1;
  int32_t value_size = -1;
  std::string_view headers_raw;  // `header_count` headers, validated
  uint32_t header_count = 0;

  Bytes key() const { return bytes(key_data, key_size); }
  Bytes value() const { return bytes(value_data, value_size); }

 private:
  static Bytes bytes(const char* data, int32_t size) {
    if (size < 0) return std::nullopt;
    return std::string_view(data, static_cast<size_t>(size));
  }
};

class RecordDecoder {
 public:
  RecordDecoder(std::string_view batch, const BatchHeader& header, uint64_t position);
  // Calls take(const DecodedRecord&) for each record from the next one on
  // until take returns false or the batch ends. Returns false on an error,
  // which status() then holds; a record is handed to take only once the
  // whole of it checked out.
  template <typename Take>
  bool for_each(Take take);
  // Sets *out and returns true; returns false at the end of the batch or on
  // an error, which status() then holds.
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

// Reads a nullable length-prefixed byte string that must end by `end`:
// its bytes start at *data, *size of them (-1: null). Returns the byte
// after it.
inline const char* get_nullable(const char* p, const char* end, const char** data, int32_t* size) {
  p = varint::get32(p, end, size);
  if (p == nullptr || *size < -1 || *size > end - p) return nullptr;
  *data = p;
  return *size < 0 ? p : p + *size;
}

// Skips `count` headers; returns nullptr if any is malformed or runs past end.
// Kafka rejects a null header key, so its length must be >= 0.
inline const char* skip_headers(const char* p, const char* end, int32_t count) {
  for (int32_t i = 0; i < count; ++i) {
    int32_t key_len = 0;
    p = varint::get32(p, end, &key_len);
    if (p == nullptr || key_len < 0 || key_len > end - p) return nullptr;
    p += key_len;
    const char* value = nullptr;
    int32_t value_size = 0;
    p = get_nullable(p, end, &value, &value_size);
    if (p == nullptr) return nullptr;
  }
  return p;
}

// A varint of one or two bytes, still zigzag-encoded, from p; the caller
// has made sure two bytes may be read. Returns false for a longer one.
[[gnu::always_inline]] inline bool small_varint(const char*& p, uint32_t* u) {
  const uint32_t b0 = static_cast<uint8_t>(p[0]);
  if (b0 < 0x80) {
    *u = b0;
    p += 1;
    return true;
  }
  const uint32_t b1 = static_cast<uint8_t>(p[1]);
  if (b1 >= 0x80) return false;
  *u = (b0 & 0x7f) | (b1 << 7);
  p += 2;
  return true;
}

// A nullable length of one or two bytes (zigzag 1 is -1, null; other odd
// values are negative, refused) whose bytes fit before end.
[[gnu::always_inline]] inline bool small_nullable(const char*& p, const char* end, const char** data,
                                                  int32_t* size) {
  uint32_t u = 0;
  if (!small_varint(p, &u)) return false;
  *data = p;
  if (u & 1) {
    *size = -1;
    return u == 1;
  }
  *size = static_cast<int32_t>(u >> 1);
  if (*size > end - p) return false;
  p += *size;
  return true;
}

// The shape nearly every record has: all its varints one or two bytes, no
// headers. Decodes such a record at p in fewer steps than the general path
// (one bounds check covers its first four fields, non-negative fields are
// tested on the zigzag bit instead of decoded and compared). Returns false
// for any other record, valid or not, which the general path then decodes
// and, if need be, names the problem of: so for every record this accepts,
// it gives exactly what the general path would.
struct SmallRecord {
  const char* end;
  const char* key;
  const char* value;
  int32_t key_size;
  int32_t value_size;
  int32_t offset_delta;
  int32_t timestamp_delta;
};
[[gnu::always_inline]] inline bool decode_small(const char* p, const char* batch_end, SmallRecord* r) {
  if (batch_end - p < 2) return false;
  uint32_t length = 0;
  if (!small_varint(p, &length) || (length & 1)) return false;
  length >>= 1;
  // Attributes and three varints of at most two bytes each: 7 bytes, and
  // the 8th is at least the value's length.
  if (length < 8 || length > static_cast<uint64_t>(batch_end - p)) return false;
  const char* const end = p + length;
  ++p;  // attributes
  uint32_t ts = 0, offset_delta = 0;
  if (!small_varint(p, &ts) || !small_varint(p, &offset_delta) || (offset_delta & 1)) return false;
  if (!small_nullable(p, end, &r->key, &r->key_size)) return false;
  // The value's length and the header count: two bytes at least.
  if (end - p < 2 || !small_nullable(p, end, &r->value, &r->value_size)) return false;
  if (end - p != 1 || *p != 0) return false;  // no headers, and the record ends here
  r->end = end;
  r->offset_delta = static_cast<int32_t>(offset_delta >> 1);
  r->timestamp_delta = varint::unzigzag32(ts);
  return true;
}

// Timestamps and offsets come from files; wrap instead of overflowing.
inline int64_t wrapping_add(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

}  // namespace detail

template <typename Take>
[[gnu::always_inline]] inline bool RecordDecoder::for_each(Take take) {
  if (header_.compression() != 0) return fail(Problem::compressed);
  const char* const begin = batch_.data();
  const char* const batch_end = begin + batch_.size();
  const int32_t count = header_.records_count;
  const int32_t last_delta = header_.last_offset_delta;
  const int64_t base_offset = header_.base_offset;
  // Kafka's rule: under LogAppendTime every record carries the batch's time.
  const bool append_time = header_.log_append_time();
  const int64_t base_ts = append_time ? header_.max_timestamp : header_.base_timestamp;
  const char* p = begin + pos_;
  int32_t index = index_;
  int32_t prev_delta = prev_offset_delta_;  // offset deltas must strictly increase
  const char* record = p;
  // Errors name the record by its index and start: put the cursor there.
  auto stop = [&](Problem problem, int64_t a = 0, int64_t b = 0) {
    pos_ = static_cast<size_t>(record - begin);
    index_ = index;
    prev_offset_delta_ = prev_delta;
    return fail(problem, a, b);
  };
  for (;;) {
    record = p;
    if (index >= count) {
      if (p != batch_end) return stop(Problem::bytes_after_last);
      pos_ = static_cast<size_t>(p - begin);
      index_ = index;
      return true;
    }
    detail::SmallRecord small;
    if (detail::decode_small(p, batch_end, &small) && small.offset_delta > prev_delta &&
        small.offset_delta <= last_delta) [[likely]] {
      p = small.end;
      const DecodedRecord rec{
          .offset = detail::wrapping_add(base_offset, small.offset_delta),
          .timestamp_ms = append_time ? base_ts : detail::wrapping_add(base_ts, small.timestamp_delta),
          .key_data = small.key,
          .value_data = small.value,
          .key_size = small.key_size,
          .value_size = small.value_size,
          .headers_raw = std::string_view(p, 0),
          .header_count = 0,
      };
      ++index;
      prev_delta = small.offset_delta;
      if (!take(rec)) break;
      continue;
    }
    if (p >= batch_end) return stop(Problem::ends_early);

    int32_t length = 0;
    p = varint::get32(p, batch_end, &length);
    if (p == nullptr) return stop(Problem::bad_length_varint);
    if (length < 0 || length > batch_end - p) return stop(Problem::length_too_long, length, batch_end - p);
    // From here on nothing may be read beyond this record's own bytes.
    const char* const end = p + length;
    if (p == end) return stop(Problem::empty_record);
    ++p;  // attributes: unused in v2, ignored as Kafka does

    int64_t ts_delta = 0;
    p = varint::get64(p, end, &ts_delta);
    if (p == nullptr) return stop(Problem::bad_timestamp_delta);
    int32_t offset_delta = 0;
    p = varint::get32(p, end, &offset_delta);
    if (p == nullptr) return stop(Problem::bad_offset_delta);
    if (offset_delta <= prev_delta || offset_delta > last_delta) {
      return stop(Problem::offset_delta_order, offset_delta);
    }
    const char *key = nullptr, *value = nullptr;
    int32_t key_size = 0, value_size = 0;
    p = detail::get_nullable(p, end, &key, &key_size);
    if (p == nullptr) return stop(Problem::bad_key);
    p = detail::get_nullable(p, end, &value, &value_size);
    if (p == nullptr) return stop(Problem::bad_value);

    int32_t header_count = 0;
    p = varint::get32(p, end, &header_count);
    if (p == nullptr) return stop(Problem::bad_header_count);
    // Each header takes at least two bytes; rejecting early bounds the loop.
    if (header_count < 0 || header_count > (end - p) / 2) {
      return stop(Problem::header_count_too_big, header_count, end - p);
    }
    const char* const headers_begin = p;
    p = detail::skip_headers(p, end, header_count);
    if (p == nullptr) return stop(Problem::bad_headers);
    if (p != end) return stop(Problem::length_mismatch, length, length - (end - p));

    const DecodedRecord rec{
        .offset = detail::wrapping_add(base_offset, offset_delta),
        .timestamp_ms = append_time ? base_ts : detail::wrapping_add(base_ts, ts_delta),
        .key_data = key,
        .value_data = value,
        .key_size = key_size,
        .value_size = value_size,
        .headers_raw = std::string_view(headers_begin, static_cast<size_t>(p - headers_begin)),
        .header_count = static_cast<uint32_t>(header_count),
    };
    ++index;
    prev_delta = offset_delta;
    if (!take(rec)) break;
  }
  // take() asked to stop: the next call goes on after this record.
  pos_ = static_cast<size_t>(p - begin);
  index_ = index;
  prev_offset_delta_ = prev_delta;
  return true;
}

inline bool RecordDecoder::next(DecodedRecord* out) {
  bool got = false;
  bool ok = for_each([&](const DecodedRecord& r) {
    *out = r;
    got = true;
    return false;
  });
  return ok && got;
}

}  // namespace rivulet::format
