// Paged decode attention: one query row per request, bound by reading K and V once.
// A thread block handles one (request, kv head, tile of up to 8 query heads sharing it,
// context split). Its warps walk the split's tokens independently, with no shared memory
// and no barrier in the loop: a group of lanes owns one token at a time (one lane per 16
// bytes of the head), loads that token's K and V rows straight from the paged cache with
// 16-byte loads, several tokens per step so that many loads are in flight, reduces the
// q.k dot products with shuffles and keeps an online softmax (f32, log2 domain) and the
// output slice in registers. The lane groups, then the warps (through shared memory) merge
// their (max, sum, output) at the end. With several splits each block writes its partial
// (max, sum, unnormalized output) and mergeSplitsKernel combines them.
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/DecodeMmaLayout.h"
#include "runtime/device/cuda/DeviceMath.cuh"
#include "runtime/device/cuda/DeviceMma.cuh"
#include "runtime/device/cuda/RequestScan.cuh"

#include <algorithm>
#include <cstdint>
#include <type_traits>

namespace modelrt::cuda {

namespace {

constexpr int kDecodeWarps = 4;
constexpr int kDecodeThreads = kDecodeWarps * 32;
constexpr int kDecodeTokensPerStep = 4; // tokens each lane group loads before using them

struct DecodeParams : PagedKernelParams {
  DecodeSplits splits; // the grid's splits (count); a request's own: decodeOwnSplits
  bool onlySingleRows; // serve only the requests with one query row (a mixed batch)
  int headTiles;       // query-head tiles per kv head: ceil(group / GT)
  // With several splits: request s's partials are slots splitStart[s] + split (a prefix
  // sum of the requests' own split counts, decodeSplitStartKernel), so the workspace
  // follows the batch's total context, not its size times its longest context.
  const int32_t *splitStart; // [numSeqs + 1]
  int maxSlots;              // slots the workspace holds (a guard: the host's bound)
  float *partialO;           // [slot][head][headDim]
  float *partialML;          // [slot][head][2]: max (log2 domain), sum
};

// The block's warps each hold (max, sum, unnormalized output) of their tokens for GT query
// heads in shared memory; merges them and writes the output, or the split's partial.
template <typename T, int HD, int GT>
__device__ __forceinline__ void
storeMergedWarps(const DecodeParams &p, const float (&wM)[kDecodeWarps][GT],
                 const float (&wL)[kDecodeWarps][GT], const float (&wAcc)[kDecodeWarps][GT][HD],
                 int seq, int kvh, int g0, int split, int ownSplits, int qRow) {
  const int G = p.group;
  for (int i = threadIdx.x; i < GT * HD; i += kDecodeThreads) {
    const int g = i / HD, d = i % HD;
    if (g0 + g >= G)
      break;
    float mMax = -INFINITY;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w)
      mMax = fmaxf(mMax, wM[w][g]);
    const float mUse = mMax == -INFINITY ? 0.0f : mMax;
    float sum = 0.0f, o = 0.0f;
#pragma unroll
    for (int w = 0; w < kDecodeWarps; ++w) {
      const float a = exp2Fast(wM[w][g] - mUse);
      sum += wL[w][g] * a;
      o += wAcc[w][g][d] * a;
    }
    const int head = kvh * G + g0 + g;
    if (ownSplits == 1) {
      T *out = static_cast<T *>(p.out) + int64_t(qRow) * p.outStride + int64_t(head) * HD;
      sum += sinkShare(p, head, mUse);
      out[d] = fromFloat<T>(sum > 0.0f ? o / sum : 0.0f);
    } else {
      const int slot = p.splitStart[seq] + split;
      if (slot >= p.maxSlots) // the host understated the batch's context: no partial
        continue;
      const int64_t idx = int64_t(slot) * p.numHeads + head;
      p.partialO[idx * HD + d] = o;
      if (d == 0) {
        p.partialML[idx * 2] = mMax;
        p.partialML[idx * 2 + 1] = sum;
      }
    }
  }
}

// The first position a decode row of context `ctx` attends (the sliding window's start).
__device__ __forceinline__ int decodeWindowStart(const DecodeParams &p, int ctx) {
  return p.window > 0 ? max(0, ctx - p.window) : 0;
}

// How many splits request `seq` (context `ctx`) takes, from the tokens of its window; -1
// for a request this launch does not serve (several query rows in a mixed batch: the
// prefill kernel's). A block whose split is past the count has nothing to do either. The
// decode kernels, the split table and the merge all count with this.
__device__ __forceinline__ int decodeOwnSplits(const DecodeParams &p, int seq, int ctx) {
  if (p.onlySingleRows && p.queryStart[seq + 1] - p.queryStart[seq] != 1)
    return -1;
  return decodeSplitsOf(ctx - decodeWindowStart(p, ctx), p.splits);
}

// Lanes per token: one per 16-byte chunk of a row, rounded up to a power of two.
template <int HD> constexpr int decodeLanesPerToken() { return HD / 8 <= 8 ? 8 : 16; }

// GT: query heads per block (a power of two >= the group when the group is <= 8). NT: tokens
// per lane group and step. MINB: blocks per multiprocessor the registers must allow (0: the
// compiler's choice). Issuing the next step's loads before this step's math (a prefetch) was
// slower on an H200: the registers it takes cost a block per multiprocessor.
template <typename T, int HD, int GT, int NT = kDecodeTokensPerStep, int MINB = 0>
__global__ void __launch_bounds__(kDecodeThreads, MINB) decodeKernel(DecodeParams p) {
  constexpr int kChunks = HD / 8;
  constexpr int kLpt = decodeLanesPerToken<HD>();
  constexpr int kGroups = 32 / kLpt; // tokens a warp holds at once
  constexpr int kNt = NT;
  constexpr int kStep = kGroups * kNt; // tokens per warp step
  __shared__ float wM[kDecodeWarps][GT], wL[kDecodeWarps][GT];
  __shared__ __align__(16) float wAcc[kDecodeWarps][GT][HD];

  const int seq = blockIdx.x, kvh = blockIdx.y / p.headTiles, tile = blockIdx.y % p.headTiles;
  const int split = blockIdx.z;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int grp = lane / kLpt, chunk = lane % kLpt;
  const bool active = chunk < kChunks;
  const int G = p.group, g0 = tile * GT;
  const int ctx = p.contextLen[seq];
  const int qRow = p.queryStart[seq];
  const int begin0 = decodeWindowStart(p, ctx);
  const int ownSplits = decodeOwnSplits(p, seq, ctx);
  if (split >= ownSplits) // also ownSplits == -1: the whole block leaves, before any barrier
    return;
  const int len = max(0, ctx - begin0);
  const int per = (len + ownSplits - 1) / ownSplits;
  const int begin = begin0 + split * per;
  const int end = min(ctx, begin + per);

  // This lane's 8 dims of each query head, scaled so that q.k is in the log2 domain.
  float q[GT][8];
  const T *qBase = static_cast<const T *>(p.q) + int64_t(qRow) * p.qStride;
#pragma unroll
  for (int g = 0; g < GT; ++g) {
    const int head = kvh * G + g0 + g;
    if (active && g0 + g < G) {
      unpack8<T>(*reinterpret_cast<const uint4 *>(qBase + int64_t(head) * HD + chunk * 8), q[g]);
#pragma unroll
      for (int j = 0; j < 8; ++j)
        q[g][j] *= p.scaleLog2;
    } else {
#pragma unroll
      for (int j = 0; j < 8; ++j)
        q[g][j] = 0.0f;
    }
  }
  float m[GT], l[GT], acc[GT][8];
#pragma unroll
  for (int g = 0; g < GT; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.0f;
#pragma unroll
    for (int j = 0; j < 8; ++j)
      acc[g][j] = 0.0f;
  }

  const T *kBase = static_cast<const T *>(p.kCache);
  const T *vBase = static_cast<const T *>(p.vCache);
  const int32_t *table = p.blockTable + int64_t(seq) * p.maxBlocksPerSeq;
  const int bsMask = (1 << p.blockSizeLog2) - 1;
  auto loadStep = [&](int s0, uint4(&kr)[kNt], uint4(&vr)[kNt]) {
#pragma unroll
    for (int i = 0; i < kNt; ++i) {
      const int pos = s0 + i * kGroups + grp;
      kr[i] = vr[i] = make_uint4(0, 0, 0, 0);
      if (pos < end && active) {
        const int64_t page = __ldg(table + (pos >> p.blockSizeLog2));
        const int64_t off =
            ((page * p.numKvHeads + kvh) << p.blockSizeLog2 | (pos & bsMask)) * HD + chunk * 8;
        kr[i] = ldStream16(kBase + off);
        vr[i] = ldStream16(vBase + off);
      }
    }
  };
  // The trip count is the same for every warp (it depends on the block alone), so the
  // compiler knows the shuffles below run converged; a bound that depends on the warp index
  // makes it wrap each one in WARPSYNC/ENDCOLLECTIVE (about 4x the instructions).
  const int numIters =
      end > begin ? (end - begin + kDecodeWarps * kStep - 1) / (kDecodeWarps * kStep) : 0;
  for (int it = 0; it < numIters; ++it) {
    const int s0 = begin + (it * kDecodeWarps + warp) * kStep;
    uint4 kr[kNt], vr[kNt];
    loadStep(s0, kr, vr);
    bool ok[kNt];
#pragma unroll
    for (int i = 0; i < kNt; ++i)
      ok[i] = s0 + i * kGroups + grp < end;
    float sc[kNt][GT];
#pragma unroll
    for (int i = 0; i < kNt; ++i) {
      float kf[8];
      unpack8<T>(kr[i], kf);
#pragma unroll
      for (int g = 0; g < GT; ++g) {
        float dot = 0.0f;
#pragma unroll
        for (int j = 0; j < 8; ++j)
          dot = fmaf(q[g][j], kf[j], dot);
#pragma unroll
        for (int o = kLpt / 2; o > 0; o >>= 1)
          dot += __shfl_xor_sync(0xffffffffu, dot, o);
        sc[i][g] = ok[i] ? dot : -INFINITY;
      }
    }
#pragma unroll
    for (int g = 0; g < GT; ++g) {
      float mx = sc[0][g];
#pragma unroll
      for (int i = 1; i < kNt; ++i)
        mx = fmaxf(mx, sc[i][g]);
      const float mNew = fmaxf(m[g], mx);
      const float mUse = mNew == -INFINITY ? 0.0f : mNew;
      const float alpha = exp2Fast(m[g] - mUse);
      m[g] = mNew;
      l[g] *= alpha;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        acc[g][j] *= alpha;
#pragma unroll
      for (int i = 0; i < kNt; ++i) {
        const float pr = exp2Fast(sc[i][g] - mUse);
        l[g] += pr;
        float vf[8];
        unpack8<T>(vr[i], vf);
#pragma unroll
        for (int j = 0; j < 8; ++j)
          acc[g][j] = fmaf(pr, vf[j], acc[g][j]);
      }
    }
  }

  // Merge the warp's lane groups (same chunk, different tokens), then the warps.
#pragma unroll
  for (int o = kLpt; o < 32; o <<= 1) {
#pragma unroll
    for (int g = 0; g < GT; ++g) {
      const float mo = __shfl_xor_sync(0xffffffffu, m[g], o);
      const float lo = __shfl_xor_sync(0xffffffffu, l[g], o);
      const float mNew = fmaxf(m[g], mo);
      const float mUse = mNew == -INFINITY ? 0.0f : mNew;
      const float a = exp2Fast(m[g] - mUse), b = exp2Fast(mo - mUse);
      m[g] = mNew;
      l[g] = l[g] * a + lo * b;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        acc[g][j] = acc[g][j] * a + __shfl_xor_sync(0xffffffffu, acc[g][j], o) * b;
    }
  }
  if (grp == 0 && active) {
#pragma unroll
    for (int g = 0; g < GT; ++g) {
#pragma unroll
      for (int j = 0; j < 8; ++j)
        wAcc[warp][g][chunk * 8 + j] = acc[g][j];
      if (chunk == 0) {
        wM[warp][g] = m[g];
        wL[warp][g] = l[g];
      }
    }
  }
  __syncthreads();
  storeMergedWarps<T, HD, GT>(p, wM, wL, wAcc, seq, kvh, g0, split, ownSplits, qRow);
}

// Loads `n` 32-bit words of a row, contiguous from `src`, with the widest loads its
// alignment allows (n % 4 == 0: 16-byte runs, n % 2 == 0: 8-byte, else 4-byte).
template <int N> __device__ __forceinline__ void loadWords(const void *src, uint32_t *dst) {
  if constexpr (N % 4 == 0) {
#pragma unroll
    for (int i = 0; i < N / 4; ++i) {
      const uint4 v = ldStream16(static_cast<const uint4 *>(src) + i);
      dst[4 * i] = v.x, dst[4 * i + 1] = v.y, dst[4 * i + 2] = v.z, dst[4 * i + 3] = v.w;
    }
  } else if constexpr (N % 2 == 0) {
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const uint2 v = ldStream8(static_cast<const uint2 *>(src) + i);
      dst[2 * i] = v.x, dst[2 * i + 1] = v.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i)
      dst[i] = ldStream4(static_cast<const uint32_t *>(src) + i);
  }
}

// A lane's K (or Q) registers of one row in the permuted order of decode_mma::Layout.
template <int HD>
__device__ __forceinline__ void loadKRow(const uint16_t *row, int t, uint32_t *r) {
  using L = decode_mma::Layout<HD>;
#pragma unroll
  for (int c = 0; c < L::kFullChunks; ++c)
    loadWords<4>(row + L::kDim(t, 4 * c), r + 4 * c);
  if constexpr (L::kTail)
    loadWords<2>(row + L::kDim(t, 4 * L::kFullChunks), r + 4 * L::kFullChunks);
}

// A lane's V registers of one row (decode_mma::Layout): kVWidth-word runs.
template <int HD>
__device__ __forceinline__ void loadVRow(const uint16_t *row, int g, uint32_t *r) {
  using L = decode_mma::Layout<HD>;
#pragma unroll
  for (int w = 0; w < L::kVRegs / L::kVWidth; ++w)
    loadWords<L::kVWidth>(row + L::vDim(g, w * L::kVWidth), r + w * L::kVWidth);
}

// Tensor-core decode (layouts and the reasoning in DecodeMmaLayout.h): a block serves one
// (request, kv head, tile of 8 query heads, context split); each warp takes 16-token steps
// of the split in turn, with the K and V rows of a step loaded straight into mma operands
// (no shared memory, no barrier in the loop), S^T = K Q^T and O^T += V^T P^T on tensor cores
// and the online softmax on S^T's accumulators, whose two heads per lane are those of the
// lane's O^T accumulators. The steps lie on a 16-token grid, so with pages of 16 tokens or
// more a step reads one block-table entry. MOVM: P transposed by movmatrix, else shuffles.
template <typename T, int HD, bool MOVM>
__global__ void __launch_bounds__(kDecodeThreads) decodeMmaKernel(DecodeParams p) {
  using L = decode_mma::Layout<HD>;
  constexpr int kH = decode_mma::kHeads, kTok = decode_mma::kTokens;
  __shared__ float wM[kDecodeWarps][kH], wL[kDecodeWarps][kH];
  __shared__ __align__(16) float wAcc[kDecodeWarps][kH][HD];

  const int seq = blockIdx.x, kvh = blockIdx.y / p.headTiles, tile = blockIdx.y % p.headTiles;
  const int split = blockIdx.z;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int G = p.group, g0 = tile * kH;
  const int ctx = p.contextLen[seq];
  const int qRow = p.queryStart[seq];
  const int lo = decodeWindowStart(p, ctx);
  const int ownSplits = decodeOwnSplits(p, seq, ctx);
  if (split >= ownSplits) // also ownSplits == -1: the whole block leaves, before any barrier
    return;
  const int grid0 = lo & ~(kTok - 1);
  const int per = ((ctx - grid0 + ownSplits - 1) / ownSplits + kTok - 1) & ~(kTok - 1);
  const int begin = grid0 + split * per;
  const int end = min(ctx, begin + per);

  // Q of head g of the tile (S^T's B operand), zeros past the group.
  uint32_t q[L::kKRegs];
  if (g0 + g < G) {
    const int head = kvh * G + g0 + g;
    loadKRow<HD>(
        static_cast<const uint16_t *>(p.q) + int64_t(qRow) * p.qStride + int64_t(head) * HD, t, q);
  } else {
#pragma unroll
    for (int r = 0; r < L::kKRegs; ++r)
      q[r] = 0;
  }
  float o[L::kSteps][4];
#pragma unroll
  for (int i = 0; i < L::kSteps; ++i)
    o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.0f, 0.0f}; // heads 2t, 2t + 1

  const uint16_t *kBase = static_cast<const uint16_t *>(p.kCache);
  const uint16_t *vBase = static_cast<const uint16_t *>(p.vCache);
  const int32_t *table = p.blockTable + int64_t(seq) * p.maxBlocksPerSeq;
  const int bsMask = (1 << p.blockSizeLog2) - 1;
  const int numIters =
      end > begin ? (end - begin + kDecodeWarps * kTok - 1) / (kDecodeWarps * kTok) : 0;
  // ONE_PAGE (pages of 16 tokens or more): a step's tokens share one page, one table entry.
  auto walk = [&](auto onePageTag) {
    constexpr bool kOnePage = decltype(onePageTag)::value;
    for (int it = 0; it < numIters; ++it) {
      const int s0 = begin + (it * kDecodeWarps + warp) * kTok;
      // Every load reads a valid token: positions outside [lo, end) read the nearest one (in
      // the same 16-token run, or the split's last token when the step is past the end) and
      // are masked below (-inf scores, so zero weights on their V). No branch in the loop.
      auto clampPos = [&](int pos) { return min(max(pos, lo), end - 1); };
      auto pageStart = [&](int pos) -> int64_t { // element offset of pos's (page, kv head)
        const int64_t page = __ldg(table + (pos >> p.blockSizeLog2));
        return ((page * p.numKvHeads + kvh) << p.blockSizeLog2) * HD;
      };
      const int64_t stepPage = kOnePage ? pageStart(clampPos(s0)) : 0;
      auto rowOffset = [&](int pos) -> int64_t {
        pos = clampPos(pos);
        return (kOnePage ? stepPage : pageStart(pos)) + (pos & bsMask) * HD;
      };
      // K rows of tokens g, g + 8; V rows of tokens 2t, 2t + 1, 2t + 8, 2t + 9.
      uint32_t kr[2][L::kKRegs], vr[4][L::kVRegs];
#pragma unroll
      for (int j = 0; j < 2; ++j)
        loadKRow<HD>(kBase + rowOffset(s0 + g + 8 * j), t, kr[j]);
#pragma unroll
      for (int j = 0; j < 4; ++j)
        loadVRow<HD>(vBase + rowOffset(s0 + 2 * t + (j & 1) + 8 * (j >> 1)), g, vr[j]);

      // Two accumulator chains (even and odd k-steps) halve the dependent mma latency.
      float s[4] = {0.0f, 0.0f, 0.0f, 0.0f}, s2[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int k = 0; k < L::kSteps; ++k) {
        uint32_t a[4];
        L::kFragment(kr[0], kr[1], k, a);
        mma16816<T>(k % 2 ? s2 : s, a, q[2 * k], q[2 * k + 1]);
      }
#pragma unroll
      for (int e = 0; e < 4; ++e)
        s[e] += s2[e];
      // s[0], s[1]: token g, heads 2t, 2t + 1; s[2], s[3]: token g + 8.
      auto valid = [&](int pos) { return pos >= lo && pos < end; };
      const bool ok0 = valid(s0 + g), ok8 = valid(s0 + g + 8);
      float pr[4], alpha[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float x0 = ok0 ? s[h] * p.scaleLog2 : -INFINITY;
        const float x8 = ok8 ? s[2 + h] * p.scaleLog2 : -INFINITY;
        float mx = fmaxf(x0, x8);
#pragma unroll
        for (int off = 4; off < 32; off <<= 1)
          mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
        const float mNew = fmaxf(m[h], mx);
        const float mUse = mNew == -INFINITY ? 0.0f : mNew;
        alpha[h] = exp2Fast(m[h] - mUse);
        m[h] = mNew;
        pr[h] = exp2Fast(x0 - mUse);
        pr[2 + h] = exp2Fast(x8 - mUse);
        l[h] = l[h] * alpha[h] + pr[h] + pr[2 + h];
      }
#pragma unroll
      for (int i = 0; i < L::kSteps; ++i) {
        o[i][0] *= alpha[0];
        o[i][1] *= alpha[1];
        o[i][2] *= alpha[0];
        o[i][3] *= alpha[1];
      }
      // P^T's B fragment: tokens 2t, 2t + 1 (b0) and 2t + 8, 2t + 9 (b1) of head g.
      const uint32_t x0 = pack2<T>(pr[0], pr[1]), x8 = pack2<T>(pr[2], pr[3]);
      uint32_t b0, b1;
      if constexpr (MOVM) {
        b0 = movmatrixTrans(x0);
        b1 = movmatrixTrans(x8);
      } else {
        const int src0 = decode_mma::transposeSourceLane(lane, 0);
        const int src1 = decode_mma::transposeSourceLane(lane, 1);
        const uint32_t sel = decode_mma::transposeSelector(lane);
        b0 = decode_mma::bytePerm(__shfl_sync(0xffffffffu, x0, src0),
                                  __shfl_sync(0xffffffffu, x0, src1), sel);
        b1 = decode_mma::bytePerm(__shfl_sync(0xffffffffu, x8, src0),
                                  __shfl_sync(0xffffffffu, x8, src1), sel);
      }
#pragma unroll
      for (int i = 0; i < L::kSteps; ++i) {
        uint32_t a[4];
        L::vFragment(vr[0], vr[1], vr[2], vr[3], i, a);
        mma16816<T>(o[i], a, b0, b1);
      }
    }
  };
  if (p.blockSizeLog2 >= 4)
    walk(std::true_type{});
  else
    walk(std::false_type{});

  // Each lane summed its own tokens: add the lane groups' sums (the maxima already agree).
  for (int h = 0; h < 2; ++h)
#pragma unroll
    for (int off = 4; off < 32; off <<= 1)
      l[h] += __shfl_xor_sync(0xffffffffu, l[h], off);
#pragma unroll
  for (int i = 0; i < L::kSteps; ++i) {
    const int d = L::vDim(g, i);
    wAcc[warp][2 * t][d] = o[i][0];
    wAcc[warp][2 * t + 1][d] = o[i][1];
    wAcc[warp][2 * t][d + 1] = o[i][2];
    wAcc[warp][2 * t + 1][d + 1] = o[i][3];
  }
  if (g == 0) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      wM[warp][2 * t + h] = m[h];
      wL[warp][2 * t + h] = l[h];
    }
  }
  __syncthreads();
  storeMergedWarps<T, HD, kH>(p, wM, wL, wAcc, seq, kvh, g0, split, ownSplits, qRow);
}

template <typename T> __global__ void mergeSplitsKernel(DecodeParams p, int headDim) {
  const int seq = blockIdx.x, head = blockIdx.y;
  const int ctx = p.contextLen[seq];
  const int ownSplits = decodeOwnSplits(p, seq, ctx);
  if (ownSplits <= 1)
    return; // one split wrote the output itself; -1: not a decode row
  T *out =
      static_cast<T *>(p.out) + int64_t(p.queryStart[seq]) * p.outStride + int64_t(head) * headDim;
  if (p.splitStart[seq] + ownSplits > p.maxSlots) { // no partials (see storeMergedWarps): NaN
    for (int d = threadIdx.x; d < headDim; d += blockDim.x)
      out[d] = fromFloat<T>(__int_as_float(0x7fc00000));
    return;
  }
  // Slot of split s for this head: (splitStart[seq] + s) * numHeads + head.
  const int64_t base = int64_t(p.splitStart[seq]) * p.numHeads + head, step = p.numHeads;
  float mMax = -INFINITY;
  for (int s = 0; s < ownSplits; ++s)
    mMax = fmaxf(mMax, p.partialML[(base + s * step) * 2]);
  float total = 0.0f;
  for (int s = 0; s < ownSplits; ++s) {
    float m = p.partialML[(base + s * step) * 2];
    if (m != -INFINITY)
      total += exp2Fast(m - mMax) * p.partialML[(base + s * step) * 2 + 1];
  }
  if (mMax != -INFINITY)
    total += sinkShare(p, head, mMax);
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < ownSplits; ++s) {
      float m = p.partialML[(base + s * step) * 2];
      if (m != -INFINITY)
        acc += exp2Fast(m - mMax) * p.partialO[(base + s * step) * headDim + d];
    }
    out[d] = fromFloat<T>(total > 0.0f ? acc / total : 0.0f);
  }
}

// splitStart: the prefix sum of the requests' own split counts (0 for a request of one
// split, and for one the launch does not serve), one block of 1024 threads.
__global__ void decodeSplitStartKernel(DecodeParams p, int numSeqs, int32_t *splitStart) {
  scanRequests(
      numSeqs,
      [&](int s) {
        const int own = decodeOwnSplits(p, s, p.contextLen[s]);
        return own > 1 ? own : 0; // one split writes its output directly: no slot
      },
      splitStart);
}

// Launches `kernel` on (request, kv head x head tile, split) blocks of headTile query heads,
// then the split merge (after the split table, with several splits).
template <typename T, int HD>
Status launchDecodeKernel(void (*kernel)(DecodeParams), const char *name, int headTile,
                          DecodeParams p, int numSeqs, cudaStream_t stream) {
  p.headTiles = (p.group + headTile - 1) / headTile;
  if (p.splits.count > 1) {
    decodeSplitStartKernel<<<1, 1024, 0, stream>>>(p, numSeqs, const_cast<int32_t *>(p.splitStart));
    MODELRT_LAUNCH_TRY("decodeSplitStartKernel");
  }
  dim3 grid(numSeqs, p.numKvHeads * p.headTiles, p.splits.count);
  kernel<<<grid, kDecodeThreads, 0, stream>>>(p);
  MODELRT_LAUNCH_TRY(name);
  if (p.splits.count > 1) {
    mergeSplitsKernel<T><<<dim3(numSeqs, p.numHeads), HD, 0, stream>>>(p, HD);
    MODELRT_LAUNCH_TRY("mergeSplitsKernel");
  }
  return Status::success();
}

template <typename T, int HD, int GT, int NT = kDecodeTokensPerStep, int MINB = 0>
Status launchDecodeTile(const DecodeParams &p, int numSeqs, cudaStream_t stream) {
  return launchDecodeKernel<T, HD>(decodeKernel<T, HD, GT, NT, MINB>, "decodeKernel", GT, p,
                                   numSeqs, stream);
}

template <typename T, int HD, bool MOVM>
Status launchDecodeMma(const DecodeParams &p, int numSeqs, cudaStream_t stream) {
  return launchDecodeKernel<T, HD>(decodeMmaKernel<T, HD, MOVM>, "decodeMmaKernel",
                                   decode_mma::kHeads, p, numSeqs, stream);
}

template <typename T, int HD>
Status launchDecode(const DecodeParams &p, int numSeqs, cudaStream_t stream) {
  switch (decodeHeadTile(p.group)) {
  case 1:
    return launchDecodeTile<T, HD, 1>(p, numSeqs, stream);
  case 2:
    return launchDecodeTile<T, HD, 2>(p, numSeqs, stream);
  case 4:
    return launchDecodeTile<T, HD, 4>(p, numSeqs, stream);
  default:
    return launchDecodeTile<T, HD, 8>(p, numSeqs, stream);
  }
}

// Calls launch(std::integral_constant<int, HD>) for the head dims the kernels are built for.
template <typename F> Status forHeadDim(int headDim, F &&launch) {
  switch (headDim) {
  case 64:
    return launch(std::integral_constant<int, 64>());
  case 80:
    return launch(std::integral_constant<int, 80>());
  case 96:
    return launch(std::integral_constant<int, 96>());
  case 128:
    return launch(std::integral_constant<int, 128>());
  default:
    return Error(ErrorCode::Unsupported, "decode attention: unsupported head dim");
  }
}

} // namespace

int decodeHeadTile(int group) { return group <= 1 ? 1 : group <= 2 ? 2 : group <= 4 ? 4 : 8; }

DecodeSplits chooseDecodeSplits(const AttentionShape &shape, const AttentionBatch &batch,
                                int smCount) {
  // A request alone should make about four blocks per multiprocessor; every split keeps at
  // least kDecodeSplitMinTokens tokens, so the merge and each block's start and end stay
  // small beside its loads. Neither depends on the rest of the batch.
  const int group = shape.numKvHeads > 0 ? std::max(1, shape.numHeads / shape.numKvHeads) : 1;
  const int headTile = decodeHeadTile(group);
  const int64_t blocksPerSplit =
      int64_t(std::max(1, shape.numKvHeads)) * ((group + headTile - 1) / headTile);
  DecodeSplits s;
  s.fill = int(
      std::clamp<int64_t>((int64_t(4) * std::max(1, smCount) + blocksPerSplit - 1) / blocksPerSplit,
                          1, kDecodeMaxSplits));
  s.minTokens = kDecodeSplitMinTokens;
  s.count = kDecodeMaxSplits;
  int64_t tokens = batch.maxContextLen;
  if (shape.slidingWindow > 0)
    tokens = std::min<int64_t>(tokens, shape.slidingWindow);
  // decodeSplitsOf grows with the tokens, so the longest context takes the most splits.
  s.count = decodeSplitsOf(int(tokens), s);
  return s;
}

DecodeSplits fixedDecodeSplits(int n) {
  DecodeSplits s;
  s.count = s.fill = std::max(1, n);
  s.minTokens = 1;
  return s;
}

namespace {
// The split table's bytes (numSeqs + 1 entries, 256-byte aligned) and the most partial slots
// the batch can take: a request takes slots only with two splits or more, at most `count`
// and at most tokens / minTokens, whose sum the host-known total context bounds.
size_t splitTableBytes(const AttentionBatch &batch) {
  return (size_t(batch.numSeqs + 1) * sizeof(int32_t) + 255) / 256 * 256;
}
int64_t decodeSlotBound(const AttentionBatch &batch, const DecodeSplits &splits) {
  int64_t slots = int64_t(batch.numSeqs) * splits.count;
  if (batch.sumContextLen > 0)
    slots = std::min(slots, batch.sumContextLen / splits.minTokens);
  return slots;
}
} // namespace

size_t decodeWorkspaceBytes(const AttentionShape &shape, const AttentionBatch &batch,
                            const DecodeSplits &splits) {
  if (splits.count <= 1)
    return 0;
  return splitTableBytes(batch) + size_t(decodeSlotBound(batch, splits)) * shape.numHeads *
                                      (shape.headDim + 2) * sizeof(float);
}

Status pagedAttentionDecode(const AttentionShape &shape, const PagedKvLayout &layout,
                            const AttentionBatch &batch, const AttentionArgs &args,
                            const DecodeSplits &splits, void *workspace, size_t workspaceBytes,
                            cudaStream_t stream) {
  return pagedAttentionDecodeVariant(shape, layout, batch, args, splits, workspace, workspaceBytes,
                                     stream, 0);
}

Status pagedAttentionDecodeVariant(const AttentionShape &shape, const PagedKvLayout &layout,
                                   const AttentionBatch &batch, const AttentionArgs &args,
                                   const DecodeSplits &splits, void *workspace,
                                   size_t workspaceBytes, cudaStream_t stream, int variant) {
  if (batch.maxQueryLen != 1)
    return Error(ErrorCode::InvalidArgument,
                 "decode attention: every request must have exactly one query row");
  return launchDecodeRows(shape, layout, batch, args, splits, workspace, workspaceBytes, stream,
                          variant, false);
}

Status launchDecodeRows(const AttentionShape &shape, const PagedKvLayout &layout,
                        const AttentionBatch &batch, const AttentionArgs &args,
                        const DecodeSplits &splits, void *workspace, size_t workspaceBytes,
                        cudaStream_t stream, int variant, bool onlySingleRows) {
  if (Status st = checkAttention(shape, layout, batch, args); !st)
    return st;
  if (splits.count < 1 || splits.count > 1024 || splits.fill < 1 || splits.minTokens < 1)
    return Error(ErrorCode::InvalidArgument,
                 "decode attention: split count must be in [1, 1024], fill and minTokens >= 1");
  if (workspaceBytes < decodeWorkspaceBytes(shape, batch, splits) ||
      (splits.count > 1 && !workspace))
    return Error(ErrorCode::InvalidArgument, "decode attention: workspace too small");
  if (batch.numSeqs == 0)
    return Status::success();
  DecodeParams p{};
  static_cast<PagedKernelParams &>(p) = pagedKernelParams(shape, layout, batch, args);
  p.splits = splits;
  p.onlySingleRows = onlySingleRows;
  if (splits.count > 1) {
    char *ws = static_cast<char *>(workspace);
    p.splitStart = reinterpret_cast<const int32_t *>(ws);
    p.partialO = reinterpret_cast<float *>(ws + splitTableBytes(batch));
    // Slots from the workspace's size, not this step's bound: a CUDA graph captured with
    // this workspace replays for other steps of its key, and may need more of it.
    const size_t slotBytes = size_t(shape.numHeads) * (shape.headDim + 2) * sizeof(float);
    p.maxSlots =
        int(std::min<size_t>((workspaceBytes - splitTableBytes(batch)) / slotBytes, INT32_MAX));
    p.partialML = p.partialO + size_t(p.maxSlots) * shape.numHeads * shape.headDim;
  }
  if (variant == 0 || variant == kDecodeVariantMmaMovmatrix) {
    auto run = [&](auto tag) -> Status {
      using T = decltype(tag);
      return forHeadDim(shape.headDim, [&](auto hd) {
        return variant == kDecodeVariantMmaMovmatrix
                   ? launchDecodeMma<T, decltype(hd)::value, true>(p, batch.numSeqs, stream)
                   : launchDecodeMma<T, decltype(hd)::value, false>(p, batch.numSeqs, stream);
      });
    };
    return layout.type == ElementType::F16 ? run(__half()) : run(__nv_bfloat16());
  }
  if (variant == kDecodeVariantSimt) {
    auto run = [&](auto tag) -> Status {
      using T = decltype(tag);
      return forHeadDim(shape.headDim, [&](auto hd) {
        return launchDecode<T, decltype(hd)::value>(p, batch.numSeqs, stream);
      });
    };
    return layout.type == ElementType::F16 ? run(__half()) : run(__nv_bfloat16());
  }
  if (shape.headDim != 128 || decodeHeadTile(p.group) != 4 || variant < 1 || variant > 3)
    return Error(ErrorCode::Unsupported, "decode attention: no such variant for this shape");
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    switch (variant) {
    case 1:
      return launchDecodeTile<T, 128, 4, 4, 5>(p, batch.numSeqs, stream);
    case 2:
      return launchDecodeTile<T, 128, 4, 2, 6>(p, batch.numSeqs, stream);
    default:
      return launchDecodeTile<T, 128, 2, 4>(p, batch.numSeqs, stream);
    }
  };
  return layout.type == ElementType::F16 ? run(__half()) : run(__nv_bfloat16());
}

} // namespace modelrt::cuda
