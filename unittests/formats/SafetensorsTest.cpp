// safetensors reader: files written by the safetensors package read back identically, and
// malformed headers are rejected the way the reference implementation rejects them.
#include "runtime/formats/Safetensors.h"
#include "TestFiles.h"
#include "runtime/formats/Dequantize.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace modelrt;
using modelrt::test::formatsDataDir;
using modelrt::test::writeTempFile;

namespace {

std::vector<uint8_t> makeFile(const std::string &header, size_t dataBytes) {
  std::vector<uint8_t> b(8);
  uint64_t n = header.size();
  std::memcpy(b.data(), &n, 8);
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + dataBytes, 0);
  return b;
}

void expectError(const std::vector<uint8_t> &bytes, const std::string &needle) {
  Expected<SafetensorsFile> f =
      SafetensorsFile::parse(bytes.data(), bytes.size(), "bad.safetensors");
  ASSERT_FALSE(f.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_NE(f.error().message().find(needle), std::string::npos) << f.error().message();
  EXPECT_NE(f.error().message().find("bad.safetensors"), std::string::npos);
}

std::vector<float> f32Of(const TensorInfo &t) {
  Expected<std::vector<float>> v = dequantizeToF32(t);
  EXPECT_TRUE(v.ok()) << v.error().toString();
  return v.ok() ? *v : std::vector<float>{};
}

} // namespace

TEST(Safetensors, ReadsFileWrittenByPackage) {
  Expected<SafetensorsModel> m = SafetensorsModel::open(formatsDataDir() + "/single.safetensors");
  ASSERT_TRUE(m.ok()) << m.error().toString();
  Expected<SafetensorsFile> expect =
      SafetensorsFile::open(formatsDataDir() + "/single.expect.safetensors");
  ASSERT_TRUE(expect.ok()) << expect.error().toString();
  ASSERT_EQ(m->shards().size(), 1u);
  EXPECT_EQ(m->shards()[0].metadata().at("note"), "modelc test");
  EXPECT_EQ(m->tensors().size(), 6u);

  const TensorInfo *a = m->findTensor("a.f32");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, DType::F32);
  EXPECT_EQ(a->shape, (std::vector<uint64_t>{3, 5}));
  EXPECT_EQ(m->findTensor("b.f16")->dtype, DType::F16);
  EXPECT_EQ(m->findTensor("c.bf16")->dtype, DType::BF16);
  EXPECT_EQ(m->findTensor("d.i8")->dtype, DType::I8);
  EXPECT_EQ(m->findTensor("e.u8")->dtype, DType::U8);
  const TensorInfo *scalar = m->findTensor("scalar");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->shape.empty());
  EXPECT_EQ(f32Of(*scalar), std::vector<float>{3.5f});

  for (const char *name : {"a.f32", "b.f16", "d.i8", "e.u8"}) {
    const TensorInfo *want = expect->findTensor(std::string(name) + ".expect");
    ASSERT_NE(want, nullptr) << name;
    EXPECT_EQ(f32Of(*m->findTensor(name)), f32Of(*want)) << name;
  }
  // Zero-copy: the view points into the mapping at the recorded offset.
  EXPECT_EQ(a->size, 3u * 5 * 4);
  EXPECT_EQ(a->file, formatsDataDir() + "/single.safetensors");
}

TEST(Safetensors, ReadsShardedCheckpointFromDirectoryAndIndex) {
  for (std::string path : {formatsDataDir() + "/sharded",
                           formatsDataDir() + "/sharded/model.safetensors.index.json"}) {
    Expected<SafetensorsModel> m = SafetensorsModel::open(path);
    ASSERT_TRUE(m.ok()) << m.error().toString();
    EXPECT_EQ(m->shards().size(), 2u);
    EXPECT_EQ(m->tensors().size(), 3u);
    const TensorInfo *x = m->findTensor("layer.0.x");
    ASSERT_NE(x, nullptr);
    EXPECT_EQ(x->shape, (std::vector<uint64_t>{3, 4}));
    std::vector<float> xs = f32Of(*x);
    for (int k = 0; k < 12; ++k)
      EXPECT_EQ(xs[k], static_cast<float>(k));
    EXPECT_EQ(f32Of(*m->findTensor("layer.1.y")), (std::vector<float>{0, 1, 2, 3, 4}));
    EXPECT_NE(m->findTensor("layer.1.z")->file.find("00002-of-00002"), std::string::npos);
  }
}

TEST(Safetensors, IndexErrorsNameTheTensorAndShard) {
  std::string dir = formatsDataDir() + "/sharded";
  std::string body = R"({"weight_map": {"layer.0.x": "model-00001-of-00002.safetensors",
                                          "missing.w": "model-00001-of-00002.safetensors"}})";
  std::string idx =
      writeTempFile("missing.index.json", std::vector<uint8_t>(body.begin(), body.end()));
  // The temp index sits elsewhere: shard paths resolve next to it, so it cannot find them.
  Expected<SafetensorsModel> m = SafetensorsModel::open(idx);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("model-00001-of-00002.safetensors"), std::string::npos);

  std::string evil = R"({"weight_map": {"w": "../../etc/passwd"}})";
  std::string evilIdx =
      writeTempFile("evil.index.json", std::vector<uint8_t>(evil.begin(), evil.end()));
  Expected<SafetensorsModel> e = SafetensorsModel::open(evilIdx);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message().find("invalid shard file"), std::string::npos);

  Expected<SafetensorsModel> none = SafetensorsModel::open("/nonexistent-dir/x.safetensors");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::NotFound);
}

TEST(Safetensors, RejectsMalformedHeaders) {
  expectError({1, 2, 3}, "shorter than");
  std::vector<uint8_t> huge(16, 0);
  uint64_t n = 200'000'000;
  std::memcpy(huge.data(), &n, 8);
  expectError(huge, "100 MB");
  n = 1000;
  std::memcpy(huge.data(), &n, 8);
  expectError(huge, "runs past the end");
  expectError(makeFile("[1,2]", 0), "not a JSON object");
  expectError(makeFile("{\"a\": ", 0), "not valid JSON");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                           "a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       8),
              "duplicate key 'a'");
  expectError(makeFile(R"({"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}})", 4),
              "unknown dtype 'F17'");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
              "shape entry");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), "need 8");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
              "end before");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
              "gap or overlap");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                           "b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       8),
              "gap or overlap");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12),
              "4 bytes of a 12-byte");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 0),
              "past the end");
  expectError(
      makeFile(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", 4),
      "overflows");
  expectError(makeFile(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "data_offsets");
  expectError(makeFile(R"({"__metadata__":{"k":1}})", 0), "not a string");
}

TEST(Safetensors, AcceptsEmptyAndZeroSizedTensors) {
  std::vector<uint8_t> empty = makeFile("{}", 0);
  Expected<SafetensorsFile> e = SafetensorsFile::parse(empty.data(), empty.size(), "empty");
  ASSERT_TRUE(e.ok()) << e.error().toString();
  EXPECT_TRUE(e->tensors().empty());
  std::vector<uint8_t> zero =
      makeFile(R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})", 0);
  Expected<SafetensorsFile> z = SafetensorsFile::parse(zero.data(), zero.size(), "zero");
  ASSERT_TRUE(z.ok()) << z.error().toString();
  EXPECT_EQ(z->tensors()[0].size, 0u);
}
