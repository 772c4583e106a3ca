// Names and text of Status values.
#include "rivulet/status.hpp"

namespace rivulet {

const char* code_name(Code code) {
  switch (code) {
    case Code::ok: return "ok";
    case Code::invalid_argument: return "invalid_argument";
    case Code::not_found: return "not_found";
    case Code::already_exists: return "already_exists";
    case Code::out_of_range: return "out_of_range";
    case Code::too_large: return "too_large";
    case Code::corruption: return "corruption";
    case Code::not_rivulet_file: return "not_rivulet_file";
    case Code::version_too_new: return "version_too_new";
    case Code::io_error: return "io_error";
    case Code::no_space: return "no_space";
    case Code::read_only: return "read_only";
    case Code::busy: return "busy";
    case Code::timed_out: return "timed_out";
    case Code::unsupported: return "unsupported";
  }
  return "unknown";
}

Status::Status(Code code, std::string message, std::optional<uint64_t> position)
    : rep_(code == Code::ok ? nullptr : std::make_unique<Rep>(Rep{code, std::move(message), position})) {}

const std::string& Status::message() const {
  static const std::string kNone;
  return rep_ ? rep_->message : kNone;
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return std::string(code_name(rep_->code)) + ": " + rep_->message;
}

}  // namespace rivulet
