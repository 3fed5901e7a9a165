// The executor's GEMM against a double-precision reference, and its batch invariance:
// a row's output bits never depend on the other rows, the tile it lands in, or the path.
#include "runtime/engine/CpuGemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace modelrt::engine {
namespace {

std::vector<float> randomVector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

struct Shape {
  int64_t rows, n, k;
};

class GemmShapes : public ::testing::TestWithParam<Shape> {};

TEST_P(GemmShapes, MatchesDoubleReference) {
  const Shape s = GetParam();
  const int64_t inStride = s.k + 3, outStride = s.n + 5; // strided views, as in the arena
  std::vector<float> in = randomVector(s.rows * inStride, 1), w = randomVector(s.n * s.k, 2),
                     bias = randomVector(s.n, 3);
  std::vector<float> out(s.rows * outStride, NAN);
  PackedWeight packed = PackedWeight::pack(w.data(), s.n, s.k);
  gemm(in.data(), inStride, s.rows, packed, bias.data(), out.data(), outStride);
  for (int64_t t = 0; t < s.rows; ++t)
    for (int64_t j = 0; j < s.n; ++j) {
      double ref = bias[j], mag = std::fabs(bias[j]);
      for (int64_t k = 0; k < s.k; ++k) {
        ref += double(in[t * inStride + k]) * w[j * s.k + k];
        mag += std::fabs(double(in[t * inStride + k]) * w[j * s.k + k]);
      }
      ASSERT_NEAR(out[t * outStride + j], ref, 1e-6 * mag + 1e-7) << "row " << t << " column " << j;
    }
  // Padding between rows is never written.
  for (int64_t t = 0; t < s.rows; ++t)
    for (int64_t j = s.n; j < outStride; ++j)
      ASSERT_TRUE(std::isnan(out[t * outStride + j]));
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmShapes,
                         ::testing::Values(Shape{1, 1, 1}, Shape{1, 16, 8}, Shape{7, 17, 5},
                                           Shape{13, 15, 300}, Shape{6, 48, 256}, Shape{5, 33, 257},
                                           Shape{64, 96, 576}, Shape{3, 200, 1536}));

// Each row computed alone (a decode) equals the same row inside batches of every size, at
// every position in the 6-row tiles, and the portable path gives the same bits as AVX2.
TEST(CpuGemm, BatchInvariantBitExact) {
  const int64_t n = 70, k = 600, maxRows = 20;
  std::vector<float> in = randomVector(maxRows * k, 4), w = randomVector(n * k, 5),
                     bias = randomVector(n, 6);
  PackedWeight packed = PackedWeight::pack(w.data(), n, k);
  std::vector<std::vector<float>> alone(maxRows, std::vector<float>(n));
  for (int64_t t = 0; t < maxRows; ++t)
    gemm(in.data() + t * k, k, 1, packed, bias.data(), alone[t].data(), n);
  for (GemmPath path : {GemmPath::Best, GemmPath::Portable})
    for (int64_t rows = 1; rows <= maxRows; ++rows)
      for (int64_t first = 0; first + rows <= maxRows; first += 3) {
        std::vector<float> out(rows * n);
        gemm(in.data() + first * k, k, rows, packed, bias.data(), out.data(), n, path);
        for (int64_t t = 0; t < rows; ++t)
          ASSERT_EQ(std::memcmp(out.data() + t * n, alone[first + t].data(), n * sizeof(float)), 0)
              << "row " << first + t << " in a batch of " << rows << " from " << first
              << (path == GemmPath::Portable ? " (portable)" : "");
      }
}

TEST(CpuGemm, NoBias) {
  std::vector<float> in = {1, 2, 3}, w = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}, out(4, NAN);
  PackedWeight packed = PackedWeight::pack(w.data(), 4, 3);
  gemm(in.data(), 3, 1, packed, nullptr, out.data(), 4);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 6}));
}

} // namespace
} // namespace modelrt::engine
