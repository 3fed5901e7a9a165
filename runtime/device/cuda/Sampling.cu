// Sampling kernel: one block of 1024 threads per row. Passes over the row (from L2 for
// typical vocabularies): max / argmax / log-sum-exp; then, only where a filter is on, radix
// selects over the order-preserving bits of the logits (four 8-bit digits) find the top-k
// threshold by count and the top-p threshold by probability mass; a last pass takes the
// Gumbel-max draw among the tokens at or above the threshold. A top-k set of at most 1024
// tokens is instead gathered into shared memory after its radix select and sorted there,
// and top-p, min-p and the draw run on it: 6 passes over the row for top-k + top-p, not 11.
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/Sampling.h"

#include <curand_kernel.h>

namespace modelrt::cuda {

namespace {

constexpr int kThreads = 1024, kWarps = kThreads / 32;
constexpr int kMaxCandidates = kThreads; // top-k sets drawn from shared memory: one per thread

__device__ __forceinline__ uint32_t floatKey(float x) {
  uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

struct SampleShared {
  float hist[kWarps][256]; // per-warp histograms: fewer atomic collisions
  float total[256];
  float redF[kWarps];
  int redI[kWarps];
  uint32_t chosenKey;
  float chosenAbove;
  int candCount[2];
  float candVal[2][kMaxTopLogprobs];
  int candIdx[2][kMaxTopLogprobs];
  // A top-k set: (key << 32 | ~token id), sorted descending: logit down, then id up.
  unsigned long long topSet[kMaxCandidates];
  int topSetSize;
};

__device__ float blockSum(float v, SampleShared &sh) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if ((threadIdx.x & 31) == 0)
    sh.redF[threadIdx.x >> 5] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kWarps; ++w)
    total += sh.redF[w];
  return total;
}

// Inclusive prefix sum over the block's threads in thread order (fixed order: the same bits
// every run).
__device__ float blockInclusiveSum(float v, SampleShared &sh) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int o = 1; o < 32; o <<= 1) {
    const float n = __shfl_up_sync(0xffffffffu, v, o);
    if (lane >= o)
      v += n;
  }
  __syncthreads();
  if (lane == 31)
    sh.redF[warp] = v;
  __syncthreads();
  float before = 0.0f;
  for (int w = 0; w < warp; ++w)
    before += sh.redF[w];
  return v + before;
}

// Block-wide max of (value, index), ties to the lower index.
__device__ void blockArgmax(float &v, int &idx, SampleShared &sh) {
  for (int o = 16; o > 0; o >>= 1) {
    float ov = __shfl_xor_sync(0xffffffffu, v, o);
    int oi = __shfl_xor_sync(0xffffffffu, idx, o);
    if (ov > v || (ov == v && oi < idx)) {
      v = ov;
      idx = oi;
    }
  }
  __syncthreads();
  if ((threadIdx.x & 31) == 0) {
    sh.redF[threadIdx.x >> 5] = v;
    sh.redI[threadIdx.x >> 5] = idx;
  }
  __syncthreads();
  v = sh.redF[0];
  idx = sh.redI[0];
  for (int w = 1; w < kWarps; ++w)
    if (sh.redF[w] > v || (sh.redF[w] == v && sh.redI[w] < idx)) {
      v = sh.redF[w];
      idx = sh.redI[w];
    }
}

// Largest key t with weight(key >= t) >= target, over elements with key >= floorKey.
// Weight 1 (counting: the target-th largest) or exp((x - maxLogit) * invTemp) (mass).
template <bool kMass>
__device__ uint32_t radixSelect(const float *row, int vocab, uint32_t floorKey, float target,
                                float maxLogit, float invTempLog2e, SampleShared &sh) {
  const int tid = threadIdx.x, warp = tid >> 5;
  uint32_t prefix = 0, mask = 0;
  float above = 0.0f;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = tid; i < kWarps * 256; i += kThreads)
      (&sh.hist[0][0])[i] = 0.0f;
    __syncthreads();
    for (int i = tid; i < vocab; i += kThreads) {
      float x = row[i];
      uint32_t key = floatKey(x);
      if ((key & mask) == prefix && key >= floorKey) {
        float w = kMass ? exp2f((x - maxLogit) * invTempLog2e) : 1.0f;
        atomicAdd(&sh.hist[warp][(key >> shift) & 255u], w);
      }
    }
    __syncthreads();
    if (tid < 256) {
      float s = 0.0f;
      for (int w = 0; w < kWarps; ++w)
        s += sh.hist[w][tid];
      sh.total[tid] = s;
    }
    __syncthreads();
    if (tid == 0) {
      float cum = above;
      int d = 255;
      for (; d > 0; --d) {
        if (cum + sh.total[d] >= target)
          break;
        cum += sh.total[d];
      }
      sh.chosenKey = prefix | (uint32_t(d) << shift);
      sh.chosenAbove = cum;
    }
    __syncthreads();
    prefix = sh.chosenKey;
    above = sh.chosenAbove;
    mask |= 255u << shift;
    __syncthreads();
  }
  return prefix;
}

__device__ __forceinline__ float uniformNoise(uint64_t seed, uint64_t step, int i) {
  uint4 r = curand_Philox4x32_10(make_uint4(uint32_t(i), 0u, uint32_t(step), uint32_t(step >> 32)),
                                 make_uint2(uint32_t(seed), uint32_t(seed >> 32)));
  return (float(r.x >> 8) + 0.5f) * (1.0f / 16777216.0f); // in (0, 1)
}
// Token i's Gumbel-max score, x / T + g: both draws (the passes over the row and the top-k
// set) use this one expression, so they pick the same token from the same kept set.
__device__ __forceinline__ float gumbelScore(float x, float invTemp, uint64_t seed, uint64_t step,
                                             int i) {
  return x * invTemp + -logf(-logf(uniformNoise(seed, step, i)));
}

// Sorts sh.topSet[0, n) descending (n <= kThreads): bitonic over the next power of two,
// padded with zeros, which sort last. Call from every thread.
__device__ void sortTopSet(int n, SampleShared &sh) {
  const int tid = threadIdx.x;
  int size = 2;
  while (size < n)
    size <<= 1;
  if (tid >= n && tid < size)
    sh.topSet[tid] = 0;
  __syncthreads();
  for (int k = 2; k <= size; k <<= 1)
    for (int j = k >> 1; j > 0; j >>= 1) {
      const int partner = tid ^ j;
      if (tid < size && partner > tid) {
        const unsigned long long a = sh.topSet[tid], b = sh.topSet[partner];
        if ((tid & k) == 0 ? a < b : a > b) { // descending runs where bit k is clear
          sh.topSet[tid] = b;
          sh.topSet[partner] = a;
        }
      }
      __syncthreads();
    }
}

// The draw when top-k (its threshold floorKey) leaves at most kMaxCandidates tokens: gathers
// them into shared memory, sorts them by (logit desc, id asc), applies top-p (the first of
// them whose cumulative probability mass reaches topP of the set's, ties at its logit kept)
// and min-p there, and takes the Gumbel-max draw with the noise of the full pass (keyed by
// token id), so the same tokens are kept and drawn. Returns false, having drawn nothing,
// when ties put more tokens than that at or above the threshold.
__device__ bool drawFromTopSet(const float *row, int vocab, uint32_t floorKey, float maxLogit,
                               float temp, float invTemp, float invTempLog2e, float topP,
                               float minP, uint64_t seed, uint64_t step, SampleShared &sh,
                               int &token) {
  const int tid = threadIdx.x;
  if (tid == 0)
    sh.topSetSize = 0;
  __syncthreads();
  for (int i = tid; i < vocab; i += kThreads) {
    const uint32_t key = floatKey(row[i]);
    if (key >= floorKey) {
      const int slot = atomicAdd(&sh.topSetSize, 1);
      if (slot < kMaxCandidates)
        sh.topSet[slot] = (static_cast<unsigned long long>(key) << 32) | ~uint32_t(i);
    }
  }
  __syncthreads();
  const int n = sh.topSetSize;
  if (n > kMaxCandidates)
    return false;
  sortTopSet(n, sh);
  // Thread t holds the t-th largest.
  const bool has = tid < n;
  const unsigned long long entry = has ? sh.topSet[tid] : 0;
  const uint32_t key = uint32_t(entry >> 32);
  const int id = has ? int(~uint32_t(entry)) : 0;
  const float x = has ? row[id] : -INFINITY;
  uint32_t cut = floorKey;
  if (topP < 1.0f) {
    // NaN logits (x != x) weigh nothing and are never drawn, as in the full pass.
    const float w = has && x == x ? exp2f((x - maxLogit) * invTempLog2e) : 0.0f;
    const float cum = blockInclusiveSum(w, sh);
    if (tid == n - 1)
      sh.chosenAbove = cum; // the set's mass
    __syncthreads();
    float reaches = has && cum >= topP * sh.chosenAbove ? 1.0f : 0.0f;
    int first = tid;
    blockArgmax(reaches, first, sh); // the lowest such thread: the first in logit order
    cut = max(cut, uint32_t(sh.topSet[first] >> 32));
  }
  if (minP > 0.0f)
    cut = max(cut, floatKey(maxLogit + temp * logf(minP)));
  float best = -INFINITY;
  int bestIdx = 0x7fffffff;
  if (has && x == x && key >= cut) {
    best = gumbelScore(x, invTemp, seed, step, id);
    bestIdx = id;
  }
  blockArgmax(best, bestIdx, sh);
  if (bestIdx < vocab) // else (NaN logits) the caller's argmax stands
    token = bestIdx;
  return true;
}

__global__ void __launch_bounds__(kThreads)
    sampleKernel(const float *logits, int64_t rowStride, int vocab, SamplingParams params,
                 SamplingOutput out) {
  __shared__ SampleShared sh;
  const int b = blockIdx.x, tid = threadIdx.x;
  const float *row = logits + int64_t(b) * rowStride;

  // Pass 1: max, argmax and the log-normalizer of the raw logits.
  float m = -INFINITY, s = 0.0f;
  int arg = 0x7fffffff;
  for (int i = tid; i < vocab; i += kThreads) {
    float x = row[i];
    if (x > m) {
      s = s * __expf(m - x) + 1.0f;
      m = x;
      arg = i;
    } else {
      s += __expf(x - m);
    }
  }
  float maxLogit = m;
  int argmax = arg;
  blockArgmax(maxLogit, argmax, sh);
  float logZ = maxLogit + logf(blockSum(m == -INFINITY ? 0.0f : s * __expf(m - maxLogit), sh));

  const float temp = params.temperature[b];
  int token = argmax;
  if (temp > 0.0f) {
    const float invTemp = 1.0f / temp, invTempLog2e = invTemp * 1.4426950408889634f;
    uint32_t floorKey = 0;
    const int topK = params.topK ? params.topK[b] : 0;
    const float topP = params.topP ? params.topP[b] : 1.0f;
    const float minP = params.minP ? params.minP[b] : 0.0f;
    const uint64_t seed = params.seed ? params.seed[b] : 0, step = params.step ? params.step[b] : 0;
    const bool topKOn = topK > 0 && topK < vocab;
    if (topKOn)
      floorKey = radixSelect<false>(row, vocab, 0, float(topK), maxLogit, 0.0f, sh);
    if (!(topKOn && topK <= kMaxCandidates &&
          drawFromTopSet(row, vocab, floorKey, maxLogit, temp, invTemp, invTempLog2e, topP, minP,
                         seed, step, sh, token))) {
      if (topP < 1.0f) {
        float mass = 0.0f;
        for (int i = tid; i < vocab; i += kThreads) {
          float x = row[i];
          if (floatKey(x) >= floorKey)
            mass += exp2f((x - maxLogit) * invTempLog2e);
        }
        mass = blockSum(mass, sh);
        uint32_t pKey =
            radixSelect<true>(row, vocab, floorKey, topP * mass, maxLogit, invTempLog2e, sh);
        floorKey = max(floorKey, pKey);
      }
      if (minP > 0.0f)
        floorKey = max(floorKey, floatKey(maxLogit + temp * logf(minP)));

      float best = -INFINITY;
      int bestIdx = 0x7fffffff;
      for (int i = tid; i < vocab; i += kThreads) {
        float x = row[i];
        if (floatKey(x) >= floorKey) {
          const float v = gumbelScore(x, invTemp, seed, step, i);
          if (v > best) {
            best = v;
            bestIdx = i;
          }
        }
      }
      blockArgmax(best, bestIdx, sh);
      token = bestIdx < vocab ? bestIdx : argmax; // the max logit always passes every filter
    }
  }

  if (token < 0 || token >= vocab)
    token = 0; // a row of NaNs has no argmax
  if (tid == 0) {
    out.tokens[b] = token;
    if (out.logprobs)
      out.logprobs[b] = row[token] - logZ;
  }
  if (out.numTop > 0 && out.topIds) {
    const int n = min(out.numTop, vocab);
    uint32_t nthKey = radixSelect<false>(row, vocab, 0, float(n), maxLogit, 0.0f, sh);
    if (tid < 2)
      sh.candCount[tid] = 0;
    __syncthreads();
    for (int i = tid; i < vocab; i += kThreads) {
      float x = row[i];
      uint32_t key = floatKey(x);
      if (key >= nthKey) {
        int list = key > nthKey ? 0 : 1; // strictly above: fewer than n of them
        int slot = atomicAdd(&sh.candCount[list], 1);
        if (slot < n) {
          sh.candVal[list][slot] = x;
          sh.candIdx[list][slot] = i;
        }
      }
    }
    __syncthreads();
    if (tid == 0) {
      // Fewer than 2 * kMaxTopLogprobs candidates: insertion sort by (value desc, id asc).
      float val[2 * kMaxTopLogprobs];
      int idx[2 * kMaxTopLogprobs];
      int c = 0;
      for (int list = 0; list < 2; ++list)
        for (int j = 0; j < min(sh.candCount[list], n); ++j) {
          float v = sh.candVal[list][j];
          int id = sh.candIdx[list][j];
          int k = c++;
          while (k > 0 && (val[k - 1] < v || (val[k - 1] == v && idx[k - 1] > id))) {
            val[k] = val[k - 1];
            idx[k] = idx[k - 1];
            --k;
          }
          val[k] = v;
          idx[k] = id;
        }
      for (int j = 0; j < n; ++j) {
        out.topIds[int64_t(b) * out.numTop + j] = idx[j];
        out.topLogprobs[int64_t(b) * out.numTop + j] = val[j] - logZ;
      }
    }
  }
}

} // namespace

Status sampleTokens(const float *logits, int64_t rowStride, int32_t batch, int32_t vocab,
                    const SamplingParams &params, const SamplingOutput &output,
                    cudaStream_t stream) {
  auto invalid = [](const char *what) {
    return Error(ErrorCode::InvalidArgument, std::string("sampleTokens: ") + what);
  };
  if (batch < 0 || vocab <= 0 || rowStride < vocab)
    return invalid("need batch >= 0, vocab > 0 and rowStride >= vocab");
  if (batch == 0)
    return Status::success();
  if (!logits || !output.tokens || !params.temperature)
    return invalid("logits, tokens and temperature must be set");
  if (output.numTop < 0 || output.numTop > kMaxTopLogprobs ||
      (output.numTop > 0 && (!output.topIds || !output.topLogprobs)))
    return invalid("numTop must be in [0, 20] with topIds and topLogprobs set");
  sampleKernel<<<batch, kThreads, 0, stream>>>(logits, rowStride, vocab, params, output);
  MODELRT_LAUNCH_TRY("sampleKernel");
  return Status::success();
}

} // namespace modelrt::cuda
