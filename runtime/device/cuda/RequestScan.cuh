// A prefix sum over the requests of a batch, in one block: start[0] = 0 and
// start[s + 1] = start[s] + count(s), where count(s) is what `count` returns for request s.
// The prefill kernels number their query tiles this way, the decode kernel its splits.
#pragma once

#include <cstdint>

namespace modelrt::cuda {

// Call from every thread of one block whose size is a multiple of 32 (up to 1024).
template <typename Count>
__device__ __forceinline__ void scanRequests(int numSeqs, Count count, int32_t *start) {
  __shared__ int warpTotals[32];
  __shared__ int carry;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  if (tid == 0) {
    carry = 0;
    start[0] = 0;
  }
  __syncthreads();
  for (int base = 0; base < numSeqs; base += blockDim.x) {
    const int s = base + tid;
    const int v = s < numSeqs ? count(s) : 0;
    int incl = v;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int n = __shfl_up_sync(0xffffffffu, incl, o);
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
        const int n = __shfl_up_sync(0xffffffffu, w, o);
        if (lane >= o)
          w += n;
      }
      warpTotals[lane] = w; // inclusive over warps
    }
    __syncthreads();
    const int prefix = carry + incl + (warp > 0 ? warpTotals[warp - 1] : 0);
    if (s < numSeqs)
      start[s + 1] = prefix;
    __syncthreads();
    if (tid == blockDim.x - 1)
      carry = prefix;
    __syncthreads();
  }
}

} // namespace modelrt::cuda
