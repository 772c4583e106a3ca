// Registry of descriptors and mappings, and the fork handler that makes
// them inert in a child (see fork_guard.hpp).
#include "io/fork_guard.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <vector>

namespace rivulet::io::fork_guard {

std::atomic<uint64_t> detail::generation{0};

namespace {

struct Entry {
  int fd;                  // the file's descriptor, or the mapping's duplicate of it
  void* addr = nullptr;    // null for a descriptor
  size_t length = 0;
};

struct Registry {
  std::mutex mu;
  std::vector<Entry> entries;
};

// Never destroyed: descriptors may be closed from static destructors.
Registry& registry() {
  static Registry* r = new Registry;
  return *r;
}

// "/proc/self/fd/N" without snprintf, which a fork handler may not call.
void fd_link(int fd, char (&out)[40]) {
  const char prefix[] = "/proc/self/fd/";
  size_t n = sizeof prefix - 1;
  std::copy(prefix, prefix + n, out);
  char digits[16];
  size_t d = 0;
  unsigned v = static_cast<unsigned>(fd);
  do {
    digits[d++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (d > 0) out[n++] = digits[--d];
  out[n] = '\0';
}

// Runs in the child with the registry locked (by prepare), so it may walk
// the entries; only async-signal-safe calls from here on.
void in_child() {
  Registry& r = registry();
  for (const Entry& e : r.entries) {
    if (!e.addr) continue;
    char link[40];
    fd_link(e.fd, link);
    void* done = MAP_FAILED;
    int fresh = ::open(link, O_RDONLY | O_CLOEXEC);
    if (fresh >= 0) {
      done = ::mmap(e.addr, e.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fresh, 0);
      ::close(fresh);
    }
    // Without /proc: zeros, still private. The handle refuses use anyway.
    if (done == MAP_FAILED) {
      ::mmap(e.addr, e.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    }
  }
  // If even /dev/null cannot be opened (a full descriptor table), the
  // descriptors stay shared as before the guard; closing them instead would
  // free their numbers for the inherited handles to close someone else's.
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  for (const Entry& e : r.entries) {
    if (null_fd >= 0) ::dup3(null_fd, e.fd, O_CLOEXEC);
  }
  if (null_fd >= 0) ::close(null_fd);
  detail::generation.fetch_add(1, std::memory_order_relaxed);
  r.mu.unlock();
}

void install_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    ::pthread_atfork([] { registry().mu.lock(); }, [] { registry().mu.unlock(); }, in_child);
  });
}

}  // namespace

Hold::Hold() {
  install_handlers();
  registry().mu.lock();
}

Hold::~Hold() { registry().mu.unlock(); }

void add_descriptor(const Hold&, int fd) { registry().entries.push_back(Entry{fd}); }

void close_descriptor(int fd) {
  Hold hold;
  std::vector<Entry>& entries = registry().entries;
  auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return !e.addr && e.fd == fd; });
  if (it != entries.end()) entries.erase(it);
  ::close(fd);
}

bool add_mapping(const Hold&, void* addr, size_t length, int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return false;
  registry().entries.push_back(Entry{copy, addr, length});
  return true;
}

void unmap(void* addr, size_t length) {
  Hold hold;
  std::vector<Entry>& entries = registry().entries;
  auto it = std::find_if(entries.begin(), entries.end(), [&](const Entry& e) { return e.addr == addr; });
  if (it != entries.end()) {
    ::close(it->fd);
    entries.erase(it);
  }
  ::munmap(addr, length);
}

}  // namespace rivulet::io::fork_guard
