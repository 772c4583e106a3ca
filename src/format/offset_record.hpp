// Committed consumer-group offsets are data too: records of the internal
// topic __rivulet_offsets (one partition), as Kafka's __consumer_offsets.
// The key names (group, topic, partition); the value is the committed
// offset (the next one to read) and the caller's metadata string, or null
// when the group's commit for that partition was deleted. The latest record
// per key counts. Both are JSON (docs/FORMAT.md lists the fields).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rivulet/record.hpp"
#include "rivulet/status.hpp"

namespace rivulet::format {

inline constexpr std::string_view kOffsetsTopicName = "__rivulet_offsets";

struct OffsetKey {
  std::string group;
  std::string topic;
  int32_t partition = 0;
};

struct OffsetValue {
  int64_t offset = 0;
  std::string metadata;
};

std::string encode_offset_key(const OffsetKey& key);
std::string encode_offset_value(const OffsetValue& value);

// A null value is a deletion (*value left empty). `position` locates the
// record for the corruption message.
Status decode_offset_record(Bytes key, Bytes value, uint64_t position, OffsetKey* out_key,
                            std::optional<OffsetValue>* out_value);

}  // namespace rivulet::format
