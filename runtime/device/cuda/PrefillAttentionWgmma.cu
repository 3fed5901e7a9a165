// Paged prefill attention on Hopper's warpgroup MMA (sm_90a; built only for it), in
// FlashAttention-3's scheme without its producer warps (the K/V gather through the block
// table is cp.async by every thread, not TMA):
//   - a block owns 128 query rows of one request and head; two warpgroups own 64 rows each;
//   - Q, and tiles of BN keys of K and V, sit in shared memory in the 128-byte swizzled
//     layout wgmma reads (WgmmaLayout.h); K in two stages, V in three, the next tile's
//     copies in flight while this one is used;
//   - S = Q K^T by wgmma (A and B from shared memory), the online softmax on its
//     accumulators, P packed in place into the A registers of O += P V (B = V read
//     transposed, MN-major);
//   - within a warpgroup, S of tile j runs on the tensor cores with P V of tile j - 1, and
//     the softmax of tile j overlaps the latter (two wgmma groups, wait_group 1);
//   - PINGPONG: the warpgroups also take turns issuing (named barriers), so that one's
//     softmax runs while the other's products do.
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/DeviceMath.cuh"
#include "runtime/device/cuda/DeviceMma.cuh"
#include "runtime/device/cuda/PrefillTile.cuh"
#include "runtime/device/cuda/Wgmma.cuh"
#include "runtime/device/cuda/WgmmaLayout.h"

namespace modelrt::cuda {

namespace {

constexpr int kThreads = 256; // two warpgroups
constexpr int kKStages = 2, kVStages = 3;

template <int HD, int BN> struct Smem {
  static constexpr uint32_t qBytes = kPrefillWgmmaRows * HD * 2;
  static constexpr uint32_t tileBytes = BN * HD * 2;
  static constexpr uint32_t k(int s) { return qBytes + s * tileBytes; }
  static constexpr uint32_t v(int s) { return qBytes + (kKStages + s) * tileBytes; }
  static constexpr size_t total = qBytes + (kKStages + kVStages) * tileBytes + 1024; // + align
};

template <typename T, int N>
__device__ __forceinline__ void mmaSS(float (&d)[N / 2], uint64_t a, uint64_t b, int scaleD) {
  if constexpr (N == 64)
    wgmma::mmaSS64<T>(d, a, b, scaleD);
  else
    wgmma::mmaSS128<T>(d, a, b, scaleD);
}
template <typename T, int N>
__device__ __forceinline__ void mmaRS(float (&d)[N / 2], const uint32_t (&a)[4], uint64_t b,
                                      int scaleD) {
  if constexpr (N == 64)
    wgmma::mmaRS64<T>(d, a, b, scaleD);
  else
    wgmma::mmaRS128<T>(d, a, b, scaleD);
}

// Named barriers 1 and 2: warpgroup w waits on 1 + w for its turn at the tensor cores and
// hands the turn over by arriving at the other's (256 threads each: 128 wait, 128 arrive).
__device__ __forceinline__ void turnWait(int wg) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(1 + wg) : "memory");
}
__device__ __forceinline__ void turnGive(int wg) {
  asm volatile("bar.arrive %0, 256;\n" ::"r"(2 - wg) : "memory");
}

template <typename T, int HD, int BN, bool PINGPONG>
__global__ void __launch_bounds__(kThreads, 1) prefillWgmmaKernel(PrefillParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using S = Smem<HD, BN>;
  constexpr int kBM = kPrefillWgmmaRows;
  constexpr int kChunks = HD / 8;
  constexpr int kSRegs = BN / 2, kORegs = HD / 2;
  constexpr int kKSteps = HD / 16, kPvSteps = BN / 16;
  extern __shared__ __align__(16) unsigned char smemRaw[];
  const uint32_t rawAddr = static_cast<uint32_t>(__cvta_generic_to_shared(smemRaw));
  const uint32_t base = (rawAddr + 1023u) & ~1023u; // the swizzle needs 1024-byte tiles
  unsigned char *smem = smemRaw + (base - rawAddr);

  PrefillTile pt;
  if (!locatePrefillTile(p, kBM, pt))
    return;
  const int head = blockIdx.y, kvh = head / p.group;
  const int tid = threadIdx.x, wg = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
  const int kvBegin = pt.kvBegin, kvEnd = pt.kvEnd;
  const int numTiles = (kvEnd - kvBegin + BN - 1) / BN; // >= 1: a row attends itself

  // Q rows (zeros past the request), then K and V of the first tile: one copy group.
  const T *q = static_cast<const T *>(p.q);
  for (int i = tid; i < kBM * kChunks; i += kThreads) {
    const int r = i / kChunks, c = i % kChunks;
    const bool valid = r < pt.rows;
    const T *src =
        valid ? q + int64_t(pt.qBegin + pt.q0 + r) * p.qStride + int64_t(head) * HD + c * 8 : q;
    cpAsync16(smem + wgmma::chunkOffset(r, c, kBM), src, valid ? 16 : 0);
  }
  const T *kBase = static_cast<const T *>(p.kCache);
  const T *vBase = static_cast<const T *>(p.vCache);
  const int32_t *table = p.blockTable + int64_t(pt.seq) * p.maxBlocksPerSeq;
  auto loadKv = [&](int j) { // tile j into K stage j % 2, V stage j % 3; zeros past the end
    const int kv0 = kvBegin + j * BN;
    unsigned char *kDst = smem + S::k(j % kKStages), *vDst = smem + S::v(j % kVStages);
    for (int i = tid; i < BN * kChunks; i += kThreads) {
      const int r = i / kChunks, c = i % kChunks, pos = kv0 + r;
      const bool valid = pos < kvEnd;
      const int64_t off = valid ? pagedRowOffset(p, table, kvh, pos, HD) + c * 8 : 0;
      const uint32_t o = wgmma::chunkOffset(r, c, BN);
      cpAsync16(kDst + o, kBase + off, valid ? 16 : 0);
      cpAsync16(vDst + o, vBase + off, valid ? 16 : 0);
    }
    cpAsyncCommit();
  };
  loadKv(0);

  // This thread's rows: 64 wg + 16 warp + lane / 4 (+ 8); accumulator columns 8 n + 2 (lane
  // % 4) + {0, 1} of each n-tile (entries 4n..4n+3, the mma.m16n8 layout per warp).
  int rowPos[2];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int r = wg * 64 + warp * 16 + (lane >> 2) + 8 * h;
    rowPos[h] = r < pt.rows ? pt.pos0 + r : -1;
  }
  const int colBase = 2 * (lane & 3);
  float s[kSRegs], o[kORegs];
  uint32_t pf[kPvSteps][4]; // P as the A fragments of P V, 16 keys each
#pragma unroll
  for (int i = 0; i < kORegs; ++i)
    o[i] = 0.0f;
#pragma unroll
  for (int i = 0; i < kSRegs; ++i)
    s[i] = 0.0f; // overwritten by the first k-step (scale-d 0); defined for the compiler
  float mRow[2] = {-INFINITY, -INFINITY}, lRow[2] = {0.0f, 0.0f}, alpha[2];

  const uint32_t qAddr = base;
  auto issueS = [&](int j) {
    const uint32_t kAddr = base + S::k(j % kKStages);
#pragma unroll
    for (int k = 0; k < kKSteps; ++k)
      mmaSS<T, BN>(s, wgmma::kMajorDesc(qAddr, kBM, wg * 64, k), wgmma::kMajorDesc(kAddr, BN, 0, k),
                   k > 0);
  };
  auto issuePV = [&](int j) {
    const uint32_t vAddr = base + S::v(j % kVStages);
#pragma unroll
    for (int k = 0; k < kPvSteps; ++k)
      mmaRS<T, HD>(o, pf[k], wgmma::mnMajorDesc(vAddr, BN, k), 1);
  };
  // Mask, new row maxima, weights (in place, log2 domain), row sums; alpha rescales O.
  auto softmax = [&](int j) {
    const int kv0 = kvBegin + j * BN;
    const bool needMask =
        kv0 + BN - 1 > rowPos[0] || kv0 + BN > kvEnd || p.window > 0 || rowPos[1] < 0;
    if (needMask) {
#pragma unroll
      for (int n = 0; n < BN / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int kp = kv0 + n * 8 + colBase + (e & 1);
          const int rp = rowPos[e >> 1];
          const bool ok =
              rp >= 0 && kp <= rp && kp < kvEnd && (p.window == 0 || rp - kp < p.window);
          if (!ok)
            s[4 * n + e] = -INFINITY;
        }
    }
    float mUse[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < BN / 8; ++n)
        mx = fmaxf(mx, fmaxf(s[4 * n + 2 * h], s[4 * n + 2 * h + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float mNew = fmaxf(mRow[h], mx * p.scaleLog2);
      mUse[h] = mNew == -INFINITY ? 0.0f : mNew;
      alpha[h] = exp2Fast(mRow[h] - mUse[h]);
      mRow[h] = mNew;
      lRow[h] *= alpha[h];
    }
#pragma unroll
    for (int i = 0; i < kSRegs; ++i) {
      s[i] = exp2Fast(fmaf(s[i], p.scaleLog2, -mUse[(i >> 1) & 1]));
      lRow[(i >> 1) & 1] += s[i];
    }
  };
  auto rescaleAndPack = [&] {
    // Once the row maxima settle, alpha is 1 for the whole warp: skip the rescale.
    if (__any_sync(0xffffffffu, alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
      for (int i = 0; i < kORegs; ++i)
        o[i] *= alpha[(i >> 1) & 1];
    }
#pragma unroll
    for (int n = 0; n < BN / 8; ++n) {
      pf[n / 2][(n & 1) * 2] = pack2<T>(s[4 * n], s[4 * n + 1]);
      pf[n / 2][(n & 1) * 2 + 1] = pack2<T>(s[4 * n + 2], s[4 * n + 3]);
    }
  };
  auto fenceS = [&] {
#pragma unroll
    for (int i = 0; i < kSRegs; ++i)
      wgmma::fenceOperand(s[i]);
  };
  auto fenceO = [&] {
#pragma unroll
    for (int i = 0; i < kORegs; ++i)
      wgmma::fenceOperand(o[i]);
  };
  // Before issuing: the registers the wgmmas read or accumulate into are pinned, so the
  // compiler cannot sink their last ordinary writes (rescale, P packing) past wgmma.fence,
  // which would make ptxas serialize the wgmmas.
  auto fenceBeforeIssue = [&] {
    fenceS();
    fenceO();
#pragma unroll
    for (int k = 0; k < kPvSteps; ++k)
#pragma unroll
      for (int i = 0; i < 4; ++i)
        wgmma::fenceOperand(pf[k][i]);
    wgmma::fence();
  };
  // Ping-pong: warpgroup 1 lets 0 go first; both then take numTiles + 1 turns, and 1 skips
  // the hand-over after its last, so every arrival is waited for.
  if constexpr (PINGPONG)
    if (wg == 1)
      turnGive(wg);

  // Tile 0: S, softmax (O is zero, nothing to rescale).
  cpAsyncWait<0>();
  wgmma::fenceProxyAsync();
  __syncthreads();
  if (numTiles > 1)
    loadKv(1);
  if constexpr (PINGPONG)
    turnWait(wg);
  fenceBeforeIssue();
  issueS(0);
  wgmma::commit();
  if constexpr (PINGPONG)
    turnGive(wg);
  wgmma::wait<0>();
  fenceS();
  softmax(0);
  rescaleAndPack();

  for (int j = 1; j < numTiles; ++j) {
    // Tile j's copies are in and visible to the tensor cores; every warpgroup is done with
    // the stages the next copies overwrite (K of j - 1, V of j - 2).
    cpAsyncWait<0>();
    wgmma::fenceProxyAsync();
    __syncthreads();
    if (j + 1 < numTiles)
      loadKv(j + 1);
    if constexpr (PINGPONG)
      turnWait(wg);
    fenceBeforeIssue();
    issueS(j);
    wgmma::commit();
    issuePV(j - 1);
    wgmma::commit();
    if constexpr (PINGPONG)
      turnGive(wg);
    wgmma::wait<1>(); // S of tile j (P V of j - 1 may still run)
    fenceS();
    softmax(j);
    wgmma::wait<0>();
    fenceO();
    rescaleAndPack();
  }

  if constexpr (PINGPONG)
    turnWait(wg);
  fenceBeforeIssue();
  issuePV(numTiles - 1);
  wgmma::commit();
  if constexpr (PINGPONG)
    if (wg == 0)
      turnGive(wg);
  wgmma::wait<0>();
  fenceO();

  // Row sums over the 4 lanes of each row, then out = O / l.
  T *out = static_cast<T *>(p.out);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    float l = lRow[h];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const float inv = l > 0.0f ? 1.0f / l : 0.0f;
    const int r = wg * 64 + warp * 16 + (lane >> 2) + 8 * h;
    if (r < pt.rows) {
      T *dst = out + int64_t(pt.qBegin + pt.q0 + r) * p.outStride + int64_t(head) * HD + colBase;
#pragma unroll
      for (int n = 0; n < HD / 8; ++n)
        *reinterpret_cast<uint32_t *>(dst + n * 8) =
            pack2<T>(o[4 * n + 2 * h] * inv, o[4 * n + 2 * h + 1] * inv);
    }
  }
#endif
}

template <typename T, int HD, bool PINGPONG>
Status launch(const PrefillParams &p, const AttentionBatch &batch, cudaStream_t stream) {
  constexpr int kBN = 128;
  constexpr size_t smem = Smem<HD, kBN>::total;
  auto *kernel = prefillWgmmaKernel<T, HD, kBN, PINGPONG>;
  MODELRT_CUDA_TRY(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  // Sum over requests of ceil(len / 128) <= T / 128 + numSeqs; surplus blocks exit at once.
  const int gridTiles = batch.numTokens / kPrefillWgmmaRows + batch.numSeqs;
  kernel<<<dim3(gridTiles, p.numHeads), kThreads, smem, stream>>>(p);
  MODELRT_LAUNCH_TRY("prefillWgmmaKernel");
  return Status::success();
}

template <typename T>
Status launchForHeadDim(const PrefillParams &p, const AttentionBatch &batch, int headDim,
                        bool pingPong, cudaStream_t stream) {
  switch (headDim) {
  case 64:
    return pingPong ? launch<T, 64, true>(p, batch, stream)
                    : launch<T, 64, false>(p, batch, stream);
  case 128:
    return pingPong ? launch<T, 128, true>(p, batch, stream)
                    : launch<T, 128, false>(p, batch, stream);
  default:
    return Error(ErrorCode::Unsupported, "prefill attention (wgmma): head dim must be 64 or 128");
  }
}

} // namespace

namespace {
bool deviceIsSm90() {
  int dev = 0, major = 0, minor = 0;
  return cudaGetDevice(&dev) == cudaSuccess &&
         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
         cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
         major == 9 && minor == 0;
}
} // namespace

bool prefillWgmmaSupported(int headDim) {
  return (headDim == 64 || headDim == 128) && deviceIsSm90();
}

Status launchPrefillWgmma(const PrefillParams &p, const AttentionBatch &batch, int headDim,
                          ElementType type, bool pingPong, cudaStream_t stream) {
  if (!deviceIsSm90())
    return Error(ErrorCode::Unsupported,
                 "prefill attention (wgmma): needs a compute capability 9.0 GPU (sm_90a)");
  if (type == ElementType::F16)
    return launchForHeadDim<__half>(p, batch, headDim, pingPong, stream);
  return launchForHeadDim<__nv_bfloat16>(p, batch, headDim, pingPong, stream);
}

} // namespace modelrt::cuda
