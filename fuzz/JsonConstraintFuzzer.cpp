// JSON-guided decoding's recognizer on arbitrary bytes, plain and with a schema: whatever
// it accepts as a complete object, a strict JSON parser (nlohmann::json, which also checks UTF-8
// and surrogate pairs and refuses numbers out of double range) must parse as an object; and it
// never crashes or over-reads.
#include "runtime/sample/JsonConstraint.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

// A schema with every kind of node (as the guided-decoding unit tests use).
const modelrt::sample::JsonSchema *schema() {
  static const auto compiled =
      modelrt::sample::JsonSchema::compile(nlohmann::ordered_json::parse(R"({
    "type": "object",
    "properties": {"a": {"type": "string"}, "b": {"type": "integer"},
                   "c": {"type": ["number", "null"]}, "d": {"type": "array", "items": {"$ref": "#/$defs/n"}},
                   "e": {"enum": ["x", 1, false]}, "f": {"type": "object"}},
    "required": ["a"],
    "$defs": {"n": {"type": "object", "properties": {"k": {"type": "boolean"},
                                                     "m": {"$ref": "#/$defs/n"}}}}})"));
  return compiled ? compiled->get() : nullptr;
}

void check(modelrt::sample::JsonRecognizer r, const uint8_t *data, size_t size) {
  size_t accepted = 0;
  while (accepted < size && r.feed(data[accepted]))
    ++accepted;
  if (accepted == size && r.complete()) {
    std::string_view text(reinterpret_cast<const char *>(data), size);
    nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object())
      std::abort(); // the recognizer accepted what is not a JSON object
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check(modelrt::sample::JsonRecognizer(true), data, size);
  if (!schema())
    std::abort();
  check(modelrt::sample::JsonRecognizer(schema()), data, size);
  return 0;
}
