#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/ExecutorKernels.h"

#include <algorithm>

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

// One thread per row of router logits (see moeRoute). The k picks walk the experts in
// (probability descending, index ascending) order: pick j is the best expert strictly
// after pick j - 1 in that order, so no chosen set is kept.
template <typename T>
__global__ void moeRouteKernel(const T *__restrict__ logits, int64_t stride, int64_t rows,
                               MoeRouting c, int32_t *__restrict__ experts,
                               float *__restrict__ weights, int32_t *__restrict__ counts) {
  const int64_t r = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (r >= rows)
    return;
  const T *l = logits + r * stride;
  float max = -INFINITY;
  for (int64_t e = 0; e < c.numExperts; ++e)
    max = fmaxf(max, toFloat(l[e]));
  float sum = 0.0f;
  for (int64_t e = 0; e < c.numExperts; ++e)
    sum += expf(toFloat(l[e]) - max);
  int32_t chosen[kMaxMoeTopK];
  float w[kMaxMoeTopK];
  float prevP = INFINITY;
  int64_t prev = -1;
  for (int64_t j = 0; j < c.topK; ++j) {
    int64_t best = -1;
    float bestP = 0.0f;
    for (int64_t e = 0; e < c.numExperts; ++e) {
      const float p = expf(toFloat(l[e]) - max) / sum;
      const bool after = p < prevP || (p == prevP && e > prev);
      if (after && (best < 0 || p > bestP)) {
        best = e;
        bestP = p;
      }
    }
    if (best < 0) { // a non-finite logit: no order; the lowest expert not chosen yet, as the CPU
      for (best = 0; best < c.numExperts; ++best) {
        bool taken = false;
        for (int64_t i = 0; i < j; ++i)
          taken = taken || chosen[i] == best;
        if (!taken)
          break;
      }
      bestP = expf(toFloat(l[best]) - max) / sum;
    }
    chosen[j] = int32_t(best);
    w[j] = bestP;
    prev = best;
    prevP = bestP;
  }
  if (c.normalize) {
    float total = 0.0f;
    for (int64_t j = 0; j < c.topK; ++j)
      total += w[j];
    for (int64_t j = 0; j < c.topK; ++j)
      w[j] /= total;
  }
  if (c.round)
    for (int64_t j = 0; j < c.topK; ++j)
      w[j] = toFloat(fromFloat<T>(w[j]));
  for (int64_t j = 0; j < c.topK; ++j) {
    experts[r * c.topK + j] = chosen[j];
    weights[r * c.topK + j] = w[j];
    atomicAdd(counts + chosen[j], 1);
  }
}

// One warp per expert: its list starts after the earlier experts' counts; the warp scans
// the pairs 32 at a time and places its own in order (a ballot per chunk).
__global__ void moeGroupKernel(const int32_t *__restrict__ experts, int64_t pairs, int64_t topK,
                               int64_t numExperts, const int32_t *__restrict__ counts,
                               int32_t *__restrict__ offsets, int32_t *__restrict__ tokenOf,
                               int32_t *__restrict__ positionOf) {
  const int32_t e = int32_t(blockIdx.x), lane = int32_t(threadIdx.x);
  int64_t start = 0;
  for (int64_t i = lane; i < e; i += 32)
    start += counts[i];
  for (int offset = 16; offset > 0; offset /= 2)
    start += __shfl_xor_sync(0xffffffffu, start, offset);
  if (lane == 0) {
    offsets[e] = int32_t(start);
    if (e == numExperts - 1)
      offsets[numExperts] = int32_t(start + counts[e]);
  }
  const unsigned below = (1u << lane) - 1u;
  for (int64_t base = 0; base < pairs; base += 32) {
    const int64_t p = base + lane;
    const bool mine = p < pairs && experts[p] == e;
    const unsigned mask = __ballot_sync(0xffffffffu, mine);
    if (mine) {
      const int64_t q = start + __popc(mask & below);
      tokenOf[q] = int32_t(p / topK);
      positionOf[p] = int32_t(q);
    }
    start += __popc(mask);
  }
}

template <typename T>
__global__ void moeSiluGateKernel(T *__restrict__ gate, const T *__restrict__ up, int64_t n,
                                  MoeActivation a) {
  auto r = [](float x) { return toFloat(fromFloat<T>(x)); };
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float g = toFloat(gate[i]);
    if (a.swigluLimit > 0.0f) {
      // Comparisons rather than fminf/fmaxf, which would turn a NaN into the limit (torch's
      // clamp and the CPU executor keep it).
      const float u = toFloat(up[i]), L = a.swigluLimit;
      const float gc = g > L ? L : g;
      const float uc = u > L ? L : u < -L ? -L : u;
      const float glu = r(gc * r(1.0f / (1.0f + expf(-r(gc * a.swigluAlpha)))));
      gate[i] = fromFloat<T>(r(uc + 1.0f) * glu);
    } else {
      const float act = r(g / (1.0f + expf(-g)));
      gate[i] = fromFloat<T>(act * toFloat(up[i]));
    }
  }
}

// One block per row; threads stride the columns.
template <typename T>
__global__ void moeCombineKernel(const T *__restrict__ y, int64_t width,
                                 const int32_t *__restrict__ positionOf,
                                 const float *__restrict__ weights, int64_t topK, bool roundTerms,
                                 T *__restrict__ out, int64_t outStride, MoeShared shared) {
  const int64_t r = blockIdx.x;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j < topK; ++j) {
      const int64_t q = positionOf[r * topK + j];
      float term = weights[r * topK + j] * toFloat(y[q * width + c]);
      if (roundTerms)
        term = toFloat(fromFloat<T>(term));
      acc += term;
    }
    if (shared.shared) {
      float scale = 1.0f;
      if (shared.gate) {
        const float g = toFloat(static_cast<const T *>(shared.gate)[r * shared.gateStride]);
        scale = toFloat(fromFloat<T>(1.0f / (1.0f + expf(-g))));
      }
      const float term = toFloat(fromFloat<T>(
          scale * toFloat(static_cast<const T *>(shared.shared)[r * shared.sharedStride + c])));
      acc = toFloat(fromFloat<T>(acc)) + term;
    }
    out[r * outStride + c] = fromFloat<T>(acc);
  }
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

Status moeRoute(ElementType type, const void *logits, int64_t stride, int64_t rows,
                const MoeRouting &routing, int32_t *experts, float *weights, int32_t *counts,
                cudaStream_t stream) {
  if (rows < 0 || rows > INT32_MAX || routing.numExperts < 1 || routing.numExperts > 4096 ||
      routing.topK < 1 || routing.topK > std::min(routing.numExperts, kMaxMoeTopK) ||
      stride < routing.numExperts)
    return invalid("moeRoute", "bad shape");
  if (rows == 0)
    return Status::success();
  if (!logits || !experts || !weights || !counts)
    return invalid("moeRoute", "null pointer");
  dispatch(type, [&](auto t) {
    using T = decltype(t);
    moeRouteKernel<T><<<unsigned((rows + 127) / 128), 128, 0, stream>>>(
        static_cast<const T *>(logits), stride, rows, routing, experts, weights, counts);
  });
  MODELRT_LAUNCH_TRY("moeRouteKernel");
  return Status::success();
}

Status moeGroup(const int32_t *experts, int64_t rows, int64_t topK, int64_t numExperts,
                const int32_t *counts, int32_t *offsets, int32_t *tokenOf, int32_t *positionOf,
                cudaStream_t stream) {
  if (rows < 0 || topK < 1 || rows * topK > INT32_MAX || numExperts < 1 || numExperts > 4096)
    return invalid("moeGroup", "bad shape");
  if (!experts || !counts || !offsets || !tokenOf || !positionOf)
    return invalid("moeGroup", "null pointer");
  moeGroupKernel<<<unsigned(numExperts), 32, 0, stream>>>(experts, rows * topK, topK, numExperts,
                                                          counts, offsets, tokenOf, positionOf);
  MODELRT_LAUNCH_TRY("moeGroupKernel");
  return Status::success();
}

Status moeSiluGate(ElementType type, void *gate, const void *up, int64_t n,
                   const MoeActivation &activation, cudaStream_t stream) {
  if (n < 0)
    return invalid("moeSiluGate", "bad shape");
  if (n == 0)
    return Status::success();
  if (!gate || !up)
    return invalid("moeSiluGate", "null pointer");
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 65536));
  dispatch(type, [&](auto t) {
    using T = decltype(t);
    moeSiluGateKernel<T><<<blocks, 256, 0, stream>>>(static_cast<T *>(gate),
                                                     static_cast<const T *>(up), n, activation);
  });
  MODELRT_LAUNCH_TRY("moeSiluGateKernel");
  return Status::success();
}

Status moeCombine(ElementType type, const void *y, int64_t width, const int32_t *positionOf,
                  const float *weights, int64_t rows, int64_t topK, bool roundTerms, void *out,
                  int64_t outStride, const MoeShared &shared, cudaStream_t stream) {
  if (rows < 0 || rows > INT32_MAX || width <= 0 || topK < 1 || outStride < width)
    return invalid("moeCombine", "bad shape");
  if (rows == 0)
    return Status::success();
  if (!y || !positionOf || !weights || !out)
    return invalid("moeCombine", "null pointer");
  dispatch(type, [&](auto t) {
    using T = decltype(t);
    moeCombineKernel<T><<<unsigned(rows), threadsFor(width), 0, stream>>>(
        static_cast<const T *>(y), width, positionOf, weights, topK, roundTerms,
        static_cast<T *>(out), outStride, shared);
  });
  MODELRT_LAUNCH_TRY("moeCombineKernel");
  return Status::success();
}

} // namespace modelrt::cuda
