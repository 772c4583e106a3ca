// JSON encoding of metadata records. JSON keeps them readable in `dump` and
// easy for a second implementation; they are rare, so size does not matter.
#include "format/meta_record.hpp"

#include <nlohmann/json.hpp>

namespace rivulet::format {

using nlohmann::json;

static const char* timestamp_type_name(TimestampType t) {
  return t == TimestampType::log_append_time ? "log_append_time" : "create_time";
}

EncodedMeta encode_meta(const MetaChange& c) {
  json v = {{"id", c.topic_id}, {"name", c.name}};
  if (c.kind == MetaChange::Kind::topic_create) {
    v["partitions"] = c.config.partitions;
    v["timestamp_type"] = timestamp_type_name(c.config.timestamp_type);
    v["max_message_bytes"] = c.config.max_message_bytes;
    return {std::string(kMetaTopicCreate), v.dump()};
  }
  return {std::string(kMetaTopicDelete), v.dump()};
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

Status decode_meta(Bytes key, Bytes value, uint64_t position, MetaChange* out) {
  if (!key || !value) return bad(position, "null key or value");
  if (*key == kMetaTopicCreate) {
    out->kind = MetaChange::Kind::topic_create;
  } else if (*key == kMetaTopicDelete) {
    out->kind = MetaChange::Kind::topic_delete;
  } else {
    return bad(position, "unknown kind '" + std::string(*key) + "'");
  }
  json v = json::parse(value->begin(), value->end(), nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !v.is_object()) return bad(position, "value is not a JSON object");
  auto name = v.find("name");
  if (name == v.end() || !name->is_string()) return bad(position, "missing name");
  out->name = name->get<std::string>();
  if (!get_uint<uint32_t>(v, "id", UINT32_MAX, &out->topic_id) || out->topic_id == 0) {
    return bad(position, "missing or bad topic id");
  }
  if (out->kind == MetaChange::Kind::topic_delete) return Status::OK();

  uint32_t partitions = 0;
  if (!get_uint<uint32_t>(v, "partitions", INT32_MAX, &partitions) || partitions == 0) {
    return bad(position, "missing or bad partition count");
  }
  out->config.partitions = static_cast<int32_t>(partitions);
  if (!get_uint<uint32_t>(v, "max_message_bytes", UINT32_MAX, &out->config.max_message_bytes)) {
    return bad(position, "missing or bad max_message_bytes");
  }
  auto ts = v.find("timestamp_type");
  if (ts == v.end() || !ts->is_string()) return bad(position, "missing timestamp_type");
  if (*ts == "create_time") {
    out->config.timestamp_type = TimestampType::create_time;
  } else if (*ts == "log_append_time") {
    out->config.timestamp_type = TimestampType::log_append_time;
  } else {
    return bad(position, "unknown timestamp_type");
  }
  return Status::OK();
}

}  // namespace rivulet::format
