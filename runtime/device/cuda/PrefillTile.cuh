// Which request and query rows a prefill thread block serves, shared by the prefill kernels.
#pragma once

#include "runtime/device/cuda/AttentionCommon.h"
#include "runtime/device/cuda/DeviceMath.cuh"

namespace modelrt::cuda {

// Flat tiles of bm query rows (p.tileStart, built by prefillTileKernel) are taken last to
// first (by blockIdx.x, or a persistent block's work item), so the longest causal tiles
// start first.
struct PrefillTile {
  int seq;     // the request
  int qBegin;  // its first query row in the batch
  int q0;      // the tile's first row within the request
  int rows;    // query rows in the tile (<= bm)
  int pos0;    // context position of the tile's first row
  int kvBegin; // the keys any of its rows attends: [kvBegin, kvEnd)
  int kvEnd;
};

// The fromEnd-th tile from the last; false when past the batch's tiles (the grid is sized
// for the worst case).
__device__ __forceinline__ bool locatePrefillTile(const PrefillParams &p, int bm, int fromEnd,
                                                  PrefillTile &t) {
  const int total = p.tileStart[p.numSeqs];
  const int tile = total - 1 - fromEnd;
  if (tile < 0)
    return false;
  int lo = 0, hi = p.numSeqs - 1; // the request whose tiles contain `tile`
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (p.tileStart[mid] <= tile)
      lo = mid;
    else
      hi = mid - 1;
  }
  t.seq = lo;
  t.qBegin = p.queryStart[lo];
  const int qLen = p.queryStart[lo + 1] - t.qBegin;
  const int ctx = p.contextLen[lo];
  t.q0 = (tile - p.tileStart[lo]) * bm;
  t.rows = min(bm, qLen - t.q0);
  t.pos0 = ctx - qLen + t.q0;
  t.kvEnd = min(ctx, t.pos0 + t.rows);
  // Key tiles start at a multiple of 128 positions (every kernel's tile width divides it),
  // also under a sliding window: so a row's key tiles, and the order of its sums, do not
  // depend on which query tile, or which prompt chunk, holds it (the masks drop the rest).
  t.kvBegin = p.window > 0 ? max(0, t.pos0 - p.window + 1) & ~127 : 0;
  return true;
}
__device__ __forceinline__ bool locatePrefillTile(const PrefillParams &p, int bm, PrefillTile &t) {
  return locatePrefillTile(p, bm, int(blockIdx.x), t);
}

// Element offset of a token's K (or V) row in the paged cache, its page read from the table.
__device__ __forceinline__ int64_t pagedRowOffset(const PagedKernelParams &p, int64_t page, int kvh,
                                                  int pos, int headDim) {
  return ((page * p.numKvHeads + kvh) << p.blockSizeLog2 | (pos & ((1 << p.blockSizeLog2) - 1))) *
         headDim;
}

// Copies the K (and V) rows of positions [kv0, kv0 + BN) of kv head kvh into shared memory
// with cp.async, zeros past kvEnd: NT threads (t = 0..NT-1) take the tile's 16-byte chunks
// in turn (chunk i = t + NT m is row i / (HD / 8), column i % (HD / 8)), and
// dstOffset(row, column) is the chunk's byte offset in each destination tile. The
// block-table entries of GROUP rows are read before their copies are issued, so that their
// latencies overlap instead of adding up (a loop over the groups, not unrolled: fewer
// registers for the warp-specialized producer).
template <int HD, int BN, int NT, int GROUP = 8, int NSRC, typename T, typename DstOffset>
__device__ __forceinline__ void
copyPagedRows(const PagedKernelParams &p, const int32_t *table, int kvh, int kv0, int kvEnd, int t,
              const T *const (&src)[NSRC], unsigned char *const (&dst)[NSRC], DstOffset dstOffset) {
  constexpr int kChunks = HD / 8, kTotal = BN * kChunks, kPasses = (kTotal + NT - 1) / NT;
  constexpr int kGroup = kPasses < GROUP ? kPasses : GROUP;
  // Pass n's chunk i lies in the tile (the last group and the last pass can run past it).
  auto inTile = [](int n, int i) {
    return (kPasses % kGroup == 0 || n < kPasses) && (kTotal % NT == 0 || i < kTotal);
  };
#pragma unroll 1
  for (int g = 0; g < kPasses; g += kGroup) {
    int page[kGroup];
#pragma unroll
    for (int m = 0; m < kGroup; ++m) {
      const int i = t + (g + m) * NT, pos = kv0 + i / kChunks;
      page[m] = inTile(g + m, i) && pos < kvEnd ? __ldg(table + (pos >> p.blockSizeLog2)) : 0;
    }
#pragma unroll
    for (int m = 0; m < kGroup; ++m) {
      const int i = t + (g + m) * NT;
      if (!inTile(g + m, i))
        continue;
      const int r = i / kChunks, c = i % kChunks, pos = kv0 + r;
      const bool valid = pos < kvEnd;
      const int64_t off = pagedRowOffset(p, page[m], kvh, pos, HD) + c * 8;
      const uint32_t d = dstOffset(r, c);
#pragma unroll
      for (int s = 0; s < NSRC; ++s)
        cpAsync16(dst[s] + d, valid ? src[s] + off : src[s], valid ? 16 : 0);
    }
  }
}

} // namespace modelrt::cuda
