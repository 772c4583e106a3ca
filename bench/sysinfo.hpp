// What the benchmark ran on, printed above the table.
#pragma once

#include <cstdint>
#include <string>

namespace bench {

struct MachineInfo {
  int cpus = 0;            // CPUs this process may run on (as nproc counts)
  std::string cpu_model;   // /proc/cpuinfo "model name"
  std::string kernel;      // uname -sr and machine
  uint64_t memory = 0;     // bytes of RAM
  std::string loadavg;     // /proc/loadavg: 1, 5 and 15 minutes
  double load1 = 0;
};
MachineInfo machine_info();

struct FsInfo {
  std::string mount_point;
  std::string type;    // ext4, xfs, tmpfs, ...
  std::string source;  // /dev/vda1, ...
  uint64_t free = 0;   // bytes available to this user
  bool in_memory() const { return type == "tmpfs" || type == "ramfs"; }
};
// The file system holding `dir`, from /proc/self/mountinfo.
FsInfo fs_info(const std::string& dir);

// What this machine allows at best, measured in a second or so, to read the
// table against: a commit that makes k syscalls cannot beat 1 / (k * syscall).
struct Floors {
  double syscall_ns = 0;       // getppid(), the cheapest real syscall
  double small_write_ns = 0;   // pwrite of 250 bytes, appending to a file in `dir`
  double write_bytes_per_s = 0;  // pwrite of 128 KiB blocks into the page cache
  double memcpy_bytes_per_s = 0;
  // The same 128 MiB, page-cached, read through a fresh read-only mapping
  // touching one byte per 4 KiB page: what setting up the page tables costs.
  // A reader of a just-opened file cannot go faster (workload 3 reads
  // ~126-byte records: divide by that for records/s).
  double mapped_touch_bytes_per_s = 0;
};
Floors measure_floors(const std::string& dir);

// The lines every benchmark program prints under its title: command, machine,
// load, build and the file system of `dir`, with a WARNING line when the
// machine is busy, `dir` is in memory or the build is not Release.
// `build_type` is CMake's, passed in by the program's target; `sqlite_version`
// is null for a program that does not run SQLite.
void print_run_header(const std::string& command, const std::string& dir, const std::string& build_type,
                      const char* sqlite_version);

// Human-readable sizes: "23.4 GiB".
std::string human_bytes(uint64_t bytes);

}  // namespace bench
