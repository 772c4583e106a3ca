// JSON encoding of metadata records. JSON keeps them readable in `dump` and
// easy for a second implementation; they are rare, so size does not matter.
#include "format/meta_record.hpp"

#include <nlohmann/json.hpp>

namespace rivulet::format {

using nlohmann::json;

static const char* timestamp_type_name(TimestampType t) {
  return t == TimestampType::log_append_time ? "log_append_time" : "create_time";
}

static const char* cleanup_policy_name(CleanupPolicy p) {
  switch (p) {
    case CleanupPolicy::compact: return "compact";
    case CleanupPolicy::compact_delete: return "compact,delete";
    case CleanupPolicy::delete_: break;
  }
  return "delete";
}

static void encode_config(const TopicConfig& c, json* v) {
  (*v)["partitions"] = c.partitions;
  (*v)["timestamp_type"] = timestamp_type_name(c.timestamp_type);
  (*v)["max_message_bytes"] = c.max_message_bytes;
  (*v)["cleanup_policy"] = cleanup_policy_name(c.cleanup_policy);
  (*v)["retention_ms"] = c.retention_ms;
  (*v)["retention_bytes"] = c.retention_bytes;
  (*v)["delete_retention_ms"] = c.delete_retention_ms;
}

EncodedMeta encode_meta(const MetaChange& c) {
  json v = {{"id", c.topic_id}};
  switch (c.kind) {
    case MetaChange::Kind::topic_create:
      v["name"] = c.name;
      encode_config(c.config, &v);
      return {std::string(kMetaTopicCreate), v.dump()};
    case MetaChange::Kind::topic_config:
      v["name"] = c.name;
      encode_config(c.config, &v);
      return {std::string(kMetaTopicConfig), v.dump()};
    case MetaChange::Kind::topic_delete:
      v["name"] = c.name;
      return {std::string(kMetaTopicDelete), v.dump()};
    case MetaChange::Kind::partition_start:
      v["partition"] = c.partition;
      v["offset"] = c.start_offset;
      return {std::string(kMetaPartitionStart), v.dump()};
  }
  return {};
}

static Status bad(uint64_t position, const std::string& what) {
  return {Code::corruption, "metadata record at position " + std::to_string(position) + ": " + what, position};
}

template <typename T>
static bool get_uint(const json& v, const char* field, T max, T* out) {
  auto it = v.find(field);
  if (it == v.end() || !it->is_number_unsigned()) return false;
  uint64_t n = it->get<uint64_t>();
  if (n > static_cast<uint64_t>(max)) return false;
  *out = static_cast<T>(n);
  return true;
}

// A signed field of at least `min`; absent means `fallback` (fields added
// after topic.create first existed).
static bool get_int_or(const json& v, const char* field, int64_t min, int64_t fallback, int64_t* out) {
  auto it = v.find(field);
  if (it == v.end()) {
    *out = fallback;
    return true;
  }
  if (!it->is_number_integer()) return false;
  int64_t n = it->get<int64_t>();
  if (n < min) return false;
  *out = n;
  return true;
}

static Status decode_config(const json& v, uint64_t position, TopicConfig* out) {
  uint32_t partitions = 0;
  if (!get_uint<uint32_t>(v, "partitions", INT32_MAX, &partitions) || partitions == 0) {
    return bad(position, "missing or bad partition count");
  }
  out->partitions = static_cast<int32_t>(partitions);
  if (!get_uint<uint32_t>(v, "max_message_bytes", UINT32_MAX, &out->max_message_bytes)) {
    return bad(position, "missing or bad max_message_bytes");
  }
  auto ts = v.find("timestamp_type");
  if (ts == v.end() || !ts->is_string()) return bad(position, "missing timestamp_type");
  if (*ts == "create_time") {
    out->timestamp_type = TimestampType::create_time;
  } else if (*ts == "log_append_time") {
    out->timestamp_type = TimestampType::log_append_time;
  } else {
    return bad(position, "unknown timestamp_type");
  }
  const TopicConfig defaults;
  auto policy = v.find("cleanup_policy");
  if (policy == v.end()) {
    out->cleanup_policy = defaults.cleanup_policy;
  } else if (!policy->is_string()) {
    return bad(position, "bad cleanup_policy");
  } else if (*policy == "delete") {
    out->cleanup_policy = CleanupPolicy::delete_;
  } else if (*policy == "compact") {
    out->cleanup_policy = CleanupPolicy::compact;
  } else if (*policy == "compact,delete") {
    out->cleanup_policy = CleanupPolicy::compact_delete;
  } else {
    return bad(position, "unknown cleanup_policy");
  }
  if (!get_int_or(v, "retention_ms", -1, defaults.retention_ms, &out->retention_ms) ||
      !get_int_or(v, "retention_bytes", -1, defaults.retention_bytes, &out->retention_bytes) ||
      !get_int_or(v, "delete_retention_ms", 0, defaults.delete_retention_ms, &out->delete_retention_ms)) {
    return bad(position, "bad retention_ms, retention_bytes or delete_retention_ms");
  }
  return Status::OK();
}

Status decode_meta(Bytes key, Bytes value, uint64_t position, MetaChange* out) {
  if (!key || !value) return bad(position, "null key or value");
  if (*key == kMetaTopicCreate) {
    out->kind = MetaChange::Kind::topic_create;
  } else if (*key == kMetaTopicConfig) {
    out->kind = MetaChange::Kind::topic_config;
  } else if (*key == kMetaTopicDelete) {
    out->kind = MetaChange::Kind::topic_delete;
  } else if (*key == kMetaPartitionStart) {
    out->kind = MetaChange::Kind::partition_start;
  } else {
    return bad(position, "unknown kind '" + std::string(*key) + "'");
  }
  json v = json::parse(value->begin(), value->end(), nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !v.is_object()) return bad(position, "value is not a JSON object");
  if (!get_uint<uint32_t>(v, "id", UINT32_MAX, &out->topic_id) || out->topic_id == 0) {
    return bad(position, "missing or bad topic id");
  }
  if (out->kind == MetaChange::Kind::partition_start) {
    uint32_t partition = 0;
    if (!get_uint<uint32_t>(v, "partition", INT32_MAX, &partition)) return bad(position, "missing or bad partition");
    out->partition = static_cast<int32_t>(partition);
    if (!get_int_or(v, "offset", 0, -1, &out->start_offset) || out->start_offset < 0) {
      return bad(position, "missing or bad offset");
    }
    return Status::OK();
  }
  auto name = v.find("name");
  if (name == v.end() || !name->is_string()) return bad(position, "missing name");
  out->name = name->get<std::string>();
  if (out->kind == MetaChange::Kind::topic_delete) return Status::OK();
  return decode_config(v, position, &out->config);
}

}  // namespace rivulet::format
