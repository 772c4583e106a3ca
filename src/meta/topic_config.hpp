// Topic configs: their Kafka names and text forms (set_topic_config and
// topic_config_entries in rivulet/options.hpp), and the one check every
// config passes before it is written, at creation or alteration.
#pragma once

#include <string_view>

#include "rivulet/options.hpp"

namespace rivulet::meta {

// invalid_argument naming the topic and the field when a value is out of range.
Status check_topic_config(std::string_view topic, const TopicConfig& config);

const char* cleanup_policy_name(CleanupPolicy policy);
bool parse_cleanup_policy(std::string_view text, CleanupPolicy* out);
const char* timestamp_type_name(TimestampType type);
bool parse_timestamp_type(std::string_view text, TimestampType* out);

// Whether retention (retention.ms / retention.bytes) applies.
inline bool retention_applies(const TopicConfig& c) {
  return c.cleanup_policy != CleanupPolicy::compact && (c.retention_ms >= 0 || c.retention_bytes >= 0);
}

}  // namespace rivulet::meta
