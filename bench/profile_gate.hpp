// Lets `perf record` sample only the timed sections of the benchmark (not
// data generation, file set-up or the other engine). Start perf disabled with
// a control FIFO and name the FIFOs in the environment:
//
//   mkfifo /tmp/ctl /tmp/ack
//   export RIVULET_BENCH_PERF_CTL=/tmp/ctl RIVULET_BENCH_PERF_ACK=/tmp/ack
//   perf record -D -1 --control fifo:/tmp/ctl,/tmp/ack -g -- rivulet_bench ...
//
// bench/profile.sh does this. Without the variables the gate does nothing.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace bench {

class ProfileGate {
 public:
  // Off while a workload runs only to make files for another one.
  static inline bool armed = true;

  // Scoped: sampling is on while the object lives.
  ProfileGate() { send("enable\n"); }
  ~ProfileGate() { send("disable\n"); }
  ProfileGate(const ProfileGate&) = delete;
  ProfileGate& operator=(const ProfileGate&) = delete;

 private:
  struct Fds {
    int ctl = -1, ack = -1;
    Fds() {
      if (const char* p = std::getenv("RIVULET_BENCH_PERF_CTL")) ctl = ::open(p, O_WRONLY | O_CLOEXEC);
      if (const char* p = std::getenv("RIVULET_BENCH_PERF_ACK")) ack = ::open(p, O_RDONLY | O_CLOEXEC);
    }
  };
  static void send(const char* cmd) {
    static Fds fds;
    if (fds.ctl < 0 || !armed) return;
    size_t len = 0;
    while (cmd[len] != '\0') ++len;
    if (::write(fds.ctl, cmd, len) < 0) return;
    if (fds.ack >= 0) {
      char buf[16];
      [[maybe_unused]] ssize_t n = ::read(fds.ack, buf, sizeof buf);  // perf's "ack\n"
    }
  }
};

}  // namespace bench
