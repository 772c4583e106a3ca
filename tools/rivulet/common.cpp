// Shared helpers of the `rivulet` tool; see common.hpp for why each exists.
#include "common.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace rivulet::cli {

void fail(const Status& status) { throw Failure(kExitError, message_of(status)); }
void fail(std::string message) { throw Failure(kExitError, message); }
void usage_error(std::string message) { throw Failure(kExitUsage, message); }

std::string message_of(const Status& status) {
  if (!status.message().empty()) return status.message();
  return code_name(status.code());
}

OpenOptions read_only_options() {
  OpenOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  return options;
}

std::unique_ptr<Db> open_read_only(const std::string& path) {
  return take(Db::open(path, read_only_options()));
}

std::unique_ptr<Db> open_for_write(const std::string& path, OpenOptions options) {
  options.read_only = false;
  return take(Db::open(path, options));
}

void close_db(Db& db) { check(db.close()); }

bool some_partition_holds(const TopicInfo& t, int64_t offset) {
  return std::any_of(t.partitions.begin(), t.partitions.end(),
                     [&](const PartitionInfo& p) { return offset >= p.first_offset && offset <= p.next_offset; });
}

bool parse_int_to(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  if (text.empty()) return false;
  int64_t value = 0;
  // from_chars takes no '+', no whitespace and no base prefix, reports
  // overflow, and we require it to consume every character.
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
  if (ec != std::errc() || ptr != text.data() + text.size()) return false;
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

int64_t parse_int(std::string_view text, std::string_view what, int64_t min, int64_t max) {
  int64_t value = 0;
  if (!parse_int_to(text, min, max, &value)) {
    usage_error(fmt::format("{}: expected an integer from {} to {}, got '{}'", what, min, max, text));
  }
  return value;
}

Sync parse_sync(std::string_view text) {
  if (text == "off") return Sync::off;
  if (text == "normal") return Sync::normal;
  if (text == "full") return Sync::full;
  usage_error(fmt::format("--sync: expected off, normal or full, got '{}'", text));
}

bool parse_format_is_json(std::string_view text) {
  if (text == "json") return true;
  if (text == "text") return false;
  usage_error(fmt::format("--format: expected text or json, got '{}'", text));
}

void Output::flush() {
  size_t done = 0;
  while (done < buf_.size()) {
    ssize_t n = ::write(STDOUT_FILENO, buf_.data() + done, buf_.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      buf_.clear();
      // SIGPIPE is ignored in main(), so a closed pipe shows up here.
      if (errno == EPIPE) throw BrokenPipe{};
      fail(fmt::format("standard output: {}", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  buf_.clear();
}

Output& out() {
  static Output output;
  return output;
}

Table::Table(std::vector<std::string> header, std::vector<bool> right_align)
    : header_(std::move(header)), right_(std::move(right_align)) {
  right_.resize(header_.size(), false);
}

void Table::add(std::vector<std::string> row) {
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

std::string Table::render() const {
  std::vector<size_t> width(header_.size(), 0);
  for (size_t c = 0; c < header_.size(); c++) width[c] = header_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); c++) width[c] = std::max(width[c], row[c].size());
  }
  std::string text;
  auto line = [&](const std::vector<std::string>& row) {
    std::string l;
    for (size_t c = 0; c < row.size(); c++) {
      if (c > 0) l += "  ";
      size_t pad = width[c] - row[c].size();
      if (right_[c]) l.append(pad, ' ');
      l += row[c];
      if (!right_[c]) l.append(pad, ' ');
    }
    // Padding after the last column is noise for diff and grep.
    while (!l.empty() && l.back() == ' ') l.pop_back();
    text += l;
    text += '\n';
  };
  line(header_);
  for (const auto& row : rows_) line(row);
  return text;
}

std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& f : fields) width = std::max(width, f.first.size());
  std::string text;
  for (const auto& f : fields) {
    text += f.first;
    text.append(width - f.first.size() + 2, ' ');
    text += f.second;
    text += '\n';
  }
  return text;
}

const char* timestamp_type_name(TimestampType type) {
  switch (type) {
    case TimestampType::create_time:
      return "create_time";
    case TimestampType::log_append_time:
      return "log_append_time";
  }
  return "unknown";
}

std::string config_value(const TopicConfig& config, std::string_view key) {
  for (auto& [k, v] : topic_config_entries(config)) {
    if (k == key) return v;
  }
  return "";
}

Json topic_json(const TopicInfo& topic) {
  Json partitions = Json::array();
  for (const PartitionInfo& p : topic.partitions) {
    partitions.push_back(Json{{"partition", p.partition},
                              {"first_offset", p.first_offset},
                              {"next_offset", p.next_offset},
                              {"record_count", p.record_count},
                              {"bytes", p.bytes},
                              {"dead_bytes", p.dead_bytes}});
  }
  return Json{{"name", topic.name},
              {"id", topic.id},
              {"config",
               {{"partitions", topic.config.partitions},
                {"timestamp_type", timestamp_type_name(topic.config.timestamp_type)},
                {"max_message_bytes", topic.config.max_message_bytes},
                {"cleanup_policy", config_value(topic.config, "cleanup.policy")},
                {"retention_ms", topic.config.retention_ms},
                {"retention_bytes", topic.config.retention_bytes},
                {"delete_retention_ms", topic.config.delete_retention_ms}}},
              {"partitions", std::move(partitions)}};
}

Table partition_table(std::span<const TopicInfo> topics, bool topic_column) {
  std::vector<std::string> header = {"PARTITION", "FIRST", "NEXT", "RECORDS", "BYTES", "DEAD BYTES"};
  std::vector<bool> right(header.size(), true);
  if (topic_column) {
    header.insert(header.begin(), "TOPIC");
    right.insert(right.begin(), false);
  }
  Table table(header, right);
  for (const TopicInfo& t : topics) {
    for (const PartitionInfo& p : t.partitions) {
      std::vector<std::string> row = {std::to_string(p.partition),   std::to_string(p.first_offset),
                                      std::to_string(p.next_offset), std::to_string(p.record_count),
                                      std::to_string(p.bytes),       std::to_string(p.dead_bytes)};
      if (topic_column) row.insert(row.begin(), t.name);
      table.add(std::move(row));
    }
  }
  return table;
}

void print_json(const Json& j) {
  out().append(j.dump(-1, ' ', false, Json::error_handler_t::replace));
  out().append("\n");
}

}  // namespace rivulet::cli
