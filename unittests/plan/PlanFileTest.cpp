// The plan container and its metadata: what the writer writes reads back, and every kind
// of damage is refused with an error naming it, never a crash or an over-read.
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace modelrt;
using namespace modelrt::plan;

namespace {

const char *kMetadata = R"({
  "built_by": "test",
  "model": {"name": "m", "architecture": "x", "vocab_size": 8},
  "limits": {"max_seq_len": 16, "max_num_seqs": 2, "max_num_batched_tokens": 8},
  "target": {"target": "cpu", "dtype": "f32", "tp": 1, "pp": 1},
  "kv_cache": {"num_layers": 1, "num_kv_heads": 1, "head_dim": 4},
  "weights": [{"name": "w", "dtype": "F32", "shape": [2, 2], "offset": 0, "size": 16},
              {"name": "v", "dtype": "BF16", "shape": [4], "offset": 64, "size": 8}]
})";

std::vector<uint8_t> weightsBlob() {
  std::vector<uint8_t> blob(72, 0);
  float w[4] = {1.0f, -2.0f, 3.5f, 0.25f};
  std::memcpy(blob.data(), w, sizeof(w));
  return blob;
}

std::vector<uint8_t> validPlan(const std::string &metadata = kMetadata) {
  PlanWriter writer;
  writer.addSection(SectionKind::Metadata, 0, "metadata", metadata);
  writer.addSection(SectionKind::Program, 0, "program", std::string_view("{}"));
  writer.addSection(SectionKind::Weights, 0, "weights", weightsBlob());
  return writer.serialize();
}

std::string parseError(const std::vector<uint8_t> &bytes) {
  Expected<PlanFile> plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  if (!plan)
    return plan.error().message();
  Expected<PlanMetadata> meta = readMetadata(*plan);
  return meta ? "" : meta.error().message();
}

FileHeader header(const std::vector<uint8_t> &bytes) {
  FileHeader h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  return h;
}

SectionEntry entry(const std::vector<uint8_t> &bytes, int i) {
  SectionEntry e;
  std::memcpy(&e, bytes.data() + sizeof(FileHeader) + i * sizeof(SectionEntry), sizeof(e));
  return e;
}

void setEntry(std::vector<uint8_t> &bytes, int i, const SectionEntry &e) {
  std::memcpy(bytes.data() + sizeof(FileHeader) + i * sizeof(SectionEntry), &e, sizeof(e));
}

} // namespace

TEST(PlanFile, RoundTripsSectionsAndWeights) {
  std::vector<uint8_t> bytes = validPlan();
  Expected<PlanFile> plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  ASSERT_TRUE(plan.ok()) << plan.error().toString();
  ASSERT_EQ(plan->sections().size(), 3u);
  for (const Section &s : plan->sections())
    EXPECT_EQ(reinterpret_cast<uintptr_t>(s.data) % kSectionAlignment,
              reinterpret_cast<uintptr_t>(bytes.data()) % kSectionAlignment);
  EXPECT_EQ(plan->find(SectionKind::Program)->text(), "{}");
  Expected<PlanMetadata> meta = readMetadata(*plan);
  ASSERT_TRUE(meta.ok()) << meta.error().toString();
  EXPECT_EQ(meta->modelName, "m");
  EXPECT_EQ(meta->maxNumBatchedTokens, 8);
  EXPECT_EQ(meta->kvCache.headDim, 4);
  ASSERT_EQ(meta->weights.size(), 2u);
  float w[4];
  std::memcpy(w, meta->weights[0].data, sizeof(w));
  EXPECT_EQ(w[1], -2.0f);
  EXPECT_EQ(meta->weights[1].dtype, DType::BF16);
}

TEST(PlanFile, RejectsDamagedContainers) {
  const std::vector<uint8_t> good = validPlan();
  auto expectError = [](std::vector<uint8_t> bytes, const std::string &needle) {
    std::string error = parseError(bytes);
    EXPECT_NE(error.find(needle), std::string::npos) << "got: " << error;
  };

  expectError({}, "shorter than the 64-byte header");
  std::vector<uint8_t> bytes = good;
  bytes[0] = 'X';
  expectError(bytes, "wrong magic");
  bytes = good;
  bytes.pop_back();
  expectError(bytes, "truncated");

  bytes = good;
  FileHeader h = header(bytes);
  h.version = 99;
  std::memcpy(bytes.data(), &h, sizeof(h));
  expectError(bytes, "plan format version 99, this modelrt reads versions 1 to 2");
  // Version 1 (before classifiers and encoders) is still read.
  bytes = good;
  h = header(bytes);
  h.version = 1;
  std::memcpy(bytes.data(), &h, sizeof(h));
  EXPECT_TRUE(PlanFile::parse(bytes.data(), bytes.size(), "p.bin").ok());

  bytes = good;
  h = header(bytes);
  h.sectionCount = 1u << 30;
  std::memcpy(bytes.data(), &h, sizeof(h));
  expectError(bytes, "too many sections");

  bytes = good;
  h = header(bytes);
  h.sectionTableOffset = bytes.size() - 8;
  std::memcpy(bytes.data(), &h, sizeof(h));
  expectError(bytes, "section table outside the file");

  bytes = good;
  SectionEntry e = entry(bytes, 2);
  e.size = ~0ull - 10; // offset + size would wrap
  setEntry(bytes, 2, e);
  expectError(bytes, "section 2 ends past the end of the file");

  bytes = good;
  e = entry(bytes, 1);
  e.offset += 8;
  setEntry(bytes, 1, e);
  expectError(bytes, "section 1 is not 64-byte aligned");

  bytes = good;
  e = entry(bytes, 1);
  e.offset = entry(bytes, 0).offset; // program on top of metadata
  setEntry(bytes, 1, e);
  expectError(bytes, "sections overlap");

  bytes = good;
  e = entry(bytes, 0);
  e.kind = 77;
  setEntry(bytes, 0, e);
  expectError(bytes, "section 0 has unknown kind 77");

  bytes = good;
  e = entry(bytes, 0);
  std::memset(e.name, 'a', sizeof(e.name));
  setEntry(bytes, 0, e);
  expectError(bytes, "unterminated name");
}

TEST(PlanFile, RejectsBadMetadata) {
  auto expectError = [](const std::string &metadata, const std::string &needle) {
    std::string error = parseError(validPlan(metadata));
    EXPECT_NE(error.find(needle), std::string::npos) << "got: " << error;
  };
  auto replaced = [](const std::string &from, const std::string &to) {
    std::string m = kMetadata;
    size_t at = m.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return m.replace(at, from.size(), to);
  };
  expectError("[1, 2]", "metadata: not a JSON object");
  expectError("{\"model\": ", "metadata: not a JSON object");
  expectError(replaced("\"limits\"", "\"limitz\""), "metadata.limits missing");
  expectError(replaced("\"max_num_seqs\": 2", "\"max_num_seqs\": 0"),
              "limits.max_num_seqs must be positive");
  expectError(replaced("\"vocab_size\": 8", "\"vocab_size\": \"8\""),
              "model.vocab_size has the wrong type");
  expectError(replaced("\"size\": 16", "\"size\": 12"), "(w) is 12 bytes, its shape needs 16");
  expectError(replaced("\"offset\": 64", "\"offset\": 70"), "(v) lies outside the weights section");
  expectError(replaced("\"name\": \"v\"", "\"name\": \"w\""), "repeats the name 'w'");
  expectError(replaced("\"dtype\": \"BF16\"", "\"dtype\": \"IQ2_XS\""),
              "has dtype 'IQ2_XS', expected F32, F16, BF16 or a GGUF block type a plan keeps");
  expectError(replaced("\"offset\": 0", "\"offset\": -64"), "(w) has a negative offset or size");
  expectError(replaced("[2, 2]", "[4294967296, 4294967296, 4294967296]"), "(w)");
  // Value heads of their own width, or inside the keys (no wider than them).
  expectError(replaced("\"head_dim\": 4}", "\"head_dim\": 4, \"value_head_dim\": 0}"),
              "kv_cache.value_head_dim must be positive");
  expectError(replaced("\"head_dim\": 4}",
                       "\"head_dim\": 4, \"value_head_dim\": 8, \"values_in_keys\": true}"),
              "kv_cache.value_head_dim must be at most head_dim when values are in the keys");
  expectError(replaced("\"head_dim\": 4}", "\"head_dim\": 4, \"values_in_keys\": 1}"),
              "kv_cache.values_in_keys has the wrong type");
}

// A plan whose values are narrower than its keys, or the keys' first features.
TEST(PlanFile, ReadsValueHeadsOfTheirOwn) {
  auto read = [](const std::string &kv) {
    std::string m = kMetadata;
    const std::string from = "\"head_dim\": 4}";
    m.replace(m.find(from), from.size(), kv);
    std::vector<uint8_t> bytes = validPlan(m);
    Expected<PlanFile> plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
    EXPECT_TRUE(plan.ok());
    Expected<PlanMetadata> meta = readMetadata(*plan);
    EXPECT_TRUE(meta.ok()) << meta.error().message();
    return meta->kvCache;
  };
  KvCacheLayout plain = read("\"head_dim\": 4}");
  EXPECT_EQ(plain.valueHeadDim, 4);
  EXPECT_FALSE(plain.valuesInKeys);
  KvCacheLayout narrow = read("\"head_dim\": 4, \"value_head_dim\": 3}");
  EXPECT_EQ(narrow.valueHeadDim, 3);
  EXPECT_FALSE(narrow.valuesInKeys);
  KvCacheLayout inKeys =
      read("\"head_dim\": 4, \"value_head_dim\": 3, \"values_in_keys\": true}");
  EXPECT_EQ(inKeys.valueHeadDim, 3);
  EXPECT_TRUE(inKeys.valuesInKeys);
}

// A classifier's metadata: read back, and refused where it does not fit its pooling; its
// probabilities and scores as the activations say.
TEST(PlanFile, ReadsAndChecksClassifiers) {
  auto with = [](const std::string &extra) {
    std::string m = kMetadata;
    return m.insert(m.rfind('}'), ", " + extra);
  };
  const std::string last2 =
      R"("pooling": {"type": "last", "normalize": false, "dimensions": 2})";
  const std::string twoWay = R"("classifier": {"labels": ["yes"], "activation": "sigmoid",
      "score_activation": "none", "two_way_softmax": true, "pair_encoding": false,
      "pair_template": "q={query} d={document}"})";
  std::vector<uint8_t> bytes = validPlan(with(last2 + ", " + twoWay));
  Expected<PlanFile> plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  ASSERT_TRUE(plan.ok());
  Expected<PlanMetadata> meta = readMetadata(*plan);
  ASSERT_TRUE(meta.ok()) << meta.error().message();
  ASSERT_TRUE(meta->classifier.has_value());
  const Classifier &k = *meta->classifier;
  EXPECT_EQ(k.columns(), 2);
  EXPECT_EQ(k.logits({1.0f, 3.0f}), std::vector<float>{2.0f}); // true minus false
  EXPECT_NEAR(k.probabilities({1.0f, 3.0f})[0], 1 / (1 + std::exp(-2.0)), 1e-7);
  EXPECT_EQ(k.score({1.0f, 3.0f}), 2.0f); // score_activation none
  EXPECT_EQ(k.applyPairTemplate("a", "b{query}"), "q=a d=b{query}");
  const std::string three = R"("pooling": {"type": "last", "normalize": false, "dimensions": 3},
      "classifier": {"labels": ["a", "b", "c"], "activation": "softmax",
      "two_way_softmax": false, "pair_encoding": true})";
  bytes = validPlan(with(three));
  plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  meta = readMetadata(*plan);
  ASSERT_TRUE(meta.ok()) << meta.error().message();
  std::vector<float> p = meta->classifier->probabilities({0.0f, std::log(3.0f), 0.0f});
  EXPECT_NEAR(p[1], 0.6, 1e-6);
  EXPECT_NEAR(p[0] + p[1] + p[2], 1.0, 1e-6);
  EXPECT_EQ(meta->classifier->probabilities({1.0f, 2.0f, 3.0f}, false),
            (std::vector<float>{1.0f, 2.0f, 3.0f}));

  auto expectError = [&](const std::string &extra, const std::string &needle) {
    std::string error = parseError(validPlan(with(extra)));
    EXPECT_NE(error.find(needle), std::string::npos) << "got: " << error;
  };
  auto classifier = [](const std::string &fields) {
    return R"("classifier": {"activation": "sigmoid", "two_way_softmax": false,
        "pair_encoding": true, )" + fields + "}";
  };
  expectError(last2 + ", " + classifier(R"("labels": [])"),
              "classifier.labels must hold 1 to 65536 names");
  expectError(last2 + ", " + classifier(R"("labels": [1, 2])"), "classifier.labels must be strings");
  expectError(last2 + ", " + classifier(R"("labels": ["a", "b"], "score_activation": "tanh")"),
              "classifier.score_activation must be softmax, sigmoid or none");
  expectError(last2 + R"(, "classifier": {"labels": ["a", "b"], "activation": "tanh",
      "two_way_softmax": false, "pair_encoding": true})",
              "classifier.activation 'tanh' is not softmax, sigmoid or none");
  expectError(last2 + R"(, "classifier": {"labels": ["a", "b"], "activation": "none",
      "two_way_softmax": true, "pair_encoding": true})",
              "classifier.two_way_softmax needs exactly one label");
  expectError(last2 + ", " + classifier(R"("labels": ["a", "b", "c"])"),
              "a classifier needs pooling of the last token, not normalized, 3 dimensions wide");
  expectError(R"("pooling": {"type": "mean", "normalize": false, "dimensions": 2}, )" +
                  classifier(R"("labels": ["a", "b"])"),
              "a classifier needs pooling of the last token");
  expectError(classifier(R"("labels": ["a", "b"])"), "a classifier needs pooling");
  expectError(last2 + ", " + classifier(R"("labels": ["a", "b"], "pair_template": 3)"),
              "classifier.pair_template must be a string");
  expectError(last2 + R"(, "classifier": {"labels": ["a", "b"], "activation": "none"})",
              "classifier.two_way_softmax missing");
  // An encoder's classifier pools its first token; a BERT cross-encoder's counts token types.
  const std::string cls2 = R"("pooling": {"type": "cls", "normalize": false, "dimensions": 2})";
  bytes = validPlan(with(cls2 + R"(, "bidirectional": true, )" +
                         classifier(R"("labels": ["a", "b"], "token_types": 2)")));
  plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  meta = readMetadata(*plan);
  ASSERT_TRUE(meta.ok()) << meta.error().message();
  EXPECT_EQ(meta->classifier->tokenTypes, 2);
  expectError(cls2 + ", " + classifier(R"("labels": ["a", "b"])"),
              "a classifier needs pooling of the last token");
  expectError(last2 + R"(, "bidirectional": true, )" + classifier(R"("labels": ["a", "b"])"),
              "a classifier needs pooling of the first token (an encoder's)");
  expectError(cls2 + R"(, "bidirectional": true, )" +
                  classifier(R"("labels": ["a", "b"], "token_types": 0)"),
              "classifier.token_types must be an integer in [1, 1024]");
}

// An encoder's plan: bidirectional attention, which only a pooling plan may have.
TEST(PlanFile, ReadsBidirectionalPlans) {
  auto with = [](const std::string &extra) {
    std::string m = kMetadata;
    return m.insert(m.rfind('}'), ", " + extra);
  };
  const std::string pooling = R"("pooling": {"type": "mean", "normalize": true, "dimensions": 2})";
  std::vector<uint8_t> bytes = validPlan(with(pooling + R"(, "bidirectional": true)"));
  Expected<PlanFile> plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  ASSERT_TRUE(plan.ok());
  Expected<PlanMetadata> meta = readMetadata(*plan);
  ASSERT_TRUE(meta.ok()) << meta.error().message();
  EXPECT_TRUE(meta->bidirectional);
  bytes = validPlan(with(pooling));
  plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  ASSERT_TRUE(plan.ok());
  EXPECT_FALSE(readMetadata(*plan)->bidirectional);
  std::string error = parseError(validPlan(with(R"("bidirectional": true)")));
  EXPECT_NE(error.find("bidirectional attention needs pooling"), std::string::npos) << error;
  error = parseError(validPlan(with(pooling + R"(, "bidirectional": 1)")));
  EXPECT_NE(error.find("bidirectional must be a boolean"), std::string::npos) << error;
}

TEST(PlanFile, MissingFileIsAnError) {
  Expected<PlanFile> plan = PlanFile::open("/nonexistent/plan.bin");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.error().message().find("/nonexistent/plan.bin"), std::string::npos);
}

// Dummy weights (modelc --dummy-weights): no bytes in the plan; fillDummyWeights gives them
// the same bounded pseudo-random values on every load, in their dtype.
TEST(PlanFile, DummyWeightsAreFilledAtLoad) {
  // kMetadata with two dummy entries after its stored ones.
  std::string metadata = kMetadata;
  metadata.replace(metadata.find("]\n}"), 1, R"(,
      {"name": "big", "dtype": "F32", "shape": [300, 4096], "fill": "dummy", "offset": 0,
       "size": 4915200},
      {"name": "norm", "dtype": "BF16", "shape": [64], "fill": "dummy", "offset": 0,
       "size": 128}])");
  const std::vector<uint8_t> bytes = validPlan(metadata);
  Expected<PlanFile> plan = PlanFile::parse(bytes.data(), bytes.size(), "p.bin");
  ASSERT_TRUE(plan.ok()) << plan.error().toString();
  auto load = [&] {
    Expected<PlanMetadata> meta = readMetadata(*plan);
    EXPECT_TRUE(meta.ok()) << meta.error().toString();
    EXPECT_TRUE(meta->weights[2].dummy && !meta->weights[2].data);
    EXPECT_TRUE(fillDummyWeights(*meta).ok());
    return std::move(*meta);
  };
  PlanMetadata a = load(), b = load();
  ASSERT_TRUE(a.weights[2].data && a.weights[3].data);
  EXPECT_EQ(std::memcmp(a.weights[0].data, weightsBlob().data(), 16), 0); // stored: untouched
  EXPECT_EQ(std::memcmp(a.weights[2].data, b.weights[2].data, a.weights[2].size), 0);
  // A matrix: uniform in +-1/sqrt(cols), not constant; a vector: 1 +- 0.1 (bf16).
  const float *m = reinterpret_cast<const float *>(a.weights[2].data);
  float lo = 1, hi = -1;
  for (size_t i = 0; i < 300 * 4096; ++i) {
    lo = std::min(lo, m[i]);
    hi = std::max(hi, m[i]);
  }
  EXPECT_LE(hi, 1.0f / 64.0f);
  EXPECT_GE(lo, -1.0f / 64.0f);
  EXPECT_GT(hi - lo, 1.0f / 64.0f);
  for (size_t i = 0; i < 64; ++i) {
    uint16_t h;
    std::memcpy(&h, a.weights[3].data + 2 * i, 2);
    uint32_t bits = uint32_t(h) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    EXPECT_GE(v, 0.89f);
    EXPECT_LE(v, 1.11f);
  }
  // Only plain float types can be dummies.
  std::string quantized = metadata;
  quantized.replace(quantized.find("\"BF16\", \"shape\": [64]"), 6, "\"Q8_0\"");
  quantized.replace(quantized.find("\"size\": 128"), 11, "\"size\": 68");
  const std::string error = parseError(validPlan(quantized));
  EXPECT_NE(error.find("(norm) has a fill other than \"dummy\" of F32/F16/BF16"), std::string::npos)
      << error;
}
