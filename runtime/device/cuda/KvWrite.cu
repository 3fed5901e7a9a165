// KV-cache write: one thread block per new token; K optionally rotated (RoPE) on the way,
// V copied in 16-byte vectors; the token's queries are optionally rotated in place.
#include "runtime/device/cuda/CudaAttention.h"
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/DeviceMath.cuh"

#include <string>

namespace modelrt::cuda {

namespace {

struct RopeDevice {
  int style; // RopeStyle as int
  float theta;
  int rotaryDim;
};

// Pair j of a head covers elements (a, b); it rotates with frequency index `freq` when
// freq >= 0. Rotate-half pairs (j, j + rd/2); interleaved pairs (2j, 2j+1); dims past the
// rotary part pair up as (2j, 2j+1) unrotated.
__device__ __forceinline__ void pairOf(const RopeDevice &rope, int j, int &a, int &b,
                                       int &freq) {
  int half = rope.rotaryDim / 2;
  if (rope.style == int(RopeStyle::None) || j >= half) {
    a = 2 * j;
    b = a + 1;
    freq = -1;
  } else if (rope.style == int(RopeStyle::RotateHalf)) {
    a = j;
    b = j + half;
    freq = j;
  } else {
    a = 2 * j;
    b = a + 1;
    freq = j;
  }
}

template <typename T>
__device__ __forceinline__ void rotatePair(const RopeDevice &rope, int freq, int pos, float &xa,
                                           float &xb) {
  // Same float32 steps as the usual reference: inv_freq = 1 / theta^(2i/d), angle = pos * inv_freq.
  float invFreq = 1.0f / powf(rope.theta, float(2 * freq) / float(rope.rotaryDim));
  float s, c;
  sincosf(float(pos) * invFreq, &s, &c);
  float ra = xa * c - xb * s;
  float rb = xb * c + xa * s;
  xa = ra;
  xb = rb;
}

template <typename T>
__global__ void writeKvKernel(T *__restrict__ kCache, T *__restrict__ vCache,
                              const T *__restrict__ k, int64_t kStride, const T *__restrict__ v,
                              int64_t vStride, T *__restrict__ q, int64_t qStride, int numHeads,
                              const int32_t *__restrict__ slots,
                              const int32_t *__restrict__ positions, int numKvHeads,
                              int blockSize, int headDim, RopeDevice rope) {
  int t = blockIdx.x;
  int slot = slots[t];
  int pos = positions ? positions[t] : 0;
  int halfDim = headDim / 2;
  if (slot >= 0) {
    int64_t block = slot / blockSize, off = slot % blockSize;
    const T *kRow = k + t * kStride;
    for (int idx = threadIdx.x; idx < numKvHeads * halfDim; idx += blockDim.x) {
      int h = idx / halfDim, j = idx % halfDim, a, b, freq;
      pairOf(rope, j, a, b, freq);
      float xa = toFloat<T>(kRow[h * headDim + a]), xb = toFloat<T>(kRow[h * headDim + b]);
      if (freq >= 0)
        rotatePair<T>(rope, freq, pos, xa, xb);
      T *dst = kCache + ((block * numKvHeads + h) * blockSize + off) * headDim;
      dst[a] = fromFloat<T>(xa);
      dst[b] = fromFloat<T>(xb);
    }
    const uint4 *vRow = reinterpret_cast<const uint4 *>(v + t * vStride);
    int chunks = headDim / 8;
    for (int idx = threadIdx.x; idx < numKvHeads * chunks; idx += blockDim.x) {
      int h = idx / chunks, c = idx % chunks;
      uint4 *dst = reinterpret_cast<uint4 *>(
          vCache + ((block * numKvHeads + h) * blockSize + off) * headDim);
      dst[c] = vRow[idx];
    }
  }
  if (q != nullptr && rope.style != int(RopeStyle::None)) {
    T *qRow = q + t * qStride;
    int rotPairs = rope.rotaryDim / 2;
    for (int idx = threadIdx.x; idx < numHeads * rotPairs; idx += blockDim.x) {
      int h = idx / rotPairs, j = idx % rotPairs, a, b, freq;
      pairOf(rope, j, a, b, freq);
      float xa = toFloat<T>(qRow[h * headDim + a]), xb = toFloat<T>(qRow[h * headDim + b]);
      rotatePair<T>(rope, freq, pos, xa, xb);
      qRow[h * headDim + a] = fromFloat<T>(xa);
      qRow[h * headDim + b] = fromFloat<T>(xb);
    }
  }
}

bool aligned16(const void *p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

Status invalid(const std::string &what) {
  return Error(ErrorCode::InvalidArgument, "writeKvCache: " + what);
}

} // namespace

Status writeKvCache(const PagedKvLayout &layout, void *kCache, void *vCache,
                    const KvWriteArgs &args, const KvWriteBatch &batch, const RopeParams &rope,
                    cudaStream_t stream) {
  if (layout.type == ElementType::F32)
    return Error(ErrorCode::Unsupported, "writeKvCache: the KV cache must be f16 or bf16");
  if (layout.headDim <= 0 || layout.headDim % 8 != 0 || layout.numKvHeads <= 0 ||
      layout.blockSize <= 0 || (layout.blockSize & (layout.blockSize - 1)) != 0)
    return invalid("bad KV layout (headDim a positive multiple of 8, blockSize a power of two)");
  if (batch.numTokens < 0 || (batch.numTokens > 0 && !batch.slotMapping))
    return invalid("numTokens must be >= 0 and slotMapping set");
  if (!kCache || !vCache || !args.k || !args.v)
    return invalid("null cache or K/V pointer");
  if (!aligned16(vCache) || !aligned16(args.v) || args.vRowStride % 8 != 0)
    return invalid("V and the V cache must be 16-byte aligned, V's row stride a multiple of 8");
  int64_t kvWidth = int64_t(layout.numKvHeads) * layout.headDim;
  if (args.kRowStride < kvWidth || args.vRowStride < kvWidth)
    return invalid("K/V row stride is smaller than numKvHeads * headDim");
  if (rope.style != RopeStyle::None) {
    if (rope.rotaryDim <= 0 || rope.rotaryDim % 2 != 0 || rope.rotaryDim > layout.headDim ||
        !(rope.theta > 0.0f))
      return invalid("RoPE needs an even rotaryDim in (0, headDim] and theta > 0");
    if (!batch.positions)
      return invalid("RoPE needs positions");
  }
  if (args.q && (args.numHeads <= 0 ||
                 args.qRowStride < int64_t(args.numHeads) * layout.headDim))
    return invalid("q given with a bad numHeads or row stride");
  if (batch.numTokens == 0)
    return Status::success();
  RopeDevice r{int(rope.style), rope.theta, rope.rotaryDim};
  dim3 grid(batch.numTokens), block(128);
  if (layout.type == ElementType::F16) {
    writeKvKernel<__half><<<grid, block, 0, stream>>>(
        static_cast<__half *>(kCache), static_cast<__half *>(vCache),
        static_cast<const __half *>(args.k), args.kRowStride, static_cast<const __half *>(args.v),
        args.vRowStride, static_cast<__half *>(args.q), args.qRowStride, args.numHeads,
        batch.slotMapping, batch.positions, layout.numKvHeads, layout.blockSize, layout.headDim,
        r);
  } else {
    writeKvKernel<__nv_bfloat16><<<grid, block, 0, stream>>>(
        static_cast<__nv_bfloat16 *>(kCache), static_cast<__nv_bfloat16 *>(vCache),
        static_cast<const __nv_bfloat16 *>(args.k), args.kRowStride,
        static_cast<const __nv_bfloat16 *>(args.v), args.vRowStride,
        static_cast<__nv_bfloat16 *>(args.q), args.qRowStride, args.numHeads, batch.slotMapping,
        batch.positions, layout.numKvHeads, layout.blockSize, layout.headDim, r);
  }
  MODELRT_LAUNCH_TRY("writeKvKernel");
  return Status::success();
}

} // namespace modelrt::cuda
