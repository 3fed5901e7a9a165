#include "runtime/formats/DType.h"

#include <string>

namespace modelrt {
namespace {

// Indexed by DType. Sizes match ggml (GGML_QUANT_SIZES in the gguf package).
const DTypeInfo kInfos[] = {
    {DType::F32, "F32", 1, 4, 0, true},
    {DType::F16, "F16", 1, 2, 1, true},
    {DType::BF16, "BF16", 1, 2, 30, true},
    {DType::F64, "F64", 1, 8, 28, true},
    {DType::I8, "I8", 1, 1, 24, true},
    {DType::U8, "U8", 1, 1, -1, true},
    {DType::I16, "I16", 1, 2, 25, true},
    {DType::U16, "U16", 1, 2, -1, true},
    {DType::I32, "I32", 1, 4, 26, true},
    {DType::U32, "U32", 1, 4, -1, true},
    {DType::I64, "I64", 1, 8, 27, true},
    {DType::U64, "U64", 1, 8, -1, true},
    {DType::Bool, "BOOL", 1, 1, -1, true},
    {DType::F8E4M3, "F8_E4M3", 1, 1, -1, true},
    {DType::F8E5M2, "F8_E5M2", 1, 1, -1, true},
    {DType::Q4_0, "Q4_0", 32, 18, 2, false},
    {DType::Q4_1, "Q4_1", 32, 20, 3, false},
    {DType::Q5_0, "Q5_0", 32, 22, 6, false},
    {DType::Q5_1, "Q5_1", 32, 24, 7, false},
    {DType::Q8_0, "Q8_0", 32, 34, 8, false},
    {DType::Q8_1, "Q8_1", 32, 36, 9, false},
    {DType::Q2_K, "Q2_K", 256, 84, 10, false},
    {DType::Q3_K, "Q3_K", 256, 110, 11, false},
    {DType::Q4_K, "Q4_K", 256, 144, 12, false},
    {DType::Q5_K, "Q5_K", 256, 176, 13, false},
    {DType::Q6_K, "Q6_K", 256, 210, 14, false},
    {DType::Q8_K, "Q8_K", 256, 292, 15, false},
    {DType::IQ2_XXS, "IQ2_XXS", 256, 66, 16, false},
    {DType::IQ2_XS, "IQ2_XS", 256, 74, 17, false},
    {DType::IQ3_XXS, "IQ3_XXS", 256, 98, 18, false},
    {DType::IQ1_S, "IQ1_S", 256, 50, 19, false},
    {DType::IQ4_NL, "IQ4_NL", 32, 18, 20, false},
    {DType::IQ3_S, "IQ3_S", 256, 110, 21, false},
    {DType::IQ2_S, "IQ2_S", 256, 82, 22, false},
    {DType::IQ4_XS, "IQ4_XS", 256, 136, 23, false},
    {DType::IQ1_M, "IQ1_M", 256, 56, 29, false},
    {DType::TQ1_0, "TQ1_0", 256, 54, 34, false},
    {DType::TQ2_0, "TQ2_0", 256, 66, 35, false},
    {DType::MXFP4, "MXFP4", 32, 17, 39, false},
    {DType::Q4_ZP, "Q4_ZP", 32, 19, -1, false},
    {DType::F8E4M3_B32, "F8_E4M3_B32", 32, 36, -1, false},
};

} // namespace

const DTypeInfo &dtypeInfo(DType dtype) { return kInfos[static_cast<size_t>(dtype)]; }

const char *dtypeName(DType dtype) { return dtypeInfo(dtype).name; }

std::optional<DType> dtypeFromGgml(uint32_t ggmlType) {
  for (const DTypeInfo &info : kInfos)
    if (info.ggmlType >= 0 && static_cast<uint32_t>(info.ggmlType) == ggmlType)
      return info.dtype;
  return std::nullopt;
}

std::optional<DType> dtypeFromSafetensorsName(std::string_view name) {
  for (const DTypeInfo &info : kInfos)
    if (info.safetensors && name == info.name)
      return info.dtype;
  return std::nullopt;
}

Expected<uint64_t> checkedElementCount(const std::vector<uint64_t> &shape) {
  uint64_t count = 1;
  for (uint64_t dim : shape) {
    if (dim > static_cast<uint64_t>(INT64_MAX))
      return Error(ErrorCode::InvalidFormat, "dimension " + std::to_string(dim) + " is too large");
    if (dim != 0 && count > static_cast<uint64_t>(INT64_MAX) / dim)
      return Error(ErrorCode::InvalidFormat, "element count overflows");
    count *= dim;
  }
  return count;
}

Expected<uint64_t> checkedByteSize(DType dtype, const std::vector<uint64_t> &shape) {
  Expected<uint64_t> count = checkedElementCount(shape);
  if (!count)
    return count.error();
  const DTypeInfo &info = dtypeInfo(dtype);
  uint64_t inner = shape.empty() ? 1 : shape.back();
  if (inner % info.blockElements != 0)
    return Error(ErrorCode::InvalidFormat, "innermost dimension " + std::to_string(inner) +
                                               " is not a multiple of the " + info.name +
                                               " block size " + std::to_string(info.blockElements));
  uint64_t blocks = *count / info.blockElements;
  if (blocks != 0 && info.blockBytes > static_cast<uint64_t>(INT64_MAX) / blocks)
    return Error(ErrorCode::InvalidFormat, "byte size overflows");
  return blocks * info.blockBytes;
}

} // namespace modelrt
