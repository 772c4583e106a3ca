// `rivulet FILE topic create|alter|list|describe|delete`: the catalog of
// topics. create, alter and delete write (create makes the file if needed);
// list and describe open the file read-only. Like the rest of the tool, success is quiet for
// writes: the exit code says it worked, and scripts need not filter output.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "common.hpp"

namespace rivulet::cli {

namespace {

struct TopicOptions {
  std::string name;
  std::string partitions = "1";
  std::string timestamp_type = "create_time";
  std::string max_message_bytes;
  std::vector<std::string> configs;  // --config K=V, in order
  bool json = false;
};

// Applies each --config K=V (Kafka's config names) to `config`, in order.
void apply_configs(const std::vector<std::string>& configs, TopicConfig* config) {
  for (const std::string& kv : configs) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) usage_error(fmt::format("--config: expected KEY=VALUE, got '{}'", kv));
    Status st = set_topic_config(config, kv.substr(0, eq), kv.substr(eq + 1));
    if (!st.ok()) usage_error("--config: " + st.message());
  }
}

int run_create(const std::string& file, const TopicOptions& o) {
  TopicConfig config;
  config.partitions =
      static_cast<int32_t>(parse_int(o.partitions, "--partitions", 1, TopicConfig::kMaxPartitions));
  if (o.timestamp_type == "create_time") {
    config.timestamp_type = TimestampType::create_time;
  } else if (o.timestamp_type == "log_append_time") {
    config.timestamp_type = TimestampType::log_append_time;
  } else {
    usage_error(fmt::format("--timestamp-type: expected create_time or log_append_time, got '{}'",
                            o.timestamp_type));
  }
  if (!o.max_message_bytes.empty()) {
    config.max_message_bytes = static_cast<uint32_t>(
        parse_int(o.max_message_bytes, "--max-message-bytes", 64, UINT32_MAX));
  }
  apply_configs(o.configs, &config);
  // Before the file is opened, which creates it: a mistyped name must not
  // leave a new file behind.
  if (Status st = Db::validate_topic(o.name, config); !st.ok()) fail(fmt::format("{}: {}", file, st.message()));
  auto db = open_for_write(file);
  check(db->create_topic(o.name, config));
  close_db(*db);
  return kExitOk;
}

int run_alter(const std::string& file, const TopicOptions& o) {
  OpenOptions options;
  options.create_if_missing = false;
  auto db = open_for_write(file, options);
  TopicConfig config = take(db->describe_topic(o.name)).config;
  apply_configs(o.configs, &config);
  check(db->alter_topic(o.name, config));
  close_db(*db);
  return kExitOk;
}

int run_delete(const std::string& file, const TopicOptions& o) {
  OpenOptions options;
  options.create_if_missing = false;
  auto db = open_for_write(file, options);
  check(db->delete_topic(o.name));
  close_db(*db);
  return kExitOk;
}

int run_list(const std::string& file, const TopicOptions& o) {
  auto db = open_read_only(file);
  auto topics = take(db->list_topics());
  if (o.json) {
    Json list = Json::array();
    for (const TopicInfo& t : topics) list.push_back(topic_json(t));
    print_json(list);
  } else {
    // One name per line, like `kafka-topics --list`: easy to loop over in a
    // shell. `topic describe` has the details.
    for (const TopicInfo& t : topics) out().append(t.name + "\n");
  }
  return kExitOk;
}

int run_describe(const std::string& file, const TopicOptions& o) {
  auto db = open_read_only(file);
  TopicInfo topic = take(db->describe_topic(o.name));
  if (o.json) {
    print_json(topic_json(topic));
    return kExitOk;
  }
  std::vector<std::pair<std::string, std::string>> fields = {
      {"topic", topic.name},
      {"id", std::to_string(topic.id)},
      {"partitions", std::to_string(topic.config.partitions)},
  };
  // Then every config under its Kafka name, as `topic alter --config` takes it.
  for (auto& entry : topic_config_entries(topic.config)) fields.push_back(std::move(entry));
  out().append(render_fields(fields));
  out().append("\n");
  out().append(partition_table({&topic, 1}, false).render());
  return kExitOk;
}

}  // namespace

void add_topic_commands(CLI::App& app, const std::string& file, Registry& registry) {
  CLI::App* topic = app.add_subcommand("topic", "create, alter, list, describe and delete topics");
  topic->require_subcommand(1);
  auto o = std::make_shared<TopicOptions>();

  CLI::App* create = topic->add_subcommand("create", "create a topic (1 partition unless told)");
  create->add_option("NAME", o->name, "topic name: letters, digits, '.', '_' and '-'")
      ->required()
      ->type_name("");
  create->add_option("--partitions", o->partitions, "number of partitions (default 1)")
      ->type_name("N");
  create->add_option("--timestamp-type", o->timestamp_type,
                     "create_time (default: producer's time) or log_append_time")
      ->type_name("TYPE");
  create->add_option("--max-message-bytes", o->max_message_bytes,
                     "largest record accepted (default 1048588, as Kafka)")
      ->type_name("N");
  create->add_option("--config", o->configs,
                     "KEY=VALUE with Kafka's names, repeatable, applied after the options above: "
                     "retention.ms, retention.bytes (per partition; -1 = no limit, the default), "
                     "cleanup.policy (delete, compact, compact,delete), delete.retention.ms, "
                     "max.message.bytes, message.timestamp.type (CreateTime, LogAppendTime)")
      ->type_name("KEY=VALUE");
  create->footer(
      "Examples:\n"
      "  rivulet app.rvl topic create orders\n"
      "  rivulet app.rvl topic create orders --partitions 3\n"
      "  rivulet app.rvl topic create clicks --config retention.ms=86400000");
  registry[create] = [file, o] { return run_create(file, *o); };

  CLI::App* alter = topic->add_subcommand("alter", "change a topic's config (not its partition count)");
  alter->add_option("NAME", o->name, "topic name")->required()->type_name("");
  alter->add_option("--config", o->configs,
                    "KEY=VALUE, repeatable; the keys of `topic create --config`. Shorter retention takes "
                    "effect at the next commit to the file")
      ->required()
      ->type_name("KEY=VALUE");
  alter->footer(
      "Examples:\n"
      "  rivulet app.rvl topic alter clicks --config retention.ms=3600000\n"
      "  rivulet app.rvl topic alter clicks --config retention.bytes=1073741824 --config retention.ms=-1");
  registry[alter] = [file, o] { return run_alter(file, *o); };

  CLI::App* list = topic->add_subcommand("list", "list the topics, one name per line");
  list->add_flag("--json", o->json, "a JSON array of topics with partitions and config");
  list->footer(
      "Examples:\n"
      "  rivulet app.rvl topic list\n"
      "  rivulet app.rvl topic list --json");
  registry[list] = [file, o] { return run_list(file, *o); };

  CLI::App* describe = topic->add_subcommand(
      "describe", "a topic's config and partitions (offsets, record counts)");
  describe->add_option("NAME", o->name, "topic name")->required()->type_name("");
  describe->add_flag("--json", o->json, "one JSON object instead of a table");
  describe->footer(
      "Examples:\n"
      "  rivulet app.rvl topic describe orders\n"
      "  rivulet app.rvl topic describe orders --json");
  registry[describe] = [file, o] { return run_describe(file, *o); };

  CLI::App* del = topic->add_subcommand("delete", "delete a topic; its records become unreadable");
  del->add_option("NAME", o->name, "topic name")->required()->type_name("");
  del->footer(
      "Example:\n"
      "  rivulet app.rvl topic delete orders");
  registry[del] = [file, o] { return run_delete(file, *o); };

  topic->footer(
      "Examples:\n"
      "  rivulet app.rvl topic create orders --partitions 3\n"
      "  rivulet app.rvl topic list\n"
      "  rivulet app.rvl topic describe orders");
}

}  // namespace rivulet::cli
