// JSON-guided decoding's recognizer on arbitrary bytes: whatever it accepts as a complete
// object, a strict JSON parser (nlohmann::json, which also checks UTF-8 and surrogate
// pairs and refuses numbers out of double range) must parse as an object; and it never
// crashes or over-reads.
#include "runtime/sample/JsonConstraint.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  modelrt::sample::JsonRecognizer r;
  size_t accepted = 0;
  while (accepted < size && r.feed(data[accepted]))
    ++accepted;
  if (accepted == size && r.complete()) {
    std::string_view text(reinterpret_cast<const char *>(data), size);
    nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object())
      std::abort(); // the recognizer accepted what is not a JSON object
  }
  return 0;
}
