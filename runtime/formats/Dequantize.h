// Conversion of tensor data to f32, f16 or bf16.
//
// Plain types (F32, F16, BF16, F64, I8, U8, I16, U16, I32, U32, I64, U64, BOOL, F8_E4M3) convert
// by value; GGUF block types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL,
// IQ4_XS and MXFP4 dequantize the way the gguf package's reference (gguf.quants) does, operation for
// operation, so results match it bit for bit. f16 and bf16 outputs round to nearest even from the f32 value.
#pragma once

#include "runtime/formats/Tensor.h"
#include "runtime/support/Error.h"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace modelrt {

// Whether `convert` accepts `src` as a source type.
bool canDequantize(DType src);

// Converts `count` elements of type `src` at `data` (`bytes` long) into `out`
// (`outBytes` long) as `dst`, which must be F32, F16 or BF16. `count` must be a whole
// number of blocks, `bytes` exactly the size of `count` elements and `outBytes` at least
// `count` outputs.
Status convert(DType src, const uint8_t *data, size_t bytes, uint64_t count, DType dst, void *out,
               size_t outBytes);

// Converts a whole tensor (see TensorInfo); errors name the tensor.
Status dequantize(const TensorInfo &tensor, DType dst, void *out, size_t outBytes);
Expected<std::vector<float>> dequantizeToF32(const TensorInfo &tensor);

// A Q8_0, Q4_0 or Q4_1 tensor kept quantized, for weight-only kernels: `rows` rows of
// `blocksPerRow` blocks, each `blockBytes` bytes holding `blockElements` values, rows
// back to back (block layouts in docs/formats.md). Points into the tensor's mapping.
struct QuantizedBlocks {
  DType dtype;
  const uint8_t *data;
  uint64_t rows;
  uint64_t blocksPerRow;
  uint32_t blockBytes;
  uint32_t blockElements;
};
// Unsupported for other types; errors name the tensor.
Expected<QuantizedBlocks> quantizedBlocks(const TensorInfo &tensor);

// GGUF Q4_K / Q5_K: the 6-bit scales and minimums of a super-block's 8 sub-blocks, from
// its 12 packed bytes.
void ggufKScaleMin(const uint8_t *packed, uint8_t scales[8], uint8_t mins[8]);
// GGUF Q3_K: the signed scale (-32..31) of sub-block `sub` (0..15), from the 12 packed bytes.
int ggufQ3KScale(const uint8_t *packed, int sub);
// GGUF IQ4_NL / IQ4_XS: the value each 4-bit index stands for.
extern const int8_t kGgufIq4Values[16];
// GGUF MXFP4: each 4-bit index's E2M1 value, doubled, and the block's E8M0 exponent byte as
// the half of 2^(e - 127) that scales them (ggml's e8m0_to_fp32_half).
extern const int8_t kMxfp4Values[16];
float mxfp4HalfScale(uint8_t e);

// Scalar conversions (round to nearest even on narrowing).
float f16ToF32(uint16_t h);
uint16_t f32ToF16(float f);
float bf16ToF32(uint16_t h);
uint16_t f32ToBf16(float f);
// OCP FP8 E4M3 (torch.float8_e4m3fn: bias 7, no infinities, S.1111.111 NaN), exactly.
float e4m3ToF32(uint8_t q);
// The E4M3 code's value times 2^-8, as f16 bits: exact, subnormal codes included (one shift
// per field, which the CPU GEMM's vector expansion does too).
inline uint16_t e4m3ToF16Scaled(uint8_t q) {
  return static_cast<uint16_t>((q & 0x80) << 8 | (q & 0x7F) << 7);
}

} // namespace modelrt
