// JSON codec for records (see record_json.hpp). Writing is done by hand rather
// than through nlohmann: it is the hot path of `consume --format json`, the
// field order is part of the documented output, and nlohmann would throw on
// the non-UTF-8 bytes that we route to base64 anyway. Reading uses nlohmann.
#include "record_json.hpp"

#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/utf8.hpp"

namespace rivulet::cli {

namespace {

constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}


}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t n = bytes.size();
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    text += kBase64Alphabet[(v >> 18) & 63];
    text += kBase64Alphabet[(v >> 12) & 63];
    text += kBase64Alphabet[(v >> 6) & 63];
    text += kBase64Alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    text += kBase64Alphabet[(v >> 18) & 63];
    text += kBase64Alphabet[(v >> 12) & 63];
    text += "==";
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    text += kBase64Alphabet[(v >> 18) & 63];
    text += kBase64Alphabet[(v >> 12) & 63];
    text += kBase64Alphabet[(v >> 6) & 63];
    text += '=';
  }
  return text;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; j++) {
      unsigned char c = static_cast<unsigned char>(text[i + j]);
      // '=' only at the end of the last group: "ab==" or "abc=".
      if (c == '=' && last && j >= 2 && (j == 3 || text[i + 3] == '=')) {
        v[j] = 0;
        pad++;
        continue;
      }
      if (pad > 0) return std::nullopt;
      v[j] = base64_value(c);
      if (v[j] < 0) return std::nullopt;
    }
    uint32_t word = (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) |
                    uint32_t(v[3]);
    bytes += static_cast<char>((word >> 16) & 0xFF);
    if (pad < 2) bytes += static_cast<char>((word >> 8) & 0xFF);
    if (pad < 1) bytes += static_cast<char>(word & 0xFF);
  }
  return bytes;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (c < 0x20) {
          out += fmt::format("\\u{:04x}", c);
        } else {
          out += ch;  // UTF-8 multi-byte sequences pass through as they are
        }
    }
  }
  out += '"';
}

void append_json_bytes(std::string& out, Bytes bytes) {
  if (!bytes) {
    out += "null";
  } else if (is_valid_utf8(*bytes)) {
    append_json_string(out, *bytes);
  } else {
    out += "{\"base64\":\"";
    out += base64_encode(*bytes);
    out += "\"}";
  }
}

void append_json_headers(std::string& out, const RecordHeaders& headers) {
  out += '[';
  bool first = true;
  for (const Header& h : headers) {
    if (!first) out += ',';
    first = false;
    out += "{\"key\":";
    append_json_bytes(out, Bytes(h.key));
    out += ",\"value\":";
    append_json_bytes(out, h.value);
    out += '}';
  }
  out += ']';
}

void append_record_json(std::string& out, std::string_view topic, const RecordView& record) {
  out += "{\"topic\":";
  append_json_bytes(out, Bytes(topic));
  out += fmt::format(",\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":", record.partition,
                     record.offset, record.timestamp_ms);
  append_json_bytes(out, record.key);
  out += ",\"value\":";
  append_json_bytes(out, record.value);
  out += ",\"headers\":";
  append_json_headers(out, record.headers);
  out += '}';
}

namespace {

using nlohmann::json;

// Reads one bytes field in any of the three forms. Returns false with *error
// set when the JSON value is none of them.
bool bytes_from_json(const json& j, std::string_view field, std::optional<std::string>* out,
                     std::string* error) {
  if (j.is_null()) {
    *out = std::nullopt;
    return true;
  }
  if (j.is_string()) {
    *out = j.get<std::string>();
    return true;
  }
  if (j.is_object() && j.size() == 1 && j.contains("base64") && j["base64"].is_string()) {
    auto decoded = base64_decode(j["base64"].get_ref<const std::string&>());
    if (!decoded) {
      *error = fmt::format("\"{}\": invalid base64", field);
      return false;
    }
    *out = std::move(*decoded);
    return true;
  }
  *error = fmt::format("\"{}\": expected null, a string or {{\"base64\":\"...\"}}", field);
  return false;
}

bool int_from_json(const json& j, std::string_view field, int64_t min, int64_t max, int64_t* out,
                   std::string* error) {
  bool ok = false;
  int64_t v = 0;
  if (j.is_number_unsigned()) {
    auto u = j.get<uint64_t>();
    if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      v = static_cast<int64_t>(u);
      ok = true;
    }
  } else if (j.is_number_integer()) {
    v = j.get<int64_t>();
    ok = true;
  }
  if (!ok || v < min || v > max) {
    *error = fmt::format("\"{}\": expected an integer from {} to {}", field, min, max);
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

bool parse_record_json(std::string_view line, JsonRecord* out, std::string* error) {
  json j;
  try {
    j = json::parse(line.begin(), line.end());
  } catch (const json::exception& e) {
    // Not only parse_error: a number no double holds (1e999) is out_of_range.
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix: noise here.
    std::string what = e.what();
    if (auto pos = what.find("] "); what.rfind("[json.exception", 0) == 0 && pos != std::string::npos) {
      what.erase(0, pos + 2);
    }
    *error = "invalid JSON: " + what;
    return false;
  }
  // From here on every access checks the type first (is_string() before
  // get<std::string>(), contains() before const operator[]), so nlohmann
  // throws nothing more.
  if (!j.is_object()) {
    *error = "expected a JSON object";
    return false;
  }
  *out = JsonRecord{};
  if (auto it = j.find("key"); it != j.end()) {
    if (!bytes_from_json(*it, "key", &out->key, error)) return false;
  }
  if (auto it = j.find("value"); it != j.end()) {
    if (!bytes_from_json(*it, "value", &out->value, error)) return false;
  }
  if (auto it = j.find("partition"); it != j.end() && !it->is_null()) {
    int64_t p = 0;
    if (!int_from_json(*it, "partition", 0, std::numeric_limits<int32_t>::max(), &p, error)) {
      return false;
    }
    out->partition = static_cast<int32_t>(p);
  }
  if (auto it = j.find("timestamp"); it != j.end() && !it->is_null()) {
    int64_t ts = 0;
    if (!int_from_json(*it, "timestamp", std::numeric_limits<int64_t>::min(),
                       std::numeric_limits<int64_t>::max(), &ts, error)) {
      return false;
    }
    out->timestamp_ms = ts;
  }
  if (auto it = j.find("headers"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) {
      *error = "\"headers\": expected an array of {\"key\":..,\"value\":..}";
      return false;
    }
    for (const json& h : *it) {
      if (!h.is_object() || !h.contains("key")) {
        *error = "\"headers\": expected an array of {\"key\":..,\"value\":..}";
        return false;
      }
      std::optional<std::string> key;
      std::optional<std::string> value;
      if (!bytes_from_json(h["key"], "headers[].key", &key, error)) return false;
      if (!key) {
        *error = "\"headers[].key\": a header key cannot be null";
        return false;
      }
      if (auto v = h.find("value"); v != h.end()) {
        if (!bytes_from_json(*v, "headers[].value", &value, error)) return false;
      }
      out->headers.emplace_back(std::move(*key), std::move(value));
    }
  }
  return true;
}

}  // namespace rivulet::cli
