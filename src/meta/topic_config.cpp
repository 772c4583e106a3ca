// See topic_config.hpp. One table of keys serves parsing (CLI --config,
// alter) and printing (describe), so the two never disagree.
#include "meta/topic_config.hpp"

#include <charconv>
#include <functional>

#include <fmt/format.h>

namespace rivulet {

namespace {

bool parse_int(std::string_view text, int64_t* out) {
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && p == end && !text.empty();
}

struct ConfigKey {
  const char* name;
  const char* expects;  // for the error message
  std::function<bool(TopicConfig*, std::string_view)> set;
  std::function<std::string(const TopicConfig&)> get;
};

// A field that is -1 (for "no limit") or a non-negative number.
ConfigKey limit(const char* name, int64_t TopicConfig::*field) {
  return {name, "-1 or a number of at least 0",
          [field](TopicConfig* c, std::string_view v) {
            int64_t n;
            if (!parse_int(v, &n) || n < -1) return false;
            c->*field = n;
            return true;
          },
          [field](const TopicConfig& c) { return std::to_string(c.*field); }};
}

const std::vector<ConfigKey>& keys() {
  static const std::vector<ConfigKey> table = {
      {"cleanup.policy", "delete, compact or compact,delete",
       [](TopicConfig* c, std::string_view v) { return meta::parse_cleanup_policy(v, &c->cleanup_policy); },
       [](const TopicConfig& c) { return std::string(meta::cleanup_policy_name(c.cleanup_policy)); }},
      limit("retention.ms", &TopicConfig::retention_ms),
      limit("retention.bytes", &TopicConfig::retention_bytes),
      {"delete.retention.ms", "a number of at least 0",
       [](TopicConfig* c, std::string_view v) {
         int64_t n;
         if (!parse_int(v, &n) || n < 0) return false;
         c->delete_retention_ms = n;
         return true;
       },
       [](const TopicConfig& c) { return std::to_string(c.delete_retention_ms); }},
      {"max.message.bytes", "a number from 64 to 4294967295",
       [](TopicConfig* c, std::string_view v) {
         int64_t n;
         if (!parse_int(v, &n) || n < 64 || n > UINT32_MAX) return false;
         c->max_message_bytes = static_cast<uint32_t>(n);
         return true;
       },
       [](const TopicConfig& c) { return std::to_string(c.max_message_bytes); }},
      {"message.timestamp.type", "CreateTime or LogAppendTime",
       [](TopicConfig* c, std::string_view v) { return meta::parse_timestamp_type(v, &c->timestamp_type); },
       [](const TopicConfig& c) { return std::string(meta::timestamp_type_name(c.timestamp_type)); }},
  };
  return table;
}

}  // namespace

Status set_topic_config(TopicConfig* config, std::string_view key, std::string_view value) {
  for (const ConfigKey& k : keys()) {
    if (key != k.name) continue;
    if (!k.set(config, value)) {
      return {Code::invalid_argument, fmt::format("config {}: '{}' is not {}", key, value, k.expects)};
    }
    return Status::OK();
  }
  std::string known;
  for (const ConfigKey& k : keys()) known += (known.empty() ? "" : ", ") + std::string(k.name);
  return {Code::invalid_argument, fmt::format("unknown topic config '{}' (known: {})", key, known)};
}

std::vector<std::pair<std::string, std::string>> topic_config_entries(const TopicConfig& config) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const ConfigKey& k : keys()) out.emplace_back(k.name, k.get(config));
  return out;
}

namespace meta {

Status check_topic_config(std::string_view topic, const TopicConfig& config) {
  auto bad = [&](const std::string& what) {
    return Status(Code::invalid_argument, fmt::format("topic '{}': {}", topic, what));
  };
  if (config.partitions < 1) return bad("partition count must be at least 1");
  if (config.partitions > TopicConfig::kMaxPartitions) {
    return bad(fmt::format("at most {} partitions", TopicConfig::kMaxPartitions));
  }
  if (config.max_message_bytes < 64) return bad("max_message_bytes must be at least 64");
  if (config.retention_ms < -1) return bad("retention.ms must be -1 or at least 0");
  if (config.retention_bytes < -1) return bad("retention.bytes must be -1 or at least 0");
  if (config.delete_retention_ms < 0) return bad("delete.retention.ms must be at least 0");
  if (config.cleanup_policy != CleanupPolicy::delete_ && config.cleanup_policy != CleanupPolicy::compact &&
      config.cleanup_policy != CleanupPolicy::compact_delete) {
    return bad("unknown cleanup policy");
  }
  return Status::OK();
}

const char* cleanup_policy_name(CleanupPolicy policy) {
  switch (policy) {
    case CleanupPolicy::delete_: return "delete";
    case CleanupPolicy::compact: return "compact";
    case CleanupPolicy::compact_delete: return "compact,delete";
  }
  return "?";
}

bool parse_cleanup_policy(std::string_view text, CleanupPolicy* out) {
  if (text == "delete") {
    *out = CleanupPolicy::delete_;
  } else if (text == "compact") {
    *out = CleanupPolicy::compact;
  } else if (text == "compact,delete" || text == "delete,compact") {
    *out = CleanupPolicy::compact_delete;
  } else {
    return false;
  }
  return true;
}

const char* timestamp_type_name(TimestampType type) {
  return type == TimestampType::log_append_time ? "LogAppendTime" : "CreateTime";
}

bool parse_timestamp_type(std::string_view text, TimestampType* out) {
  if (text == "CreateTime") {
    *out = TimestampType::create_time;
  } else if (text == "LogAppendTime") {
    *out = TimestampType::log_append_time;
  } else {
    return false;
  }
  return true;
}

}  // namespace meta
}  // namespace rivulet
