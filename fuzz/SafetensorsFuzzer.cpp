// safetensors reader on arbitrary bytes: parse the header and convert every small tensor.
#include "runtime/formats/Dequantize.h"
#include "runtime/formats/Safetensors.h"

#include <cstddef>
#include <cstdint>

using namespace modelrt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Expected<SafetensorsFile> f = SafetensorsFile::parse(data, size, "fuzz.safetensors");
  if (!f)
    return 0;
  for (const TensorInfo &t : f->tensors()) {
    if (f->findTensor(t.name) != &t)
      __builtin_trap();
    if (!canDequantize(t.dtype) || t.elementCount() > (1u << 16))
      continue;
    std::vector<uint16_t> half(t.elementCount());
    (void)dequantizeToF32(t);
    (void)dequantize(t, DType::F16, half.data(), half.size() * 2);
  }
  return 0;
}
