// Dequantization against gguf.quants goldens (unittests/formats/data/all-types.golden.safetensors,
// written by scripts/gen-format-vectors.py): f32 bit for bit, and f16/bf16 outputs equal to
// numpy's round-to-nearest-even conversion of those values.
#include "runtime/formats/Dequantize.h"
#include "TestFiles.h"
#include "runtime/formats/Gguf.h"
#include "runtime/formats/Safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

using namespace modelrt;
using modelrt::test::formatsDataDir;

class DequantizeGolden : public ::testing::TestWithParam<const char *> {};

TEST_P(DequantizeGolden, MatchesGgufReference) {
  Expected<GgufFile> gguf = GgufFile::open(formatsDataDir() + "/all-types.gguf");
  ASSERT_TRUE(gguf.ok()) << gguf.error().toString();
  Expected<SafetensorsFile> golden =
      SafetensorsFile::open(formatsDataDir() + "/all-types.golden.safetensors");
  ASSERT_TRUE(golden.ok()) << golden.error().toString();
  std::string name = GetParam();
  const TensorInfo *t = gguf->findTensor(name);
  ASSERT_NE(t, nullptr);
  for (auto [dst, suffix] : {std::pair{DType::F32, ".f32"}, std::pair{DType::F16, ".f16"},
                             std::pair{DType::BF16, ".bf16"}}) {
    const TensorInfo *want = golden->findTensor(name + suffix);
    ASSERT_NE(want, nullptr) << name << suffix;
    EXPECT_EQ(want->shape, t->shape);
    std::vector<uint8_t> out(want->size);
    Status s = dequantize(*t, dst, out.data(), out.size());
    ASSERT_TRUE(s.ok()) << s.error().toString();
    size_t width = dst == DType::F32 ? 4 : 2;
    size_t mismatches = 0;
    for (size_t k = 0; k < out.size(); k += width)
      if (std::memcmp(out.data() + k, want->data + k, width) != 0 && mismatches++ < 3)
        ADD_FAILURE() << name << suffix << " differs at element " << k / width;
    EXPECT_EQ(mismatches, 0u) << name << suffix;
  }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantizeGolden,
                         ::testing::Values("t.f32", "t.f16", "t.bf16", "t.q8_0", "t.q4_0", "t.q4_1",
                                           "t.q5_0", "t.q5_1", "t.q2_k", "t.q3_k", "t.q4_k",
                                           "t.q5_k", "t.q6_k", "t.iq4_nl", "t.iq4_xs", "t.mxfp4",
                                           "t.cube"));

TEST(Dequantize, HalfConversionsRoundToNearestEven) {
  EXPECT_EQ(f32ToF16(1.0f), 0x3C00);
  EXPECT_EQ(f32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32ToF16(65520.0f), 0x7C00);
  EXPECT_EQ(f32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(f32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00); // tie to even
  EXPECT_TRUE(std::isnan(f16ToF32(f32ToF16(NAN))));
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF))
      continue; // NaNs
    EXPECT_EQ(f32ToF16(f16ToF32(static_cast<uint16_t>(h))), h);
  }
  EXPECT_EQ(f32ToBf16(1.0f), 0x3F80);
  EXPECT_EQ(bf16ToF32(0x3F80), 1.0f);
}

// OCP FP8 E4M3 (torch.float8_e4m3fn): the spec's anchors, and every code by its fields.
TEST(Dequantize, E4M3CodesAreTheirValues) {
  EXPECT_EQ(e4m3ToF32(0x38), 1.0f);
  EXPECT_EQ(e4m3ToF32(0xB8), -1.0f);
  EXPECT_EQ(e4m3ToF32(0x7E), 448.0f);                 // the largest
  EXPECT_EQ(e4m3ToF32(0x08), std::ldexp(1.0f, -6));   // the smallest normal
  EXPECT_EQ(e4m3ToF32(0x01), std::ldexp(1.0f, -9));   // the smallest subnormal
  EXPECT_EQ(e4m3ToF32(0x07), std::ldexp(7.0f, -9));   // the largest subnormal
  EXPECT_TRUE(std::isnan(e4m3ToF32(0x7F)));
  EXPECT_TRUE(std::isnan(e4m3ToF32(0xFF)));
  EXPECT_TRUE(std::signbit(e4m3ToF32(0x80)));
  for (int q = 0; q < 256; ++q) {
    if ((q & 0x7F) == 0x7F)
      continue;
    const int e = (q >> 3) & 15, m = q & 7;
    const float v = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                           : std::ldexp(1.0f + static_cast<float>(m) / 8, e - 7);
    EXPECT_EQ(e4m3ToF32(static_cast<uint8_t>(q)), q & 0x80 ? -v : v) << q;
    float plain = 0;
    const uint8_t code = static_cast<uint8_t>(q);
    ASSERT_TRUE(convert(DType::F8E4M3, &code, 1, 1, DType::F32, &plain, sizeof plain).ok());
    EXPECT_EQ(plain, e4m3ToF32(code));
  }
}

TEST(Dequantize, RejectsBadArguments) {
  uint8_t in[34] = {};
  float out[32];
  EXPECT_FALSE(convert(DType::Q8_0, in, 34, 16, DType::F32, out, sizeof out).ok()); // partial block
  EXPECT_FALSE(convert(DType::Q8_0, in, 33, 32, DType::F32, out, sizeof out).ok()); // short input
  EXPECT_FALSE(convert(DType::Q8_0, in, 34, 32, DType::F32, out, 64).ok());         // short output
  EXPECT_FALSE(convert(DType::Q8_0, in, 34, 32, DType::Q4_0, out, sizeof out).ok()); // bad target
  Status s = convert(DType::IQ2_XXS, in, 34, 256, DType::F32, out, sizeof out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::Unsupported);
}

TEST(Dequantize, KeepsQ8_0Q4_0Q4_1Quantized) {
  Expected<GgufFile> gguf = GgufFile::open(formatsDataDir() + "/all-types.gguf");
  ASSERT_TRUE(gguf.ok());
  for (const char *name : {"t.q8_0", "t.q4_0", "t.q4_1"}) {
    const TensorInfo *t = gguf->findTensor(name);
    ASSERT_NE(t, nullptr);
    Expected<QuantizedBlocks> q = quantizedBlocks(*t);
    ASSERT_TRUE(q.ok()) << q.error().toString();
    EXPECT_EQ(q->rows, 2u);
    EXPECT_EQ(q->blocksPerRow, 512u / 32);
    EXPECT_EQ(q->rows * q->blocksPerRow * q->blockBytes, t->size);
    EXPECT_EQ(q->data, t->data);
  }
  Expected<QuantizedBlocks> k = quantizedBlocks(*gguf->findTensor("t.q4_k"));
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.error().message().find("t.q4_k"), std::string::npos);
}
