// Kafka RecordBatch v2 (magic 2), byte for byte as Kafka writes it: the
// builder encodes records straight into the batch buffer; the records of a
// batch whose CRC was checked are walked by RecordDecoder
// (format/record_decoder.hpp). No I/O here.
//
// Layout (big-endian): baseOffset i64, batchLength i32, partitionLeaderEpoch
// i32, magic i8 (=2), crc u32 (CRC-32C over byte 21..end), attributes i16,
// lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64, producerId i64,
// producerEpoch i16, baseSequence i32, recordsCount i32, then the records.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rivulet/record.hpp"
#include "rivulet/status.hpp"
#include "util/default_init_allocator.hpp"
#include "util/varint.hpp"

namespace rivulet::format {

inline constexpr size_t kBatchHeaderSize = 61;
inline constexpr size_t kBatchLogOverhead = 12;  // baseOffset + batchLength
inline constexpr size_t kBatchCrcOffset = 17;
inline constexpr size_t kBatchCrcFrom = 21;      // the CRC covers [21, end)
inline constexpr int8_t kBatchMagic = 2;
inline constexpr int16_t kAttrCompressionMask = 0x07;
inline constexpr int16_t kAttrLogAppendTime = 0x08;
inline constexpr int16_t kAttrTransactional = 0x10;
inline constexpr int16_t kAttrControl = 0x20;

// No offset reaches this (a writer giving a billion offsets a second
// would take 146 years): below it, next offsets, batch ends and offset
// spans never overflow. A batch or checkpoint past it is corruption.
inline constexpr int64_t kOffsetLimit = int64_t{1} << 62;

struct BatchHeader {
  int64_t base_offset = 0;
  int32_t batch_length = 0;  // bytes after the batchLength field
  int32_t partition_leader_epoch = 0;
  int8_t magic = kBatchMagic;
  uint32_t crc = 0;
  int16_t attributes = 0;
  int32_t last_offset_delta = 0;
  int64_t base_timestamp = 0;
  int64_t max_timestamp = 0;
  int64_t producer_id = -1;
  int16_t producer_epoch = -1;
  int32_t base_sequence = -1;
  int32_t records_count = 0;

  size_t total_size() const { return static_cast<size_t>(batch_length) + kBatchLogOverhead; }
  int compression() const { return attributes & kAttrCompressionMask; }
  bool log_append_time() const { return (attributes & kAttrLogAppendTime) != 0; }
  int64_t last_offset() const { return base_offset + last_offset_delta; }
};

// Encodes records into one uncompressed batch. Reusable: reset() keeps the
// buffer's capacity.
class BatchBuilder {
 public:
  BatchBuilder() { reset(); }
  void reset();

  // Bytes one record adds to the batch (its length varint included).
  static size_t record_size(int64_t timestamp_delta, int32_t offset_delta, Bytes key, Bytes value,
                            std::span<const Header> headers);

  // Appends a record; its offset is base + count(), its timestamp delta is
  // taken against the first record's timestamp. Returns whether it was
  // added: not if its size is over `limit` or it cannot be encoded (over
  // INT32_MAX bytes). `*record_bytes`, if given, gets its size either way.
  // Inline for the shape nearly every record has (every varint of one or
  // two bytes, no headers), which it writes in fewer steps; the bytes are
  // those add_general() writes.
  bool add(Bytes key, Bytes value, std::span<const Header> headers, int64_t timestamp_ms, size_t limit = SIZE_MAX,
           size_t* record_bytes_out = nullptr) {
    const int64_t first_ts = count_ == 0 ? timestamp_ms : first_ts_;
    // Zigzag values; a nullable length of -1 (null) is 1.
    const uint64_t ts_zz = varint::zigzag64(
        static_cast<int64_t>(static_cast<uint64_t>(timestamp_ms) - static_cast<uint64_t>(first_ts)));
    const uint64_t offset_zz = uint64_t{count_} << 1;
    const uint64_t key_zz = key ? uint64_t{key->size()} << 1 : 1, value_zz = value ? uint64_t{value->size()} << 1 : 1;
    if (!headers.empty() || (ts_zz | offset_zz | key_zz | value_zz) >= kTwoBytes) [[unlikely]] {
      return add_general(key, value, headers, timestamp_ms, limit, record_bytes_out);
    }
    // attributes, the four varints, key and value bytes, header count 0
    const size_t body = 1 + small_size(ts_zz) + small_size(offset_zz) + small_size(key_zz) + small_size(value_zz) +
                        (key ? key->size() : 0) + (value ? value->size() : 0) + 1;
    if (body >= kTwoBytes / 2) [[unlikely]] {
      return add_general(key, value, headers, timestamp_ms, limit, record_bytes_out);
    }
    const uint64_t body_zz = uint64_t{body} << 1;
    const size_t record_bytes = small_size(body_zz) + body;
    if (record_bytes_out) *record_bytes_out = record_bytes;
    if (record_bytes > limit) return false;
    first_ts_ = first_ts;
    max_ts_ = count_ == 0 ? timestamp_ms : std::max(max_ts_, timestamp_ms);
    const size_t old_size = buf_.size();
    buf_.resize(old_size + record_bytes);
    char* p = put_small(buf_.data() + old_size, body_zz);
    *p++ = 0;  // record attributes
    p = put_small(p, ts_zz);
    p = put_small(p, offset_zz);
    p = put_small_bytes(p, key, key_zz);
    p = put_small_bytes(p, value, value_zz);
    *p = 0;  // no headers
    ++count_;
    return true;
  }

  uint32_t count() const { return count_; }
  size_t size() const { return buf_.size(); }  // whole batch, header included
  int64_t max_timestamp() const { return max_ts_; }

  // Fills in the 61-byte header and the CRC. With log_append_time >= 0 the
  // batch is marked LogAppendTime and both timestamps are set to it (records
  // were then added with one constant timestamp). Returns the batch bytes,
  // valid until the next reset() or add().
  std::string_view finish(int64_t base_offset, int64_t log_append_time = -1);

 private:
  bool add_general(Bytes key, Bytes value, std::span<const Header> headers, int64_t timestamp_ms, size_t limit,
                   size_t* record_bytes_out);

  // Zigzag values below this take one or two bytes.
  static constexpr uint64_t kTwoBytes = uint64_t{1} << 14;
  static size_t small_size(uint64_t zigzag) { return zigzag < 0x80 ? 1 : 2; }
  static char* put_small(char* p, uint64_t zigzag) {
    if (zigzag < 0x80) {
      *p = static_cast<char>(zigzag);
      return p + 1;
    }
    p[0] = static_cast<char>(zigzag | 0x80);
    p[1] = static_cast<char>(zigzag >> 7);
    return p + 2;
  }
  static char* put_small_bytes(char* p, const Bytes& b, uint64_t zigzag) {
    p = put_small(p, zigzag);
    // An empty view may have a null data(); memcpy must not see it.
    if (b && !b->empty()) std::memcpy(p, b->data(), b->size());
    return b ? p + b->size() : p;
  }

  // Grown by resize() and then written: its new bytes are not zeroed first.
  std::vector<char, util::DefaultInitAllocator<char>> buf_;
  uint32_t count_ = 0;
  int64_t first_ts_ = 0;
  int64_t max_ts_ = 0;
};

// An error about the batch at file position `position`: its message starts
// "record batch at position N: " and names `what` (header parser and record
// decoder alike).
Status batch_error(uint64_t position, const std::string& what, Code code = Code::corruption);

// `st` (about a batch of that partition) with "topic 'T' partition P: " in
// front, so that an error from a batch header or a record says whose it is.
Status in_partition(const Status& st, std::string_view topic, int64_t partition);

// Parses the 61-byte header at the start of `bytes` and checks what can be
// checked without the records: magic 2, batchLength >= 49 and within `bytes`,
// lastOffsetDelta >= 0, recordsCount >= 0. `position` is the batch's place in
// the file, for the error message.
Status parse_batch_header(std::string_view bytes, uint64_t position, BatchHeader* out);

// True when the CRC-32C in the header matches bytes [21, end) of `batch`
// (`batch` is exactly header.total_size() bytes).
bool batch_crc_ok(std::string_view batch, const BatchHeader& header);

// For a batch whose records were replaced by a subset of them (compaction):
// sets batchLength to match batch->size() and recordsCount to
// `records_count`, then the CRC. Every other header field stays as it is.
// `batch` holds at least the 61-byte header.
void reseal_batch(std::string* batch, int32_t records_count);

}  // namespace rivulet::format
