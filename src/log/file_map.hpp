// Read-only views of the file through shared mappings. A mapping is never
// unmapped before close, so a pointer handed out stays valid for the life of
// the FileMap; when the file outgrows the mapping a larger one is added.
// Views never reach past the file's size (touching a mapped page past EOF
// raises SIGBUS), and the file never shrinks while open.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "io/env.hpp"

namespace rivulet::log {

class FileMap {
 public:
  explicit FileMap(io::File* file) : file_(file) {}

  // The bytes [pos, min(limit, file size)): empty if the file ends before
  // pos. The size last seen is trusted unless it gives fewer than `need`
  // bytes, in which case the file system is asked (a syscall).
  Result<std::string_view> view(uint64_t pos, uint64_t limit, uint64_t need = 0);
  // Copies n bytes at pos with a read call instead of through the mapping:
  // cheaper for a one-off look at a page this process has not touched yet
  // (a page fault costs tens of microseconds on a virtual machine). False if
  // the file is shorter.
  bool read(uint64_t pos, void* buf, size_t n);
  // What one reader of the file (a Reader, a handle's replay) has mapped
  // ahead of itself: [from, to).
  struct Ahead {
    uint64_t from = 0, to = 0;
  };
  // Makes sure [pos, min(end, file size)) is mapped, populating `step`
  // bytes at a time: on from where the last step ended, or from pos after
  // a seek. Clamped to the file's size, so that a reader at the end of the
  // file does not map again at every call.
  void map_ahead(Ahead* ahead, uint64_t pos, uint64_t end, uint64_t step);
  // [begin, end) is being written afresh (the log entered a reused
  // segment, whose blocks were punched): map_ahead populates it again.
  void forget_populated(uint64_t begin, uint64_t end);
  // The file's size as last seen; refresh_size() asks the file system.
  uint64_t known_size() const { return size_.load(std::memory_order_acquire); }
  Result<uint64_t> refresh_size();
  // The writer grew the file to at least `size`.
  void note_size(uint64_t size);

 private:
  // A mapping, and which kPopulateChunk pieces of it this process has
  // populated: page tables are per process, so a reader need not populate
  // again what the replay or another reader (of another partition, whose
  // batches lie between its own) already did, at a system call each (a
  // consumer of 5,000 partitions made 60,000 calls for an 8 MB file).
  // Punched pages are forgotten when the log reuses their segment
  // (forget_populated); pages evicted under memory pressure stay marked,
  // and reading them only faults.
  static constexpr uint64_t kPopulateChunk = 256u << 10;
  struct Map {
    explicit Map(std::unique_ptr<io::Mapping> m);
    bool populated(uint64_t chunk) const;
    void mark_populated(uint64_t chunk) const;  // the bits are atomic
    void forget(uint64_t chunk) const;
    std::unique_ptr<io::Mapping> mapping;
    std::unique_ptr<std::atomic<uint64_t>[]> populated_bits;
  };
  Result<const Map*> map_for(uint64_t end);
  // Maps the pages of the kPopulateChunk pieces that [pos, min(limit, file
  // size)) touches, so that reading them takes no page fault (tens of
  // microseconds each on a virtual machine; fault-around maps only pages
  // already in the page cache, never those at the tail of a log being
  // written, which the writer's later writes fill in place). A hint: where
  // the kernel cannot, the reads fault as usual. Returns the end it
  // covered, pos if nothing.
  uint64_t populate(uint64_t pos, uint64_t limit);

  io::File* file_;
  std::atomic<uint64_t> size_{0};
  std::mutex mu_;
  std::vector<std::unique_ptr<Map>> maps_;  // newest last
  // maps_.back(), read without mu_: a mapping lives until close.
  std::atomic<const Map*> newest_{nullptr};
};

}  // namespace rivulet::log
