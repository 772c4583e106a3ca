// JSON encoding of committed offsets, readable in `dump` like metadata.
#include "format/offset_record.hpp"

#include <nlohmann/json.hpp>

namespace rivulet::format {

using nlohmann::json;

std::string encode_offset_key(const OffsetKey& k) {
  return json{{"group", k.group}, {"topic", k.topic}, {"partition", k.partition}}.dump();
}

std::string encode_offset_value(const OffsetValue& v) {
  return json{{"offset", v.offset}, {"metadata", v.metadata}}.dump();
}

static Status bad(uint64_t position, const std::string& what) {
  return {Code::corruption, "offset record at position " + std::to_string(position) + ": " + what, position};
}

static json parse_object(std::string_view bytes) {
  json v = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  return v.is_object() ? v : json();
}

Status decode_offset_record(Bytes key, Bytes value, uint64_t position, OffsetKey* out_key,
                            std::optional<OffsetValue>* out_value) {
  if (!key) return bad(position, "null key");
  json k = parse_object(*key);
  auto group = k.find("group"), topic = k.find("topic"), partition = k.find("partition");
  if (k.is_null() || group == k.end() || !group->is_string() || topic == k.end() || !topic->is_string() ||
      partition == k.end() || !partition->is_number_integer() || partition->get<int64_t>() < 0 ||
      partition->get<int64_t>() > INT32_MAX) {
    return bad(position, "key is not {group, topic, partition}");
  }
  out_key->group = group->get<std::string>();
  out_key->topic = topic->get<std::string>();
  out_key->partition = partition->get<int32_t>();
  out_value->reset();
  if (!value) return Status::OK();
  json v = parse_object(*value);
  auto offset = v.find("offset"), metadata = v.find("metadata");
  if (v.is_null() || offset == v.end() || !offset->is_number_integer() || offset->get<int64_t>() < 0 ||
      metadata == v.end() || !metadata->is_string()) {
    return bad(position, "value is not {offset, metadata}");
  }
  *out_value = OffsetValue{offset->get<int64_t>(), metadata->get<std::string>()};
  return Status::OK();
}

}  // namespace rivulet::format
