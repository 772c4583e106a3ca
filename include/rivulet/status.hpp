// Errors are values: every fallible call returns a Status or a Result<T>.
// The library never throws across its API and never asserts on file bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace rivulet {

enum class Code {
  ok = 0,
  invalid_argument,   // bad topic name, bad option value, malformed input
  not_found,          // unknown topic, missing file (when not creating)
  already_exists,     // duplicate topic name
  out_of_range,       // partition or offset outside what exists
  too_large,          // a record or commit larger than the limits allow
  corruption,         // bytes on disk fail a checksum or a structural check
  not_rivulet_file,   // the file does not start with the Rivulet magic
  version_too_new,    // the file was written by a newer format version
  io_error,           // the operating system reported an I/O failure
  no_space,           // the disk is full (ENOSPC / EDQUOT)
  read_only,          // a write on a file opened read-only
  busy,               // the operation would have to wait and was told not to
  timed_out,
  unsupported,        // a valid file using a feature this build lacks (a codec)
};

// A short stable name for a code ("corruption", "not_found", ...).
const char* code_name(Code code);

// OK is a null pointer: a Status that says nothing went wrong (nearly all
// of them, on every commit and poll path) costs a word to make, move and
// destroy; only an error allocates.
class [[nodiscard]] Status {
 public:
  Status() = default;
  // A `code` of Code::ok makes an OK status (the message is dropped).
  Status(Code code, std::string message, std::optional<uint64_t> position = std::nullopt);
  Status(const Status& other) : rep_(other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr) {}
  Status& operator=(const Status& other) {
    if (this != &other) rep_ = other.rep_ ? std::make_unique<Rep>(*other.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return {}; }

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::ok; }
  const std::string& message() const;
  // For corruption: the byte position in the file where it was found.
  std::optional<uint64_t> position() const { return rep_ ? rep_->position : std::nullopt; }
  // "corruption: frame checksum mismatch at position 16384".
  std::string to_string() const;

  // Marks a status as deliberately ignored (for clean-up paths).
  void ignore() const {}

 private:
  struct Rep {
    Code code;
    std::string message;
    std::optional<uint64_t> position;
  };
  std::unique_ptr<Rep> rep_;
};

// A value or an error. Access value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}    // NOLINT: must not be OK

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace rivulet

// Propagate a failed Status from an expression returning Status. Failure
// is marked unlikely: the compiler then moves the error paths out of the
// functions' hot code, which a commit or poll after an idle while must
// fetch from memory line by line.
#define RIVULET_TRY(expr)                    \
  do {                                       \
    ::rivulet::Status _st = (expr);          \
    if (!_st.ok()) [[unlikely]] return _st;  \
  } while (0)
