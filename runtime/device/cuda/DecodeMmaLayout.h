// Register layouts of the tensor-core decode kernel (DecodeAttention.cu, decodeMmaKernel),
// shared by the kernel and a host test that replays a warp's fragments through the PTX
// definitions of mma.m16n8k16 (unittests/device/DecodeMmaLayoutTest.cpp), so the index
// algebra is checked without a GPU.
//
// The kernel computes, per warp and 16-token step, S^T = K Q^T (16 tokens x 8 query heads,
// k = head dims) and O^T += V^T P^T (head dims x 8 heads, k = 16 tokens), all operands
// straight from registers loaded from the paged cache, no shared memory:
//   - Lane (g = lane / 4, t = lane % 4). In S^T's A operand a lane holds tokens g and g + 8;
//     the dot product does not depend on the order of the head dims, so each lane loads
//     whole 16-byte runs of a token's K row (dims c*32 + t*8 .. +8 of each 32-dim chunk) and
//     that run serves as its A fragments of two k-steps. Q (S^T's B operand, head g) is
//     loaded with the same permutation.
//   - O^T's rows are head dims, permuted too: lane g's rows (g and g + 8 of every m-tile)
//     are runs of 8 (4, 2) dims of each token's V row, run w at w * 64 + g * 8 (for 16-byte
//     loads), so one load instruction of the warp reads whole sectors; four tokens (2t,
//     2t+1, 2t+8, 2t+9) per lane, and a byte permute pairs two tokens' values of one dim
//     into the 32-bit register the A operand wants.
//   - P^T (O^T's B operand: tokens 2t, 2t+1 / 2t+8, 2t+9 of head g) is S^T's accumulator
//     transposed, by four shuffles or by movmatrix.
#pragma once

#include "runtime/device/cuda/HostDevice.h"

#include <cstdint>

namespace modelrt::cuda::decode_mma {

constexpr int kHeads = 8;   // query heads per tile (S^T's n)
constexpr int kTokens = 16; // tokens per warp step (S^T's m, O^T's k)

// __byte_perm(x, y, s) on the device; its definition on the host.
MODELRT_HD uint32_t bytePerm(uint32_t x, uint32_t y, uint32_t s) {
#ifdef __CUDA_ARCH__
  return __byte_perm(x, y, s);
#else
  const uint64_t v = uint64_t(y) << 32 | x;
  uint32_t r = 0;
  for (int i = 0; i < 4; ++i)
    r |= uint32_t((v >> (8 * ((s >> (4 * i)) & 7))) & 0xff) << (8 * i);
  return r;
#endif
}
constexpr uint32_t kLowHalves = 0x5410;  // {x.lo, y.lo}
constexpr uint32_t kHighHalves = 0x7632; // {x.hi, y.hi}

template <int HD> struct Layout {
  static_assert(HD % 16 == 0 && HD >= 16 && HD <= 256, "head dim must be a multiple of 16");
  static constexpr int kSteps = HD / 16;      // k-steps of S^T, m-tiles of O^T
  static constexpr int kFullChunks = HD / 32; // 32-dim chunks loaded as 16 bytes per lane
  static constexpr bool kTail = HD % 32 != 0; // a last 16-dim chunk, 8 bytes per lane
  static constexpr int kKRegs = HD / 8;       // 32-bit registers of one K (or Q) row per lane
  static constexpr int kVRegs = HD / 16;      // 32-bit registers of one V row per lane
  // V (and O) head dims per lane group g: kVRegs / kVWidth runs of kVWidth words; run w of
  // all eight lane groups together is one contiguous stretch of the row (whole sectors for
  // each load instruction).
  static constexpr int kVWidth = kVRegs % 4 == 0 ? 4 : kVRegs % 2 == 0 ? 2 : 1;

  // First of the two head dims in K register r of lane t (and of Q's).
  static constexpr int kDim(int t, int r) {
    const int c = r / 4, w = r % 4;
    return c * 32 + (c < kFullChunks ? t * 8 : t * 4) + 2 * w;
  }
  // First of the two head dims in V register i of lane group g; O^T accumulator i holds
  // dim vDim(g, i) in entries 0, 1 and vDim(g, i) + 1 in entries 2, 3.
  static constexpr int vDim(int g, int i) {
    return (i / kVWidth) * 16 * kVWidth + g * 2 * kVWidth + 2 * (i % kVWidth);
  }

  // S^T's A fragment of k-step s from the K registers of tokens g (k0) and g + 8 (k8).
  MODELRT_HD static void kFragment(const uint32_t *k0, const uint32_t *k8, int s,
                                   uint32_t (&a)[4]) {
    a[0] = k0[2 * s];
    a[1] = k8[2 * s];
    a[2] = k0[2 * s + 1];
    a[3] = k8[2 * s + 1];
  }
  // O^T's A fragment of m-tile i from the V registers of tokens 2t, 2t+1, 2t+8, 2t+9.
  MODELRT_HD static void vFragment(const uint32_t *v0, const uint32_t *v1, const uint32_t *v8,
                                   const uint32_t *v9, int i, uint32_t (&a)[4]) {
    a[0] = bytePerm(v0[i], v1[i], kLowHalves);
    a[1] = bytePerm(v0[i], v1[i], kHighHalves);
    a[2] = bytePerm(v8[i], v9[i], kLowHalves);
    a[3] = bytePerm(v8[i], v9[i], kHighHalves);
  }
};

// Transposing P by shuffles: lane (g, t) needs P[token 2t + j][head g] for j = 0, 1, which
// lane (2t + j) * 4 + g / 2 holds (as the low half when g is even) in its packed pair of
// heads 2t', 2t'+1 for token g'.
MODELRT_HD constexpr int transposeSourceLane(int lane, int j) {
  return (2 * (lane & 3) + j) * 4 + (lane >> 2) / 2;
}
MODELRT_HD constexpr uint32_t transposeSelector(int lane) {
  return ((lane >> 2) & 1) ? kHighHalves : kLowHalves;
}

} // namespace modelrt::cuda::decode_mma
