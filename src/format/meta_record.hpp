// Metadata is data: topic creation, config changes, deletion and moves of a
// partition's earliest offset are records in the internal topic
// __rivulet_meta (topic id 0, one partition), replayed on open. The key
// names the change; the value is a JSON object (docs/FORMAT.md lists fields).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rivulet/options.hpp"
#include "rivulet/record.hpp"
#include "rivulet/status.hpp"

namespace rivulet::format {

inline constexpr std::string_view kMetaTopicName = "__rivulet_meta";
inline constexpr std::string_view kMetaTopicCreate = "topic.create";
inline constexpr std::string_view kMetaTopicConfig = "topic.config";
inline constexpr std::string_view kMetaTopicDelete = "topic.delete";
inline constexpr std::string_view kMetaPartitionStart = "partition.start";

struct MetaChange {
  enum class Kind { topic_create, topic_config, topic_delete, partition_start };
  Kind kind = Kind::topic_create;
  uint32_t topic_id = 0;
  std::string name;     // every kind but partition_start
  TopicConfig config;   // topic_create, topic_config (the whole new config)
  int32_t partition = 0;      // partition_start
  int64_t start_offset = 0;   // partition_start: the new earliest offset
};

struct EncodedMeta {
  std::string key;
  std::string value;
};
EncodedMeta encode_meta(const MetaChange& change);

// `position` locates the record for the corruption message.
Status decode_meta(Bytes key, Bytes value, uint64_t position, MetaChange* out);

}  // namespace rivulet::format
