// Typed errors for the runtime: every failure that bad input can cause is returned as an
// Error with a code and a message naming what is wrong, never thrown across the API and
// never an abort.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace modelrt {

enum class ErrorCode {
  InvalidArgument,   // a caller-supplied value is out of its documented range
  InvalidFormat,     // a file or message does not follow its format
  NotFound,          // a named thing (file, tensor, key) does not exist
  OutOfRange,        // an offset, index or size falls outside its container
  Unsupported,       // valid input that this build cannot handle
  ResourceExhausted, // a limit (memory, KV blocks, queue) is reached
  IoError,           // the operating system refused a read, write or map
  Internal,          // a bug: an invariant of our own code does not hold
};

const char *errorCodeName(ErrorCode code);

class Error {
public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string &message() const { return message_; }
  // "invalid-format: tensor 'x' ends past the end of the file"
  std::string toString() const;

  // Prefixes context, so errors read outermost first: "model.gguf: tensor 'x': ...".
  Error withContext(const std::string &context) const {
    return Error(code_, context + ": " + message_);
  }

private:
  ErrorCode code_;
  std::string message_;
};

// Either a value or an Error. Accessing the wrong alternative is a bug (asserts).
template <typename T> class [[nodiscard]] Expected {
public:
  Expected(T value) : storage_(std::in_place_index<0>, std::move(value)) {}
  Expected(Error error) : storage_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return storage_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T &value() & {
    assert(ok());
    return std::get<0>(storage_);
  }
  const T &value() const & {
    assert(ok());
    return std::get<0>(storage_);
  }
  T &&value() && {
    assert(ok());
    return std::get<0>(std::move(storage_));
  }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }

  const Error &error() const {
    assert(!ok());
    return std::get<1>(storage_);
  }

private:
  std::variant<T, Error> storage_;
};

// Success or an Error, for operations with no result value.
class [[nodiscard]] Status {
public:
  Status() = default;
  Status(Error error) : error_(std::move(error)) {}
  static Status success() { return Status(); }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error &error() const {
    assert(!ok());
    return *error_;
  }

private:
  std::optional<Error> error_;
};

} // namespace modelrt
