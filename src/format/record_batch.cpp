// Kafka RecordBatch v2: the builder that encodes records straight into the
// batch buffer (the produce hot path), and the header parser that treats
// every byte read from the file as untrusted (the records are walked by
// format/record_decoder.hpp).
#include "format/record_batch.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>

#include "util/crc32c.hpp"
#include "util/endian.hpp"
#include "util/varint.hpp"

namespace rivulet::format {
namespace {

// Header field offsets (FACTS §1).
constexpr size_t kOffBaseOffset = 0;
constexpr size_t kOffBatchLength = 8;
constexpr size_t kOffLeaderEpoch = 12;
constexpr size_t kOffMagic = 16;
constexpr size_t kOffAttributes = 21;
constexpr size_t kOffLastOffsetDelta = 23;
constexpr size_t kOffBaseTimestamp = 27;
constexpr size_t kOffMaxTimestamp = 35;
constexpr size_t kOffProducerId = 43;
constexpr size_t kOffProducerEpoch = 51;
constexpr size_t kOffBaseSequence = 53;
constexpr size_t kOffRecordsCount = 57;

// batchLength counts from partitionLeaderEpoch on, so the empty batch has 49.
constexpr int32_t kMinBatchLength = static_cast<int32_t>(kBatchHeaderSize - kBatchLogOverhead);
// length, attributes, timestampDelta, offsetDelta, keyLength, valueLength,
// headersCount: one byte each at the least.
constexpr size_t kMinRecordSize = 7;
constexpr int64_t kNoTimestamp = -1;

// --- encoding -------------------------------------------------------------

inline size_t nullable_size(const Bytes& b) {
  return b ? varint::size32(static_cast<int32_t>(b->size())) + b->size() : 1;
}

char* put_raw(char* p, std::string_view s) {
  // An empty view may have a null data(); memcpy must not see it.
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* put_nullable(char* p, const Bytes& b) {
  if (!b) return varint::put32(p, -1);
  return put_raw(varint::put32(p, static_cast<int32_t>(b->size())), *b);
}

// Everything after the record's length varint. Inline: it runs for every
// record produced.
[[gnu::always_inline]] inline size_t body_size(int64_t timestamp_delta, int32_t offset_delta, const Bytes& key,
                                               const Bytes& value, std::span<const Header> headers) {
  size_t n = 1 + varint::size64(timestamp_delta) + varint::size32(offset_delta) + nullable_size(key) +
             nullable_size(value) + varint::size32(static_cast<int32_t>(headers.size()));
  for (const Header& h : headers) {
    n += varint::size32(static_cast<int32_t>(h.key.size())) + h.key.size() + nullable_size(h.value);
  }
  return n;
}

// Timestamps come from callers; wrap instead of overflowing.
int64_t wrapping_sub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

Status corrupt(uint64_t position, const std::string& what) { return batch_error(position, what); }

}  // namespace

Status batch_error(uint64_t position, const std::string& what, Code code) {
  return Status(code, "record batch at position " + std::to_string(position) + ": " + what, position);
}

Status in_partition(const Status& st, std::string_view topic, int64_t partition) {
  if (st.ok()) return st;
  return Status(st.code(),
                "topic '" + std::string(topic) + "' partition " + std::to_string(partition) + ": " + st.message(),
                st.position());
}

// --- BatchBuilder ---------------------------------------------------------

void BatchBuilder::reset() {
  buf_.assign(kBatchHeaderSize, '\0');
  count_ = 0;
  first_ts_ = kNoTimestamp;
  max_ts_ = kNoTimestamp;
}

size_t BatchBuilder::record_size(int64_t timestamp_delta, int32_t offset_delta, Bytes key, Bytes value,
                                 std::span<const Header> headers) {
  const size_t body = body_size(timestamp_delta, offset_delta, key, value, headers);
  return varint::size32(static_cast<int32_t>(body)) + body;
}

bool BatchBuilder::add_general(Bytes key, Bytes value, std::span<const Header> headers, int64_t timestamp_ms,
                               size_t limit, size_t* record_bytes_out) {
  const int64_t first_ts = count_ == 0 ? timestamp_ms : first_ts_;
  const int64_t ts_delta = wrapping_sub(timestamp_ms, first_ts);
  const auto offset_delta = static_cast<int32_t>(count_);
  const size_t body_bytes = body_size(ts_delta, offset_delta, key, value, headers);
  const size_t record_bytes = varint::size64(static_cast<int64_t>(body_bytes)) + body_bytes;
  if (record_bytes_out) *record_bytes_out = record_bytes;
  if (record_bytes > limit || body_bytes > INT32_MAX) return false;
  const auto body = static_cast<int32_t>(body_bytes);
  first_ts_ = first_ts;
  max_ts_ = count_ == 0 ? timestamp_ms : std::max(max_ts_, timestamp_ms);

  // One resize (amortised growth), then raw writes: no temporaries.
  const size_t old_size = buf_.size();
  buf_.resize(old_size + varint::size32(body) + static_cast<size_t>(body));
  char* p = buf_.data() + old_size;
  p = varint::put32(p, body);
  *p++ = 0;  // record attributes: unused in v2
  p = varint::put64(p, ts_delta);
  p = varint::put32(p, offset_delta);
  p = put_nullable(p, key);
  p = put_nullable(p, value);
  p = varint::put32(p, static_cast<int32_t>(headers.size()));
  for (const Header& h : headers) {
    p = put_raw(varint::put32(p, static_cast<int32_t>(h.key.size())), h.key);
    p = put_nullable(p, h.value);
  }
  ++count_;
  return true;
}

std::string_view BatchBuilder::finish(int64_t base_offset, int64_t log_append_time) {
  const bool append_time = log_append_time >= 0;
  char* h = buf_.data();
  store_be<int64_t>(h + kOffBaseOffset, base_offset);
  store_be<int32_t>(h + kOffBatchLength, static_cast<int32_t>(buf_.size() - kBatchLogOverhead));
  store_be<int32_t>(h + kOffLeaderEpoch, 0);
  h[kOffMagic] = static_cast<char>(kBatchMagic);
  store_be<int16_t>(h + kOffAttributes, append_time ? kAttrLogAppendTime : int16_t{0});
  // An empty batch still needs a valid (non-negative) lastOffsetDelta.
  store_be<int32_t>(h + kOffLastOffsetDelta, count_ == 0 ? 0 : static_cast<int32_t>(count_ - 1));
  store_be<int64_t>(h + kOffBaseTimestamp, append_time ? log_append_time : first_ts_);
  store_be<int64_t>(h + kOffMaxTimestamp, append_time ? log_append_time : max_ts_);
  store_be<int64_t>(h + kOffProducerId, -1);
  store_be<int16_t>(h + kOffProducerEpoch, -1);
  store_be<int32_t>(h + kOffBaseSequence, -1);
  store_be<int32_t>(h + kOffRecordsCount, static_cast<int32_t>(count_));
  // Last: the CRC covers every field from attributes on.
  store_be<uint32_t>(h + kBatchCrcOffset, crc32c::value(h + kBatchCrcFrom, buf_.size() - kBatchCrcFrom));
  return std::string_view(buf_.data(), buf_.size());
}

// --- header ---------------------------------------------------------------

Status parse_batch_header(std::string_view bytes, uint64_t position, BatchHeader* out) {
  if (bytes.size() < kBatchHeaderSize) {
    return corrupt(position, "truncated header (" + std::to_string(bytes.size()) + " of " +
                                 std::to_string(kBatchHeaderSize) + " bytes)");
  }
  const char* p = bytes.data();
  // The magic decides how everything else is laid out, so check it first.
  const auto magic = static_cast<int8_t>(p[kOffMagic]);
  if (magic != kBatchMagic) return corrupt(position, "bad magic " + std::to_string(magic) + " (expected 2)");

  BatchHeader h;
  h.base_offset = load_be<int64_t>(p + kOffBaseOffset);
  h.batch_length = load_be<int32_t>(p + kOffBatchLength);
  h.partition_leader_epoch = load_be<int32_t>(p + kOffLeaderEpoch);
  h.magic = magic;
  h.crc = load_be<uint32_t>(p + kBatchCrcOffset);
  h.attributes = load_be<int16_t>(p + kOffAttributes);
  h.last_offset_delta = load_be<int32_t>(p + kOffLastOffsetDelta);
  h.base_timestamp = load_be<int64_t>(p + kOffBaseTimestamp);
  h.max_timestamp = load_be<int64_t>(p + kOffMaxTimestamp);
  h.producer_id = load_be<int64_t>(p + kOffProducerId);
  h.producer_epoch = load_be<int16_t>(p + kOffProducerEpoch);
  h.base_sequence = load_be<int32_t>(p + kOffBaseSequence);
  h.records_count = load_be<int32_t>(p + kOffRecordsCount);

  if (h.batch_length < kMinBatchLength) {
    return corrupt(position, "batch length " + std::to_string(h.batch_length) + " is below the minimum " +
                                 std::to_string(kMinBatchLength));
  }
  if (h.total_size() > bytes.size()) {
    return corrupt(position, "batch length " + std::to_string(h.batch_length) + " runs past the " +
                                 std::to_string(bytes.size()) + " bytes available");
  }
  if (h.last_offset_delta < 0) {
    return corrupt(position, "negative lastOffsetDelta " + std::to_string(h.last_offset_delta));
  }
  // Keeps last_offset() + 1 (the batch's end) from overflowing.
  if (h.base_offset >= kOffsetLimit - h.last_offset_delta) {
    return corrupt(position, "baseOffset " + std::to_string(h.base_offset) + " + lastOffsetDelta " +
                                 std::to_string(h.last_offset_delta) + " reaches the offset limit " +
                                 std::to_string(kOffsetLimit));
  }
  if (h.records_count < 0) {
    return corrupt(position, "negative recordsCount " + std::to_string(h.records_count));
  }
  // Uncompressed records take at least 7 bytes each; a larger count is
  // corrupt, and callers may size buffers by it.
  if (h.compression() == 0 &&
      static_cast<uint64_t>(h.records_count) * kMinRecordSize > h.total_size() - kBatchHeaderSize) {
    return corrupt(position, "recordsCount " + std::to_string(h.records_count) + " cannot fit in " +
                                 std::to_string(h.total_size() - kBatchHeaderSize) + " bytes of records");
  }
  *out = h;
  return Status::OK();
}

bool batch_crc_ok(std::string_view batch, const BatchHeader& header) {
  const size_t total = header.total_size();
  if (total < kBatchHeaderSize || batch.size() < total) return false;
  return crc32c::value(batch.data() + kBatchCrcFrom, total - kBatchCrcFrom) == header.crc;
}

void reseal_batch(std::string* batch, int32_t records_count) {
  char* h = batch->data();
  store_be<int32_t>(h + kOffBatchLength, static_cast<int32_t>(batch->size() - kBatchLogOverhead));
  store_be<int32_t>(h + kOffRecordsCount, records_count);
  store_be<uint32_t>(h + kBatchCrcOffset, crc32c::value(h + kBatchCrcFrom, batch->size() - kBatchCrcFrom));
}

}  // namespace rivulet::format
