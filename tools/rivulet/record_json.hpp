// The JSON form of a record, shared by `consume --format json` (writing),
// `produce --format json` (reading) and `dump --records`, so that
//
//   rivulet a.rvl consume t --format json | rivulet b.rvl produce t --format json
//
// copies a topic byte for byte. Keys, values and header keys/values are bytes,
// not text, so each is written in one of three forms:
//   null                -> JSON null (a Kafka null, e.g. a tombstone)
//   valid UTF-8         -> a JSON string
//   anything else       -> {"base64":"..."} (standard alphabet, padded)
// The reader accepts all three forms for every bytes field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rivulet/record.hpp"

namespace rivulet::cli {

std::string base64_encode(std::string_view bytes);
// Standard alphabet; padding required (length a multiple of 4). Returns
// nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

// Appends `s` (valid UTF-8) as a quoted, escaped JSON string.
void append_json_string(std::string& out, std::string_view s);
// Appends null, a JSON string or {"base64":"..."} as described above.
void append_json_bytes(std::string& out, Bytes bytes);
// Appends the headers as [{"key":..,"value":..},...].
void append_json_headers(std::string& out, const RecordHeaders& headers);

// One line of `consume --format json`, without the newline:
// {"topic":..,"partition":..,"offset":..,"timestamp":..,"key":..,"value":..,"headers":[..]}
void append_record_json(std::string& out, std::string_view topic, const RecordView& record);

// A record parsed from one JSON line, owning its bytes. Fields the producer
// does not set (topic, offset) are ignored so consume output can be fed
// back in.
struct JsonRecord {
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  std::optional<int32_t> partition;
  std::optional<int64_t> timestamp_ms;
};

// Parses `line` (a JSON object). On failure returns false and sets *error to
// a message without position prefix (the caller adds the line number).
bool parse_record_json(std::string_view line, JsonRecord* out, std::string* error);

}  // namespace rivulet::cli
