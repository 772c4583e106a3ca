// `rivulet FILE COMMAND [ARGS]`: the command-line tool of Rivulet.
//
// main() takes FILE off the command line itself, because CLI11 has no notion
// of a positional argument in front of subcommands, then hands the rest to a
// CLI11 App whose subcommands the cmd_*.cpp files register. It is also the one
// place that turns failures into the documented contract: exactly one line
// "rivulet: <message>" on stderr, exit 1 for runtime errors, 2 for usage
// errors, 0 when stdout is a pipe that was closed early.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "commands.hpp"
#include "common.hpp"
#include "rivulet/version.hpp"

namespace rivulet::cli {
namespace {

// Leaf commands with their positionals ("topic create NAME"), taken from the
// registered CLI11 apps so the overview cannot drift from what is parsed.
void list_commands(const CLI::App* app, const std::string& prefix,
                   std::vector<std::pair<std::string, std::string>>* rows) {
  auto subs = app->get_subcommands([](const CLI::App*) { return true; });
  if (subs.empty()) {
    std::string synopsis = prefix;
    for (const CLI::Option* opt :
         app->get_options([](const CLI::Option* o) { return o->get_positional(); })) {
      synopsis += opt->get_required() ? " " + opt->get_name() : " [" + opt->get_name() + "]";
    }
    rows->emplace_back(synopsis, app->get_description());
    return;
  }
  for (const CLI::App* sub : subs) {
    list_commands(sub, prefix.empty() ? sub->get_name() : prefix + " " + sub->get_name(), rows);
  }
}

std::string overview_help(const CLI::App& app) {
  std::vector<std::pair<std::string, std::string>> rows;
  list_commands(&app, "", &rows);
  size_t width = 0;
  for (const auto& r : rows) width = std::max(width, r.first.size());

  std::string text = fmt::format(
      "rivulet {} - Kafka-style topics, partitions and records in one file\n"
      "\n"
      "Usage:\n"
      "  rivulet FILE COMMAND [ARGS]\n"
      "  rivulet FILE COMMAND --help     options and examples of one command\n"
      "  rivulet --help | --version\n"
      "\n"
      "FILE is a Rivulet file. topic create and produce --create create it if it\n"
      "does not exist; every other command fails on a missing file. topic list and\n"
      "describe, consume (without --group), group list and describe, stat, check and\n"
      "dump only read it.\n"
      "\n"
      "Commands:\n",
      kVersion);
  for (const auto& [synopsis, description] : rows) {
    text += fmt::format("  {:<{}}  {}\n", synopsis, width, description);
  }
  text +=
      "\n"
      "Examples:\n"
      "  rivulet app.rvl topic create orders --partitions 3\n"
      "  rivulet app.rvl produce orders 'order shipped' --key customer-7\n"
      "  printf 'customer-1|{\"total\":12}\\n' | rivulet app.rvl produce orders --key-separator '|'\n"
      "  rivulet app.rvl consume orders --from earliest --limit 10\n"
      "  rivulet app.rvl consume orders --follow --format json\n"
      "  rivulet a.rvl consume orders --format json |\n"
      "      rivulet b.rvl produce orders --format json --create --partitions 3\n"
      "  rivulet app.rvl check\n"
      "\n"
      "Exit status: 0 on success, 1 on an error (reported in one line on stderr),\n"
      "2 on a usage error.\n";
  return text;
}

void print(std::string_view text) {
  out().append(text);
  out().flush();
}

// CLI11 messages can span lines; the contract is one line on stderr.
std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

const CLI::App* selected_leaf(const CLI::App* app) {
  while (!app->get_subcommands().empty()) app = app->get_subcommands().front();
  return app;
}

std::string command_path(const CLI::App* root, const CLI::App* leaf) {
  std::string path;
  for (const CLI::App* a = leaf; a != nullptr && a != root; a = a->get_parent()) {
    path = path.empty() ? a->get_name() : a->get_name() + " " + path;
  }
  return path;
}

bool is_help(std::string_view arg) { return arg == "--help" || arg == "-h"; }

int run(int argc, char** argv) {
  // The commands are registered before argv is checked because --help lists
  // them; `file` only matters once a command runs, when it is argv[1].
  std::string file = argc >= 2 ? argv[1] : "";
  CLI::App app{"", "rivulet FILE"};
  app.require_subcommand(1);
  app.fallthrough(false);
  Registry registry;
  add_topic_commands(app, file, registry);
  add_produce_command(app, file, registry);
  add_consume_command(app, file, registry);
  add_group_commands(app, file, registry);
  add_stat_command(app, file, registry);
  add_check_commands(app, file, registry);
  add_vacuum_command(app, file, registry);

  if (argc < 2) usage_error("missing FILE and COMMAND (see 'rivulet --help')");
  std::string_view first = argv[1];
  if (!first.empty() && first[0] == '-') {
    if (argc == 2 && is_help(first)) {
      print(overview_help(app));
      return kExitOk;
    }
    if (argc == 2 && (first == "--version" || first == "-V")) {
      print(fmt::format("rivulet {} (file format {})\n", kVersion, kFormatVersion));
      return kExitOk;
    }
    usage_error(fmt::format("unexpected '{}': usage is 'rivulet FILE COMMAND [ARGS]' "
                            "(a file whose name starts with '-' can be given as ./{}; "
                            "see 'rivulet --help')",
                            first, first));
  }
  if (argc < 3) usage_error(fmt::format("missing COMMAND after '{}' (see 'rivulet --help')", file));
  std::string_view command = argv[2];
  if (is_help(command)) {
    print(overview_help(app));
    return kExitOk;
  }
  auto known = app.get_subcommands(
      [&](const CLI::App* sub) { return sub->check_name(std::string(command)); });
  if (known.empty()) {
    usage_error(fmt::format("unknown command '{}' (see 'rivulet --help')", command));
  }
  // A command group (`topic`) needs one of its subcommands. CLI11 would say
  // "A subcommand is required" even for a misspelt one; name them instead.
  auto subs = known.front()->get_subcommands([](const CLI::App*) { return true; });
  if (!subs.empty() && !(argc >= 4 && is_help(argv[3]))) {
    bool found = false;
    std::string names;
    for (const CLI::App* sub : subs) {
      if (argc >= 4 && sub->check_name(argv[3])) found = true;
      names += names.empty() ? sub->get_name() : ", " + sub->get_name();
    }
    if (!found) {
      usage_error(fmt::format("{}: {} (expected one of: {}; see 'rivulet {} {} --help')", command,
                              argc >= 4 ? fmt::format("unknown subcommand '{}'", argv[3])
                                        : std::string("missing subcommand"),
                              names, file, command));
    }
  }

  try {
    // CLI11 treats argv[0] as the program name, so FILE stands in for it.
    app.parse(argc - 1, argv + 1);
  } catch (const CLI::CallForHelp&) {
    print(app.help());
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    print(app.help("", CLI::AppFormatMode::All));
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    const CLI::App* leaf = selected_leaf(&app);
    std::string path = command_path(&app, leaf);
    usage_error(
        fmt::format("{}: {} (see 'rivulet {} {} --help')", path, one_line(e.what()), file, path));
  }

  const CLI::App* leaf = selected_leaf(&app);
  auto it = registry.find(leaf);
  if (it == registry.end()) {
    // Only a command group (`topic`) can get here; CLI11 demands its
    // subcommand, so this is a safety net rather than a path users take.
    usage_error(fmt::format("{}: missing subcommand (see 'rivulet {} {} --help')",
                            command_path(&app, leaf), file, command_path(&app, leaf)));
  }
  int code = it->second();
  out().flush();
  return code;
}

}  // namespace
}  // namespace rivulet::cli

// A standard descriptor the caller left closed would be the next file
// opened: the Rivulet file itself would become standard input, and produce
// would commit its bytes as records. Each gap gets /dev/null opened the
// other way round (stdin write-only, stdout and stderr read-only), so the
// slot is taken and using it fails with EBADF, as a closed one would.
static void hold_closed_standard_descriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    int held = ::open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
    if (held >= 0 && held != fd) {
      ::dup2(held, fd);
      ::close(held);
    }
  }
}

int main(int argc, char** argv) {
  using namespace rivulet::cli;
  hold_closed_standard_descriptors();
  // Without this a closed stdout pipe kills us with SIGPIPE mid-write; with it
  // write(2) fails with EPIPE, which Output turns into a quiet exit 0.
  ::signal(SIGPIPE, SIG_IGN);
  auto report = [](std::string_view message) {
    std::string line = fmt::format("rivulet: {}\n", message);
    if (::write(STDERR_FILENO, line.data(), line.size()) < 0) {
      // Nothing sensible is left to do when stderr is gone.
    }
  };
  try {
    return run(argc, argv);
  } catch (const Failure& f) {
    try {
      out().flush();  // what a command printed before it failed still counts
    } catch (...) {
    }
    report(f.what());
    return f.exit_code();
  } catch (const BrokenPipe&) {
    return kExitOk;
  } catch (const std::bad_alloc&) {
    report("out of memory");
    return kExitError;
  } catch (const std::exception& e) {
    report(e.what());
    return kExitError;
  }
}
