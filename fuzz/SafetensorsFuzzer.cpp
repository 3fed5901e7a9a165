// safetensors reader on arbitrary bytes: parse the header and convert every small tensor;
// then the weight store's derived tensors (MXFP4 pairs, compressed-tensors packed integers,
// GPTQ and AWQ linears, FP8 codes and their scales) of every name that could have one, each
// byte read and converted.
#include "runtime/formats/Dequantize.h"
#include "runtime/formats/Safetensors.h"
#include "runtime/formats/WeightSource.h"

#include <string>

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
  std::vector<std::string> derived;
  for (const TensorInfo &t : f->tensors()) {
    if (t.dtype == DType::F8E4M3)
      derived.push_back(t.name);
    for (const char *suffix : {"_blocks", "_packed", ".qweight"}) {
      const std::string_view name(t.name), s(suffix);
      if (name.size() > s.size() && name.substr(name.size() - s.size()) == s)
        derived.push_back(std::string(name.substr(0, name.size() - s.size())) +
                          (s == ".qweight" ? ".weight" : ""));
    }
  }
  Expected<SafetensorsModel> model = SafetensorsModel::fromFile(std::move(*f));
  if (!model)
    return 0;
  WeightSource store = WeightSource::fromSafetensors(std::move(*model));
  for (const std::string &name : derived) {
    const TensorInfo *t = store.findTensor(name);
    if (!t)
      continue;
    uint8_t sum = 0; // every byte is there
    for (uint64_t k = 0; k < t->size; ++k)
      sum ^= t->data[k];
    if (t->elementCount() <= (1u << 16) && canDequantize(t->dtype))
      (void)dequantizeToF32(*t);
    (void)sum;
  }
  return 0;
}
