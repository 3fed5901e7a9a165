// Paged decode attention: one query row per request. A thread block handles one
// (request, kv head, context split) and the whole group of query heads that share the kv
// head, so each K/V element is read from memory once. K/V tiles of 32 tokens are gathered
// through the block table into shared memory with cp.async, double-buffered; scores and
// the online softmax run in f32 (log2 domain). With several splits each block writes its
// partial (max, sum, unnormalized output) and mergeSplitsKernel combines them.
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/DeviceMath.cuh"

#include <algorithm>

namespace modelrt::cuda {

namespace {

constexpr int kDecodeThreads = 128;
constexpr int kDecodeTile = 32; // tokens per tile: one per lane in the score step

struct DecodeParams : PagedKernelParams {
  int numSplits;
  float *partialO; // [seq][head][split][headDim]
  float *partialML; // [seq][head][split][2]: max (log2 domain), sum
};

template <int HD> constexpr int rowStride() { return HD + 8; } // 16-byte pad: no bank conflicts

template <int HD> size_t decodeSmemBytes(int group) {
  return size_t(2) * 2 * kDecodeTile * rowStride<HD>() * 2 // K and V, two stages
         + size_t(group) * HD * 4 * 2                      // q and the accumulator
         + size_t(group) * kDecodeTile * 4                  // probabilities
         + size_t(group) * 3 * 4;                           // max, sum, rescale
}

template <typename T, int HD>
__global__ void __launch_bounds__(kDecodeThreads) decodeKernel(DecodeParams p) {
  constexpr int kChunks = HD / 8;
  constexpr int kStride = rowStride<HD>();
  extern __shared__ __align__(16) unsigned char smem[];
  T *kTile = reinterpret_cast<T *>(smem);               // [2][tile][kStride]
  T *vTile = kTile + 2 * kDecodeTile * kStride;         // [2][tile][kStride]
  float *qS = reinterpret_cast<float *>(vTile + 2 * kDecodeTile * kStride); // [G][HD]
  float *accS = qS + p.group * HD;                      // [G][HD]
  float *probS = accS + p.group * HD;                   // [G][tile]
  float *mS = probS + p.group * kDecodeTile;
  float *lS = mS + p.group;
  float *alphaS = lS + p.group;

  const int seq = blockIdx.x, kvh = blockIdx.y, split = blockIdx.z;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int G = p.group;
  const int ctx = p.contextLen[seq];
  const int qRow = p.queryStart[seq];
  const int begin0 = p.window > 0 ? max(0, ctx - p.window) : 0;
  const int len = max(0, ctx - begin0);
  int chunk = (len + p.numSplits - 1) / p.numSplits;
  chunk = (chunk + kDecodeTile - 1) / kDecodeTile * kDecodeTile;
  const int begin = begin0 + split * chunk;
  const int end = min(ctx, begin + chunk);

  const T *q = static_cast<const T *>(p.q) + int64_t(qRow) * p.qStride + int64_t(kvh) * G * HD;
  for (int i = tid; i < G * kChunks; i += kDecodeThreads) {
    float f[8];
    unpack8<T>(reinterpret_cast<const uint4 *>(q)[i], f);
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      qS[i * 8 + j] = f[j];
      accS[i * 8 + j] = 0.0f;
    }
  }
  for (int g = tid; g < G; g += kDecodeThreads) {
    mS[g] = -INFINITY;
    lS[g] = 0.0f;
  }

  const T *kBase = static_cast<const T *>(p.kCache);
  const T *vBase = static_cast<const T *>(p.vCache);
  const int32_t *table = p.blockTable + int64_t(seq) * p.maxBlocksPerSeq;
  const int bsMask = (1 << p.blockSizeLog2) - 1;
  auto loadTile = [&](int pos0, int buf) {
    for (int i = tid; i < kDecodeTile * kChunks; i += kDecodeThreads) {
      int r = i / kChunks, c = i % kChunks, pos = pos0 + r;
      bool valid = pos < end;
      int64_t off = 0;
      if (valid) {
        int64_t page = table[pos >> p.blockSizeLog2];
        off = ((page * p.numKvHeads + kvh) << p.blockSizeLog2 | (pos & bsMask)) * HD + c * 8;
      }
      int dst = (buf * kDecodeTile + r) * kStride + c * 8;
      cpAsync16(kTile + dst, kBase + off, valid ? 16 : 0);
      cpAsync16(vTile + dst, vBase + off, valid ? 16 : 0);
    }
    cpAsyncCommit();
  };

  const int numTiles = end > begin ? (end - begin + kDecodeTile - 1) / kDecodeTile : 0;
  if (numTiles > 0)
    loadTile(begin, 0);
  __syncthreads();
  for (int t = 0; t < numTiles; ++t) {
    const int buf = t & 1, pos0 = begin + t * kDecodeTile;
    if (t + 1 < numTiles)
      loadTile(pos0 + kDecodeTile, buf ^ 1);
    else
      cpAsyncCommit();
    cpAsyncWait<1>();
    __syncthreads();

    // Scores: warp w takes heads w, w+4, ...; lane r takes token pos0 + r.
    const T *kRow = kTile + (buf * kDecodeTile + lane) * kStride;
    const bool valid = pos0 + lane < end;
    for (int g = warp; g < G; g += kDecodeThreads / 32) {
      const float *qg = qS + g * HD;
      float dot = 0.0f;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
        float kf[8];
        unpack8<T>(reinterpret_cast<const uint4 *>(kRow)[c], kf);
#pragma unroll
        for (int j = 0; j < 8; ++j)
          dot = fmaf(qg[c * 8 + j], kf[j], dot);
      }
      float s = valid ? dot * p.scaleLog2 : -INFINITY;
      float mOld = mS[g];
      float mNew = fmaxf(mOld, warpMax(s)); // finite: a tile holds at least one valid token
      float prob = valid ? exp2f(s - mNew) : 0.0f;
      float sum = warpSum(prob);
      probS[g * kDecodeTile + lane] = prob;
      if (lane == 0) {
        float alpha = exp2f(mOld - mNew);
        mS[g] = mNew;
        lS[g] = lS[g] * alpha + sum;
        alphaS[g] = alpha;
      }
    }
    __syncthreads();

    // Output: thread slot covers 8 dims of one head.
    for (int slot = tid; slot < G * kChunks; slot += kDecodeThreads) {
      int g = slot / kChunks, c = slot % kChunks;
      float alpha = alphaS[g];
      float acc[8];
#pragma unroll
      for (int j = 0; j < 8; ++j)
        acc[j] = accS[slot * 8 + j] * alpha;
      const float *prob = probS + g * kDecodeTile;
#pragma unroll 4
      for (int r = 0; r < kDecodeTile; ++r) {
        float vf[8];
        unpack8<T>(reinterpret_cast<const uint4 *>(vTile + (buf * kDecodeTile + r) * kStride)[c],
                   vf);
        float pr = prob[r];
#pragma unroll
        for (int j = 0; j < 8; ++j)
          acc[j] = fmaf(pr, vf[j], acc[j]);
      }
#pragma unroll
      for (int j = 0; j < 8; ++j)
        accS[slot * 8 + j] = acc[j];
    }
    __syncthreads();
  }

  if (p.numSplits == 1) {
    T *out = static_cast<T *>(p.out) + int64_t(qRow) * p.outStride + int64_t(kvh) * G * HD;
    for (int i = tid; i < G * HD; i += kDecodeThreads) {
      float l = lS[i / HD];
      out[i] = fromFloat<T>(l > 0.0f ? accS[i] / l : 0.0f);
    }
  } else {
    for (int i = tid; i < G * HD; i += kDecodeThreads) {
      int g = i / HD, head = kvh * G + g;
      int64_t idx = (int64_t(seq) * p.numHeads + head) * p.numSplits + split;
      p.partialO[idx * HD + i % HD] = accS[i];
      if (i % HD == 0) {
        p.partialML[idx * 2] = mS[g];
        p.partialML[idx * 2 + 1] = lS[g];
      }
    }
  }
}

template <typename T>
__global__ void mergeSplitsKernel(DecodeParams p, int headDim) {
  const int seq = blockIdx.x, head = blockIdx.y;
  const int64_t base = (int64_t(seq) * p.numHeads + head) * p.numSplits;
  float mMax = -INFINITY;
  for (int s = 0; s < p.numSplits; ++s)
    mMax = fmaxf(mMax, p.partialML[(base + s) * 2]);
  float total = 0.0f;
  for (int s = 0; s < p.numSplits; ++s) {
    float m = p.partialML[(base + s) * 2];
    if (m != -INFINITY)
      total += exp2f(m - mMax) * p.partialML[(base + s) * 2 + 1];
  }
  T *out = static_cast<T *>(p.out) + int64_t(p.queryStart[seq]) * p.outStride +
           int64_t(head) * headDim;
  for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
    float acc = 0.0f;
    for (int s = 0; s < p.numSplits; ++s) {
      float m = p.partialML[(base + s) * 2];
      if (m != -INFINITY)
        acc += exp2f(m - mMax) * p.partialO[(base + s) * headDim + d];
    }
    out[d] = fromFloat<T>(total > 0.0f ? acc / total : 0.0f);
  }
}

template <typename T, int HD>
Status launchDecode(const DecodeParams &p, int numSeqs, cudaStream_t stream) {
  size_t smem = decodeSmemBytes<HD>(p.group);
  MODELRT_CUDA_TRY(cudaFuncSetAttribute(decodeKernel<T, HD>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  dim3 grid(numSeqs, p.numKvHeads, p.numSplits);
  decodeKernel<T, HD><<<grid, kDecodeThreads, smem, stream>>>(p);
  MODELRT_LAUNCH_TRY("decodeKernel");
  if (p.numSplits > 1) {
    mergeSplitsKernel<T><<<dim3(numSeqs, p.numHeads), HD, 0, stream>>>(p, HD);
    MODELRT_LAUNCH_TRY("mergeSplitsKernel");
  }
  return Status::success();
}

template <typename T>
Status launchDecodeForHeadDim(const DecodeParams &p, int headDim, int numSeqs,
                              cudaStream_t stream) {
  switch (headDim) {
  case 64: return launchDecode<T, 64>(p, numSeqs, stream);
  case 80: return launchDecode<T, 80>(p, numSeqs, stream);
  case 96: return launchDecode<T, 96>(p, numSeqs, stream);
  case 128: return launchDecode<T, 128>(p, numSeqs, stream);
  default: return Error(ErrorCode::Unsupported, "decode attention: unsupported head dim");
  }
}

} // namespace

int chooseDecodeSplits(const AttentionShape &shape, const AttentionBatch &batch, int smCount) {
  // Aim for about four blocks per multiprocessor, but keep each split at least 256 tokens
  // so the merge stays cheap.
  int64_t blocks = int64_t(std::max(1, batch.numSeqs)) * std::max(1, shape.numKvHeads);
  int64_t want = (int64_t(4) * std::max(1, smCount) + blocks - 1) / blocks;
  int64_t ctx = batch.maxContextLen;
  if (shape.slidingWindow > 0)
    ctx = std::min<int64_t>(ctx, shape.slidingWindow);
  int64_t cap = std::max<int64_t>(1, ctx / 256);
  return int(std::clamp<int64_t>(std::min(want, cap), 1, 128));
}

size_t decodeWorkspaceBytes(const AttentionShape &shape, const AttentionBatch &batch,
                            int numSplits) {
  if (numSplits <= 1)
    return 0;
  return size_t(batch.numSeqs) * shape.numHeads * numSplits * (shape.headDim + 2) *
         sizeof(float);
}

Status pagedAttentionDecode(const AttentionShape &shape, const PagedKvLayout &layout,
                            const AttentionBatch &batch, const AttentionArgs &args,
                            int numSplits, void *workspace, size_t workspaceBytes,
                            cudaStream_t stream) {
  if (Status st = checkAttention(shape, layout, batch, args); !st)
    return st;
  if (batch.maxQueryLen != 1)
    return Error(ErrorCode::InvalidArgument,
                 "decode attention: every request must have exactly one query row");
  if (numSplits < 1 || numSplits > 1024)
    return Error(ErrorCode::InvalidArgument, "decode attention: numSplits must be in [1, 1024]");
  if (workspaceBytes < decodeWorkspaceBytes(shape, batch, numSplits) ||
      (numSplits > 1 && !workspace))
    return Error(ErrorCode::InvalidArgument, "decode attention: workspace too small");
  if (batch.numSeqs == 0)
    return Status::success();
  DecodeParams p{};
  static_cast<PagedKernelParams &>(p) = pagedKernelParams(shape, layout, batch, args);
  p.numSplits = numSplits;
  float *ws = static_cast<float *>(workspace);
  size_t rows = size_t(batch.numSeqs) * shape.numHeads * numSplits;
  p.partialO = numSplits > 1 ? ws : nullptr;
  p.partialML = numSplits > 1 ? ws + rows * shape.headDim : nullptr;
  if (layout.type == ElementType::F16)
    return launchDecodeForHeadDim<__half>(p, shape.headDim, batch.numSeqs, stream);
  return launchDecodeForHeadDim<__nv_bfloat16>(p, shape.headDim, batch.numSeqs, stream);
}

} // namespace modelrt::cuda
