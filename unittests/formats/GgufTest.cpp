// GGUF reader: files written by the gguf package read back identically, and every kind of
// malformed file is rejected with an error rather than a crash or an over-read.
#include "runtime/formats/Gguf.h"
#include "TestFiles.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace modelrt;
using modelrt::test::formatsDataDir;
using modelrt::test::readFile;

namespace {

// Builds GGUF bytes field by field, so tests can write exactly the malformation they want.
class GgufBuilder {
public:
  GgufBuilder &u8(uint8_t v) { return raw(&v, 1); }
  GgufBuilder &u32(uint32_t v) { return raw(&v, 4); }
  GgufBuilder &u64(uint64_t v) { return raw(&v, 8); }
  GgufBuilder &str(const std::string &s) {
    u64(s.size());
    return raw(s.data(), s.size());
  }
  GgufBuilder &header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    raw("GGUF", 4);
    u32(version);
    u64(tensors);
    return u64(kvs);
  }
  GgufBuilder &kvU32(const std::string &key, uint32_t v) { return str(key).u32(4).u32(v); }
  // Tensor info: name, dims innermost first, ggml type, offset.
  GgufBuilder &tensor(const std::string &name, std::vector<uint64_t> ne, uint32_t type,
                      uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne)
      u64(d);
    return u32(type).u64(offset);
  }
  GgufBuilder &padTo(size_t alignment) {
    while (bytes.size() % alignment)
      bytes.push_back(0);
    return *this;
  }
  GgufBuilder &zeros(size_t n) {
    bytes.resize(bytes.size() + n, 0);
    return *this;
  }
  GgufBuilder &raw(const void *p, size_t n) {
    const uint8_t *b = static_cast<const uint8_t *>(p);
    bytes.insert(bytes.end(), b, b + n);
    return *this;
  }
  std::vector<uint8_t> bytes;
};

Expected<GgufFile> parseBytes(const std::vector<uint8_t> &b) {
  return GgufFile::parse(b.data(), b.size(), "test.gguf");
}

// Expects a parse failure whose message contains `needle`.
void expectError(const std::vector<uint8_t> &b, const std::string &needle) {
  Expected<GgufFile> f = parseBytes(b);
  ASSERT_FALSE(f.ok()) << "expected an error containing '" << needle << "'";
  EXPECT_NE(f.error().message().find(needle), std::string::npos) << f.error().message();
  EXPECT_NE(f.error().message().find("test.gguf"), std::string::npos) << f.error().message();
}

GgufBuilder validOneTensor() {
  GgufBuilder b;
  b.header(1, 1).kvU32("general.alignment", 32).tensor("w", {4, 2}, 0, 0).padTo(32).zeros(32);
  return b;
}

} // namespace

TEST(Gguf, ReadsMetadataWrittenByGgufPackage) {
  Expected<GgufFile> f = GgufFile::open(formatsDataDir() + "/all-types.gguf");
  ASSERT_TRUE(f.ok()) << f.error().toString();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->alignment(), 32u);
  EXPECT_EQ(*f->getString("general.architecture"), "llama");
  EXPECT_EQ(*f->getUInt("test.u8"), 200u);
  EXPECT_EQ(*f->getInt("test.i8"), -100);
  EXPECT_EQ(*f->getUInt("test.u16"), 60000u);
  EXPECT_EQ(*f->getInt("test.i16"), -30000);
  EXPECT_EQ(*f->getUInt("test.u32"), 4000000000u);
  EXPECT_EQ(*f->getInt("test.i32"), -2000000000);
  EXPECT_EQ(*f->getFloat("test.f32"), 1.5);
  EXPECT_EQ(*f->getUInt("test.u64"), 18000000000000000000ull);
  EXPECT_EQ(*f->getInt("test.i64"), -9000000000000000000ll);
  EXPECT_EQ(*f->getFloat("test.f64"), 2.25);
  EXPECT_EQ(*f->getBool("test.bool"), true);
  EXPECT_EQ(*f->getString("test.string"), "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93");
  EXPECT_EQ(*f->getIntArray("test.array_i32"), (std::vector<int64_t>{1, -2, 3}));
  Expected<std::vector<std::string_view>> strs = f->getStringArray("test.array_str");
  ASSERT_TRUE(strs.ok());
  EXPECT_EQ(*strs, (std::vector<std::string_view>{"a", "bc", ""}));
  EXPECT_EQ(*f->getFloatArray("test.array_f32"), (std::vector<float>{0.5f, -1.25f}));
  const GgufValue *nested = f->find("test.array_nested");
  ASSERT_NE(nested, nullptr);
  ASSERT_EQ(nested->elemType, GgufType::Array);
  ASSERT_EQ(nested->arrays.size(), 2u);
  EXPECT_EQ(nested->arrays[0].count, 2u);
  EXPECT_EQ(nested->arrays[1].count, 1u);
  EXPECT_EQ(*f->getUInt("llama.context_length"), 128u);
}

TEST(Gguf, TypedGettersNameTheKey) {
  Expected<GgufFile> f = GgufFile::open(formatsDataDir() + "/all-types.gguf");
  ASSERT_TRUE(f.ok());
  Expected<std::string> missing = f->getString("no.such.key");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::NotFound);
  EXPECT_NE(missing.error().message().find("no.such.key"), std::string::npos);
  Expected<std::string> wrong = f->getString("test.u32");
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message().find("test.u32"), std::string::npos);
  EXPECT_FALSE(f->getUInt("test.i8").ok()); // negative
}

TEST(Gguf, ReadsTensorInfosInOuterFirstOrder) {
  Expected<GgufFile> f = GgufFile::open(formatsDataDir() + "/all-types.gguf");
  ASSERT_TRUE(f.ok());
  const TensorInfo *cube = f->findTensor("t.cube");
  ASSERT_NE(cube, nullptr);
  EXPECT_EQ(cube->dtype, DType::F32);
  EXPECT_EQ(cube->shape, (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(cube->size, 2u * 3 * 4 * 4);
  EXPECT_EQ(cube->offset % 32, 0u);
  float v[24];
  std::memcpy(v, cube->data, sizeof v);
  for (int k = 0; k < 24; ++k)
    EXPECT_EQ(v[k], static_cast<float>(k));
  const TensorInfo *q = f->findTensor("t.q4_k");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->dtype, DType::Q4_K);
  EXPECT_EQ(q->shape, (std::vector<uint64_t>{2, 512}));
  EXPECT_EQ(q->size, 2u * 2 * 144);
  EXPECT_EQ(f->findTensor("nope"), nullptr);
}

TEST(Gguf, AcceptsVersion2) {
  std::vector<uint8_t> b = readFile(formatsDataDir() + "/all-types.gguf");
  b[4] = 2;
  Expected<GgufFile> f = parseBytes(b);
  ASSERT_TRUE(f.ok()) << f.error().toString();
  EXPECT_EQ(f->version(), 2u);
  EXPECT_EQ(f->tensors().size(), 17u);
}

TEST(Gguf, EveryTruncationIsAnError) {
  std::vector<uint8_t> b = readFile(formatsDataDir() + "/all-types.gguf");
  // Only the last tensor's bytes may be cut without touching the header; every shorter
  // prefix must fail cleanly (heap copies so ASan would see an over-read).
  for (size_t n = 0; n < b.size(); n += (n < 4096 ? 1 : 97)) {
    std::vector<uint8_t> prefix(b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_FALSE(parseBytes(prefix).ok()) << "prefix of " << n << " bytes parsed";
  }
}

TEST(Gguf, MinimalValidFile) {
  Expected<GgufFile> f = parseBytes(validOneTensor().bytes);
  ASSERT_TRUE(f.ok()) << f.error().toString();
  EXPECT_EQ(f->tensors()[0].shape, (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(f->dataOffset() % 32, 0u);
}

TEST(Gguf, RejectsBadHeaders) {
  GgufBuilder b;
  b.raw("GGUX", 4).u32(3).u64(0).u64(0);
  expectError(b.bytes, "bad magic");
  expectError(GgufBuilder().header(0, 0, 1).bytes, "version 1");
  expectError(GgufBuilder().header(0, 0, 0x03000000).bytes, "big-endian");
  expectError(GgufBuilder().header(0, 0, 7).bytes, "version 7");
  expectError(GgufBuilder().header(0, 1ull << 60).bytes, "metadata count");
  expectError(GgufBuilder().header(1ull << 60, 0).bytes, "tensor count");
}

TEST(Gguf, RejectsBadMetadata) {
  expectError(GgufBuilder().header(0, 1).u64(1ull << 62).zeros(16).bytes, "runs past the end");
  expectError(GgufBuilder().header(0, 2).kvU32("k", 1).kvU32("k", 2).bytes,
              "duplicate metadata key 'k'");
  expectError(GgufBuilder().header(0, 1).str("k").u32(13).u32(0).bytes, "invalid value type 13");
  expectError(GgufBuilder().header(0, 1).str("k").u32(7).u8(2).zeros(16).bytes, "bool value 2");
  // Array of 2^40 uint32 in a tiny file.
  expectError(GgufBuilder().header(0, 1).str("k").u32(9).u32(4).u64(1ull << 40).zeros(16).bytes,
              "runs past the end");
  expectError(GgufBuilder().header(0, 1).str("k").u32(9).u32(99).u64(1).bytes, "element type 99");
  // String inside an array whose length runs past the end.
  expectError(GgufBuilder().header(0, 1).str("k").u32(9).u32(8).u64(1).u64(1000).zeros(8).bytes,
              "runs past the end");
  // Arrays nested past the limit.
  GgufBuilder deep;
  deep.header(0, 1).str("k").u32(9);
  for (int k = 0; k < 20; ++k)
    deep.u32(9).u64(1);
  expectError(deep.bytes, "nested too deeply");
}

TEST(Gguf, RejectsBadAlignment) {
  expectError(GgufBuilder().header(0, 1).kvU32("general.alignment", 24).bytes,
              "not a power of two");
  expectError(GgufBuilder().header(0, 1).kvU32("general.alignment", 0).bytes, "not a power of two");
  expectError(GgufBuilder().header(0, 1).str("general.alignment").u32(10).u64(32).bytes,
              "must be uint32");
}

TEST(Gguf, RejectsBadTensorInfos) {
  auto one = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t dataBytes) {
    GgufBuilder b;
    b.header(1, 0).tensor("w", std::move(ne), type, offset).padTo(32).zeros(dataBytes);
    return b.bytes;
  };
  expectError(one({4}, 0, 0, 8), "runs past the end of the file");
  expectError(one({4}, 0, 8, 64), "not a multiple of the alignment");
  expectError(one({4}, 4, 0, 64), "unknown tensor type 4");
  expectError(one({4}, 1000, 0, 64), "unknown tensor type 1000");
  expectError(one({1, 1, 1, 1, 1}, 0, 0, 64), "5 dimensions");
  expectError(one({16}, 8, 0, 64), "not a multiple of the Q8_0 block size");
  expectError(one({1ull << 32, 1ull << 32}, 0, 0, 64), "overflows");
  expectError(one({1ull << 62}, 0, 0, 64), "overflows");
  expectError(one({4}, 0, 1ull << 62, 64), "runs past the end");
  expectError(one({4}, 0, ~0ull - 31, 64), "runs past the end");

  GgufBuilder dup;
  dup.header(2, 0).tensor("w", {4}, 0, 0).tensor("w", {4}, 0, 32).padTo(32).zeros(64);
  expectError(dup.bytes, "duplicate tensor name 'w'");
  GgufBuilder overlap;
  overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {4}, 0, 32).padTo(32).zeros(64);
  expectError(overlap.bytes, "overlap");
}

TEST(Gguf, MissingFileIsNotFound) {
  Expected<GgufFile> f = GgufFile::open("/nonexistent/model.gguf");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code(), ErrorCode::NotFound);
  EXPECT_NE(f.error().message().find("/nonexistent/model.gguf"), std::string::npos);
}
