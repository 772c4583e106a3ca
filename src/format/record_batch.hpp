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

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rivulet/record.hpp"
#include "rivulet/status.hpp"
#include "util/default_init_allocator.hpp"

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
  // taken against the first record's timestamp. Returns the record's size;
  // a record larger than `limit` is not added.
  size_t add(Bytes key, Bytes value, std::span<const Header> headers, int64_t timestamp_ms,
             size_t limit = SIZE_MAX);

  uint32_t count() const { return count_; }
  size_t size() const { return buf_.size(); }  // whole batch, header included
  int64_t max_timestamp() const { return max_ts_; }

  // Fills in the 61-byte header and the CRC. With log_append_time >= 0 the
  // batch is marked LogAppendTime and both timestamps are set to it (records
  // were then added with one constant timestamp). Returns the batch bytes,
  // valid until the next reset() or add().
  std::string_view finish(int64_t base_offset, int64_t log_append_time = -1);

 private:
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
