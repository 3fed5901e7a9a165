// Paged prefill attention (prefill, chunked prefill; in a mixed batch pagedAttention gives
// it the requests of several query rows, the decode kernel the rest) in the FlashAttention-2
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
#include "runtime/device/cuda/DeviceMma.cuh"
#include "runtime/device/cuda/PrefillTile.cuh"
#include "runtime/device/cuda/RequestScan.cuh"

#include <type_traits>

namespace modelrt::cuda {

namespace {

// Shared memory: a K tile and a V tile of BN rows of HD + 8 elements (the 16-byte pad makes
// ldmatrix conflict-free), then, when Q is read from shared memory (MT > 1), Q's BM rows.
template <int HD, int BM, int BN, bool QSMEM> struct PrefillSmem {
  static constexpr int stride = HD + 8;
  static constexpr size_t kvBytes = size_t(BN) * stride * 2;
  static constexpr size_t qOff = 2 * kvBytes;
  static constexpr size_t total = qOff + (QSMEM ? size_t(BM) * stride * 2 : 0);
};

// tileStart[s + 1] = tileStart[s] + ceil(queryLen(s) / bm), one block of 1024 threads;
// with skipSingleRows, a request of one query row gets no tile (the decode kernel serves it).
__global__ void prefillTileKernel(const int32_t *queryStart, int numSeqs, int bm,
                                  bool skipSingleRows, int32_t *tileStart) {
  scanRequests(
      numSeqs,
      [&](int s) {
        const int len = queryStart[s + 1] - queryStart[s];
        return skipSingleRows && len == 1 ? 0 : (len + bm - 1) / bm;
      },
      tileStart);
}

// WARPS warps, each owning MT m-tiles of 16 query rows (BM = 16 * MT * WARPS rows per
// block), against tiles of BN keys. MT == 1 keeps Q's fragments in registers; MT == 2 reads
// them from shared memory at each k-step (the registers go to the second row tile, which
// reuses every K and V fragment loaded).
template <typename T, int HD, int WARPS, int MT, int BN>
__global__ void __launch_bounds__(WARPS * 32) prefillKernel(PrefillParams p) {
  constexpr int kBM = 16 * MT * WARPS;
  constexpr int kThreads = 32 * WARPS;
  constexpr bool kQSmem = MT > 1;
  using L = PrefillSmem<HD, kBM, BN, kQSmem>;
  constexpr int kChunks = HD / 8;
  constexpr int kS = L::stride;
  constexpr int kKSteps = HD / 16; // k-steps of S = QK^T
  constexpr int kOTiles = HD / 8;  // n-tiles of O
  constexpr int kSTiles = BN / 8;  // n-tiles of S
  extern __shared__ __align__(128) unsigned char smem[];
  T *kSm = reinterpret_cast<T *>(smem);
  T *vSm = reinterpret_cast<T *>(smem + L::kvBytes);
  // Q's staging: its own region (MT > 1), else V's buffer when it fits (K of the first tile
  // loads meanwhile), else K's and V's.
  constexpr bool kQOverlapsK = kQSmem || kBM <= BN;
  T *qSm = kQSmem ? reinterpret_cast<T *>(smem + L::qOff) : kBM <= BN ? vSm : kSm;

  PrefillTile pt;
  if (!locatePrefillTile(p, kBM, pt))
    return;
  const int head = blockIdx.y;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int seq = pt.seq, qBegin = pt.qBegin, q0 = pt.q0, rows = pt.rows, pos0 = pt.pos0;
  const int kvBegin = pt.kvBegin, kvEnd = pt.kvEnd;
  const int kvh = head / p.group;

  // Q rows (zeros past the request).
  const T *q = static_cast<const T *>(p.q);
  for (int i = tid; i < kBM * kChunks; i += kThreads) {
    int r = i / kChunks, c = i % kChunks;
    bool valid = r < rows;
    const T *src =
        valid ? q + int64_t(qBegin + q0 + r) * p.qStride + int64_t(head) * HD + c * 8 : q;
    cpAsync16(qSm + r * kS + c * 8, src, valid ? 16 : 0);
  }
  cpAsyncCommit();

  const T *kBase = static_cast<const T *>(p.kCache);
  const T *vBase = static_cast<const T *>(p.vCache);
  const int32_t *table = p.blockTable + int64_t(seq) * p.maxBlocksPerSeq;
  // Table entries 4 rows at a time: 8 spill at d 128 (sm_80 and sm_90; one at a time, as
  // before 2026-11-27, spilled on sm_80).
  auto loadKv = [&](const T *base, T *dst, int kv0) {
    const T *const src[1] = {base};
    unsigned char *const dsts[1] = {reinterpret_cast<unsigned char *>(dst)};
    copyPagedRows<HD, BN, kThreads, 4>(p, table, kvh, kv0, kvEnd, tid, src, dsts, [](int r, int c) {
      return uint32_t((r * kS + c * 8) * sizeof(T));
    });
    cpAsyncCommit();
  };
  auto loadFirstK = [&] {
    if (kvBegin < kvEnd)
      loadKv(kBase, kSm, kvBegin);
    else
      cpAsyncCommit();
  };
  if constexpr (kQOverlapsK) {
    loadFirstK();
    cpAsyncWait<1>(); // Q is in
  } else {
    cpAsyncWait<0>();
  }
  __syncthreads();

  // Q as A fragments: rows 16 * mtile + (lane&7) + 8*((lane>>3)&1), cols 16k + 8*(lane>>4).
  auto qRow = [&](int mt) { return (warp * MT + mt) * 16 + (lane & 7) + ((lane >> 3) & 1) * 8; };
  uint32_t qf[kQSmem ? 1 : kKSteps][4];
  if constexpr (!kQSmem) {
#pragma unroll
    for (int k = 0; k < kKSteps; ++k)
      ldmatrixX4(qf[k], qSm + qRow(0) * kS + k * 16 + (lane >> 4) * 8);
    if constexpr (!kQOverlapsK) {
      __syncthreads();
      loadFirstK();
    }
  }

  // This thread's rows: 16 * mtile + lane/4 (+ 8); columns 2*(lane%4)+{0,1} of each n-tile.
  int rowPos[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = (warp * MT + mt) * 16 + (lane >> 2) + 8 * h;
      rowPos[mt][h] = r < rows ? pos0 + r : -1;
    }
  const int colBase = 2 * (lane & 3);
  float o[MT][kOTiles][4];
  float mRow[MT][2], lRow[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
#pragma unroll
    for (int n = 0; n < kOTiles; ++n)
      o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.0f;
    mRow[mt][0] = mRow[mt][1] = -INFINITY;
    lRow[mt][0] = lRow[mt][1] = 0.0f;
  }

  for (int kv0 = kvBegin; kv0 < kvEnd; kv0 += BN) {
    __syncthreads(); // every warp is done with V (or Q) of the previous step
    loadKv(vBase, vSm, kv0);
    cpAsyncWait<1>(); // K of this step is in
    __syncthreads();

    // S = Q K^T: 16 * MT rows x BN keys per warp.
    float sAcc[MT][kSTiles][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int n = 0; n < kSTiles; ++n)
        sAcc[mt][n][0] = sAcc[mt][n][1] = sAcc[mt][n][2] = sAcc[mt][n][3] = 0.0f;
#pragma unroll
    for (int k = 0; k < kKSteps; ++k) {
      uint32_t qk[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        if constexpr (kQSmem)
          ldmatrixX4(qk[mt], qSm + qRow(mt) * kS + k * 16 + (lane >> 4) * 8);
        else
#pragma unroll
          for (int i = 0; i < 4; ++i)
            qk[mt][i] = qf[k][i];
      }
#pragma unroll
      for (int n = 0; n < kSTiles; n += 2) {
        uint32_t b[4]; // keys 8n..8n+7 (b[0], b[1]) and 8n+8.. (b[2], b[3])
        ldmatrixX4(b, kSm + (n * 8 + (lane & 7) + (lane >> 4) * 8) * kS + k * 16 +
                          ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma16816<T>(sAcc[mt][n], qk[mt], b[0], b[1]);
          mma16816<T>(sAcc[mt][n + 1], qk[mt], b[2], b[3]);
        }
      }
    }

    uint32_t pf[MT][kSTiles / 2][4]; // P as A fragments of PV, one per 16 keys
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      // Mask (causal, end of context, window) only where a tile can need it.
      const bool needMask =
          kv0 + BN - 1 > rowPos[mt][0] || kv0 + BN > kvEnd || p.window > 0 || rowPos[mt][1] < 0;
      if (needMask) {
#pragma unroll
        for (int n = 0; n < kSTiles; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int kp = kv0 + n * 8 + colBase + (e & 1);
            const int rp = rowPos[mt][e >> 1];
            const bool ok =
                rp >= 0 && kp <= rp && kp < kvEnd && (p.window == 0 || rp - kp < p.window);
            if (!ok)
              sAcc[mt][n][e] = -INFINITY;
          }
      }

      // Online softmax on the accumulators (log2 domain); each row is spread over 4 lanes.
      float alpha[2], mUse[2];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < kSTiles; ++n)
          mx = fmaxf(mx, fmaxf(sAcc[mt][n][2 * h], sAcc[mt][n][2 * h + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mNew = fmaxf(mRow[mt][h], mx * p.scaleLog2);
        mUse[h] = mNew == -INFINITY ? 0.0f : mNew;
        alpha[h] = exp2Fast(mRow[mt][h] - mUse[h]);
        mRow[mt][h] = mNew;
        lRow[mt][h] *= alpha[h];
      }
#pragma unroll
      for (int n = 0; n < kSTiles; ++n) {
        float e[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          e[i] = exp2Fast(fmaf(sAcc[mt][n][i], p.scaleLog2, -mUse[i >> 1]));
          lRow[mt][i >> 1] += e[i];
        }
        pf[mt][n / 2][(n & 1) * 2] = pack2<T>(e[0], e[1]);
        pf[mt][n / 2][(n & 1) * 2 + 1] = pack2<T>(e[2], e[3]);
      }
      // Once the row maxima settle, alpha is 1 for the whole warp: skip the rescale.
      if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
        for (int n = 0; n < kOTiles; ++n) {
          o[mt][n][0] *= alpha[0];
          o[mt][n][1] *= alpha[0];
          o[mt][n][2] *= alpha[1];
          o[mt][n][3] *= alpha[1];
        }
      }
    }

    cpAsyncWait<0>(); // V is in
    __syncthreads();  // and every warp is done with K
    if (kv0 + BN < kvEnd)
      loadKv(kBase, kSm, kv0 + BN);
    else
      cpAsyncCommit();

      // O += P V: V rows are keys, read transposed.
#pragma unroll
    for (int k = 0; k < BN / 16; ++k) {
#pragma unroll
      for (int n = 0; n < kOTiles; n += 2) {
        uint32_t b[4]; // dims 8n.. (b[0], b[1]) and 8n+8.. (b[2], b[3])
        ldmatrixX4Trans(b, vSm + (k * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kS + n * 8 +
                               (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma16816<T>(o[mt][n], pf[mt][k], b[0], b[1]);
          mma16816<T>(o[mt][n + 1], pf[mt][k], b[2], b[3]);
        }
      }
    }
  }

  // Row sums over the 4 lanes of each row, then out = O / l.
  T *out = static_cast<T *>(p.out);
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = lRow[mt][h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      l += sinkShare(p, head, mRow[mt][h] == -INFINITY ? 0.0f : mRow[mt][h]);
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      const int r = (warp * MT + mt) * 16 + (lane >> 2) + 8 * h;
      if (r < rows) {
        T *dst = out + int64_t(qBegin + q0 + r) * p.outStride + int64_t(head) * HD + colBase;
#pragma unroll
        for (int n = 0; n < kOTiles; ++n)
          *reinterpret_cast<uint32_t *>(dst + n * 8) =
              pack2<T>(o[mt][n][2 * h] * inv, o[mt][n][2 * h + 1] * inv);
      }
    }
}

template <typename T, int HD, int WARPS = 4, int MT = 2, int BN = 64>
Status launchPrefill(const PrefillParams &p, const AttentionBatch &batch, int numHeads,
                     bool skipSingleRows, cudaStream_t stream) {
  constexpr int bm = 16 * MT * WARPS;
  prefillTileKernel<<<1, 1024, 0, stream>>>(batch.queryStart, batch.numSeqs, bm, skipSingleRows,
                                            const_cast<int32_t *>(p.tileStart));
  MODELRT_LAUNCH_TRY("prefillTileKernel");
  // Sum over requests of ceil(len / bm) <= T / bm + numSeqs; surplus blocks exit at once.
  const int gridTiles = batch.numTokens / bm + batch.numSeqs;
  constexpr size_t smem = PrefillSmem<HD, bm, BN, (MT > 1)>::total;
  auto *kernel = prefillKernel<T, HD, WARPS, MT, BN>;
  MODELRT_CUDA_TRY(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  kernel<<<dim3(gridTiles, numHeads), WARPS * 32, smem, stream>>>(p);
  MODELRT_LAUNCH_TRY("prefillKernel");
  return Status::success();
}

template <typename T>
Status launchPrefillForHeadDim(const PrefillParams &p, const AttentionBatch &batch, int headDim,
                               int numHeads, bool skipSingleRows, cudaStream_t stream) {
  switch (headDim) {
  case 64:
    return launchPrefill<T, 64>(p, batch, numHeads, skipSingleRows, stream);
  case 80:
    return launchPrefill<T, 80>(p, batch, numHeads, skipSingleRows, stream);
  case 96:
    return launchPrefill<T, 96>(p, batch, numHeads, skipSingleRows, stream);
  case 128:
    return launchPrefill<T, 128>(p, batch, numHeads, skipSingleRows, stream);
  default:
    return Error(ErrorCode::Unsupported, "prefill attention: unsupported head dim");
  }
}

} // namespace

#ifndef MODELRT_HAVE_WGMMA
Status launchPrefillWgmma(const PrefillParams &, const AttentionBatch &, int, ElementType,
                          WgmmaSchedule, cudaStream_t) {
  return Error(ErrorCode::Unsupported,
               "prefill attention (wgmma): not built (no sm_90 in the CUDA architectures)");
}
bool prefillWgmmaSupported(int) { return false; }
void setPrefillWgmmaPersistentGridForTesting(int) {}
#endif

size_t prefillWorkspaceBytes(const AttentionBatch &batch) {
  return (size_t(batch.numSeqs + 1) * sizeof(int32_t) + 255) / 256 * 256;
}

Status pagedAttentionPrefill(const AttentionShape &shape, const PagedKvLayout &layout,
                             const AttentionBatch &batch, const AttentionArgs &args,
                             void *workspace, size_t workspaceBytes, cudaStream_t stream) {
  return pagedAttentionPrefillVariant(shape, layout, batch, args, workspace, workspaceBytes, stream,
                                      0);
}

Status pagedAttentionPrefillVariant(const AttentionShape &shape, const PagedKvLayout &layout,
                                    const AttentionBatch &batch, const AttentionArgs &args,
                                    void *workspace, size_t workspaceBytes, cudaStream_t stream,
                                    int variant) {
  return launchPrefillRows(shape, layout, batch, args, workspace, workspaceBytes, stream, variant,
                           false);
}

Status launchPrefillRows(const AttentionShape &shape, const PagedKvLayout &layout,
                         const AttentionBatch &batch, const AttentionArgs &args, void *workspace,
                         size_t workspaceBytes, cudaStream_t stream, int variant,
                         bool skipSingleRows) {
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
  if (variant == 0 && prefillWgmmaSupported(shape.headDim))
    variant = -1; // the Hopper kernel with ping-pong
  if (variant == -1 || prefillVariantIsHopper(variant)) {
    prefillTileKernel<<<1, 1024, 0, stream>>>(batch.queryStart, batch.numSeqs, kPrefillWgmmaRows,
                                              skipSingleRows, const_cast<int32_t *>(p.tileStart));
    MODELRT_LAUNCH_TRY("prefillTileKernel");
    const WgmmaSchedule schedule =
        variant == -1                                 ? WgmmaSchedule::kPingPong
        : variant == kPrefillVariantWgmma             ? WgmmaSchedule::kPlain
        : variant == kPrefillVariantWgmmaWs           ? WgmmaSchedule::kWarpSpecialized
        : variant == kPrefillVariantWgmmaWsPersistent ? WgmmaSchedule::kWarpSpecializedPersistent
        : variant == kPrefillVariantWgmmaWsTma        ? WgmmaSchedule::kWarpSpecializedTma
                                               : WgmmaSchedule::kWarpSpecializedPersistentTma;
    return launchPrefillWgmma(p, batch, shape.headDim, layout.type, schedule, stream);
  }
  if (variant == 1) {
    if (shape.headDim != 128)
      return Error(ErrorCode::Unsupported, "prefill attention: no such variant for this shape");
    auto run = [&](auto tag) -> Status {
      using T = decltype(tag);
      // 4 warps of one 16-row tile each, Q in registers (the default until 2026-11-26).
      return launchPrefill<T, 128, 4, 1, 64>(p, batch, shape.numHeads, skipSingleRows, stream);
    };
    return layout.type == ElementType::F16 ? run(__half()) : run(__nv_bfloat16());
  }
  if (variant != 0 && variant != kPrefillVariantMmaSync)
    return Error(ErrorCode::Unsupported, "prefill attention: no such variant");
  if (layout.type == ElementType::F16)
    return launchPrefillForHeadDim<__half>(p, batch, shape.headDim, shape.numHeads, skipSingleRows,
                                           stream);
  return launchPrefillForHeadDim<__nv_bfloat16>(p, batch, shape.headDim, shape.numHeads,
                                                skipSingleRows, stream);
}

} // namespace modelrt::cuda
