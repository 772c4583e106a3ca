// The commands of the `rivulet` tool. Each command group lives in its own
// cmd_*.cpp and registers its CLI11 subcommand(s) here, together with the
// function that runs it; main() parses the command line and runs the one the
// user picked. Registering and running from the same file keeps a command's
// flags, help text and behaviour side by side.
#pragma once

#include <functional>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

namespace rivulet::cli {

// Runs a parsed command and returns the exit code (or throws Failure).
using Runner = std::function<int()>;
// Leaf subcommand -> what to run when it is the one selected.
using Registry = std::map<const CLI::App*, Runner>;

// `file` is the FILE argument, which main() takes off the command line before
// CLI11 sees it (CLI11 has no positional before subcommands).
void add_topic_commands(CLI::App& app, const std::string& file, Registry& registry);    // cmd_topic.cpp
void add_produce_command(CLI::App& app, const std::string& file, Registry& registry);   // cmd_produce.cpp
void add_consume_command(CLI::App& app, const std::string& file, Registry& registry);   // cmd_consume.cpp
void add_group_commands(CLI::App& app, const std::string& file, Registry& registry);    // cmd_group.cpp
void add_stat_command(CLI::App& app, const std::string& file, Registry& registry);      // cmd_stat.cpp
void add_check_commands(CLI::App& app, const std::string& file, Registry& registry);    // cmd_check.cpp
void add_vacuum_command(CLI::App& app, const std::string& file, Registry& registry);     // cmd_vacuum.cpp

}  // namespace rivulet::cli
