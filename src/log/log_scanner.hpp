// Follows the chain of frames: recovery on open, a writer catching up with
// commits from other processes, readers picking up new frames. A frame is
// taken only if it is whole, its checksums hold, and it links to the frame
// before it. Where the chain stops, classify_tail() tells a clean end from a
// torn tail (cut off by the next writer) and from corruption (reported).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "format/frame.hpp"
#include "log/file_map.hpp"

namespace rivulet::log {

// Where the chain stands: the position and link the next frame must have.
struct ChainPos {
  uint64_t pos = 0;
  uint64_t next_seq = 1;
  uint32_t prev_crc = 0;
  uint64_t segment_seq = 0;
};

class LogScanner {
 public:
  // `format_version` says how a segment-end frame names the next segment.
  LogScanner(FileMap* map, uint32_t segment_size, uint32_t format_version)
      : map_(map), segment_size_(segment_size), format_version_(format_version) {}

  // Reads the frame at `at` if a valid one continues the chain there.
  // Returns false (with `why`) when it does not; errors for I/O, and
  // corruption for a segment-end frame naming a segment past the file. With
  // `peek`, the first look at a page the head has not been on before is a
  // read call, so that checking for new frames at the head does not fault
  // in a fresh page (tens of microseconds on a virtual machine) for every
  // large commit. Not thread-safe: one caller at a time.
  Result<bool> next(const ChainPos& at, format::ParsedFrame* out, std::string* why = nullptr,
                    bool peek = false);

  // Calls `visit` for each frame of the chain from `at` on, which must move
  // `at` forward (usually with advance()), until no frame continues the
  // chain (`why` says what was found instead) or `visit` fails.
  // `peek` applies to the first frame (see next()). Stops before a frame
  // numbered past `max_seq`. Not thread-safe either, nor reentrant.
  Status walk(const ChainPos& at, const std::function<Status(const format::ParsedFrame&)>& visit,
              std::string* why = nullptr, bool peek = false, uint64_t max_seq = UINT64_MAX);

  // The chain position after `frame`.
  ChainPos advance(const ChainPos& at, const format::ParsedFrame& frame) const;

  uint64_t segment_end(uint64_t pos) const;

 private:
  Status check_next_segment(const format::ParsedFrame& frame);

  FileMap* map_;
  uint32_t segment_size_;
  uint32_t format_version_;
  // The page of the last peek: looking at it again through the mapping
  // costs nothing once the first look faulted it in.
  uint64_t peeked_page_ = UINT64_MAX;
  // walk()'s frame, kept for its vector's capacity: a reader catching up
  // with one new frame would otherwise allocate it every time.
  format::ParsedFrame frame_;
};

struct TailInfo {
  enum class Kind { clean, torn, corrupt };
  Kind kind = Kind::clean;
  uint64_t position = 0;  // where the chain stops
  uint64_t bytes = 0;     // non-zero bytes after it in its segment (torn)
  uint64_t evidence = 0;  // corrupt: position of a valid frame that proves it
  std::string detail;     // one line for reports
};

// Looks past the end of the chain. A later valid frame whose writer knew the
// missing frame to be durable (synced_seq), or a superblock that says so
// (durable_seq), makes it corruption; anything else after the end was never
// durable and is a torn tail. `end` must come from a chain that began at a
// log start read_file_start() accepted: positions then stay near the file.
// `in_use`, if given, says which segments (by index) the chain is known to
// be using: the chain cannot go on at the start of one of those, so they
// are not searched (each costs a page fault: opening a large file touches
// no segment but the head's). `check` searches them all.
Result<TailInfo> classify_tail(FileMap* map, uint32_t segment_size, const ChainPos& end,
                               uint64_t durable_seq, const std::string& why,
                               const std::function<bool(uint64_t index)>& in_use = {});

}  // namespace rivulet::log
