// Metadata is data: topic creation and deletion are records in the internal
// topic __rivulet_meta (topic id 0, one partition), replayed on open. The key
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
inline constexpr std::string_view kMetaTopicDelete = "topic.delete";

struct MetaChange {
  enum class Kind { topic_create, topic_delete };
  Kind kind = Kind::topic_create;
  uint32_t topic_id = 0;
  std::string name;
  TopicConfig config;  // topic_create only
};

struct EncodedMeta {
  std::string key;
  std::string value;
};
EncodedMeta encode_meta(const MetaChange& change);

// `position` locates the record for the corruption message.
Status decode_meta(Bytes key, Bytes value, uint64_t position, MetaChange* out);

}  // namespace rivulet::format
