// The tensor-core decode kernel's register layouts (runtime/device/cuda/DecodeMmaLayout.h),
// replayed for one warp step on the host: registers are filled the way the kernel loads
// them from K, V and Q rows, its fragment builders and P transpose run per lane, and the
// products go through the PTX ISA's definition of mma.m16n8k16 (.row.col, 16-bit inputs,
// f32 accumulators). S^T = K Q^T and O^T = V^T P^T must come out exactly (the inputs are
// small multiples of 1/4, so every product and sum is exact), element by element where the
// kernel reads them. Runs without a GPU.
#include "runtime/device/cuda/DecodeMmaLayout.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <vector>

namespace modelrt::cuda::decode_mma {
namespace {

uint16_t toBf16(float x) { // exact for the values used here
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return uint16_t(u >> 16);
}
float fromBf16(uint32_t h) {
  uint32_t u = (h & 0xffffu) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint32_t pack(uint16_t lo, uint16_t hi) { return lo | uint32_t(hi) << 16; }

int laneG(int lane) { return lane / 4; }
int laneT(int lane) { return lane % 4; }

// mma.m16n8k16.row.col.f32.bf16.bf16.f32 as the PTX ISA defines its fragments: A (16x16)
// register r of a lane holds row g + 8 (r % 2), columns 2t + 8 (r / 2) + {0, 1} (low half
// first); B (16x8) register r holds rows 2t + 8r + {0, 1} of column g; C (16x8) entry e
// holds row g + 8 (e / 2), column 2t + e % 2.
void mma(const std::vector<std::array<uint32_t, 4>> &a,
         const std::vector<std::array<uint32_t, 2>> &b, std::vector<std::array<float, 4>> &c) {
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const int g = laneG(lane), t = laneT(lane);
    for (int r = 0; r < 4; ++r)
      for (int h = 0; h < 2; ++h)
        A[g + 8 * (r % 2)][2 * t + 8 * (r / 2) + h] = fromBf16(a[lane][r] >> (16 * h));
    for (int r = 0; r < 2; ++r)
      for (int h = 0; h < 2; ++h)
        B[2 * t + 8 * r + h][g] = fromBf16(b[lane][r] >> (16 * h));
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = laneG(lane), t = laneT(lane);
    for (int e = 0; e < 4; ++e) {
      const int row = g + 8 * (e / 2), col = 2 * t + e % 2;
      float sum = 0.0f;
      for (int k = 0; k < 16; ++k)
        sum += A[row][k] * B[k][col];
      c[lane][e] += sum;
    }
  }
}

// Words of a row as the kernel loads them: `n` 32-bit words from element `first` on.
void loadRow(const std::vector<uint16_t> &row, int first, int n, uint32_t *words) {
  for (int w = 0; w < n; ++w)
    words[w] = pack(row[first + 2 * w], row[first + 2 * w + 1]);
}

template <int HD> void replayWarpStep(uint32_t seed) {
  using L = Layout<HD>;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> val(-8, 8);
  auto randomRows = [&](int rows) {
    std::vector<std::vector<uint16_t>> m(rows, std::vector<uint16_t>(HD));
    for (auto &r : m)
      for (auto &x : r)
        x = toBf16(val(rng) * 0.25f);
    return m;
  };
  const auto K = randomRows(kTokens), V = randomRows(kTokens), Q = randomRows(kHeads);
  const auto P = randomRows(kTokens); // P[token][head], heads 0..7 used

  // Every head dim is loaded by exactly one (lane t, register, half) for K and Q, and owned
  // by exactly one (lane g, m-tile, half) for V and O.
  std::multiset<int> kDims, vDims;
  for (int t = 0; t < 4; ++t)
    for (int r = 0; r < L::kKRegs; ++r)
      kDims.insert({L::kDim(t, r), L::kDim(t, r) + 1});
  for (int g = 0; g < 8; ++g)
    for (int i = 0; i < L::kVRegs; ++i)
      vDims.insert({L::vDim(g, i), L::vDim(g, i) + 1});
  for (int d = 0; d < HD; ++d) {
    EXPECT_EQ(kDims.count(d), 1u) << "K dim " << d;
    EXPECT_EQ(vDims.count(d), 1u) << "V dim " << d;
  }

  // K rows of tokens g and g + 8 and Q of head g, loaded chunk by chunk as loadKRow does.
  auto loadK = [&](const std::vector<uint16_t> &row, int t, uint32_t *r) {
    for (int c = 0; c < L::kFullChunks; ++c)
      loadRow(row, L::kDim(t, 4 * c), 4, r + 4 * c);
    if (L::kTail)
      loadRow(row, L::kDim(t, 4 * L::kFullChunks), 2, r + 4 * L::kFullChunks);
  };
  std::vector<std::array<float, 4>> s(32, {0, 0, 0, 0});
  for (int k = 0; k < L::kSteps; ++k) {
    std::vector<std::array<uint32_t, 4>> a(32);
    std::vector<std::array<uint32_t, 2>> b(32);
    for (int lane = 0; lane < 32; ++lane) {
      const int g = laneG(lane), t = laneT(lane);
      uint32_t k0[L::kKRegs], k8[L::kKRegs], q[L::kKRegs];
      loadK(K[g], t, k0);
      loadK(K[g + 8], t, k8);
      loadK(Q[g], t, q);
      uint32_t frag[4];
      L::kFragment(k0, k8, k, frag);
      std::copy(frag, frag + 4, a[lane].begin());
      b[lane] = {q[2 * k], q[2 * k + 1]};
    }
    mma(a, b, s);
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = laneG(lane), t = laneT(lane);
    for (int e = 0; e < 4; ++e) {
      const int token = g + 8 * (e / 2), head = 2 * t + e % 2; // as the kernel reads s[e]
      float want = 0.0f;
      for (int d = 0; d < HD; ++d)
        want += fromBf16(K[token][d]) * fromBf16(Q[head][d]);
      ASSERT_EQ(s[lane][e], want) << "S^T lane " << lane << " entry " << e;
    }
  }

  // P packed per lane as the kernel packs pr[]: x0 = token g, x8 = token g + 8, heads 2t,
  // 2t + 1; transposed by the shuffle scheme into P^T's B fragment.
  std::vector<uint32_t> x0(32), x8(32);
  for (int lane = 0; lane < 32; ++lane) {
    const int g = laneG(lane), t = laneT(lane);
    x0[lane] = pack(P[g][2 * t], P[g][2 * t + 1]);
    x8[lane] = pack(P[g + 8][2 * t], P[g + 8][2 * t + 1]);
  }
  std::vector<std::array<uint32_t, 2>> pb(32);
  for (int lane = 0; lane < 32; ++lane) {
    const int src0 = transposeSourceLane(lane, 0), src1 = transposeSourceLane(lane, 1);
    const uint32_t sel = transposeSelector(lane);
    pb[lane] = {bytePerm(x0[src0], x0[src1], sel), bytePerm(x8[src0], x8[src1], sel)};
  }
  std::vector<std::vector<std::array<float, 4>>> o(L::kSteps,
                                                   std::vector<std::array<float, 4>>(32));
  for (int i = 0; i < L::kSteps; ++i) {
    std::vector<std::array<uint32_t, 4>> a(32);
    for (int lane = 0; lane < 32; ++lane) {
      const int g = laneG(lane), t = laneT(lane);
      uint32_t v[4][L::kVRegs];
      for (int j = 0; j < 4; ++j)
        for (int w = 0; w < L::kVRegs / L::kVWidth; ++w) // as loadVRow
          loadRow(V[2 * t + (j & 1) + 8 * (j >> 1)], L::vDim(g, w * L::kVWidth), L::kVWidth,
                  v[j] + w * L::kVWidth);
      uint32_t frag[4];
      L::vFragment(v[0], v[1], v[2], v[3], i, frag);
      std::copy(frag, frag + 4, a[lane].begin());
      o[i][lane] = {0, 0, 0, 0};
    }
    mma(a, pb, o[i]);
  }
  for (int lane = 0; lane < 32; ++lane) {
    const int g = laneG(lane), t = laneT(lane);
    for (int i = 0; i < L::kSteps; ++i)
      for (int e = 0; e < 4; ++e) {
        // As the kernel stores o[i][e]: dim vDim(g, i) + e / 2, head 2t + e % 2.
        const int dim = L::vDim(g, i) + e / 2, head = 2 * t + e % 2;
        float want = 0.0f;
        for (int token = 0; token < kTokens; ++token)
          want += fromBf16(P[token][head]) * fromBf16(V[token][dim]);
        ASSERT_EQ(o[i][lane][e], want) << "O^T lane " << lane << " tile " << i << " entry " << e;
      }
  }
}

TEST(DecodeMmaLayout, BytePermMatchesCudaDefinition) {
  EXPECT_EQ(bytePerm(0x33221100u, 0x77665544u, kLowHalves), 0x55441100u);
  EXPECT_EQ(bytePerm(0x33221100u, 0x77665544u, kHighHalves), 0x77663322u);
  EXPECT_EQ(bytePerm(0x33221100u, 0x77665544u, 0x0123), 0x00112233u);
}

TEST(DecodeMmaLayout, WarpStepComputesScoresAndOutputsExactly) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    replayWarpStep<64>(seed);
    replayWarpStep<80>(seed);
    replayWarpStep<96>(seed);
    replayWarpStep<128>(seed);
  }
}

} // namespace
} // namespace modelrt::cuda::decode_mma
