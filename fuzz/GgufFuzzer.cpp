// GGUF reader on arbitrary bytes: parse, read every metadata value through the typed
// getters, dequantize small tensors, and build a tokenizer from the metadata.
#include "runtime/formats/Dequantize.h"
#include "runtime/formats/Gguf.h"
#include "runtime/tokenize/Tokenizer.h"

#include <cstddef>
#include <cstdint>

using namespace modelrt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Expected<GgufFile> f = GgufFile::parse(data, size, "fuzz.gguf");
  if (!f)
    return 0;
  for (const auto &[key, value] : f->metadata()) {
    (void)f->getString(key);
    (void)f->getUInt(key);
    (void)f->getInt(key);
    (void)f->getFloat(key);
    (void)f->getBool(key);
    (void)f->getIntArray(key);
    (void)f->getFloatArray(key);
    (void)f->getStringArray(key);
  }
  for (const TensorInfo &t : f->tensors()) {
    if (!canDequantize(t.dtype) || t.elementCount() > (1u << 16))
      continue;
    std::vector<uint16_t> half(t.elementCount());
    (void)dequantizeToF32(t);
    (void)dequantize(t, DType::BF16, half.data(), half.size() * 2);
  }
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromGguf(*f);
  if (tok) {
    Expected<std::vector<int32_t>> ids =
        (*tok)->encode("Hello world 123 \xF0\x9F\xA6\x99", {true, true});
    if (ids)
      (void)(*tok)->decode(*ids);
  }
  return 0;
}
