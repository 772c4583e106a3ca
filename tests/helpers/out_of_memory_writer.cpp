// Test helper (tests/multiprocess_test.cpp): a process whose allocations
// of 64 KiB or more fail with std::bad_alloc once armed, as under memory
// pressure. It opens FILE, arms the failure, runs vacuum() (which encodes a
// checkpoint into a buffer of at least 64 KiB while it holds the writer
// lock), catches whatever is thrown, says on stdout what happened, and
// then stays alive (as a server would, having caught the exception) until
// it is killed. Usage: out_of_memory_writer FILE
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "rivulet/rivulet.hpp"

namespace {
std::atomic<bool> g_armed{false};
constexpr size_t kFailFrom = 64 * 1024;
}  // namespace

void* operator new(size_t n) {
  if (n >= kFailFrom && g_armed.exchange(false)) throw std::bad_alloc();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: out_of_memory_writer FILE\n");
    return 2;
  }
  auto db = rivulet::Db::open(argv[1]);
  if (!db.ok()) {
    fprintf(stderr, "open: %s\n", db.status().to_string().c_str());
    return 1;
  }
  g_armed = true;
  try {
    rivulet::Result<rivulet::VacuumReport> r = (*db)->vacuum();
    printf("returned %s\n", r.ok() ? "ok" : r.status().to_string().c_str());
  } catch (const std::bad_alloc&) {
    printf("threw bad_alloc\n");
  }
  fflush(stdout);
  for (;;) ::pause();
}
