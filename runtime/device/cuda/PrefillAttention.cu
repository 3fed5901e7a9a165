// Paged prefill attention (prefill, chunked prefill, mixed batches) in the FlashAttention-2
// scheme: a thread block owns 64 query rows of one request and one query head; its four
// warps own 16 rows each. K/V tiles of 64 tokens are gathered through the block table into
// shared memory with cp.async (V of tile j and K of tile j+1 load while the other is used);
// S = QK^T and O += PV run on tensor cores (nvcuda::wmma 16x16x16, f32 accumulate); the
// online softmax runs in f32 on S in shared memory. Ragged batches map to a flat list of
// (request, query tile) built on the device by prefillTileKernel.
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/DeviceMath.cuh"

#include <mma.h>

namespace modelrt::cuda {

namespace {

using namespace nvcuda;

constexpr int kBM = 64, kBN = 64, kPrefillThreads = 128;
constexpr int kSStride = kBN + 4; // floats per S row; P (16-bit) reuses the row's first half

struct PrefillParams : PagedKernelParams {
  const int32_t *tileStart; // [numSeqs + 1]: first flat tile of each request
  int numSeqs;
};

template <int HD> struct PrefillSmem {
  static constexpr int kvStride = HD + 8; // 16-bit elements
  static constexpr int oStride = HD + 4;  // floats
  static constexpr size_t kBytes = size_t(kBN) * kvStride * 2;
  static constexpr size_t sBytes = size_t(kBM) * kSStride * 4;
  static constexpr size_t oBytes = size_t(kBM) * oStride * 4;
  static constexpr size_t kOff = 0, vOff = kBytes, sOff = 2 * kBytes, oOff = sOff + sBytes;
  static constexpr size_t statOff = oOff + oBytes;
  static constexpr size_t total = statOff + 3 * kBM * 4;
};

// tileStart[s + 1] = tileStart[s] + ceil(queryLen(s) / kBM), one block of 1024 threads.
__global__ void prefillTileKernel(const int32_t *queryStart, int numSeqs, int32_t *tileStart) {
  __shared__ int warpTotals[32];
  __shared__ int carry;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  if (tid == 0) {
    carry = 0;
    tileStart[0] = 0;
  }
  __syncthreads();
  for (int base = 0; base < numSeqs; base += blockDim.x) {
    int s = base + tid;
    int v = s < numSeqs ? (queryStart[s + 1] - queryStart[s] + kBM - 1) / kBM : 0;
    int incl = v;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      int n = __shfl_up_sync(0xffffffffu, incl, o);
      if (lane >= o)
        incl += n;
    }
    if (lane == 31)
      warpTotals[warp] = incl;
    __syncthreads();
    if (warp == 0) {
      int w = lane < int(blockDim.x / 32) ? warpTotals[lane] : 0;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        int n = __shfl_up_sync(0xffffffffu, w, o);
        if (lane >= o)
          w += n;
      }
      warpTotals[lane] = w; // inclusive over warps
    }
    __syncthreads();
    int prefix = carry + incl + (warp > 0 ? warpTotals[warp - 1] : 0);
    if (s < numSeqs)
      tileStart[s + 1] = prefix;
    __syncthreads();
    if (tid == blockDim.x - 1)
      carry = prefix;
    __syncthreads();
  }
}

template <typename T, int HD>
__global__ void __launch_bounds__(kPrefillThreads) prefillKernel(PrefillParams p) {
  using L = PrefillSmem<HD>;
  constexpr int kChunks = HD / 8;
  extern __shared__ __align__(128) unsigned char smem[];
  T *kS = reinterpret_cast<T *>(smem + L::kOff);
  T *vS = reinterpret_cast<T *>(smem + L::vOff);
  float *sS = reinterpret_cast<float *>(smem + L::sOff);
  T *pS = reinterpret_cast<T *>(sS); // row stride 2 * kSStride elements
  float *oS = reinterpret_cast<float *>(smem + L::oOff);
  T *qStage = reinterpret_cast<T *>(oS); // Q staging before O is used
  float *mS = reinterpret_cast<float *>(smem + L::statOff);
  float *lS = mS + kBM;
  float *alphaS = lS + kBM;

  const int tile = blockIdx.x, head = blockIdx.y;
  if (tile >= p.tileStart[p.numSeqs])
    return;
  int lo = 0, hi = p.numSeqs - 1; // the request whose tiles contain `tile`
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (p.tileStart[mid] <= tile)
      lo = mid;
    else
      hi = mid - 1;
  }
  const int seq = lo;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int qBegin = p.queryStart[seq];
  const int qLen = p.queryStart[seq + 1] - qBegin;
  const int ctx = p.contextLen[seq];
  const int q0 = (tile - p.tileStart[seq]) * kBM;
  const int rows = min(kBM, qLen - q0);
  const int pos0 = ctx - qLen + q0; // position of the tile's first query row
  const int kvEnd = min(ctx, pos0 + rows);
  const int kvBegin = p.window > 0 ? max(0, pos0 - p.window + 1) : 0;
  const int kvh = head / p.group;

  const T *q = static_cast<const T *>(p.q);
  for (int i = tid; i < kBM * kChunks; i += kPrefillThreads) {
    int r = i / kChunks, c = i % kChunks;
    bool valid = r < rows;
    const T *src = valid ? q + int64_t(qBegin + q0 + r) * p.qStride + int64_t(head) * HD + c * 8 : q;
    cpAsync16(qStage + r * L::kvStride + c * 8, src, valid ? 16 : 0);
  }
  cpAsyncCommit();

  const T *kBase = static_cast<const T *>(p.kCache);
  const T *vBase = static_cast<const T *>(p.vCache);
  const int32_t *table = p.blockTable + int64_t(seq) * p.maxBlocksPerSeq;
  const int bsMask = (1 << p.blockSizeLog2) - 1;
  auto loadKv = [&](const T *base, T *dst, int kv0) {
    for (int i = tid; i < kBN * kChunks; i += kPrefillThreads) {
      int r = i / kChunks, c = i % kChunks, pos = kv0 + r;
      bool valid = pos < kvEnd;
      int64_t off = 0;
      if (valid) {
        int64_t page = table[pos >> p.blockSizeLog2];
        off = ((page * p.numKvHeads + kvh) << p.blockSizeLog2 | (pos & bsMask)) * HD + c * 8;
      }
      cpAsync16(dst + r * L::kvStride + c * 8, base + off, valid ? 16 : 0);
    }
    cpAsyncCommit();
  };

  if (kvBegin < kvEnd)
    loadKv(kBase, kS, kvBegin);
  cpAsyncWait<0>();
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> qf[HD / 16];
#pragma unroll
  for (int k = 0; k < HD / 16; ++k)
    wmma::load_matrix_sync(qf[k], qStage + warp * 16 * L::kvStride + k * 16, L::kvStride);
  __syncthreads();
  for (int i = tid; i < kBM * L::oStride; i += kPrefillThreads)
    oS[i] = 0.0f;
  for (int i = tid; i < kBM; i += kPrefillThreads) {
    mS[i] = -INFINITY;
    lS[i] = 0.0f;
  }
  __syncthreads();

  const int myRow = warp * 16 + lane / 2; // softmax: two lanes per row, 32 columns each
  const int myHalf = lane & 1;
  const int myPos = pos0 + myRow;
  const bool rowValid = myRow < rows;
  for (int kv0 = kvBegin; kv0 < kvEnd; kv0 += kBN) {
    loadKv(vBase, vS, kv0);
    cpAsyncWait<1>();
    __syncthreads();

    // S = Q K^T for this warp's 16 rows.
#pragma unroll
    for (int n = 0; n < kBN / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf;
      wmma::fill_fragment(sf, 0.0f);
#pragma unroll
      for (int k = 0; k < HD / 16; ++k) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
        wmma::load_matrix_sync(kf, kS + n * 16 * L::kvStride + k * 16, L::kvStride);
        wmma::mma_sync(sf, qf[k], kf, sf);
      }
      wmma::store_matrix_sync(sS + warp * 16 * kSStride + n * 16, sf, kSStride,
                              wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax; P overwrites the first half of each S row once both lanes have read.
    float s[32];
    float tileMax = -INFINITY;
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      int kp = kv0 + myHalf * 32 + j;
      bool ok = rowValid && kp <= myPos && kp < kvEnd && (p.window == 0 || myPos - kp < p.window);
      s[j] = ok ? sS[myRow * kSStride + myHalf * 32 + j] * p.scaleLog2 : -INFINITY;
      tileMax = fmaxf(tileMax, s[j]);
    }
    tileMax = fmaxf(tileMax, __shfl_xor_sync(0xffffffffu, tileMax, 1));
    float mOld = mS[myRow];
    float mNew = fmaxf(mOld, tileMax);
    float mUse = mNew == -INFINITY ? 0.0f : mNew;
    float sum = 0.0f;
    __syncwarp();
#pragma unroll
    for (int j = 0; j < 32; ++j) {
      float e = s[j] == -INFINITY ? 0.0f : exp2f(s[j] - mUse);
      sum += e;
      pS[myRow * 2 * kSStride + myHalf * 32 + j] = fromFloat<T>(e);
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    if (myHalf == 0) {
      float alpha = exp2f(mOld - mUse);
      mS[myRow] = mNew;
      lS[myRow] = lS[myRow] * alpha + sum;
      alphaS[myRow] = alpha;
    }
    __syncwarp();
    for (int i = lane; i < 16 * HD; i += 32) {
      int r = warp * 16 + i / HD;
      oS[r * L::oStride + i % HD] *= alphaS[r];
    }

    cpAsyncWait<0>();
    __syncthreads(); // V is in; every warp is done with K
    if (kv0 + kBN < kvEnd)
      loadKv(kBase, kS, kv0 + kBN);

    // O += P V for this warp's 16 rows.
#pragma unroll
    for (int n = 0; n < HD / 16; ++n) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;
      float *oTile = oS + warp * 16 * L::oStride + n * 16;
      wmma::load_matrix_sync(of, oTile, L::oStride, wmma::mem_row_major);
#pragma unroll
      for (int k = 0; k < kBN / 16; ++k) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pf;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
        wmma::load_matrix_sync(pf, pS + warp * 16 * 2 * kSStride + k * 16, 2 * kSStride);
        wmma::load_matrix_sync(vf, vS + k * 16 * L::kvStride + n * 16, L::kvStride);
        wmma::mma_sync(of, pf, vf, of);
      }
      wmma::store_matrix_sync(oTile, of, L::oStride, wmma::mem_row_major);
    }
    __syncthreads(); // V and S are free for the next tile
  }

  T *out = static_cast<T *>(p.out);
  for (int i = tid; i < kBM * HD; i += kPrefillThreads) {
    int r = i / HD, d = i % HD;
    if (r < rows) {
      float l = lS[r];
      out[int64_t(qBegin + q0 + r) * p.outStride + int64_t(head) * HD + d] =
          fromFloat<T>(l > 0.0f ? oS[r * L::oStride + d] / l : 0.0f);
    }
  }
}

template <typename T, int HD>
Status launchPrefill(const PrefillParams &p, int numHeads, int gridTiles, cudaStream_t stream) {
  size_t smem = PrefillSmem<HD>::total;
  MODELRT_CUDA_TRY(cudaFuncSetAttribute(prefillKernel<T, HD>,
                                        cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  prefillKernel<T, HD><<<dim3(gridTiles, numHeads), kPrefillThreads, smem, stream>>>(p);
  MODELRT_LAUNCH_TRY("prefillKernel");
  return Status::success();
}

template <typename T>
Status launchPrefillForHeadDim(const PrefillParams &p, int headDim, int numHeads, int gridTiles,
                               cudaStream_t stream) {
  switch (headDim) {
  case 64: return launchPrefill<T, 64>(p, numHeads, gridTiles, stream);
  case 80: return launchPrefill<T, 80>(p, numHeads, gridTiles, stream);
  case 96: return launchPrefill<T, 96>(p, numHeads, gridTiles, stream);
  case 128: return launchPrefill<T, 128>(p, numHeads, gridTiles, stream);
  default: return Error(ErrorCode::Unsupported, "prefill attention: unsupported head dim");
  }
}

} // namespace

size_t prefillWorkspaceBytes(const AttentionBatch &batch) {
  return (size_t(batch.numSeqs + 1) * sizeof(int32_t) + 255) / 256 * 256;
}

Status pagedAttentionPrefill(const AttentionShape &shape, const PagedKvLayout &layout,
                             const AttentionBatch &batch, const AttentionArgs &args,
                             void *workspace, size_t workspaceBytes, cudaStream_t stream) {
  if (Status st = checkAttention(shape, layout, batch, args); !st)
    return st;
  if (batch.numSeqs == 0 || batch.numTokens == 0)
    return Status::success();
  if (!workspace || workspaceBytes < prefillWorkspaceBytes(batch))
    return Error(ErrorCode::InvalidArgument, "prefill attention: workspace too small");
  PrefillParams p{};
  static_cast<PagedKernelParams &>(p) = pagedKernelParams(shape, layout, batch, args);
  p.tileStart = static_cast<int32_t *>(workspace);
  p.numSeqs = batch.numSeqs;
  prefillTileKernel<<<1, 1024, 0, stream>>>(batch.queryStart, batch.numSeqs,
                                            static_cast<int32_t *>(workspace));
  MODELRT_LAUNCH_TRY("prefillTileKernel");
  // Sum over requests of ceil(len / kBM) <= T / kBM + numSeqs; surplus blocks exit at once.
  int gridTiles = batch.numTokens / kBM + batch.numSeqs;
  if (layout.type == ElementType::F16)
    return launchPrefillForHeadDim<__half>(p, shape.headDim, shape.numHeads, gridTiles, stream);
  return launchPrefillForHeadDim<__nv_bfloat16>(p, shape.headDim, shape.numHeads, gridTiles,
                                                stream);
}

} // namespace modelrt::cuda
