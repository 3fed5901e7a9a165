// Paged prefill attention on Hopper's warpgroup MMA (sm_90a; built only for it), in
// FlashAttention-3's scheme. A block owns 128 query rows of one request and head; two
// consumer warpgroups own 64 rows each:
//   - Q, and tiles of BN keys of K and V, sit in shared memory in the 128-byte swizzled
//     layout wgmma reads (WgmmaLayout.h); K in two stages, V in three;
//   - S = Q K^T by wgmma (A and B from shared memory), the online softmax on its
//     accumulators, P packed in place into the A registers of O += P V (B = V read
//     transposed, MN-major);
//   - within a warpgroup, S of tile j runs on the tensor cores with P V of tile j - 1, and
//     the softmax of tile j overlaps the latter (two wgmma groups, wait_group 1);
//   - ping-pong: the warpgroups also take turns issuing (named barriers), so that one's
//     softmax runs while the other's products do.
// Two ways to feed them (WgmmaSchedule):
//   - kPlain / kPingPong: every thread gathers the next tile through the block table with
//     cp.async right after issuing this tile's products, and a block barrier per tile hands
//     the stages over;
//   - kWarpSpecialized: a third, producer warpgroup does the gathering (FlashAttention-3's
//     producer warps, with cp.async for the paged gather where FA3 uses TMA on contiguous
//     K/V) and hands stages over with mbarriers, full and empty per stage, so the consumers
//     never wait for each other except at their turns; the producer gives up registers to
//     them (setmaxnreg).
#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/CudaStatus.h"
#include "runtime/device/cuda/DeviceMath.cuh"
#include "runtime/device/cuda/DeviceMma.cuh"
#include "runtime/device/cuda/PrefillTile.cuh"
#include "runtime/device/cuda/Wgmma.cuh"
#include "runtime/device/cuda/WgmmaLayout.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cuda.h> // CUtensorMap (types only; the encoder comes through the runtime)
#include <string>
#include <type_traits>

namespace modelrt::cuda {

namespace {

constexpr int kKStages = 2, kVStages = 3;
constexpr int kBM = kPrefillWgmmaRows;
// The warp-specialized kernel: one producer and two consumer warpgroups; registers move from
// the producer to the consumers (128 x 40 + 256 x 232 = 384 x 168, the launch's budget).
// The producer reads kProducerGroup block-table entries at a time (8 spill in 40 registers).
constexpr int kWsThreads = 384, kProducerRegs = 40, kConsumerRegs = 232, kProducerGroup = 4;

// Shared memory: QS Q stages, then the K and V stages; `total` adds the slack for the
// 1024-byte alignment of the base. The two-warpgroup kernel has one Q stage.
template <int HD, int BN, int QS = 1> struct Smem {
  static constexpr uint32_t qBytes = kBM * HD * 2;
  static constexpr uint32_t tileBytes = BN * HD * 2;
  static constexpr uint32_t q(int s) { return s * qBytes; }
  static constexpr uint32_t k(int s) { return QS * qBytes + s * tileBytes; }
  static constexpr uint32_t v(int s) { return QS * qBytes + (kKStages + s) * tileBytes; }
  static constexpr uint32_t tilesEnd = QS * qBytes + (kKStages + kVStages) * tileBytes;
  static constexpr size_t total = tilesEnd + 1024;
};

// The warp-specialized kernel's: two Q stages (a persistent block loads the next work
// item's Q while it finishes one), then after the tiles the mbarriers (8 bytes each), full
// and empty per stage.
template <int HD, int BN> struct WsSmem : Smem<HD, BN, 2> {
  static constexpr uint32_t bars = Smem<HD, BN, 2>::tilesEnd;
  static constexpr uint32_t fullQ(int s) { return bars + 8 * s; }
  static constexpr uint32_t emptyQ(int s) { return bars + 8 * (2 + s); }
  static constexpr uint32_t fullK(int s) { return bars + 8 * (4 + s); }
  static constexpr uint32_t emptyK(int s) { return bars + 8 * (4 + kKStages + s); }
  static constexpr uint32_t fullV(int s) { return bars + 8 * (4 + 2 * kKStages + s); }
  static constexpr uint32_t emptyV(int s) { return bars + 8 * (4 + 2 * kKStages + kVStages + s); }
  static constexpr size_t total = Smem<HD, BN, 2>::total + (emptyV(kVStages) - bars);
  static_assert(total <= 227 * 1024, "more shared memory than a Hopper block may have");
};

// mbarrier operations on shared-memory addresses.
__device__ __forceinline__ void mbarInit(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarArrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// An arrival that happens once every cp.async this thread issued before it has landed (the
// barrier's count includes it: .noinc).
__device__ __forceinline__ void mbarArriveOnCopies(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
// One arrival that also expects `bytes` more of asynchronous (TMA) writes before the phase
// completes.
__device__ __forceinline__ void mbarExpectTx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes)
               : "memory");
}
// A TMA load of the box at (c0, c1) of `map` into shared memory at `dst`, completing its
// bytes on `bar`.
__device__ __forceinline__ void tmaLoad2d(uint32_t dst, const CUtensorMap *map, int c0, int c1,
                                          uint32_t bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes"
               " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
               "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(bar)
               : "memory");
}
// Whether the barrier's phase of this parity has completed (the instruction waits a while
// in hardware before it says no).
__device__ __forceinline__ bool mbarTryWait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  asm volatile("{\n.reg .pred p;\n"
               "mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
               "selp.u32 %0, 1, 0, p;\n"
               "}\n"
               : "=r"(done)
               : "r"(bar), "r"(parity)
               : "memory");
  return done != 0;
}
__device__ __forceinline__ uint64_t globalTimerNs() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;\n" : "=l"(t));
  return t;
}
// Waits until the barrier's phase of this parity has completed. A wait of more than 5 s
// is a broken pipeline, not a slow one: the kernel traps (the launch fails with an error)
// instead of hanging the process and every later test on the GPU.
__device__ __forceinline__ void mbarWait(uint32_t bar, uint32_t parity) {
  if (mbarTryWait(bar, parity))
    return;
  const uint64_t start = globalTimerNs();
  while (!mbarTryWait(bar, parity))
    if (globalTimerNs() - start > 5000000000ull)
      __trap();
}

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

// Named barriers 1 and 2: consumer warpgroup g waits on 1 + g for its turn at the tensor
// cores and hands the turn over by arriving at the other's (256 threads each: 128 wait, 128
// arrive).
__device__ __forceinline__ void turnWait(int g) {
  asm volatile("bar.sync %0, 256;\n" ::"r"(1 + g) : "memory");
}
__device__ __forceinline__ void turnGive(int g) {
  asm volatile("bar.arrive %0, 256;\n" ::"r"(2 - g) : "memory");
}

// One consumer warpgroup's state and math: 64 query rows against tiles of BN keys. This
// thread's rows are 16 warp + lane / 4 (+ 8) of the warpgroup's; its accumulator columns
// 8 n + 2 (lane % 4) + {0, 1} of each n-tile (entries 4n..4n+3, the mma.m16n8 layout per
// warp).
template <typename T, int HD, int BN> struct Consumer {
  static constexpr int kSRegs = BN / 2, kORegs = HD / 2;
  static constexpr int kKSteps = HD / 16, kPvSteps = BN / 16;
  float s[kSRegs], o[kORegs];
  uint32_t pf[kPvSteps][4]; // P as the A fragments of P V, 16 keys each
  float mRow[2], lRow[2], alpha[2];
  int rowPos[2], colBase;

  // row0: the warpgroup's first row within the block's 128.
  __device__ __forceinline__ void init(const PrefillTile &pt, int row0) {
    const int warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = row0 + warp * 16 + (lane >> 2) + 8 * h;
      rowPos[h] = r < pt.rows ? pt.pos0 + r : -1;
      mRow[h] = -INFINITY;
      lRow[h] = 0.0f;
    }
    colBase = 2 * (lane & 3);
#pragma unroll
    for (int i = 0; i < kORegs; ++i)
      o[i] = 0.0f;
#pragma unroll
    for (int i = 0; i < kSRegs; ++i)
      s[i] = 0.0f; // overwritten by the first k-step (scale-d 0); defined for the compiler
  }
  __device__ __forceinline__ void issueS(uint32_t qAddr, int row0, uint32_t kAddr) {
#pragma unroll
    for (int k = 0; k < kKSteps; ++k)
      mmaSS<T, BN>(s, wgmma::kMajorDesc(qAddr, kBM, row0, k), wgmma::kMajorDesc(kAddr, BN, 0, k),
                   k > 0);
  }
  __device__ __forceinline__ void issuePV(uint32_t vAddr) {
#pragma unroll
    for (int k = 0; k < kPvSteps; ++k)
      mmaRS<T, HD>(o, pf[k], wgmma::mnMajorDesc(vAddr, BN, k), 1);
  }
  // Mask, new row maxima, weights (in place, log2 domain), row sums; alpha rescales O.
  // The weights are computed inside both arms of the mask branch, not after it: ptxas
  // schedules a wgmma wait at the top of its basic block, so with the weights in the block
  // that ends at the next wait_group 0 (P V of the previous tile) they ran after that
  // product finished instead of beside it (SASS: every MUFU.EX2 after the wait; session 8's
  // measured kernels had that). The branch is warp-uniform (the shuffles sit in both arms).
  __device__ __forceinline__ void softmax(const PrefillParams &p, int kv0, int kvEnd) {
    const bool needMask = __any_sync(0xffffffffu, kv0 + BN - 1 > rowPos[0] || kv0 + BN > kvEnd ||
                                                      p.window > 0 || rowPos[1] < 0);
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
      weights(p);
    } else {
      weights(p);
    }
  }
  __device__ __forceinline__ void weights(const PrefillParams &p) {
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
  }
  __device__ __forceinline__ void rescaleAndPack() {
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
  }
  __device__ __forceinline__ void fenceS() {
#pragma unroll
    for (int i = 0; i < kSRegs; ++i)
      wgmma::fenceOperand(s[i]);
  }
  __device__ __forceinline__ void fenceO() {
#pragma unroll
    for (int i = 0; i < kORegs; ++i)
      wgmma::fenceOperand(o[i]);
  }
  // Before issuing: the registers the wgmmas read or accumulate into are pinned, so the
  // compiler cannot sink their last ordinary writes (rescale, P packing) past wgmma.fence,
  // which would make ptxas serialize the wgmmas.
  __device__ __forceinline__ void fenceBeforeIssue() {
    fenceS();
    fenceO();
#pragma unroll
    for (int k = 0; k < kPvSteps; ++k)
#pragma unroll
      for (int i = 0; i < 4; ++i)
        wgmma::fenceOperand(pf[k][i]);
    wgmma::fence();
  }
  // Row sums over the 4 lanes of each row, then out = O / l.
  __device__ __forceinline__ void store(const PrefillParams &p, const PrefillTile &pt, int head,
                                        int row0) {
    const int warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
    T *out = static_cast<T *>(p.out);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = lRow[h];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      l += sinkShare(p, head, mRow[h] == -INFINITY ? 0.0f : mRow[h]);
      const float inv = l > 0.0f ? 1.0f / l : 0.0f;
      const int r = row0 + warp * 16 + (lane >> 2) + 8 * h;
      if (r < pt.rows) {
        T *dst = out + int64_t(pt.qBegin + pt.q0 + r) * p.outStride + int64_t(head) * HD + colBase;
#pragma unroll
        for (int n = 0; n < HD / 8; ++n)
          *reinterpret_cast<uint32_t *>(dst + n * 8) =
              pack2<T>(o[4 * n + 2 * h] * inv, o[4 * n + 2 * h + 1] * inv);
      }
    }
  }
};

// The block's Q rows (zeros past the request) by NT threads (t = 0..NT-1), with cp.async,
// UNROLL copies in flight per thread per pass.
template <typename T, int HD, int NT, int UNROLL = 4>
__device__ __forceinline__ void copyQ(const PrefillParams &p, const PrefillTile &pt, int head,
                                      unsigned char *dst, int t) {
  constexpr int kChunks = HD / 8;
  const T *q = static_cast<const T *>(p.q);
#pragma unroll UNROLL
  for (int i = t; i < kBM * kChunks; i += NT) {
    const int r = i / kChunks, c = i % kChunks;
    const bool valid = r < pt.rows;
    const T *src =
        valid ? q + int64_t(pt.qBegin + pt.q0 + r) * p.qStride + int64_t(head) * HD + c * 8 : q;
    cpAsync16(dst + wgmma::chunkOffset(r, c, kBM), src, valid ? 16 : 0);
  }
}

// Tile j of the block's K and V (PART 2: into kDst and vDst) or of K or V alone (0, 1: into
// kDst) into shared memory, zeros past the end, by NT threads reading GROUP block-table
// entries at a time.
template <typename T, int HD, int BN, int NT, int GROUP, int PART = 2>
__device__ __forceinline__ void copyKvTile(const PrefillParams &p, const PrefillTile &pt,
                                           const int32_t *table, int kvh, int j,
                                           unsigned char *kDst, unsigned char *vDst, int t) {
  const T *const k = static_cast<const T *>(p.kCache), *const v = static_cast<const T *>(p.vCache);
  auto offset = [](int r, int c) { return wgmma::chunkOffset(r, c, BN); };
  const int kv0 = pt.kvBegin + j * BN;
  if constexpr (PART == 2) {
    const T *const src[2] = {k, v};
    unsigned char *const dst[2] = {kDst, vDst};
    copyPagedRows<HD, BN, NT, GROUP>(p, table, kvh, kv0, pt.kvEnd, t, src, dst, offset);
  } else {
    const T *const src[1] = {PART == 0 ? k : v};
    unsigned char *const dst[1] = {kDst};
    copyPagedRows<HD, BN, NT, GROUP>(p, table, kvh, kv0, pt.kvEnd, t, src, dst, offset);
  }
}

// Tile j of the block's K (or V) by TMA, into the swizzled tile at `dst`, completing on
// `bar`: one box of 64 head dims x a page's rows per page and column block. `map` views the
// cache as rows of headDim elements (row = (page * numKvHeads + kvh) * blockSize + offset),
// boxes of 64 x blockSize with the 128-byte swizzle, which at a 1024-byte aligned
// destination is the tile's layout (wgmma::chunkOffset). Key tiles start at multiples of
// 128 positions (locatePrefillTile), so with pages of 8 to 128 tokens each box is one page;
// pages past the end repeat the last (masked; and TMA fills rows outside the cache with
// zeros instead of faulting). The unwritten tail of the last page is read as it is, so the
// cache must hold finite values there (the executor zeroes it at allocation): its weight
// is zero, but 0 x NaN is not.
template <int HD, int BN> struct TmaKvTile {
  int row;   // lane i < BN / blockSize: the cache row of the tile's page i
  int pages; // BN / blockSize

  // Every lane of the warp: lane i reads page i's block-table entry, in parallel (one
  // lane reading them in turn made a tile wait on as many dependent loads).
  __device__ __forceinline__ void locate(const PrefillParams &p, const PrefillTile &pt,
                                         const int32_t *table, int kvh, int j, int lane) {
    const int log2 = p.blockSizeLog2;
    const int kv0 = pt.kvBegin + j * BN;
    const int lastPage = max(0, pt.kvEnd - 1) >> log2;
    pages = BN >> log2;
    row = 0;
    if (lane < pages) {
      const int page = min((kv0 + (lane << log2)) >> log2, lastPage);
      row = (__ldg(table + page) * p.numKvHeads + kvh) << log2;
    }
  }
  // Every lane of the warp (the shuffles); lane 0 issues the copies into the tile at `dst`,
  // completing on `bar`.
  __device__ __forceinline__ void load(const CUtensorMap *map, int log2, uint32_t dst, uint32_t bar,
                                       int lane) const {
    if (lane == 0)
      mbarExpectTx(bar, uint32_t(BN * HD * 2));
    for (int i = 0; i < pages; ++i) {
      const int r = __shfl_sync(0xffffffffu, row, i);
      if (lane == 0)
#pragma unroll
        for (int cb = 0; cb < HD / 64; ++cb)
          tmaLoad2d(dst + uint32_t(cb * BN * 128 + (i << log2) * 128), map, cb * 64, r, bar);
    }
  }
};

// What a block serves and where: its shared memory (the base aligned to 1024 bytes for the
// swizzle; the allocation has the slack), query tile, head, and key tiles.
template <int BN> struct BlockTile {
  unsigned char *smem;
  uint32_t base; // smem's shared-space address
  PrefillTile pt;
  int head, kvh, numTiles;
  const int32_t *table; // the request's block table

  __device__ __forceinline__ void initSmem(unsigned char *raw) {
    const uint32_t rawAddr = static_cast<uint32_t>(__cvta_generic_to_shared(raw));
    base = (rawAddr + 1023u) & ~1023u;
    smem = raw + (base - rawAddr);
  }
  // The fromEnd-th query tile from the last, for head h; false past the batch's tiles.
  __device__ __forceinline__ bool locate(const PrefillParams &p, int fromEnd, int h) {
    if (!locatePrefillTile(p, kBM, fromEnd, pt))
      return false;
    head = h;
    kvh = head / p.group;
    // >= 1: a row attends itself (and a malformed batch, context shorter than its query,
    // gets one fully masked tile and zeros rather than a wait for a tile never loaded).
    numTiles = max(1, (pt.kvEnd - pt.kvBegin + BN - 1) / BN);
    table = p.blockTable + int64_t(pt.seq) * p.maxBlocksPerSeq;
    return true;
  }
};

// Every thread gathers; a block barrier per tile. Two warpgroups.
template <typename T, int HD, int BN, bool PINGPONG>
__global__ void __launch_bounds__(256, 1) prefillWgmmaKernel(PrefillParams p) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using S = Smem<HD, BN>;
  extern __shared__ __align__(16) unsigned char smemRaw[];
  BlockTile<BN> b;
  b.initSmem(smemRaw);
  if (!b.locate(p, blockIdx.x, blockIdx.y))
    return;
  const PrefillTile &pt = b.pt;
  unsigned char *smem = b.smem;
  const uint32_t base = b.base;
  const int head = b.head, kvh = b.kvh, numTiles = b.numTiles;
  const int32_t *table = b.table;
  const int tid = threadIdx.x, wg = tid >> 7;
  auto loadKv = [&](int j) {
    copyKvTile<T, HD, BN, 256, 8>(p, pt, table, kvh, j, smem + S::k(j % kKStages),
                                  smem + S::v(j % kVStages), tid);
    cpAsyncCommit();
  };
  // Q, then K and V of the first tile: one copy group.
  copyQ<T, HD, 256>(p, pt, head, smem, tid);
  loadKv(0);

  Consumer<T, HD, BN> c;
  const int row0 = wg * 64;
  c.init(pt, row0);
  // Ping-pong: warpgroup 1 lets 0 go first; both then take numTiles + 1 turns, and 1 skips
  // the hand-over after its last, so every arrival is waited for.
  if constexpr (PINGPONG)
    if (wg == 1)
      turnGive(wg);

  // Tile 0: S, softmax (O is zero, nothing to rescale).
  cpAsyncWait<0>();
  wgmma::fenceProxyAsync();
  __syncthreads();
  if constexpr (PINGPONG)
    turnWait(wg);
  c.fenceBeforeIssue();
  c.issueS(base, row0, base + S::k(0));
  wgmma::commit();
  if constexpr (PINGPONG)
    turnGive(wg);
  if (numTiles > 1)
    loadKv(1);
  wgmma::wait<0>();
  c.fenceS();
  c.softmax(p, pt.kvBegin, pt.kvEnd);
  c.rescaleAndPack();

  for (int j = 1; j < numTiles; ++j) {
    // Tile j's copies are in and visible to the tensor cores; every warpgroup is done with
    // the stages the next copies overwrite (K of j - 1, V of j - 2).
    cpAsyncWait<0>();
    wgmma::fenceProxyAsync();
    __syncthreads();
    if constexpr (PINGPONG)
      turnWait(wg);
    c.fenceBeforeIssue();
    c.issueS(base, row0, base + S::k(j % kKStages));
    wgmma::commit();
    c.issuePV(base + S::v((j - 1) % kVStages));
    wgmma::commit();
    if constexpr (PINGPONG)
      turnGive(wg);
    // The next tile's copies go out while the tensor cores work (they touch neither stage
    // read by the products just issued).
    if (j + 1 < numTiles)
      loadKv(j + 1);
    wgmma::wait<1>(); // S of tile j (P V of j - 1 may still run)
    c.fenceS();
    c.softmax(p, pt.kvBegin + j * BN, pt.kvEnd);
    wgmma::wait<0>();
    c.fenceO();
    c.rescaleAndPack();
  }

  if constexpr (PINGPONG)
    turnWait(wg);
  c.fenceBeforeIssue();
  c.issuePV(base + S::v((numTiles - 1) % kVStages));
  wgmma::commit();
  if constexpr (PINGPONG)
    if (wg == 0)
      turnGive(wg);
  wgmma::wait<0>();
  c.fenceO();
  c.store(p, pt, head, row0);
#endif
}

// Warp-specialized: warpgroup 0 gathers, 1 and 2 compute (ping-pong), stages handed over by
// mbarriers. Full barriers count the producer's 128 threads (their copies landing), empty
// ones the consumers' 256 (done reading). Work items w = blockIdx.x, + gridDim.x, ... (the
// query tile w / heads from the last, head w % heads): one per block, or a persistent grid
// of one block per SM that walks them, the producer running ahead into the next item while
// the consumers finish one. Every role walks the same items; item n uses Q stage n % 2,
// and the block's t-th key tile (over all its items) K stage t % 2 and V stage t % 3, the
// u-th use of a stage completing phase u of its full barrier and u of its empty one.
// TMA: K and V by TMA from the producer's first thread (kMap, vMap), Q still by cp.async.
template <typename T, int HD, int BN, bool TMA>
__global__ void __launch_bounds__(kWsThreads, 1)
    prefillWgmmaWsKernel(PrefillParams p, const __grid_constant__ CUtensorMap kMap,
                         const __grid_constant__ CUtensorMap vMap) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using S = WsSmem<HD, BN>;
  extern __shared__ __align__(16) unsigned char smemRaw[];
  BlockTile<BN> b;
  b.initSmem(smemRaw);
  const uint32_t base = b.base;
  const int tid = threadIdx.x, wg = tid >> 7;
  // Work items are ints (the host keeps their count and a grid's stride past it under 2^31):
  // a 64-bit division is a call, whose saved registers spilled in the 40-register producer.
  auto item = [&](int w) { return b.locate(p, w / p.numHeads, w % p.numHeads); };
  if (!item(blockIdx.x))
    return;
  const int numItems = p.tileStart[p.numSeqs] * p.numHeads;
  if (tid == 0) {
    for (int s = 0; s < 2; ++s) {
      mbarInit(base + S::fullQ(s), TMA ? 96 : 128); // the threads that copy Q
      mbarInit(base + S::emptyQ(s), 256);
    }
    // Full K/V: the producer's 128 cp.async arrivals, or one TMA arrival with its bytes.
    constexpr int kvArrivals = TMA ? 1 : 128;
    for (int s = 0; s < kKStages; ++s) {
      mbarInit(base + S::fullK(s), kvArrivals);
      mbarInit(base + S::emptyK(s), 256);
    }
    for (int s = 0; s < kVStages; ++s) {
      mbarInit(base + S::fullV(s), kvArrivals);
      mbarInit(base + S::emptyV(s), 256);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();

  if (wg == 0) {
    // Producer: an item's Q once both consumers are done with the stage's last (item
    // n - 2), then each key tile into its stages once they have released what was there
    // (use u waits for release u - 1). K before V, each with its own arrival (an arrival
    // waits for all earlier copies), so S of a tile need not wait for its V; the
    // block-table entries are read twice.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kProducerRegs));
    if constexpr (TMA) {
      if (tid < 32) {
        // Warp 0: each item's K and V tiles by TMA, lane 0 issuing, once their stages are
        // released.
        // Key tile j (the block's t-th) of one cache into stage t % stages.
        // Key tile j (the block's t-th) of one cache into stage t % stages, once released.
        auto load = [&](const TmaKvTile<HD, BN> &tile, const CUtensorMap *map, int t, int stages,
                        uint32_t dst, uint32_t full, uint32_t empty) {
          if (t >= stages)
            mbarWait(empty, (t / stages - 1) & 1);
          tile.load(map, p.blockSizeLog2, dst, full, tid);
          __syncwarp();
        };
        int t = 0;
        for (int w = blockIdx.x; item(w); w += gridDim.x)
          for (int j = 0; j < b.numTiles; ++j, ++t) {
            const int sk = t % kKStages, sv = t % kVStages;
            TmaKvTile<HD, BN> tile;
            tile.locate(p, b.pt, b.table, b.kvh, j, tid);
            load(tile, &kMap, t, kKStages, base + S::k(sk), base + S::fullK(sk),
                 base + S::emptyK(sk));
            load(tile, &vMap, t, kVStages, base + S::v(sv), base + S::fullV(sv),
                 base + S::emptyV(sv));
          }
        return;
      }
      // Warps 1-3: each item's Q with cp.async, once both consumers are done with the
      // stage's last (item n - 2).
      for (int w = blockIdx.x, n = 0; item(w); w += gridDim.x, ++n) {
        const int qs = n % 2;
        if (n >= 2)
          mbarWait(base + S::emptyQ(qs), (n / 2 - 1) & 1);
        // Not unrolled: the 40 registers left after setmaxnreg hold no more (unrolled by 4,
        // the item counter spilled).
        copyQ<T, HD, 96, 1>(p, b.pt, b.head, b.smem + S::q(qs), tid - 32);
        mbarArriveOnCopies(base + S::fullQ(qs));
      }
      asm volatile("cp.async.wait_all;\n" ::: "memory");
      return;
    }
    int t = 0;
    for (int w = blockIdx.x, n = 0; item(w); w += gridDim.x, ++n) {
      const int qs = n % 2;
      if (n >= 2)
        mbarWait(base + S::emptyQ(qs), (n / 2 - 1) & 1);
      copyQ<T, HD, 128>(p, b.pt, b.head, b.smem + S::q(qs), tid);
      mbarArriveOnCopies(base + S::fullQ(qs));
      for (int j = 0; j < b.numTiles; ++j, ++t) {
        const int sk = t % kKStages, sv = t % kVStages;
        if (t >= kKStages)
          mbarWait(base + S::emptyK(sk), (t / kKStages - 1) & 1);
        copyKvTile<T, HD, BN, 128, kProducerGroup, 0>(p, b.pt, b.table, b.kvh, j, b.smem + S::k(sk),
                                                      nullptr, tid);
        mbarArriveOnCopies(base + S::fullK(sk));
        if (t >= kVStages)
          mbarWait(base + S::emptyV(sv), (t / kVStages - 1) & 1);
        copyKvTile<T, HD, BN, 128, kProducerGroup, 1>(p, b.pt, b.table, b.kvh, j, b.smem + S::v(sv),
                                                      nullptr, tid);
        mbarArriveOnCopies(base + S::fullV(sv));
      }
    }
    asm volatile("cp.async.wait_all;\n" ::: "memory");
    return;
  }
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kConsumerRegs));
  const int g = wg - 1, row0 = g * 64;
  // Key tile t's stages are full (their use u = t / stages completed phase u), then
  // released.
  auto waitK = [&](int t) { mbarWait(base + S::fullK(t % kKStages), (t / kKStages) & 1); };
  auto waitV = [&](int t) { mbarWait(base + S::fullV(t % kVStages), (t / kVStages) & 1); };
  auto kAddr = [&](int t) { return base + S::k(t % kKStages); };
  auto vAddr = [&](int t) { return base + S::v(t % kVStages); };
  auto releaseK = [&](int t) { mbarArrive(base + S::emptyK(t % kKStages)); };
  auto releaseV = [&](int t) { mbarArrive(base + S::emptyV(t % kVStages)); };
  int t0 = 0; // the block's key tiles before this item
  for (int w = blockIdx.x, n = 0; item(w); w += gridDim.x, ++n) {
    const int qs = n % 2, numTiles = b.numTiles;
    const bool more = w + gridDim.x < numItems; // the block has another item after this
    const uint32_t qAddr = base + S::q(qs);
    Consumer<T, HD, BN> c;
    c.init(b.pt, row0);
    // Each item: consumer 0 goes first; both take numTiles + 1 turns. Consumer 1 hands the
    // first turn over at the start of the block's first item and after its last turn of an
    // item that has a successor (so 0 starts the next item's products without waiting for
    // 1's store and lookup), never after the block's last: every arrival is waited for.
    if (g == 1 && n == 0)
      turnGive(g);

    mbarWait(base + S::fullQ(qs), (n / 2) & 1);
    waitK(t0);
    wgmma::fenceProxyAsync(); // the copies, seen through the barrier, to the async proxy
    turnWait(g);
    c.fenceBeforeIssue();
    c.issueS(qAddr, row0, kAddr(t0));
    wgmma::commit();
    turnGive(g);
    wgmma::wait<0>();
    c.fenceS();
    releaseK(t0);
    c.softmax(p, b.pt.kvBegin, b.pt.kvEnd);
    c.rescaleAndPack();

    for (int j = 1; j < numTiles; ++j) {
      const int t = t0 + j;
      waitK(t);
      waitV(t - 1);
      wgmma::fenceProxyAsync();
      turnWait(g);
      c.fenceBeforeIssue();
      c.issueS(qAddr, row0, kAddr(t));
      wgmma::commit();
      c.issuePV(vAddr(t - 1));
      wgmma::commit();
      turnGive(g);
      wgmma::wait<1>(); // S of tile j: its K stage is free
      c.fenceS();
      releaseK(t);
      c.softmax(p, b.pt.kvBegin + j * BN, b.pt.kvEnd);
      wgmma::wait<0>(); // P V of tile j - 1: its V stage is free
      c.fenceO();
      releaseV(t - 1);
      c.rescaleAndPack();
    }
    mbarArrive(base + S::emptyQ(qs)); // every S of the item is done

    const int last = t0 + numTiles - 1;
    waitV(last);
    wgmma::fenceProxyAsync();
    turnWait(g);
    c.fenceBeforeIssue();
    c.issuePV(vAddr(last));
    wgmma::commit();
    if (g == 0 || more)
      turnGive(g);
    wgmma::wait<0>();
    c.fenceO();
    releaseV(last);
    c.store(p, b.pt, b.head, row0);
    t0 += numTiles;
  }
#endif
}

std::atomic<int> persistentGridForTesting{0};

// cuTensorMapEncodeTiled, from the driver through the runtime (no link against libcuda).
using TensorMapEncoder = CUresult (*)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *,
                                      const cuuint64_t *, const cuuint64_t *, const cuuint32_t *,
                                      const cuuint32_t *, CUtensorMapInterleave, CUtensorMapSwizzle,
                                      CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
TensorMapEncoder tensorMapEncoder() {
  static const TensorMapEncoder encoder = [] {
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                         &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess) {
      cudaGetLastError();
      return TensorMapEncoder(nullptr);
    }
    return reinterpret_cast<TensorMapEncoder>(fn);
  }();
  return encoder;
}

// The map of a K or V cache for tmaKvTile: rows of `hd` elements, boxes of 64 x blockSize,
// 128-byte swizzle.
template <typename T>
Status kvTensorMap(CUtensorMap &map, const void *cache, const PrefillParams &p, int hd) {
  const TensorMapEncoder encode = tensorMapEncoder();
  if (!encode)
    return Error(ErrorCode::Unsupported,
                 "prefill attention (wgmma, TMA): the driver has no cuTensorMapEncodeTiled");
  const cuuint64_t dims[2] = {cuuint64_t(hd), (cuuint64_t(p.numBlocks) * p.numKvHeads)
                                                  << p.blockSizeLog2};
  const cuuint64_t strides[1] = {cuuint64_t(hd) * sizeof(T)};
  const cuuint32_t box[2] = {64, cuuint32_t(1) << p.blockSizeLog2};
  const cuuint32_t elementStrides[2] = {1, 1};
  const CUtensorMapDataType type = std::is_same_v<T, __half> ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                                             : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  const CUresult r =
      encode(&map, type, 2, const_cast<void *>(cache), dims, strides, box, elementStrides,
             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
             CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return Error(ErrorCode::Internal, "prefill attention (wgmma, TMA): cuTensorMapEncodeTiled "
                                      "failed with CUresult " +
                                          std::to_string(int(r)));
  return Status::success();
}

template <typename T, int HD>
Status launch(const PrefillParams &p, const AttentionBatch &batch, WgmmaSchedule schedule,
              cudaStream_t stream) {
  constexpr int kBN = 128;
  // Sum over requests of ceil(len / 128) <= T / 128 + numSeqs; surplus blocks exit at once.
  const int gridTiles = batch.numTokens / kBM + batch.numSeqs;
  if (schedule == WgmmaSchedule::kPlain || schedule == WgmmaSchedule::kPingPong) {
    constexpr size_t smem = Smem<HD, kBN>::total;
    auto *kernel = schedule == WgmmaSchedule::kPingPong ? prefillWgmmaKernel<T, HD, kBN, true>
                                                        : prefillWgmmaKernel<T, HD, kBN, false>;
    MODELRT_CUDA_TRY(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    kernel<<<dim3(gridTiles, p.numHeads), 256, smem, stream>>>(p);
    MODELRT_LAUNCH_TRY("prefillWgmmaKernel");
    return Status::success();
  }
  constexpr size_t smem = WsSmem<HD, kBN>::total;
  const bool tma = schedule == WgmmaSchedule::kWarpSpecializedTma ||
                   schedule == WgmmaSchedule::kWarpSpecializedPersistentTma;
  auto *kernel =
      tma ? prefillWgmmaWsKernel<T, HD, kBN, true> : prefillWgmmaWsKernel<T, HD, kBN, false>;
  MODELRT_CUDA_TRY(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  CUtensorMap kMap{}, vMap{};
  if (tma) {
    const int bs = 1 << p.blockSizeLog2;
    if (bs < 8 || bs > kBN)
      return Error(ErrorCode::Unsupported,
                   "prefill attention (wgmma, TMA): pages of 8 to 128 tokens, not " +
                       std::to_string(bs));
    // The maps' rows (and the kernel's 32-bit row coordinates) span the whole cache.
    if (p.numBlocks <= 0 || int64_t(p.numBlocks) * p.numKvHeads * bs > INT32_MAX)
      return Error(ErrorCode::InvalidArgument,
                   "prefill attention (wgmma, TMA): the layout's numBlocks must be set, and the "
                   "cache under 2^31 rows");
    if (Status st = kvTensorMap<T>(kMap, p.kCache, p, HD); !st)
      return st;
    if (Status st = kvTensorMap<T>(vMap, p.vCache, p, HD); !st)
      return st;
  }
  // One block per work item, or (persistent) one per multiprocessor walking them.
  int64_t blocks = int64_t(gridTiles) * p.numHeads;
  if (schedule == WgmmaSchedule::kWarpSpecializedPersistent ||
      schedule == WgmmaSchedule::kWarpSpecializedPersistentTma) {
    int dev = 0, sms = 0;
    MODELRT_CUDA_TRY(cudaGetDevice(&dev));
    MODELRT_CUDA_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    const int cap = persistentGridForTesting.load(std::memory_order_relaxed);
    blocks = std::min<int64_t>(blocks, cap > 0 ? cap : sms);
  }
  // Work items (and a block's last stride past them) are ints in the kernel.
  if (int64_t(gridTiles) * p.numHeads + blocks > INT32_MAX)
    return Error(ErrorCode::InvalidArgument, "prefill attention (wgmma): too many query tiles");
  kernel<<<unsigned(blocks), kWsThreads, smem, stream>>>(p, kMap, vMap);
  MODELRT_LAUNCH_TRY("prefillWgmmaWsKernel");
  return Status::success();
}

template <typename T>
Status launchForHeadDim(const PrefillParams &p, const AttentionBatch &batch, int headDim,
                        WgmmaSchedule schedule, cudaStream_t stream) {
  switch (headDim) {
  case 64:
    return launch<T, 64>(p, batch, schedule, stream);
  case 128:
    return launch<T, 128>(p, batch, schedule, stream);
  default:
    return Error(ErrorCode::Unsupported, "prefill attention (wgmma): head dim must be 64 or 128");
  }
}

bool deviceIsSm90() {
  int dev = 0, major = 0, minor = 0;
  return cudaGetDevice(&dev) == cudaSuccess &&
         cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
         cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
         major == 9 && minor == 0;
}

} // namespace

void setPrefillWgmmaPersistentGridForTesting(int blocks) {
  persistentGridForTesting.store(blocks, std::memory_order_relaxed);
}

bool prefillWgmmaSupported(int headDim) {
  return (headDim == 64 || headDim == 128) && deviceIsSm90();
}

Status launchPrefillWgmma(const PrefillParams &p, const AttentionBatch &batch, int headDim,
                          ElementType type, WgmmaSchedule schedule, cudaStream_t stream) {
  if (!deviceIsSm90())
    return Error(ErrorCode::Unsupported,
                 "prefill attention (wgmma): needs a compute capability 9.0 GPU (sm_90a)");
  if (type == ElementType::F16)
    return launchForHeadDim<__half>(p, batch, headDim, schedule, stream);
  return launchForHeadDim<__nv_bfloat16>(p, batch, headDim, schedule, stream);
}

} // namespace modelrt::cuda
