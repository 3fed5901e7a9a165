// The CPU executor's attention over paged KV (see CpuAttention.h).
#include "runtime/engine/CpuAttention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include <immintrin.h>

// The 32-byte vectors below never cross a call (the helpers are always inlined), so the
// AVX / non-AVX calling conventions GCC warns about never meet. (Clang refuses them in the
// default clone outright; the runtime is built with GCC, Clang builds only the fuzzers.)
#pragma GCC diagnostic ignored "-Wpsabi"

namespace modelrt::engine {

// The kernels twice from one source (CpuAttentionKernels.inc): built for x86-64-v3 (AVX2,
// FMA, F16C: the cache's narrow types widened by their instructions), and portable.
namespace {
namespace portable {
#define MODELRT_KV_X86_64_V3 0
#include "runtime/engine/CpuAttentionKernels.inc"
#undef MODELRT_KV_X86_64_V3
} // namespace portable

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
namespace v3 {
#define MODELRT_KV_X86_64_V3 1
#include "runtime/engine/CpuAttentionKernels.inc"
#undef MODELRT_KV_X86_64_V3
} // namespace v3
#pragma GCC pop_options

using portable::kQ8Bytes;
using portable::kQ8Elements;
using portable::loadKv1;
} // namespace

// The AVX2 kernels where the CPU has AVX2, FMA and F16C (x86-64-v3), else the portable ones;
// the same CPU always takes the same kernels, so results stay batch-invariant.
static bool usesAvx2() {
  static const bool avx2 = __builtin_cpu_supports("x86-64-v3");
  return avx2;
}

void attendTile(const QueryTile &tile, KeyRange range, const KvBlockView *blocks,
                const KvLayout &layout, KvHead head, float scale, float softcap,
                AttentionScratch &scratch) {
  if (usesAvx2())
    return v3::attend(tile, range, blocks, layout, head, scale, softcap, scratch);
  portable::attend(tile, range, blocks, layout, head, scale, softcap, scratch);
}

void attendSegments(const QueryTile &tile, KeyRange range, const KvBlockView *blocks,
                    const KvLayout &layout, KvHead head, float scale, float softcap,
                    int64_t first, int64_t end, float *states, int64_t rowStride,
                    AttentionScratch &scratch) {
  if (usesAvx2())
    return v3::attendSegments(tile, range, blocks, layout, head, scale, softcap, first, end,
                              states, rowStride, scratch);
  portable::attendSegments(tile, range, blocks, layout, head, scale, softcap, first, end, states,
                           rowStride, scratch);
}

void finishAttention(const QueryTile &tile, KeyRange range, int64_t vDim, int64_t first,
                     int64_t end, const float *states, int64_t rowStride) {
  if (usesAvx2())
    return v3::finish(tile, range, vDim, first, end, states, rowStride);
  portable::finish(tile, range, vDim, first, end, states, rowStride);
}

void attentionSegments(const QueryTile &tile, KeyRange range, int64_t &first, int64_t &end) {
  portable::tileSegmentRange(tile, range, first, end);
}

namespace {

uint32_t bitsOf(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof(b));
  return b;
}

// An f32 rounded to nearest even into an 8-bit float of 1 sign, E exponent and M mantissa
// bits (bias 2^(E-1) - 1), saturated at the largest finite code `maxCode` (sign apart);
// NaN stays NaN (`nanCode`).
template <int E, int M> uint8_t encodeFp8(float x, uint8_t maxCode, uint8_t nanCode) {
  const uint32_t bits = bitsOf(x);
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80);
  const uint32_t mag = bits & 0x7FFFFFFF;
  if (mag > 0x7F800000)
    return sign | nanCode;
  constexpr int bias = (1 << (E - 1)) - 1;
  // The smallest normal is 2^(1 - bias); below it the quantum is 2^(1 - bias - M).
  const uint32_t minNormal = uint32_t(127 + 1 - bias) << 23;
  uint32_t code;
  if (mag < minNormal) {
    float a;
    std::memcpy(&a, &mag, sizeof(a));
    code = static_cast<uint32_t>(std::nearbyint(std::ldexp(a, bias - 1 + M))); // even ties
  } else {
    constexpr int shift = 23 - M;
    const uint32_t rounded = mag + ((uint32_t(1) << (shift - 1)) - 1) + ((mag >> shift) & 1);
    code = (std::min<uint32_t>(rounded, 0x7F800000) >> shift) - (uint32_t(127 - bias) << M);
  }
  return sign | static_cast<uint8_t>(code > maxCode ? maxCode : code);
}

uint16_t encodeHalf(float x) {
  const _Float16 h = static_cast<_Float16>(x);
  uint16_t b;
  std::memcpy(&b, &h, sizeof(b));
  return b;
}

} // namespace

Expected<KvCacheDType> parseKvCacheDType(const std::string &name) {
  if (name == "auto" || name == "float32" || name == "f32")
    return KvCacheDType::F32;
  if (name == "bfloat16" || name == "bf16")
    return KvCacheDType::BF16;
  if (name == "float16" || name == "f16" || name == "half")
    return KvCacheDType::F16;
  if (name == "fp8" || name == "fp8_e4m3")
    return KvCacheDType::F8E4M3;
  if (name == "fp8_e5m2")
    return KvCacheDType::F8E5M2;
  if (name == "q8_0")
    return KvCacheDType::Q8_0;
  return Error(ErrorCode::InvalidArgument,
               "KV cache dtype '" + name +
                   "' is not one of auto, float32, bfloat16, float16, fp8, fp8_e4m3, fp8_e5m2, "
                   "q8_0");
}

const char *kvCacheDTypeName(KvCacheDType dtype) {
  switch (dtype) {
  case KvCacheDType::F32:
    return "float32";
  case KvCacheDType::BF16:
    return "bfloat16";
  case KvCacheDType::F16:
    return "float16";
  case KvCacheDType::F8E4M3:
    return "fp8_e4m3";
  case KvCacheDType::F8E5M2:
    return "fp8_e5m2";
  case KvCacheDType::Q8_0:
    return "q8_0";
  }
  return "?";
}

int64_t kvBytes(KvCacheDType dtype, int64_t elements) {
  switch (dtype) {
  case KvCacheDType::F32:
    return 4 * elements;
  case KvCacheDType::BF16:
  case KvCacheDType::F16:
    return 2 * elements;
  case KvCacheDType::F8E4M3:
  case KvCacheDType::F8E5M2:
    return elements;
  case KvCacheDType::Q8_0:
    return (elements + kQ8Elements - 1) / kQ8Elements * kQ8Bytes;
  }
  return 0;
}

// f32 to f16 (round to nearest even), eight at a time with F16C's vcvtps2ph: the same bits
// as encodeHalf's conversion, which GCC leaves to a libgcc call per element without F16C.
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
static void encodeHalvesV3(const float *src, int64_t n, uint8_t *dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i *>(dst + 2 * i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) {
    const uint16_t h = _cvtss_sh(src[i], _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    std::memcpy(dst + 2 * i, &h, sizeof(h));
  }
}
#pragma GCC pop_options

void encodeKvRow(KvCacheDType dtype, const float *src, int64_t width, uint8_t *dst) {
  switch (dtype) {
  case KvCacheDType::F32:
    std::memcpy(dst, src, static_cast<size_t>(width) * sizeof(float));
    return;
  case KvCacheDType::BF16:
    for (int64_t i = 0; i < width; ++i) {
      const uint32_t b = bitsOf(src[i]);
      const uint16_t h = (b & 0x7FFFFFFF) > 0x7F800000
                             ? static_cast<uint16_t>((b >> 16) | 0x40) // NaN stays NaN
                             : static_cast<uint16_t>((b + 0x7FFF + ((b >> 16) & 1)) >> 16);
      std::memcpy(dst + 2 * i, &h, sizeof(h));
    }
    return;
  case KvCacheDType::F16:
    if (usesAvx2())
      return encodeHalvesV3(src, width, dst);
    for (int64_t i = 0; i < width; ++i) {
      const uint16_t h = encodeHalf(src[i]);
      std::memcpy(dst + 2 * i, &h, sizeof(h));
    }
    return;
  case KvCacheDType::F8E4M3:
    for (int64_t i = 0; i < width; ++i)
      dst[i] = encodeFp8<4, 3>(src[i], 0x7E, 0x7F);
    return;
  case KvCacheDType::F8E5M2:
    for (int64_t i = 0; i < width; ++i)
      dst[i] = encodeFp8<5, 2>(src[i], 0x7B, 0x7E);
    return;
  case KvCacheDType::Q8_0:
    // GGUF's Q8_0 reference quantization: d = amax / 127, q = roundf(x * (1 / d)) (half away
    // from zero), the scale stored as f16. A short last block is padded with zeros.
    for (int64_t b = 0; b * kQ8Elements < width; ++b) {
      const float *x = src + b * kQ8Elements;
      uint8_t *block = dst + b * kQ8Bytes;
      const int64_t n = std::min<int64_t>(kQ8Elements, width - b * kQ8Elements);
      float amax = 0.0f;
      for (int64_t i = 0; i < n; ++i) // a NaN, once met, stays (max keeps its first operand)
        amax = std::isnan(x[i]) ? x[i] : std::max(amax, std::fabs(x[i]));
      const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      const uint16_t h = encodeHalf(d);
      std::memcpy(block, &h, sizeof(h));
      for (int64_t i = 0; i < kQ8Elements; ++i) {
        const float r = i < n ? std::round(x[i] * id) : 0.0f; // in [-127, 127] when finite
        block[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(std::isfinite(r) ? r : 0.0f));
      }
    }
    return;
  }
}

// The key is encoded as a row first (the same codes and scales as a row would hold), then
// each element moved to its feature's run.
void storeKeyTransposed(KvCacheDType dtype, const float *src, int64_t kDim, int64_t blockSize,
                        int64_t slot, uint8_t *keys) {
  uint8_t stackRow[4096];
  std::vector<uint8_t> heapRow;
  const int64_t bytes = kvBytes(dtype, kDim);
  uint8_t *row = stackRow;
  if (bytes > int64_t(sizeof(stackRow))) {
    heapRow.resize(static_cast<size_t>(bytes));
    row = heapRow.data();
  }
  encodeKvRow(dtype, src, kDim, row);
  if (dtype == KvCacheDType::Q8_0) {
    const int64_t groupBytes = blockSize * kQ8Bytes;
    for (int64_t g = 0; g * kQ8Elements < kDim; ++g) {
      const uint8_t *block = row + g * kQ8Bytes;
      uint8_t *base = keys + g * groupBytes;
      std::memcpy(base + 2 * slot, block, 2);
      for (int64_t i = 0; i < kQ8Elements; ++i)
        base[2 * blockSize + i * blockSize + slot] = block[2 + i];
    }
    return;
  }
  const int64_t size = kvBytes(dtype, 1);
  for (int64_t c = 0; c < kDim; ++c)
    std::memcpy(keys + (c * blockSize + slot) * size, row + c * size, static_cast<size_t>(size));
}

float loadKeyTransposed(KvCacheDType dtype, const uint8_t *keys, int64_t blockSize, int64_t slot,
                        int64_t i) {
  if (dtype == KvCacheDType::Q8_0) { // gather the element's block: its scale and its code
    const uint8_t *base = keys + i / kQ8Elements * blockSize * kQ8Bytes;
    uint8_t block[kQ8Bytes] = {};
    std::memcpy(block, base + 2 * slot, 2);
    block[2 + i % kQ8Elements] = base[2 * blockSize + (i % kQ8Elements) * blockSize + slot];
    return decodeKvElement(dtype, block, i % kQ8Elements);
  }
  return decodeKvElement(dtype, keys + (i * blockSize + slot) * kvBytes(dtype, 1), 0);
}

float decodeKvElement(KvCacheDType dtype, const uint8_t *row, int64_t i) {
  switch (dtype) {
  case KvCacheDType::F32:
    return loadKv1<KvCacheDType::F32>(row, i);
  case KvCacheDType::BF16:
    return loadKv1<KvCacheDType::BF16>(row, i);
  case KvCacheDType::F16:
    return loadKv1<KvCacheDType::F16>(row, i);
  case KvCacheDType::F8E4M3:
    return loadKv1<KvCacheDType::F8E4M3>(row, i);
  case KvCacheDType::F8E5M2:
    return loadKv1<KvCacheDType::F8E5M2>(row, i);
  case KvCacheDType::Q8_0:
    return loadKv1<KvCacheDType::Q8_0>(row, i);
  }
  return 0.0f;
}

#undef MODELRT_INLINE

} // namespace modelrt::engine
