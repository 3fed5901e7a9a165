// Paged prefill attention (prefill, chunked prefill, mixed batches) in the FlashAttention-2
// scheme: a thread block owns 64 query rows of one request and one query head; its four
// warps own 16 rows each. K/V tiles of 64 tokens are gathered through the block table into
// shared memory with cp.async (V of tile j and K of tile j+1 load while the other is used).
// Everything else stays in registers: Q as mma A fragments, S = QK^T and O += PV on tensor
// cores (mma.sync m16n8k16, f32 accumulate, operands from shared memory by ldmatrix), the
// online softmax on the S accumulators, whose layout is that of the A operand of PV, so P
// never leaves the registers. Ragged batches map to a flat list of (request, query tile)
// built on the device by prefillTileKernel; blocks take the tiles last to first, so the
// longest (causal) tiles start first.
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/DeviceMath.cuh"

#include <type_traits>

namespace modelrt::cuda {

namespace {

constexpr int kBM = 64, kBN = 64, kPrefillThreads = 128;

struct PrefillParams : PagedKernelParams {
  const int32_t *tileStart; // [numSeqs + 1]: first flat tile of each request
  int numSeqs;
};

template <int HD> struct PrefillSmem {
  static constexpr int kvStride = HD + 8; // 16-bit elements; 16-byte pad: ldmatrix conflict-free
  static constexpr size_t kBytes = size_t(kBN) * kvStride * 2;
  static constexpr size_t kOff = 0, vOff = kBytes; // Q is staged in V's buffer
  static constexpr size_t total = 2 * kBytes;
};

// D = A B + D, m16n8k16, f32 accumulate.
template <typename T>
__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  if constexpr (std::is_same_v<T, __half>)
    asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  else
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, "
                 "{%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], const void *smemRow) {
  unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(smemRow));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
__device__ __forceinline__ void ldmatrixX4Trans(uint32_t (&r)[4], const void *smemRow) {
  unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(smemRow));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

// Two floats to a packed pair of 16-bit values (low half = x).
template <typename T> __device__ __forceinline__ uint32_t pack2(float x, float y);
template <> __device__ __forceinline__ uint32_t pack2<__half>(float x, float y) {
  __half2 h = __floats2half2_rn(x, y);
  return *reinterpret_cast<uint32_t *>(&h);
}
template <> __device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float x, float y) {
  __nv_bfloat162 h = __floats2bfloat162_rn(x, y);
  return *reinterpret_cast<uint32_t *>(&h);
}

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
  constexpr int kS = L::kvStride;
  constexpr int kKSteps = HD / 16; // k-steps of S = QK^T
  constexpr int kOTiles = HD / 8;  // n-tiles of O
  constexpr int kSTiles = kBN / 8; // n-tiles of S
  extern __shared__ __align__(128) unsigned char smem[];
  T *kSm = reinterpret_cast<T *>(smem + L::kOff);
  T *vSm = reinterpret_cast<T *>(smem + L::vOff);

  const int total = p.tileStart[p.numSeqs];
  const int tile = total - 1 - int(blockIdx.x), head = blockIdx.y;
  if (tile < 0)
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
  const int kvBegin = p.window > 0 ? max(0, pos0 - p.window + 1) / kBN * kBN : 0;
  const int kvh = head / p.group;

  // Q rows (zeros past the request) staged in V's buffer.
  const T *q = static_cast<const T *>(p.q);
  for (int i = tid; i < kBM * kChunks; i += kPrefillThreads) {
    int r = i / kChunks, c = i % kChunks;
    bool valid = r < rows;
    const T *src = valid ? q + int64_t(qBegin + q0 + r) * p.qStride + int64_t(head) * HD + c * 8 : q;
    cpAsync16(vSm + r * kS + c * 8, src, valid ? 16 : 0);
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
        int64_t page = __ldg(table + (pos >> p.blockSizeLog2));
        off = ((page * p.numKvHeads + kvh) << p.blockSizeLog2 | (pos & bsMask)) * HD + c * 8;
      }
      cpAsync16(dst + r * kS + c * 8, base + off, valid ? 16 : 0);
    }
    cpAsyncCommit();
  };
  if (kvBegin < kvEnd)
    loadKv(kBase, kSm, kvBegin);
  else
    cpAsyncCommit();
  cpAsyncWait<1>(); // Q is in
  __syncthreads();

  // Q as A fragments: rows warp*16 + (lane&7) + 8*((lane>>3)&1), cols 16k + 8*(lane>>4).
  uint32_t qf[kKSteps][4];
#pragma unroll
  for (int k = 0; k < kKSteps; ++k)
    ldmatrixX4(qf[k], vSm + (warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kS + k * 16 +
                          (lane >> 4) * 8);

  // This thread's rows in the tile: r0 = warp*16 + lane/4 and r0 + 8; columns 2*(lane%4)+{0,1}
  // of every 8-wide n-tile.
  const int r0 = warp * 16 + (lane >> 2);
  const int rowPos[2] = {r0 < rows ? pos0 + r0 : -1, r0 + 8 < rows ? pos0 + r0 + 8 : -1};
  const int colBase = 2 * (lane & 3);
  float o[kOTiles][4];
#pragma unroll
  for (int n = 0; n < kOTiles; ++n)
    o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float mRow[2] = {-INFINITY, -INFINITY}, lRow[2] = {0.0f, 0.0f};

  for (int kv0 = kvBegin; kv0 < kvEnd; kv0 += kBN) {
    __syncthreads(); // every warp is done with V (or Q) of the previous step
    loadKv(vBase, vSm, kv0);
    cpAsyncWait<1>(); // K of this step is in
    __syncthreads();

    // S = Q K^T: 16 rows x 64 keys per warp.
    float sAcc[kSTiles][4];
#pragma unroll
    for (int n = 0; n < kSTiles; ++n)
      sAcc[n][0] = sAcc[n][1] = sAcc[n][2] = sAcc[n][3] = 0.0f;
#pragma unroll
    for (int k = 0; k < kKSteps; ++k) {
#pragma unroll
      for (int n = 0; n < kSTiles; n += 2) {
        uint32_t b[4]; // keys 8n..8n+7 (b[0], b[1]) and 8n+8.. (b[2], b[3])
        ldmatrixX4(b, kSm + (n * 8 + (lane & 7) + (lane >> 4) * 8) * kS + k * 16 +
                          ((lane >> 3) & 1) * 8);
        mma16816<T>(sAcc[n], qf[k], b[0], b[1]);
        mma16816<T>(sAcc[n + 1], qf[k], b[2], b[3]);
      }
    }

    // Mask (causal, end of context, window) only where a tile can need it.
    const bool needMask = kv0 + kBN - 1 > pos0 || kv0 + kBN > kvEnd || p.window > 0 ||
                          rowPos[1] < 0;
    if (needMask) {
#pragma unroll
      for (int n = 0; n < kSTiles; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int kp = kv0 + n * 8 + colBase + (e & 1);
          const int rp = rowPos[e >> 1];
          const bool ok = rp >= 0 && kp <= rp && kp < kvEnd && (p.window == 0 || rp - kp < p.window);
          if (!ok)
            sAcc[n][e] = -INFINITY;
        }
    }

    // Online softmax on the accumulators (log2 domain); each row is spread over 4 lanes.
    float alpha[2], mUse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < kSTiles; ++n)
        mx = fmaxf(mx, fmaxf(sAcc[n][2 * h], sAcc[n][2 * h + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mNew = fmaxf(mRow[h], mx * p.scaleLog2);
      mUse[h] = mNew == -INFINITY ? 0.0f : mNew;
      alpha[h] = exp2f(mRow[h] - mUse[h]);
      mRow[h] = mNew;
      lRow[h] *= alpha[h];
    }
    uint32_t pf[kSTiles / 2][4]; // P as A fragments of PV, one per 16 keys
#pragma unroll
    for (int n = 0; n < kSTiles; ++n) {
      float e[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        e[i] = exp2f(fmaf(sAcc[n][i], p.scaleLog2, -mUse[i >> 1]));
        lRow[i >> 1] += e[i];
      }
      pf[n / 2][(n & 1) * 2] = pack2<T>(e[0], e[1]);
      pf[n / 2][(n & 1) * 2 + 1] = pack2<T>(e[2], e[3]);
    }
#pragma unroll
    for (int n = 0; n < kOTiles; ++n) {
      o[n][0] *= alpha[0];
      o[n][1] *= alpha[0];
      o[n][2] *= alpha[1];
      o[n][3] *= alpha[1];
    }

    cpAsyncWait<0>(); // V is in
    __syncthreads();  // and every warp is done with K
    if (kv0 + kBN < kvEnd)
      loadKv(kBase, kSm, kv0 + kBN);
    else
      cpAsyncCommit();

    // O += P V: V rows are keys, read transposed.
#pragma unroll
    for (int k = 0; k < kBN / 16; ++k) {
#pragma unroll
      for (int n = 0; n < kOTiles; n += 2) {
        uint32_t b[4]; // dims 8n.. (b[0], b[1]) and 8n+8.. (b[2], b[3])
        ldmatrixX4Trans(b, vSm + (k * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kS + n * 8 +
                               (lane >> 4) * 8);
        mma16816<T>(o[n], pf[k], b[0], b[1]);
        if (n + 1 < kOTiles)
          mma16816<T>(o[n + 1], pf[k], b[2], b[3]);
      }
    }
  }

  // Row sums over the 4 lanes of each row, then out = O / l.
  T *out = static_cast<T *>(p.out);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float l = lRow[h];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const int r = r0 + 8 * h;
    if (r < rows) {
      T *dst = out + int64_t(qBegin + q0 + r) * p.outStride + int64_t(head) * HD + colBase;
#pragma unroll
      for (int n = 0; n < kOTiles; ++n)
        *reinterpret_cast<uint32_t *>(dst + n * 8) =
            pack2<T>(o[n][2 * h] * inv, o[n][2 * h + 1] * inv);
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
