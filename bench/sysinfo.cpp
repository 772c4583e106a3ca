#include "sysinfo.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "rivulet/version.hpp"

namespace bench {
namespace {

// Mount points in mountinfo escape space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t j = 1; j <= 3; ++j) {
        char c = s[i + j];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool under(const std::string& path, const std::string& mount) {
  if (mount == "/") return true;
  return path.compare(0, mount.size(), mount) == 0 &&
         (path.size() == mount.size() || path[mount.size()] == '/');
}

}  // namespace

MachineInfo machine_info() {
  MachineInfo m;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) m.cpus = CPU_COUNT(&set);
  if (m.cpus <= 0) m.cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));

  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        m.cpu_model = line.substr(colon + 1);
        size_t start = m.cpu_model.find_first_not_of(" \t");
        m.cpu_model = start == std::string::npos ? "" : m.cpu_model.substr(start);
      }
      break;
    }
  }
  if (m.cpu_model.empty()) m.cpu_model = "unknown CPU";

  struct utsname u {};
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release + " " + u.machine;

  std::ifstream loadavg("/proc/loadavg");
  std::string l1, l5, l15;
  if (loadavg >> l1 >> l5 >> l15) {
    m.loadavg = l1 + " " + l5 + " " + l15;
    m.load1 = std::atof(l1.c_str());
  }

  long pages = sysconf(_SC_PHYS_PAGES);
  long page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0) m.memory = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
  return m;
}

FsInfo fs_info(const std::string& dir) {
  FsInfo fs;
  char resolved[PATH_MAX];
  std::string path = realpath(dir.c_str(), resolved) != nullptr ? std::string(resolved) : dir;

  // Fields: id parent major:minor root mount-point options [optional...] - type source super-options
  std::ifstream mountinfo("/proc/self/mountinfo");
  for (std::string line; std::getline(mountinfo, line);) {
    std::istringstream in(line);
    std::vector<std::string> f;
    for (std::string w; in >> w;) f.push_back(w);
    if (f.size() < 7) continue;
    std::string mount = unescape(f[4]);
    size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") ++dash;
    if (dash + 2 >= f.size()) continue;
    // Later lines are mounted over earlier ones: take the longest match, the last one on ties.
    if (under(path, mount) && mount.size() >= fs.mount_point.size()) {
      fs.mount_point = mount;
      fs.type = f[dash + 1];
      fs.source = f[dash + 2];
    }
  }
  struct statvfs sv {};
  if (statvfs(path.c_str(), &sv) == 0) fs.free = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  if (fs.type.empty()) fs.type = "unknown";
  return fs;
}

Floors measure_floors(const std::string& dir) {
  using clock = std::chrono::steady_clock;
  auto since = [](clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); };
  Floors f;

  constexpr int kCalls = 100'000;
  auto t = clock::now();
  for (int i = 0; i < kCalls; ++i) ::syscall(SYS_getppid);
  f.syscall_ns = since(t) / kCalls * 1e9;

  std::string path = dir + "/floors.tmp";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    std::vector<char> buf(128 << 10, 'x');
    constexpr int kSmall = 50'000;
    t = clock::now();
    for (int i = 0; i < kSmall; ++i) {
      if (::pwrite(fd, buf.data(), 250, static_cast<off_t>(i) * 250) != 250) break;
    }
    f.small_write_ns = since(t) / kSmall * 1e9;

    constexpr size_t kBig = size_t{128} << 20;
    if (::ftruncate(fd, 0) == 0) {
      t = clock::now();
      size_t done = 0;
      for (; done < kBig; done += buf.size()) {
        if (::pwrite(fd, buf.data(), buf.size(), static_cast<off_t>(done)) != static_cast<ssize_t>(buf.size())) break;
      }
      f.write_bytes_per_s = static_cast<double>(done) / since(t);
      void* map = done > 0 ? ::mmap(nullptr, done, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
      if (map != MAP_FAILED) {
        const volatile char* bytes = static_cast<const char*>(map);
        t = clock::now();
        for (size_t at = 0; at < done; at += 4096) (void)bytes[at];
        f.mapped_touch_bytes_per_s = static_cast<double>(done) / since(t);
        ::munmap(map, done);
      }
    }
    ::close(fd);
    ::unlink(path.c_str());
  }

  std::vector<char> from(size_t{64} << 20, 'a'), to(size_t{64} << 20, 'b');
  t = clock::now();
  for (int i = 0; i < 4; ++i) {
    from[static_cast<size_t>(i)] = static_cast<char>(i);
    std::memcpy(to.data(), from.data(), from.size());
  }
  double secs = since(t);
  volatile char sink = to[3];
  (void)sink;
  f.memcpy_bytes_per_s = 4.0 * static_cast<double>(from.size()) / secs;
  return f;
}

void print_run_header(const std::string& command, const std::string& dir, const std::string& build_type,
                      const char* sqlite_version) {
  MachineInfo m = machine_info();
  FsInfo fs = fs_info(dir);
  std::printf("command:  %s\n", command.c_str());
  std::printf("machine:  %d CPUs, %s, %s RAM, %s\n", m.cpus, m.cpu_model.c_str(), human_bytes(m.memory).c_str(),
              m.kernel.c_str());
  std::printf("load:     %s (1, 5, 15 min)\n", m.loadavg.c_str());
  if (m.load1 > 0.5 * m.cpus) {
    std::printf("WARNING:  the machine is busy (load %.2f on %d CPUs): figures will be low and noisy\n", m.load1,
                m.cpus);
  }
  std::string sqlite = sqlite_version != nullptr ? std::string(", SQLite ") + sqlite_version : "";
  std::printf("build:    Rivulet %s (%s build%s)%s, g++ %s\n", rivulet::kVersion, build_type.c_str(),
#ifdef NDEBUG
              ", NDEBUG",
#else
              ", assertions on",
#endif
              sqlite.c_str(), __VERSION__);
  std::printf("files:    %s on %s (%s, mounted at %s), %s free\n", dir.c_str(), fs.source.c_str(), fs.type.c_str(),
              fs.mount_point.c_str(), human_bytes(fs.free).c_str());
  if (fs.in_memory()) {
    std::printf("WARNING:  %s is in memory (%s): no disk is involved\n", dir.c_str(), fs.type.c_str());
  }
  if (build_type != "Release") std::printf("WARNING:  not a Release build: figures are not representative\n");
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace bench
