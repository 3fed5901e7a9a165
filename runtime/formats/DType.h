// Element types of weight tensors, shared by the safetensors and GGUF readers.
//
// Plain types hold one element per block; quantized GGUF types pack `blockElements`
// values into `blockBytes` bytes (layouts in docs/formats.md). A tensor's innermost
// dimension must be a whole number of blocks.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace modelrt {

enum class DType : uint8_t {
  // Plain types (safetensors and GGUF).
  F32,
  F16,
  BF16,
  F64,
  I8,
  U8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  Bool,
  F8E4M3,
  F8E5M2,
  // GGUF block-quantized types.
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q8_1,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  Q8_K,
  IQ2_XXS,
  IQ2_XS,
  IQ3_XXS,
  IQ1_S,
  IQ4_NL,
  IQ3_S,
  IQ2_S,
  IQ4_XS,
  IQ1_M,
  TQ1_0,
  TQ2_0,
  MXFP4,
  // modelc's own: 4-bit codes with an f16 scale and an integer zero per 32 (the blocks of
  // asymmetric GPTQ / AWQ checkpoints), d (q - z).
  Q4_ZP,
  // modelc's own: 32 F8_E4M3 codes with an f32 scale (the blocks of FP8 checkpoints), q d.
  F8E4M3_B32, // keep last: kNumDTypes follows it
};
inline constexpr size_t kNumDTypes = static_cast<size_t>(DType::F8E4M3_B32) + 1;

struct DTypeInfo {
  DType dtype;
  const char *name;       // "F32", "Q4_K": the spelling of both formats
  uint32_t blockElements; // values per block (1 for plain types)
  uint32_t blockBytes;    // bytes per block
  int32_t ggmlType;       // GGUF tensor type id, -1 where GGUF has none
  bool safetensors;       // a dtype the safetensors format defines
};

const DTypeInfo &dtypeInfo(DType dtype);
const char *dtypeName(DType dtype);
std::optional<DType> dtypeFromGgml(uint32_t ggmlType);
std::optional<DType> dtypeFromSafetensorsName(std::string_view name);

// Number of elements of `shape`, or an error on overflow past 2^63.
Expected<uint64_t> checkedElementCount(const std::vector<uint64_t> &shape);
// Bytes taken by `shape` of `dtype`: checks that the innermost dimension is a whole number
// of blocks and that nothing overflows.
Expected<uint64_t> checkedByteSize(DType dtype, const std::vector<uint64_t> &shape);

} // namespace modelrt
