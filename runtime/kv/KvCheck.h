// Debug-build checks for KV bookkeeping. A double free or a use after free is a bug in the
// caller's bookkeeping, never bad input: debug builds stop at the first one, where it
// happened, instead of corrupting the pool; release builds compile the checks out.
#pragma once

#include <cstdint>

namespace modelrt::kv {

[[noreturn]] void reportKvMisuse(const char *what, int64_t id);

} // namespace modelrt::kv

#ifndef NDEBUG
#define MODELRT_KV_CHECK(cond, what, id)                                                           \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      ::modelrt::kv::reportKvMisuse(what, static_cast<int64_t>(id));                               \
  } while (false)
#else
#define MODELRT_KV_CHECK(cond, what, id)                                                           \
  do {                                                                                             \
  } while (false)
#endif
