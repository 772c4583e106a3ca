#include "rundir.hpp"

#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace bench {
namespace {

std::vector<std::string> g_paths;
std::string g_dir;
bool g_armed = false;

extern "C" void on_fatal_signal(int sig) {
  for (const std::string& p : g_paths) ::unlink(p.c_str());
  if (!g_dir.empty()) ::rmdir(g_dir.c_str());
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

std::string make_run_dir(const std::string& parent, const std::string& prefix) {
  std::string base = parent;
  const char* tmpdir = std::getenv("TMPDIR");
  if (base.empty()) base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  std::string tmpl = base + "/" + prefix + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::printf("cannot create a directory under %s: %s\n", base.c_str(), std::strerror(errno));
    return "";
  }
  return tmpl;
}

void remove_on_signals(const std::string& dir, std::vector<std::string> paths) {
  g_paths = std::move(paths);
  g_dir = dir;
  g_armed = true;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, on_fatal_signal);
}

void remove_run_files() {
  if (!g_armed) return;
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_DFL);
  for (const std::string& p : g_paths) ::unlink(p.c_str());
  ::rmdir(g_dir.c_str());
}

void finish_run(const std::string& dir, bool keep) {
  if (keep) {
    std::printf("\nfiles kept in %s (--keep)\n", dir.c_str());
  } else {
    remove_run_files();
  }
}

}  // namespace bench
