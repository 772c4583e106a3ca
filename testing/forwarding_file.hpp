// An io::File that passes every call to another one: tests derive from it
// and override only the calls they change (a sync that is skipped, or held
// at a gate), so each new File method is forwarded in one place.
#pragma once

#include <memory>
#include <utility>

#include "io/env.hpp"

namespace rivulet::testing {

class ForwardingFile : public io::File {
 public:
  explicit ForwardingFile(std::unique_ptr<io::File> f) : f_(std::move(f)) {}
  const std::string& path() const override { return f_->path(); }
  Status read_at(uint64_t pos, void* buf, size_t n) override { return f_->read_at(pos, buf, n); }
  Status write_at(uint64_t pos, std::span<const std::string_view> parts) override { return f_->write_at(pos, parts); }
  Status sync() override { return f_->sync(); }
  Result<uint64_t> size() override { return f_->size(); }
  Result<uint64_t> disk_bytes() override { return f_->disk_bytes(); }
  using io::File::allocate;
  Status allocate(uint64_t from, uint64_t end) override { return f_->allocate(from, end); }
  Status truncate(uint64_t size) override { return f_->truncate(size); }
  Status punch_hole(uint64_t pos, uint64_t len) override { return f_->punch_hole(pos, len); }
  Result<std::unique_ptr<io::Mapping>> map(uint64_t length) override { return f_->map(length); }
  Result<io::FileId> id() override { return f_->id(); }
  void set_mapped_writes(bool on) override { f_->set_mapped_writes(on); }
  void set_write_behind(bool on) override { f_->set_write_behind(on); }
  Status lock(uint64_t byte, io::LockType type, bool wait) override { return f_->lock(byte, type, wait); }
  Status unlock(uint64_t byte) override { return f_->unlock(byte); }

 private:
  std::unique_ptr<io::File> f_;
};

}  // namespace rivulet::testing
