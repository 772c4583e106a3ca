// Fuzz target: the CLI's JSON record input (`produce --format json`). The
// input is split into lines as produce splits standard input; each line goes
// through parse_record_json. A line that parses is written back the way
// `consume --format json` writes a record, and must parse back to the same
// record. A failed parse is fine; a crash, an escaping exception, a
// sanitizer report or a record that does not survive the round trip is a bug.
#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "record_json.hpp"

using namespace rivulet;
using rivulet::cli::JsonRecord;

namespace {

Bytes bytes_of(const std::optional<std::string>& s) { return s ? Bytes(*s) : std::nullopt; }

// The line consume would print for `r` (fields it does not take ignored).
std::string write_back(const JsonRecord& r) {
  std::string out = "{\"topic\":\"t\"";
  if (r.partition) out += fmt::format(",\"partition\":{}", *r.partition);
  if (r.timestamp_ms) out += fmt::format(",\"timestamp\":{}", *r.timestamp_ms);
  out += ",\"key\":";
  cli::append_json_bytes(out, bytes_of(r.key));
  out += ",\"value\":";
  cli::append_json_bytes(out, bytes_of(r.value));
  out += ",\"headers\":[";
  for (size_t i = 0; i < r.headers.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"key\":";
    cli::append_json_bytes(out, Bytes(r.headers[i].first));
    out += ",\"value\":";
    cli::append_json_bytes(out, bytes_of(r.headers[i].second));
    out += '}';
  }
  out += "]}";
  return out;
}

bool same(const JsonRecord& a, const JsonRecord& b) {
  return a.key == b.key && a.value == b.value && a.headers == b.headers && a.partition == b.partition &&
         a.timestamp_ms == b.timestamp_ms;
}

void one_line(std::string_view line) {
  JsonRecord r;
  std::string error;
  if (!cli::parse_record_json(line, &r, &error)) {
    if (error.empty()) __builtin_trap();  // a failure must say why
    return;
  }
  std::string again = write_back(r);
  JsonRecord back;
  if (!cli::parse_record_json(again, &back, &error) || !same(r, back)) __builtin_trap();
  // Base64 both ways on the raw bytes too.
  if (r.value) {
    std::optional<std::string> decoded = cli::base64_decode(cli::base64_encode(*r.value));
    if (!decoded || *decoded != *r.value) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // Lines as produce_stdin cuts them: '\n' ends a line, a last line without
  // one still counts.
  while (!input.empty()) {
    size_t nl = input.find('\n');
    one_line(input.substr(0, nl));
    if (nl == std::string_view::npos) break;
    input.remove_prefix(nl + 1);
  }
  return 0;
}
