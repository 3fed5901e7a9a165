// Which request and query rows a prefill thread block serves, shared by the prefill kernels.
#pragma once

#include "runtime/device/cuda/AttentionCommon.h"

namespace modelrt::cuda {

// Flat tiles of bm query rows (p.tileStart, built by prefillTileKernel) are taken last to
// first by blockIdx.x, so the longest causal tiles start first.
struct PrefillTile {
  int seq;     // the request
  int qBegin;  // its first query row in the batch
  int q0;      // the tile's first row within the request
  int rows;    // query rows in the tile (<= bm)
  int pos0;    // context position of the tile's first row
  int kvBegin; // the keys any of its rows attends: [kvBegin, kvEnd)
  int kvEnd;
};

// False when blockIdx.x is past the batch's tiles (the grid is sized for the worst case).
__device__ __forceinline__ bool locatePrefillTile(const PrefillParams &p, int bm, PrefillTile &t) {
  const int total = p.tileStart[p.numSeqs];
  const int tile = total - 1 - int(blockIdx.x);
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
  t.kvBegin = p.window > 0 ? max(0, t.pos0 - p.window + 1) : 0;
  return true;
}

// Element offset of a token's K (or V) row in the paged cache.
__device__ __forceinline__ int64_t pagedRowOffset(const PagedKernelParams &p, const int32_t *table,
                                                  int kvh, int pos, int headDim) {
  const int64_t page = __ldg(table + (pos >> p.blockSizeLog2));
  return ((page * p.numKvHeads + kvh) << p.blockSizeLog2 | (pos & ((1 << p.blockSizeLog2) - 1))) *
         headDim;
}

} // namespace modelrt::cuda
