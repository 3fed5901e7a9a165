// WeightSource: one entry point over GGUF files, safetensors files, indexes and HF dirs.
#include "runtime/formats/WeightSource.h"
#include "TestFiles.h"

#include "runtime/formats/Dequantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>

using namespace modelrt;
using modelrt::test::formatsDataDir;

TEST(WeightSource, OpensEveryLayout) {
  Expected<WeightSource> g = WeightSource::open(formatsDataDir() + "/all-types.gguf");
  ASSERT_TRUE(g.ok()) << g.error().toString();
  EXPECT_EQ(g->format(), WeightSource::Format::Gguf);
  ASSERT_NE(g->gguf(), nullptr);
  EXPECT_EQ(*g->gguf()->getString("general.architecture"), "llama");
  EXPECT_NE(g->findTensor("t.q4_k"), nullptr);
  EXPECT_EQ(g->tensors().size(), 17u);

  for (std::string path : {formatsDataDir() + "/single.safetensors", formatsDataDir() + "/sharded",
                           formatsDataDir() + "/sharded/model.safetensors.index.json"}) {
    Expected<WeightSource> s = WeightSource::open(path);
    ASSERT_TRUE(s.ok()) << s.error().toString();
    EXPECT_EQ(s->format(), WeightSource::Format::Safetensors);
    EXPECT_EQ(s->gguf(), nullptr);
    EXPECT_FALSE(s->tensors().empty());
  }
}

TEST(WeightSource, ErrorsNameThePath) {
  Expected<WeightSource> w = WeightSource::open("/nonexistent/model.gguf");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().message().find("/nonexistent/model.gguf"), std::string::npos);
  Expected<WeightSource> d = WeightSource::open(formatsDataDir()); // no safetensors there
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code(), ErrorCode::NotFound);
}

namespace {

// A safetensors file of the given tensors (dtype name, shape, bytes), in name order.
struct RawTensor {
  std::string dtype;
  std::vector<uint64_t> shape;
  std::vector<uint8_t> bytes;
};
std::string writeSafetensors(const std::string &name, const std::map<std::string, RawTensor> &ts) {
  std::string header = "{";
  std::vector<uint8_t> data;
  for (const auto &[key, t] : ts) {
    if (header.size() > 1)
      header += ",";
    header += "\"" + key + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i)
      header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(data.size()) + "," +
              std::to_string(data.size() + t.bytes.size()) + "]}";
    data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  }
  header += "}";
  std::vector<uint8_t> file(8);
  const uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  file.insert(file.end(), header.begin(), header.end());
  file.insert(file.end(), data.begin(), data.end());
  return modelrt::test::writeTempFile(name, file);
}

// Random E4M3 codes, NaN excepted.
std::vector<uint8_t> randomCodes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> codes(n);
  for (uint8_t &c : codes) {
    c = static_cast<uint8_t>(rng());
    if ((c & 0x7F) == 0x7F)
      c = 0x3F;
  }
  return codes;
}

template <class T> std::vector<uint8_t> bytesOf(const std::vector<T> &v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// The weight store's reading of an FP8 linear, element by element: each code's value times
// the scale of its block, rounded once to f32.
void expectProducts(const WeightSource &w, const char *name, DType dtype,
                    const std::vector<uint8_t> &codes, uint64_t cols,
                    const std::function<float(uint64_t, uint64_t)> &scale) {
  const TensorInfo *t = w.findTensor(name);
  ASSERT_NE(t, nullptr) << name;
  EXPECT_EQ(t->dtype, dtype) << name;
  Expected<std::vector<float>> v = dequantizeToF32(*t);
  ASSERT_TRUE(v.ok()) << v.error().toString();
  ASSERT_EQ(v->size(), codes.size());
  for (uint64_t i = 0; i < codes.size(); ++i) {
    const float want = e4m3ToF32(codes[i]) * scale(i / cols, i % cols);
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan((*v)[i])) << name << " element " << i;
    else
      ASSERT_EQ((*v)[i], want) << name << " element " << i;
  }
}

} // namespace

// FP8 linears: E4M3 codes times their block's scale (DeepSeek-V3's 128 x 128 grid covering
// ragged edges, compressed-tensors' per-channel and per-tensor scales), as blocks of 32 where
// each run of 32 inputs shares a scale, else dense; scales that do not tile the matrix hide it.
TEST(WeightSource, ReadsFp8LinearsAsTheirProducts) {
  const uint64_t rows = 40, cols = 64;
  std::vector<uint8_t> codes = randomCodes(rows * cols, 3), nan = codes;
  nan[77] = 0x7F;
  // A grid of 16 x 32 blocks over 40 rows: 3 row blocks, the last one short.
  std::vector<float> grid = {0.5f, 0.25f, 1e-3f, 3.0f, 7e-5f, 2.0f};
  // Per output channel, bf16.
  std::vector<uint16_t> channel(rows);
  for (uint64_t r = 0; r < rows; ++r)
    channel[r] = f32ToBf16(0.01f * static_cast<float>(r + 1));
  std::vector<float> narrow = {0.5f, 0.25f, 0.125f, 1.0f}; // [1, 4]: 16-column blocks
  std::map<std::string, RawTensor> ts = {
      {"grid.weight", {"F8_E4M3", {rows, cols}, codes}},
      {"grid.weight_scale_inv", {"F32", {3, 2}, bytesOf(grid)}},
      {"channel.weight", {"F8_E4M3", {rows, cols}, codes}},
      {"channel.weight_scale", {"BF16", {rows, 1}, bytesOf(channel)}},
      {"tensor.weight", {"F8_E4M3", {rows, cols}, codes}},
      {"tensor.weight_scale", {"F32", {1}, bytesOf(std::vector<float>{0.75f})}},
      {"nan.weight", {"F8_E4M3", {rows, cols}, nan}},
      {"nan.weight_scale", {"F32", {1}, bytesOf(std::vector<float>{0.75f})}},
      {"narrow.weight", {"F8_E4M3", {rows, cols}, codes}},
      {"narrow.weight_scale_inv", {"F32", {1, 4}, bytesOf(narrow)}},
      {"misfit.weight", {"F8_E4M3", {rows, cols}, codes}},
      {"misfit.weight_scale_inv", {"F32", {7, 2}, bytesOf(std::vector<float>(14, 1.0f))}},
      {"unscaled.weight", {"F8_E4M3", {rows, cols}, codes}},
  };
  Expected<WeightSource> w = WeightSource::open(writeSafetensors("fp8.safetensors", ts));
  ASSERT_TRUE(w.ok()) << w.error().toString();
  expectProducts(*w, "grid.weight", DType::F8E4M3_B32, codes, cols,
                 [&](uint64_t r, uint64_t c) { return grid[(r / 16) * 2 + c / 32]; });
  expectProducts(*w, "channel.weight", DType::F8E4M3_B32, codes, cols,
                 [&](uint64_t r, uint64_t) { return bf16ToF32(channel[r]); });
  expectProducts(*w, "tensor.weight", DType::F8E4M3_B32, codes, cols,
                 [](uint64_t, uint64_t) { return 0.75f; });
  expectProducts(*w, "nan.weight", DType::F32, nan, cols, [](uint64_t, uint64_t) { return 0.75f; });
  expectProducts(*w, "narrow.weight", DType::F32, codes, cols,
                 [&](uint64_t, uint64_t c) { return narrow[c / 16]; });
  EXPECT_EQ(w->findTensor("misfit.weight"), nullptr);
  const TensorInfo *unscaled = w->findTensor("unscaled.weight");
  ASSERT_NE(unscaled, nullptr);
  EXPECT_EQ(unscaled->dtype, DType::F8E4M3);
}
