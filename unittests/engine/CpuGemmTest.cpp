// The executor's GEMM against a double-precision reference, and its batch invariance:
// a row's output bits never depend on the other rows, the tile it lands in, or the path.
#include "runtime/engine/CpuGemm.h"
#include "runtime/formats/Dequantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
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

// accumulate (LoRA's expand: y += t B^T): every output continues from what it held, near
// the double-precision sum, with the same bits alone or batched and on both paths; columns
// of other panels and the row padding stay as they were.
TEST(CpuGemm, AccumulateAddsToWhatOutputHolds) {
  const int64_t n = 37, k = 16, rows = 9, stride = n + 3;
  std::vector<float> in = randomVector(rows * k, 7), w = randomVector(n * k, 8),
                     start = randomVector(rows * stride, 9);
  PackedWeight packed = PackedWeight::pack(w.data(), n, k);
  for (GemmPath path : {GemmPath::Best, GemmPath::Portable}) {
    std::vector<float> out = start;
    gemm(in.data(), k, rows, packed, nullptr, out.data(), stride, path, /*accumulate=*/true);
    for (int64_t t = 0; t < rows; ++t) {
      for (int64_t j = 0; j < n; ++j) {
        double ref = start[t * stride + j];
        for (int64_t kk = 0; kk < k; ++kk)
          ref += double(in[t * k + kk]) * w[j * k + kk];
        ASSERT_NEAR(out[t * stride + j], ref, 1e-5) << "row " << t << " column " << j;
      }
      for (int64_t j = n; j < stride; ++j)
        ASSERT_EQ(out[t * stride + j], start[t * stride + j]);
      std::vector<float> alone(start.begin() + t * stride, start.begin() + (t + 1) * stride);
      gemm(in.data() + t * k, k, 1, packed, nullptr, alone.data(), stride, GemmPath::Best, true);
      ASSERT_EQ(std::memcmp(alone.data(), out.data() + t * stride, n * sizeof(float)), 0)
          << "row " << t << (path == GemmPath::Portable ? " (portable)" : "");
    }
  }
}

// Random GGUF blocks of `dtype` for an [n, k] matrix: random values, scales and minimums
// of varied magnitude (f16), as quantizers produce them.
std::vector<uint8_t> randomBlocks(DType dtype, int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  if (dtype == DType::BF16 || dtype == DType::F16) { // finite values, like checkpoints hold
    std::vector<float> values = randomVector(n * k, seed);
    std::vector<uint8_t> bytes(n * k * 2);
    for (int64_t i = 0; i < n * k; ++i) {
      uint16_t h = dtype == DType::BF16 ? f32ToBf16(values[i] * 3) : f32ToF16(values[i] * 3);
      std::memcpy(&bytes[2 * i], &h, 2);
    }
    return bytes;
  }
  const DTypeInfo &info = dtypeInfo(dtype);
  std::vector<uint8_t> bytes(n * k / info.blockElements * info.blockBytes);
  for (uint8_t &b : bytes)
    b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (size_t at = 0; at < bytes.size(); at += info.blockBytes) {
    if (dtype == DType::MXFP4) { // an E8M0 exponent byte: scales 2^-10 .. 2^-3
      bytes[at] = static_cast<uint8_t>(118 + rng() % 8);
      continue;
    }
    if (dtype == DType::F8E4M3_B32) { // an f32 scale; E4M3 codes of every magnitude but NaN
      const float d = scale(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 16) - 8);
      std::memcpy(&bytes[at], &d, 4);
      for (size_t j = 4; j < info.blockBytes; ++j)
        if ((bytes[at + j] & 0x7F) == 0x7F)
          bytes[at + j] = 0x7E;
      continue;
    }
    uint16_t d = f32ToF16(scale(rng)), m = f32ToF16(scale(rng) * 4);
    // The f16 fields: d first (Q6_K, Q3_K, Q2_K: last), then Q4_1's / Q5_1's minimum or
    // the K types' dmin.
    const size_t dAt = dtype == DType::Q6_K ? 208 : dtype == DType::Q3_K ? 108
                       : dtype == DType::Q2_K ? 80 : 0;
    std::memcpy(&bytes[at + dAt], &d, 2);
    if (dtype == DType::Q4_1 || dtype == DType::Q5_1 || dtype == DType::Q4_K ||
        dtype == DType::Q5_K || dtype == DType::Q2_K)
      std::memcpy(&bytes[at + dAt + 2], &m, 2);
  }
  return bytes;
}

// A quantized (or 16-bit) panel computes exactly what the dense GEMM computes on the
// weights that GGUF dequantization (or exact widening) gives: same bits, both paths, every
// tile size, with and without bias.
TEST(CpuGemm, QuantizedEqualsDenseOnDequantizedWeights) {
  for (DType dtype : {DType::Q8_0, DType::Q4_1, DType::Q4_0, DType::Q5_0, DType::Q5_1,
                     DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                     DType::IQ4_NL, DType::IQ4_XS, DType::MXFP4, DType::Q4_ZP,
                     DType::F8E4M3_B32, DType::BF16, DType::F16})
    for (auto [n, k0] : {std::pair<int64_t, int64_t>{16, 32}, {37, 96}, {70, 320}}) {
      const int64_t k = k0 * (dtypeInfo(dtype).blockElements == 256 ? 8 : 1); // whole blocks
      std::vector<uint8_t> blocks = randomBlocks(dtype, n, k, 9);
      std::vector<float> dense(n * k);
      ASSERT_TRUE(convert(dtype, blocks.data(), blocks.size(), n * k, DType::F32, dense.data(),
                          dense.size() * sizeof(float))
                      .ok());
      Expected<PackedWeight> quantized =
          PackedWeight::pack(dtype, blocks.data(), blocks.size(), n, k);
      ASSERT_TRUE(quantized.ok()) << quantized.error().toString();
      PackedWeight reference = PackedWeight::pack(dense.data(), n, k);
      const int64_t rows = 13;
      std::vector<float> in = randomVector(rows * k, 10), bias = randomVector(n, 11);
      for (GemmPath path : {GemmPath::Best, GemmPath::Portable})
        for (const float *b : std::vector<const float *>{nullptr, bias.data()})
          for (int64_t r = 1; r <= rows; r += 3) {
            std::vector<float> want(r * n), got(r * n);
            gemm(in.data(), k, r, reference, b, want.data(), n);
            gemm(in.data(), k, r, *quantized, b, got.data(), n, path);
            ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
                << dtypeName(dtype) << " [" << n << ", " << k << "], " << r << " rows"
                << (path == GemmPath::Portable ? " (portable)" : "");
          }
    }
}

// GGUF's activation quantizations, as llama.cpp's reference code defines them: Q8_0 (per 32,
// scale amax / 127 stored as f16) and Q8_K (per 256, scale 1 / (-127 / m), m the first value of
// the largest magnitude). The dequantized activation of value i: q[i] x scale[i / 32].
void quantizeActivations(const float *x, int64_t k, int64_t block, std::vector<int> &q,
                         std::vector<double> &scale) {
  q.assign(k, 0);
  scale.assign(k / 32, 0.0);
  for (int64_t b0 = 0; b0 < k; b0 += block) {
    float amax = 0, max = 0;
    for (int64_t i = b0; i < b0 + block; ++i)
      if (std::fabs(x[i]) > amax) {
        amax = std::fabs(x[i]);
        max = x[i];
      }
    const float iscale = block == 32 ? (amax ? 127.0f / amax : 0.0f) : (max ? -127.0f / max : 0.0f);
    const double d = block == 32 ? f16ToF32(f32ToF16(amax / 127.0f)) : (max ? 1.0f / iscale : 0.0f);
    for (int64_t i = b0; i < b0 + block; ++i) {
      q[i] = std::min(127, static_cast<int>(std::nearbyint(x[i] * iscale)));
      scale[i / 32] = d;
    }
  }
}

// --cpu-activations int8: every integer-coded type against a double-precision sum over GGUF's
// dequantized weights and the activations quantized as llama.cpp does (Q8_K against the
// 256-value types), within float rounding. The AVX-512, AVX2 and portable paths give the same
// bits, and a row's bits do not depend on the rows batched with it: every row count 1-13
// (tiles of 1-8 rows, pairs of panels), a last panel of fewer than 16 columns, strided rows
// whose padding stays untouched, bias and accumulation; rows of zeros, of values too small to
// invert their scale, and of large values.
TEST(CpuGemm, Int8ActivationsMatchDequantizedDotProducts) {
  std::printf("integer dot products on this CPU: %s\n", intDotInstructions());
  for (DType dtype : {DType::Q8_0, DType::Q4_1, DType::Q4_0, DType::Q5_0, DType::Q5_1,
                     DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K,
                     DType::IQ4_NL, DType::IQ4_XS, DType::MXFP4, DType::Q4_ZP})
    for (auto [n, k0] : {std::pair<int64_t, int64_t>{16, 32}, {37, 96}, {70, 320}}) {
      const bool super = dtypeInfo(dtype).blockElements == 256;
      const int64_t k = k0 * (super ? 8 : 1);
      SCOPED_TRACE(std::string(dtypeName(dtype)) + " [" + std::to_string(n) + ", " +
                   std::to_string(k) + "]");
      std::vector<uint8_t> blocks = randomBlocks(dtype, n, k, 9);
      std::vector<float> dense(n * k);
      ASSERT_TRUE(convert(dtype, blocks.data(), blocks.size(), n * k, DType::F32, dense.data(),
                          dense.size() * sizeof(float))
                      .ok());
      Expected<PackedWeight> w = PackedWeight::pack(dtype, blocks.data(), blocks.size(), n, k,
                                                    GemmActivations::Int8);
      ASSERT_TRUE(w.ok()) << w.error().toString();
      ASSERT_TRUE(w->intDot());
      EXPECT_EQ(w->intLayout().activationBlock, super ? 256 : 32);
      const int64_t rows = 13, inStride = k + 32, outStride = n + 3;
      std::vector<float> in = randomVector(rows * inStride, 10), bias = randomVector(n, 11);
      for (int64_t i = 0; i < rows * inStride; i += 7) // magnitudes that vary within blocks
        in[i] *= 4.0f;
      for (int64_t i = 0; i < k; ++i) {
        in[2 * inStride + i] = 0.0f;       // zeros
        in[5 * inStride + i] *= 1e-38f;    // scales too small to invert
        in[9 * inStride + i] *= 3.0e5f;    // large values
      }
      const float poison = -12345.0f;
      auto run = [&](int64_t count, GemmPath path) {
        std::vector<float> out(count * outStride, poison);
        gemm(in.data(), inStride, count, *w, bias.data(), out.data(), outStride, path);
        for (int64_t r = 0; r < count; ++r)
          for (int64_t j = n; j < outStride; ++j)
            EXPECT_EQ(out[r * outStride + j], poison) << "padding of row " << r;
        return out;
      };
      const std::vector<float> all = run(rows, GemmPath::Best);
      for (int64_t count = 1; count <= rows; ++count) // every tile size, each path
        for (GemmPath path : {GemmPath::Best, GemmPath::Avx2, GemmPath::Portable}) {
          if (count < rows && path == GemmPath::Portable)
            continue;
          const std::vector<float> part = run(count, path);
          EXPECT_EQ(std::memcmp(part.data(), all.data(), part.size() * sizeof(float)), 0)
              << count << " rows, path " << static_cast<int>(path);
        }
      for (int64_t r = 0; r < rows; ++r) {
        std::vector<int> q;
        std::vector<double> scale;
        quantizeActivations(in.data() + r * inStride, k, super ? 256 : 32, q, scale);
        double worst = 0, size = 0;
        for (int64_t j = 0; j < n; ++j) {
          double want = bias[j];
          for (int64_t i = 0; i < k; ++i)
            want += double(dense[j * k + i]) * q[i] * scale[i / 32];
          worst = std::max(worst, std::fabs(want - all[r * outStride + j]));
          size = std::max(size, std::fabs(want));
        }
        EXPECT_LT(worst, 2e-6 * size) << "row " << r;
        // Alone, and as the second row of two (the 2-row tile), the same bits.
        std::vector<float> alone(n), two(2 * n);
        gemm(in.data() + r * inStride, k, 1, *w, bias.data(), alone.data(), n);
        EXPECT_EQ(std::memcmp(alone.data(), &all[r * outStride], n * sizeof(float)), 0) << "row " << r;
        const int64_t other = (r + 5) % rows;
        std::vector<float> pairIn(in.begin() + other * inStride, in.begin() + other * inStride + k);
        pairIn.insert(pairIn.end(), in.begin() + r * inStride, in.begin() + r * inStride + k);
        gemm(pairIn.data(), k, 2, *w, bias.data(), two.data(), n, GemmPath::Avx2);
        EXPECT_EQ(std::memcmp(two.data() + n, &all[r * outStride], n * sizeof(float)), 0)
            << "row " << r;
      }
      // Accumulation continues each output's chain (bias + in w^T + in w^T), on every path.
      std::vector<float> twice[3];
      int at = 0;
      for (GemmPath path : {GemmPath::Best, GemmPath::Avx2, GemmPath::Portable}) {
        twice[at] = all;
        gemm(in.data(), inStride, rows, *w, nullptr, twice[at].data(), outStride, path, true);
        EXPECT_EQ(std::memcmp(twice[at].data(), twice[0].data(), all.size() * sizeof(float)), 0);
        ++at;
      }
      EXPECT_NEAR(twice[0][3], all[3] + (all[3] - bias[3]), 1e-4 * (1 + std::fabs(all[3])));
    }
}

// A non-finite input makes its own row's outputs NaN, and leaves the other rows' bits alone.
TEST(CpuGemm, Int8ActivationsKeepNonFiniteRowsApart) {
  const int64_t n = 40, k = 256, rows = 3;
  for (DType dtype : {DType::Q4_0, DType::Q4_K, DType::Q8_0, DType::IQ4_NL, DType::Q6_K}) {
    std::vector<uint8_t> blocks = randomBlocks(dtype, n, k, 3);
    Expected<PackedWeight> w = PackedWeight::pack(dtype, blocks.data(), blocks.size(), n, k,
                                                  GemmActivations::Int8);
    ASSERT_TRUE(w.ok());
    for (float bad : {INFINITY, NAN})
      for (GemmPath path : {GemmPath::Best, GemmPath::Avx2, GemmPath::Portable}) {
        std::vector<float> in = randomVector(rows * k, 4), out(rows * n), first(n), last(n);
        gemm(in.data(), k, 1, *w, nullptr, first.data(), n, path);
        gemm(in.data() + 2 * k, k, 1, *w, nullptr, last.data(), n, path);
        in[k + 77] = bad;
        gemm(in.data(), k, rows, *w, nullptr, out.data(), n, path);
        EXPECT_EQ(std::memcmp(out.data(), first.data(), n * sizeof(float)), 0);
        EXPECT_EQ(std::memcmp(out.data() + 2 * n, last.data(), n * sizeof(float)), 0);
        for (int64_t j = 0; j < n; ++j)
          EXPECT_TRUE(std::isnan(out[n + j])) << dtypeName(dtype) << " column " << j;
      }
  }
}

// No k: the bias, or zeros, as the f32 path gives.
TEST(CpuGemm, Int8ActivationsWithoutK) {
  Expected<PackedWeight> w = PackedWeight::pack(DType::Q8_0, nullptr, 0, 20, 0, GemmActivations::Int8);
  ASSERT_TRUE(w.ok()) << w.error().toString();
  std::vector<float> bias = randomVector(20, 5), out(40, 7.0f);
  gemm(nullptr, 0, 2, *w, bias.data(), out.data(), 20);
  for (int64_t j = 0; j < 40; ++j)
    EXPECT_EQ(out[j], bias[j % 20]);
  gemm(nullptr, 0, 2, *w, nullptr, out.data(), 20);
  for (float v : out)
    EXPECT_EQ(v, 0.0f);
}

TEST(CpuGemm, PackRefusesWhatItCannotHold) {
  std::vector<uint8_t> bytes(34);
  EXPECT_FALSE(PackedWeight::pack(DType::Q8_0, bytes.data(), bytes.size(), 1, 64).ok());
  Expected<PackedWeight> k = PackedWeight::pack(DType::Q4_K, bytes.data(), bytes.size(), 1, 256);
  ASSERT_FALSE(k.ok());
  std::vector<uint8_t> iq2(74);
  Expected<PackedWeight> other = PackedWeight::pack(DType::IQ2_XS, iq2.data(), iq2.size(), 1, 256);
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message().find("not IQ2_XS"), std::string::npos)
      << other.error().message();
  // FP8 blocks the panels could not widen to dequantization's values: a NaN code, a scale
  // whose 2^8 multiple overflows.
  std::vector<uint8_t> f8(36, 0x10);
  const float d = 0.5f;
  std::memcpy(f8.data(), &d, 4);
  EXPECT_TRUE(PackedWeight::pack(DType::F8E4M3_B32, f8.data(), f8.size(), 1, 32).ok());
  f8[9] = 0xFF;
  EXPECT_FALSE(PackedWeight::pack(DType::F8E4M3_B32, f8.data(), f8.size(), 1, 32).ok());
  f8[9] = 0x10;
  const float huge = 1e37f;
  std::memcpy(f8.data(), &huge, 4);
  EXPECT_FALSE(PackedWeight::pack(DType::F8E4M3_B32, f8.data(), f8.size(), 1, 32).ok());
}

TEST(CpuGemm, NoBias) {
  std::vector<float> in = {1, 2, 3}, w = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1}, out(4, NAN);
  PackedWeight packed = PackedWeight::pack(w.data(), 4, 3);
  gemm(in.data(), 3, 1, packed, nullptr, out.data(), 4);
  EXPECT_EQ(out, (std::vector<float>{1, 2, 3, 6}));
}

} // namespace
} // namespace modelrt::engine
