// tokenizer.json loader on arbitrary bytes; a tokenizer that loads must then encode (a text,
// and a pair) and decode without failing on ids it produced itself.
#include "runtime/tokenize/Tokenizer.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace modelrt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromTokenizerJson(text, {}, "fuzz.json");
  if (!tok)
    return 0;
  EncodeOptions opts;
  opts.parseSpecial = true;
  opts.addSpecial = true;
  Expected<std::vector<int32_t>> ids =
      (*tok)->encode("hello world  12345 h\xC3\xA9llo \xF0\x9F\xA6\x99\n", opts);
  if (ids && !(*tok)->decode(*ids))
    __builtin_trap();
  // A pair through the post-processor's pair template (or each text's specials).
  Expected<std::vector<int32_t>> pair = (*tok)->encodePair("a query", "the document", opts);
  if (pair && !(*tok)->decode(*pair))
    __builtin_trap();
  return 0;
}
