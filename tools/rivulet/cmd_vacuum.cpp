// `rivulet FILE vacuum`: cleans the whole file now (Db::vacuum), with a
// progress bar on standard error when it is a terminal, and says how much
// disk came back.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "commands.hpp"
#include "common.hpp"

namespace rivulet::cli {

namespace {

struct VacuumOptions {
  bool quiet = false;
};

// One line redrawn in place: [#####     ]  42%  120 of 286 MiB
void draw_bar(uint64_t done, uint64_t total) {
  constexpr int kWidth = 30;
  double share = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  int filled = static_cast<int>(share * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, ' ');
  std::fprintf(stderr, "\r[%s] %3d%%  %.1f of %.1f MiB", bar.c_str(), static_cast<int>(share * 100),
               static_cast<double>(done) / (1 << 20), static_cast<double>(total) / (1 << 20));
  std::fflush(stderr);
}

int run_vacuum(const std::string& file, const VacuumOptions& o) {
  OpenOptions options;
  options.create_if_missing = false;  // nothing to clean in a new file
  auto db = open_for_write(file, options);
  bool bar = !o.quiet && ::isatty(STDERR_FILENO);
  VacuumReport r = take(db->vacuum(bar ? draw_bar : std::function<void(uint64_t, uint64_t)>()));
  if (bar) std::fputs("\n", stderr);
  close_db(*db);
  if (!o.quiet) {
    out().append(render_fields({
        {"file", file},
        {"bytes cleaned", std::to_string(r.bytes_read)},
        {"on disk before", std::to_string(r.disk_bytes_before) + " bytes"},
        {"on disk after", std::to_string(r.disk_bytes_after) + " bytes"},
    }));
  }
  return kExitOk;
}

}  // namespace

void add_vacuum_command(CLI::App& app, const std::string& file, Registry& registry) {
  auto o = std::make_shared<VacuumOptions>();
  CLI::App* cmd = app.add_subcommand("vacuum", "clean the file now and give the space of dropped records back");
  cmd->add_flag("-q,--quiet", o->quiet, "no progress bar and no summary");
  cmd->footer(
      "Copies live records out of segments that are not nearly full of them, compacts compact topics,\n"
      "writes a checkpoint and gives freed segments back to the file system. Offsets and records do not\n"
      "change, and other processes may go on using the file. Cleaning also runs by itself, a little with\n"
      "each commit; vacuum does it all at once.\n"
      "Examples:\n"
      "  rivulet app.rvl vacuum\n"
      "  rivulet app.rvl vacuum --quiet");
  registry[cmd] = [file, o] { return run_vacuum(file, *o); };
}

}  // namespace rivulet::cli
