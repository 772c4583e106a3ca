#include "procs.hpp"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>

namespace bench {
namespace {

// The message of the first child that threw, for wait_all to return.
struct ChildError {
  Word claimed;
  char text[1020];
};

ChildError& child_error() {
  static Shared<ChildError> e;  // made in the parent, at its first spawn(), before any fork
  return *e;
}

}  // namespace

int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

void sleep_ns(int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
  }
}

void* map_shared(size_t bytes) {
  void* p = ::mmap(nullptr, std::max<size_t>(bytes, 1), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "mmap of %zu shared bytes: %s\n", bytes, std::strerror(errno));
    std::abort();
  }
  return p;
}

void unmap_shared(void* p, size_t bytes) { ::munmap(p, std::max<size_t>(bytes, 1)); }

void futex_wait(Word* w, uint32_t expected, int64_t timeout_ns) {
  timespec ts{};
  timespec* rel = nullptr;
  if (timeout_ns >= 0) {
    ts = {static_cast<time_t>(timeout_ns / 1'000'000'000), static_cast<long>(timeout_ns % 1'000'000'000)};
    rel = &ts;
  }
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAIT, expected, rel, nullptr, 0);
}

void futex_wake(Word* w) {
  ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(w), FUTEX_WAKE, INT32_MAX, nullptr, nullptr, 0);
}

pid_t spawn(const std::function<int()>& fn) {
  ChildError& error = child_error();
  std::fflush(nullptr);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "fork: %s\n", std::strerror(errno));
    std::abort();
  }
  if (pid > 0) return pid;

  // The parent's handlers clean up its files; a child just dies.
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_DFL);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(1);  // the parent died before prctl
  int rc = 1;
  try {
    rc = fn();
  } catch (const std::exception& e) {
    if (error.claimed.exchange(1) == 0) {
      std::snprintf(error.text, sizeof error.text, "%s", e.what());
    } else {
      std::fprintf(stderr, "child %d: %s\n", static_cast<int>(::getpid()), e.what());
    }
  }
  std::fflush(nullptr);
  ::_exit(rc);  // not exit(): the parent's atexit handlers and static destructors are not ours to run
}

std::string wait_all(std::vector<pid_t> pids) {
  std::string failure;
  while (!pids.empty()) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: nothing left to wait for
    }
    auto it = std::find(pids.begin(), pids.end(), pid);
    if (it == pids.end()) continue;
    pids.erase(it);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) continue;
    if (failure.empty()) {
      failure = WIFEXITED(status) ? "a child process exited with status " + std::to_string(WEXITSTATUS(status))
                                  : std::string("a child process was killed by ") + strsignal(WTERMSIG(status));
      for (pid_t p : pids) ::kill(p, SIGKILL);
    }
  }
  ChildError& error = child_error();
  if (!failure.empty() && error.claimed.load() != 0) failure = error.text;
  error.claimed.store(0);
  return failure;
}

bool running(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return info.si_pid == 0;
}

Latency summarize(std::vector<int64_t> ns) {
  Latency l;
  l.count = ns.size();
  if (ns.empty()) return l;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(ns.size())));
    return static_cast<double>(ns[std::clamp<size_t>(rank, 1, ns.size()) - 1]);
  };
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  l.p999 = at(0.999);
  l.max = static_cast<double>(ns.back());
  return l;
}

}  // namespace bench
