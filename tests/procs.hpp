// Helper processes for the multi-process tests: started with posix_spawn,
// their stdout and stderr read through pipes, killed when the test ends.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace rivulet::testing {

// A helper process whose stdout and stderr the test reads through pipes.
struct Proc {
  std::string name;  // "producer 3", "consumer 1": for messages
  pid_t pid = -1;
  int out = -1, err = -1;  // read ends of the pipes; -1 after end of file
  std::string out_text, err_text;
  bool running = false;
  int status = 0;  // from waitpid, once not running

  bool done() const { return !running && out < 0 && err < 0; }
  bool exited(int code) const { return !running && WIFEXITED(status) && WEXITSTATUS(status) == code; }
  bool killed() const { return !running && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL; }
  std::string how() const {
    if (running) return "still running";
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
  }
  std::string report() const { return name + ": " + how() + (err_text.empty() ? "" : ", stderr: " + err_text); }
};

// The helper processes of one test. Whatever still runs when the test ends
// (a failure, a deadline) is killed, so no test leaves processes behind.
class Procs {
 public:
  Procs() = default;
  Procs(const Procs&) = delete;
  Procs& operator=(const Procs&) = delete;
  ~Procs() {
    kill_all();
    for (Proc& p : procs_) {
      if (p.out >= 0) close(p.out);
      if (p.err >= 0) close(p.err);
    }
  }

  // Starts the helper `helper` with `args`; nullptr (and a failure) if it cannot.
  Proc* start(std::string name, const std::string& helper, const std::vector<std::string>& args) {
    int out[2], err[2];
    // Close-on-exec, so that no other child holds a write end and every
    // pipe reaches end of file when its own process ends.
    if (pipe2(out, O_CLOEXEC) != 0) return nullptr;
    if (pipe2(err, O_CLOEXEC) != 0) {
      close(out[0]);
      close(out[1]);
      return nullptr;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    std::vector<std::string> store{std::string(RIVULET_HELPER_DIR) + "/" + helper};
    store.insert(store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : store) argv.push_back(a.data());
    argv.push_back(nullptr);
    Proc p;
    p.name = std::move(name);
    int rc = posix_spawn(&p.pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
      close(out[0]);
      close(err[0]);
      ADD_FAILURE() << "cannot start " << argv[0] << ": " << strerror(rc);
      return nullptr;
    }
    p.out = out[0];
    p.err = err[0];
    p.running = true;
    procs_.push_back(std::move(p));
    return &procs_.back();
  }

  // Reads what the processes wrote and reaps those that ended, waiting at
  // most `wait` for output.
  void pump(std::chrono::milliseconds wait) {
    std::vector<pollfd> fds;
    std::vector<std::pair<int*, std::string*>> sinks;
    for (Proc& p : procs_) {
      if (p.out >= 0) fds.push_back({p.out, POLLIN, 0}), sinks.emplace_back(&p.out, &p.out_text);
      if (p.err >= 0) fds.push_back({p.err, POLLIN, 0}), sinks.emplace_back(&p.err, &p.err_text);
    }
    if (fds.empty()) {
      std::this_thread::sleep_for(wait);
    } else if (::poll(fds.data(), fds.size(), static_cast<int>(wait.count())) > 0) {
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        char buf[65536];
        ssize_t n = read(fds[i].fd, buf, sizeof buf);
        if (n > 0) {
          sinks[i].second->append(buf, static_cast<size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          close(fds[i].fd);
          *sinks[i].first = -1;
        }
      }
    }
    for (Proc& p : procs_) {
      if (p.running && waitpid(p.pid, &p.status, WNOHANG) == p.pid) p.running = false;
    }
  }

  // Pumps until every process in `which` is done; false if `deadline` came first.
  bool wait_done(const std::vector<Proc*>& which, std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      bool all = true;
      for (Proc* p : which) all = all && p->done();
      if (all) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      pump(std::chrono::milliseconds(20));
    }
  }

  void kill_all() {
    for (Proc& p : procs_) {
      if (!p.running) continue;
      kill(p.pid, SIGKILL);
      waitpid(p.pid, &p.status, 0);
      p.running = false;
    }
  }

  // Every process and how it ended, for failure messages.
  std::string report() const {
    std::string s;
    for (const Proc& p : procs_) s += "\n  " + p.report();
    return s;
  }

 private:
  std::deque<Proc> procs_;  // a deque: pointers handed out stay valid
};

}  // namespace rivulet::testing
