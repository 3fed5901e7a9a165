#include "runtime/support/Error.h"

namespace modelrt {

const char *errorCodeName(ErrorCode code) {
  switch (code) {
  case ErrorCode::InvalidArgument:
    return "invalid-argument";
  case ErrorCode::InvalidFormat:
    return "invalid-format";
  case ErrorCode::NotFound:
    return "not-found";
  case ErrorCode::OutOfRange:
    return "out-of-range";
  case ErrorCode::Unsupported:
    return "unsupported";
  case ErrorCode::ResourceExhausted:
    return "resource-exhausted";
  case ErrorCode::IoError:
    return "io-error";
  case ErrorCode::Internal:
    return "internal";
  }
  return "unknown";
}

std::string Error::toString() const { return std::string(errorCodeName(code_)) + ": " + message_; }

} // namespace modelrt
