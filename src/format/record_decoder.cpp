#include "format/record_decoder.hpp"

#include <algorithm>
#include <string>

namespace rivulet::format {
namespace {

const char* codec_name(int codec) {
  switch (codec) {
    case 1: return "gzip";
    case 2: return "snappy";
    case 3: return "lz4";
    case 4: return "zstd";
    default: return "unknown";
  }
}

}  // namespace

RecordDecoder::RecordDecoder(std::string_view batch, const BatchHeader& header, uint64_t position)
    : batch_(batch.substr(0, std::min(batch.size(), header.total_size()))),
      header_(header),
      position_(position) {}

bool RecordDecoder::fail(Problem problem, int64_t a, int64_t b) {
  auto n = [](auto v) { return std::to_string(v); };
  // Errors inside a record name the record and where it starts in the batch.
  std::string record = "record " + n(index_) + " at batch byte " + n(pos_) + ": ";
  std::string what;
  switch (problem) {
    case Problem::compressed: {
      const int codec = header_.compression();
      status_ = batch_error(position_, "compression codec " + std::string(codec_name(codec)) + " (" + n(codec) +
                                           ") is not supported",
                            Code::unsupported);
      return false;
    }
    case Problem::bytes_after_last:
      what = n(batch_.size() - std::min(pos_, batch_.size())) + " bytes after the last of " +
             n(header_.records_count) + " records";
      break;
    case Problem::ends_early:
      what = "batch ends after " + n(index_) + " of " + n(header_.records_count) + " records";
      break;
    case Problem::bad_length_varint: what = record + "malformed length varint"; break;
    case Problem::length_too_long:
      what = record + "length " + n(a) + " exceeds the " + n(b) + " bytes left in the batch";
      break;
    case Problem::empty_record: what = record + "empty record"; break;
    case Problem::bad_timestamp_delta: what = record + "malformed timestamp delta"; break;
    case Problem::bad_offset_delta: what = record + "malformed offset delta"; break;
    case Problem::offset_delta_order:
      what = record + "offset delta " + n(a) + " not in (" + n(prev_offset_delta_) + ", " +
             n(header_.last_offset_delta) + "]";
      break;
    case Problem::bad_key: what = record + "malformed key"; break;
    case Problem::bad_value: what = record + "malformed value"; break;
    case Problem::bad_header_count: what = record + "malformed header count"; break;
    case Problem::header_count_too_big:
      what = record + "header count " + n(a) + " does not fit in " + n(b) + " bytes";
      break;
    case Problem::bad_headers: what = record + "malformed headers"; break;
    case Problem::length_mismatch:
      what = record + "length " + n(a) + " does not match its " + n(b) + " bytes of fields";
      break;
  }
  status_ = batch_error(position_, what);
  return false;
}

}  // namespace rivulet::format
