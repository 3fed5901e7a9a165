#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/ExecutorKernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace modelrt::cuda {

namespace {

template <typename T> __device__ __forceinline__ float toFloat(T x);
template <> __device__ __forceinline__ float toFloat(float x) { return x; }
template <> __device__ __forceinline__ float toFloat(__half x) { return __half2float(x); }
template <> __device__ __forceinline__ float toFloat(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <typename T> __device__ __forceinline__ T fromFloat(float x);
template <> __device__ __forceinline__ float fromFloat(float x) { return x; }
template <> __device__ __forceinline__ __half fromFloat(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 fromFloat(float x) {
  return __float2bfloat16_rn(x);
}

// One block per row; threads stride the columns.
template <typename T>
__global__ void gatherTableKernel(const T *__restrict__ table, int64_t tableRows, int64_t width,
                                  const int32_t *__restrict__ ids, int64_t rowOffset,
                                  T *__restrict__ dst, int64_t dstStride) {
  const int64_t r = blockIdx.x;
  int64_t id = ids[r] - (rowOffset > 0 ? rowOffset : 0);
  T *out = dst + r * dstStride;
  const bool inside = id >= 0 && id < tableRows;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x)
    out[c] = inside ? table[id * width + c] : fromFloat<T>(0.0f);
}

template <typename T>
__global__ void gatherValueKernel(const T *__restrict__ src, int64_t srcStride,
                                  const int32_t *__restrict__ ids, int64_t width,
                                  T *__restrict__ dst, int64_t dstStride) {
  const int64_t r = blockIdx.x;
  const T *in = src + int64_t(ids[r]) * srcStride;
  T *out = dst + r * dstStride;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x)
    out[c] = in[c];
}

// Pair (a, b) of a head, holding xa and xb, rotated by pos * invFreq.
template <typename T>
__device__ __forceinline__ void rotatePair(T *y, int64_t a, int64_t b, float xa, float xb,
                                           float angle, float magnitude) {
  float s, c;
  sincosf(angle, &s, &c);
  s *= magnitude; // as the reference scales its cos and sin tables
  c *= magnitude;
  y[a] = fromFloat<T>(xa * c - xb * s);
  y[b] = fromFloat<T>(xb * c + xa * s);
}

// One block per row; thread j handles pair j of every head, then the unrotated tail.
template <typename T>
__global__ void ropeKernel(const T *__restrict__ src, int64_t srcStride, T *__restrict__ dst,
                           int64_t dstStride, RopeLaunch rope) {
  const int64_t r = blockIdx.x;
  const T *x = src + r * srcStride;
  T *y = dst + r * dstStride;
  const float pos = float(rope.positions[r]);
  for (int64_t j = threadIdx.x; j < rope.numHeads * rope.pairs; j += blockDim.x) {
    const int64_t h = j / rope.pairs, i = j % rope.pairs;
    const int64_t a = h * rope.headDim + (rope.interleaved ? 2 * i : i);
    const int64_t b = h * rope.headDim + (rope.interleaved ? 2 * i + 1 : i + rope.pairs);
    rotatePair(y, a, b, toFloat(x[a]), toFloat(x[b]), pos * rope.invFreq[i], rope.magnitude);
  }
  const int64_t tail = rope.headDim - 2 * rope.pairs;
  for (int64_t j = threadIdx.x; j < rope.numHeads * tail; j += blockDim.x) {
    const int64_t at = (j / tail) * rope.headDim + 2 * rope.pairs + j % tail;
    y[at] = x[at];
  }
}

// With a per-head RMSNorm first: one warp per head (warps stride the heads); the warp sums
// the head's squares, then each lane normalizes, scales and rotates its pairs.
template <typename T>
__global__ void ropeNormKernel(const T *__restrict__ src, int64_t srcStride, T *__restrict__ dst,
                               int64_t dstStride, RopeLaunch rope) {
  const int64_t r = blockIdx.x;
  const T *x = src + r * srcStride;
  T *y = dst + r * dstStride;
  const T *w = static_cast<const T *>(rope.normWeight);
  const float pos = float(rope.positions[r]);
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int64_t h = threadIdx.x >> 5; h < rope.numHeads; h += warps) {
    const T *xh = x + h * rope.headDim;
    T *yh = y + h * rope.headDim;
    float sum = 0.0f;
    for (int64_t j = lane; j < rope.headDim; j += 32) {
      const float v = toFloat(xh[j]);
      sum += v * v;
    }
    for (int o = 16; o > 0; o >>= 1)
      sum += __shfl_xor_sync(0xffffffffu, sum, o);
    const float scale = 1.0f / sqrtf(sum / float(rope.headDim) + rope.normEps); // as torch.rsqrt
    auto normed = [&](int64_t j) {
      if (rope.gemmaNorm) // f32 throughout, rounded once: (offset + w) * (x / rms)
        return toFloat(
            fromFloat<T>((rope.normWeightOffset + toFloat(w[j])) * (toFloat(xh[j]) * scale)));
      return toFloat(fromFloat<T>(toFloat(w[j]) * toFloat(fromFloat<T>(toFloat(xh[j]) * scale))));
    };
    for (int64_t i = lane; i < rope.pairs; i += 32) {
      const int64_t a = rope.interleaved ? 2 * i : i;
      const int64_t b = rope.interleaved ? 2 * i + 1 : i + rope.pairs;
      rotatePair(yh, a, b, normed(a), normed(b), pos * rope.invFreq[i], rope.magnitude);
    }
    for (int64_t j = 2 * rope.pairs + lane; j < rope.headDim; j += 32)
      yh[j] = fromFloat<T>(normed(j));
  }
}

int threadsFor(int64_t width) {
  int threads = 32;
  while (threads < 256 && threads < width)
    threads *= 2;
  return threads;
}

Status invalid(const char *kernel, const char *what) {
  return Error(ErrorCode::InvalidArgument, std::string(kernel) + ": " + what);
}

// Calls f(T{}) with the element type's device type.
template <typename F> void dispatch(ElementType type, F &&f) {
  switch (type) {
  case ElementType::F32:
    f(float{});
    break;
  case ElementType::F16:
    f(__half{});
    break;
  case ElementType::BF16:
    f(__nv_bfloat16{});
    break;
  }
}

} // namespace

Status gatherTableRows(ElementType type, const void *table, int64_t tableRows, int64_t width,
                       const int32_t *ids, int64_t n, int64_t rowOffset, void *dst,
                       int64_t dstStride, cudaStream_t stream) {
  if (n < 0 || n > INT32_MAX || width <= 0 || dstStride < width || tableRows <= 0)
    return invalid("gatherTableRows", "bad shape");
  if (n == 0)
    return Status::success();
  if (!table || !ids || !dst)
    return invalid("gatherTableRows", "null pointer");
  dispatch(type, [&](auto t) {
    using T = decltype(t);
    gatherTableKernel<T><<<unsigned(n), threadsFor(width), 0, stream>>>(
        static_cast<const T *>(table), tableRows, width, ids, rowOffset, static_cast<T *>(dst),
        dstStride);
  });
  MODELRT_LAUNCH_TRY("gatherTableKernel");
  return Status::success();
}

Status gatherValueRows(ElementType type, const void *src, int64_t srcStride, const int32_t *ids,
                       int64_t n, int64_t width, void *dst, int64_t dstStride,
                       cudaStream_t stream) {
  if (n < 0 || n > INT32_MAX || width <= 0 || srcStride < width || dstStride < width)
    return invalid("gatherValueRows", "bad shape");
  if (n == 0)
    return Status::success();
  if (!src || !ids || !dst)
    return invalid("gatherValueRows", "null pointer");
  dispatch(type, [&](auto t) {
    using T = decltype(t);
    gatherValueKernel<T><<<unsigned(n), threadsFor(width), 0, stream>>>(
        static_cast<const T *>(src), srcStride, ids, width, static_cast<T *>(dst), dstStride);
  });
  MODELRT_LAUNCH_TRY("gatherValueKernel");
  return Status::success();
}

Status rotaryEmbedding(ElementType type, const void *src, int64_t srcStride, void *dst,
                       int64_t dstStride, const RopeLaunch &rope, cudaStream_t stream) {
  const int64_t width = rope.numHeads * rope.headDim;
  if (rope.rows < 0 || rope.rows > INT32_MAX || rope.numHeads <= 0 || rope.headDim <= 0 ||
      rope.pairs < 0 || 2 * rope.pairs > rope.headDim || srcStride < width || dstStride < width)
    return invalid("rotaryEmbedding", "bad shape");
  if (rope.rows == 0)
    return Status::success();
  if (!src || !dst || !rope.positions || (rope.pairs > 0 && !rope.invFreq))
    return invalid("rotaryEmbedding", "null pointer");
  if (rope.normWeight && !(rope.normEps > 0.0f))
    return invalid("rotaryEmbedding", "the head norm's epsilon must be positive");
  dispatch(type, [&](auto t) {
    using T = decltype(t);
    if (rope.normWeight)
      ropeNormKernel<T>
          <<<unsigned(rope.rows), int(std::min<int64_t>(rope.numHeads, 8) * 32), 0, stream>>>(
              static_cast<const T *>(src), srcStride, static_cast<T *>(dst), dstStride, rope);
    else
      ropeKernel<T><<<unsigned(rope.rows), threadsFor(rope.numHeads * rope.pairs), 0, stream>>>(
          static_cast<const T *>(src), srcStride, static_cast<T *>(dst), dstStride, rope);
  });
  MODELRT_LAUNCH_TRY("ropeKernel");
  return Status::success();
}

} // namespace modelrt::cuda
