// An io::Env that passes every call to the POSIX one: tests derive from it
// and override only the calls they change (the files it opens), so each
// new Env method is forwarded in one place.
#pragma once

#include <memory>
#include <string>

#include "io/env.hpp"

namespace rivulet::testing {

class ForwardingEnv : public io::Env {
 public:
  Result<std::unique_ptr<io::File>> open(const std::string& path, io::OpenMode mode) override {
    return base_->open(path, mode);
  }
  Result<std::unique_ptr<io::SharedFile>> open_shared(const std::string& path, const std::string& like) override {
    return base_->open_shared(path, like);
  }
  Result<io::FileId> file_id(const std::string& path) override { return base_->file_id(path); }
  Result<uint64_t> file_size(const std::string& path) override { return base_->file_size(path); }
  Status rename_noreplace(const std::string& from, const std::string& to) override {
    return base_->rename_noreplace(from, to);
  }
  Status remove(const std::string& path) override { return base_->remove(path); }
  Status sync_parent_dir(const std::string& path) override { return base_->sync_parent_dir(path); }
  uint32_t boot_tag() override { return base_->boot_tag(); }

 protected:
  io::Env* base_ = io::Env::posix();
};

}  // namespace rivulet::testing
