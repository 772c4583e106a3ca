// Chain following and tail classification.
#include "log/log_scanner.hpp"

#include <cstring>

#include <fmt/format.h>

#include "format/file_layout.hpp"

namespace rivulet::log {

uint64_t LogScanner::segment_end(uint64_t pos) const {
  return format::segment_start(format::segment_index(pos, segment_size_) + 1, segment_size_);
}

Result<bool> LogScanner::next(const ChainPos& at, format::ParsedFrame* out, std::string* why, bool peek) {
  uint64_t end = segment_end(at.pos);
  char magic[4];
  if (peek && at.pos / 4096 != peeked_page_) {
    peeked_page_ = at.pos / 4096;
    if (!map_->read(at.pos, magic, sizeof magic) || !format::has_frame_magic(magic)) {
      if (why) *why = "no frame magic";
      return false;
    }
  }
  Result<std::string_view> head = map_->view(at.pos, end, format::kFrameHeaderSize);
  if (!head.ok()) return head.status();
  if (head->size() < format::kFrameHeaderSize || !format::has_frame_magic(head->data())) {
    if (why) *why = head->size() < format::kFrameHeaderSize ? "end of file" : "no frame magic";
    return false;
  }
  // Make sure the whole frame is inside the view, asking for the real size
  // only when the one last seen is too short.
  uint32_t length = format::peek_frame_header(head->data()).frame_length;
  std::string_view avail = *head;
  if (length > avail.size() && at.pos + length <= end) {
    Result<std::string_view> whole = map_->view(at.pos, end, length);
    if (!whole.ok()) return whole.status();
    avail = *whole;
  }
  format::ChainLink link{at.next_seq, at.prev_crc};
  if (!format::parse_frame(avail, at.pos, &link, out, why)) return false;
  if (out->segment_end() && format_version_ >= 3) RIVULET_TRY(check_next_segment(*out));
  return true;
}

// A writer names a free segment or the lowest index never used, and the
// file already reaches into every segment below that one: so the segment
// named begins less than one segment past the end of the file. A frame
// naming one further on is corruption (replay would size its segment
// table by the index).
Status LogScanner::check_next_segment(const format::ParsedFrame& frame) {
  const uint64_t start = format::segment_start(frame.header.next_segment, segment_size_);
  if (start < map_->known_size() + segment_size_) return Status::OK();
  Result<uint64_t> size = map_->refresh_size();  // another process may have grown the file
  if (!size.ok()) return size.status();
  if (start < *size + segment_size_) return Status::OK();
  return {Code::corruption,
          fmt::format("segment-end frame {} at position {} names segment {}, which begins at position {}, "
                      "past the segment after the end of the file ({} bytes)",
                      frame.header.seq, frame.position, frame.header.next_segment, start, *size),
          frame.position};
}

Status LogScanner::walk(const ChainPos& at, const std::function<Status(const format::ParsedFrame&)>& visit,
                        std::string* why, bool peek, uint64_t max_seq) {
  format::ParsedFrame& frame = frame_;
  for (;;) {
    if (at.next_seq > max_seq) return Status::OK();
    Result<bool> got = next(at, &frame, why, peek);
    if (!got.ok()) return got.status();
    if (!*got) return Status::OK();
    RIVULET_TRY(visit(frame));
    peek = false;
  }
}

ChainPos LogScanner::advance(const ChainPos& at, const format::ParsedFrame& frame) const {
  ChainPos next = at;
  next.next_seq = frame.header.seq + 1;
  next.prev_crc = frame.header.meta_crc;
  if (frame.segment_end()) {
    // Format 3 reuses segments, so the frame names where the chain goes on.
    uint64_t index = format_version_ >= 3 ? frame.header.next_segment
                                          : format::segment_index(at.pos, segment_size_) + 1;
    next.pos = format::segment_start(index, segment_size_) + format::kSegmentHeaderSize;
    next.segment_seq = at.segment_seq + 1;
  } else {
    next.pos = at.pos + format::align8(frame.header.frame_length);
  }
  return next;
}

// A frame at `pos` that is valid on its own and claims `seq` was durable.
static bool proves_durable(FileMap* map, uint64_t pos, uint64_t limit, uint64_t seq) {
  Result<std::string_view> v = map->view(pos, limit);
  if (!v.ok() || v->size() < format::kFrameHeaderSize || !format::has_frame_magic(v->data())) return false;
  format::FrameHeader h = format::peek_frame_header(v->data());
  if (h.seq <= seq || h.synced_seq < seq) return false;
  format::ParsedFrame f;
  return format::parse_frame(*v, pos, nullptr, &f, nullptr);
}

Result<TailInfo> classify_tail(FileMap* map, uint32_t segment_size, const ChainPos& end,
                               uint64_t durable_seq, const std::string& why,
                               const std::function<bool(uint64_t index)>& in_use) {
  TailInfo info;
  info.position = end.pos;
  Result<uint64_t> size = map->refresh_size();
  if (!size.ok()) return size.status();
  uint64_t seg_end = format::segment_start(format::segment_index(end.pos, segment_size) + 1, segment_size);
  Result<std::string_view> rest = map->view(end.pos, seg_end);
  if (!rest.ok()) return rest.status();

  // The last non-zero byte, looking 8 bytes at a time: the rest of the
  // head segment may be megabytes of preallocated zeros.
  uint64_t last_nonzero = 0;
  size_t i = rest->size();
  for (; i % 8 != 0; --i) {
    if ((*rest)[i - 1] != 0) break;
  }
  if (i % 8 == 0) {
    while (i >= 8) {
      uint64_t word;
      std::memcpy(&word, rest->data() + i - 8, 8);
      if (word != 0) break;
      i -= 8;
    }
    while (i > 0 && (*rest)[i - 1] == 0) --i;
  }
  last_nonzero = i;
  info.bytes = last_nonzero;

  if (end.next_seq <= durable_seq) {
    info.kind = TailInfo::Kind::corrupt;
    info.detail = fmt::format("frame {} at position {} is missing or damaged ({}), but the superblock records "
                              "frames up to {} as durable",
                              end.next_seq, end.pos, why, durable_seq);
    return info;
  }
  // Hunt for later frames in this segment (frames are 8-byte aligned) and at
  // the start of every other segment. Offsets are counted within `rest` and
  // compared by subtraction from the size, so no sum can wrap around.
  // Frames of an older seq there are left from the segment's use before
  // it was reused (reused segments are not always punched first).
  bool older_frames = false;
  for (uint64_t i = 0; i + format::kFrameHeaderSize <= last_nonzero; i += 8) {
    if (!format::has_frame_magic(rest->data() + i)) continue;
    if (format::peek_frame_header(rest->data() + i).seq < end.next_seq) older_frames = true;
    if (i > 0 && proves_durable(map, end.pos + i, seg_end, end.next_seq)) {
      info.evidence = end.pos + i;
      break;
    }
  }
  // Every other segment: with segments reused (format 3) the chain may go
  // on at a lower index. Frames of a segment's earlier use never prove
  // anything: their seq is below the missing one. A segment in use holds
  // the chain's own earlier frames, and a writer only moves on into a free
  // or new one (a segment freed by a checkpoint after the end is reused
  // only once the superblock names that checkpoint, and then the log
  // would start there).
  const uint64_t this_segment = seg_end - segment_size;
  for (uint64_t s = format::kFirstSegmentPos; info.evidence == 0 && s < *size && *size - s > format::kSegmentHeaderSize;
       s += segment_size) {
    if (s == this_segment || (in_use && in_use(format::segment_index(s, segment_size)))) continue;
    uint64_t q = s + format::kSegmentHeaderSize;
    if (proves_durable(map, q, s + segment_size, end.next_seq)) info.evidence = q;
  }
  if (info.evidence != 0) {
    info.kind = TailInfo::Kind::corrupt;
    info.detail = fmt::format("frame {} at position {} is damaged ({}), but the valid frame at position {} "
                              "was written after it was durable",
                              end.next_seq, end.pos, why, info.evidence);
  } else if (last_nonzero > 0) {
    info.kind = TailInfo::Kind::torn;
    bool torn_commit =
        (rest->size() >= format::kFrameHeaderSize && format::has_frame_magic(rest->data())) || !older_frames;
    info.detail = fmt::format("torn tail at position {}: {} bytes {} ({}); the next writer discards them", end.pos,
                              last_nonzero,
                              torn_commit ? "of an incomplete commit"
                                          : "left from the segment's use before it was reused (older frames)",
                              why);
  } else {
    info.detail = "clean end";
  }
  return info;
}

}  // namespace rivulet::log
