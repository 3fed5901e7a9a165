// Embedding plans (modelc --task embed) through the serving engine, against
// sentence-transformers (test/goldens/<name>.embeddings.f32, scripts/gen-reference-logits.py:
// its modules.json pipeline on the same checkpoints): last-token, mean and first-token
// pooling, normalized or not, on one rank, two ranks, two stages and llama.cpp's GGUF
// layout; BERT and RoBERTa encoders (bidirectional attention) from texts through the plan's
// own tokenizer; and the invariants: a vector does not depend on what else is batched, or on
// how its prompt is chunked. Classification plans (modelc --task classify), the other pooling
// plans, against transformers' sequence classifier, sentence-transformers' CrossEncoder and
// Qwen3-Reranker's yes/no scoring (test/goldens/<name>.json).
#include "../Goldens.h"
#include "runtime/engine/Engine.h"
#include "runtime/server/Request.h"
#include "runtime/tokenize/Tokenizer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>

using namespace modelrt;
using namespace modelrt::engine;

extern std::string planDirectory;

namespace {

// A vector's elements are at most 1 (normalized) or O(1): the error is over the largest
// reference element. Measured: 5.1e-7 to 7.9e-7 on every plan here.
constexpr double kTolerance = 1e-5;

std::unique_ptr<CpuExecutor> load(const std::string &plan, ExecutorOptions options = {}) {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/" + plan + ".plan", options);
  EXPECT_TRUE(exec.ok()) << plan << ": " << exec.error().toString();
  return exec.ok() ? std::move(*exec) : nullptr;
}

testing_goldens::Golden golden(const std::string &name) {
  return testing_goldens::readGolden(name, MODELC_TEST_SOURCE_DIR, ".embeddings.f32");
}

std::vector<std::vector<int32_t>> prompts(const testing_goldens::Golden &g) {
  std::vector<std::vector<int32_t>> out;
  for (const auto &p : g.meta["prompts"])
    out.push_back(p["prompt"].get<std::vector<int32_t>>());
  return out;
}

// Every prompt added before step joinAt[i] (all at step 0 by default), run to the end; the
// vectors in prompt order.
std::vector<std::vector<float>> embed(Executor &exec, const std::vector<std::vector<int32_t>> &in,
                                      std::vector<int> joinAt = {}, int64_t dimensions = 0,
                                      const std::vector<std::vector<int32_t>> &types = {}) {
  joinAt.resize(in.size(), 0);
  Expected<std::unique_ptr<Engine>> eng = Engine::create(exec, sched::Policy::IterationLevel);
  EXPECT_TRUE(eng.ok()) << eng.error().toString();
  std::map<sched::RequestId, size_t> which;
  std::vector<std::vector<float>> out(in.size());
  for (int step = 0; step < 1000; ++step) {
    for (size_t i = 0; i < in.size(); ++i)
      if (joinAt[i] == step) {
        Expected<sched::RequestId> id = (*eng)->addEmbeddingRequest(
            in[i], dimensions, 0, i < types.size() ? types[i] : std::vector<int32_t>{});
        EXPECT_TRUE(id.ok()) << id.error().toString();
        which[*id] = i;
      }
    if (!(*eng)->hasUnfinished() && step >= *std::max_element(joinAt.begin(), joinAt.end()))
      break;
    Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
    EXPECT_TRUE(events.ok()) << events.error().toString();
    for (const sched::TokenEvent &e : *events) {
      EXPECT_TRUE(e.finish.has_value()) << "an embedding request ends at its one event";
      auto v = (*eng)->lastEmbeddings().find(e.id);
      EXPECT_NE(v, (*eng)->lastEmbeddings().end()) << "an event without its vector";
      if (v != (*eng)->lastEmbeddings().end())
        out[which[e.id]] = v->second;
    }
  }
  return out;
}

double relativeError(const std::vector<float> &ours, const float *ref) {
  return testing_goldens::relativeError(ours.data(), ref, static_cast<int64_t>(ours.size()));
}

bool sameBits(const std::vector<float> &a, const std::vector<float> &b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

} // namespace

TEST(Embedding, PlansMatchSentenceTransformers) {
  for (auto [plan, name] : std::vector<std::pair<std::string, std::string>>{
           {"hf-tiny-qwen3-embedding", "hf-tiny-qwen3-embedding"},
           {"hf-tiny-qwen3-embedding-tp2", "hf-tiny-qwen3-embedding"},
           {"hf-tiny-qwen3-embedding-gguf", "hf-tiny-qwen3-embedding"},
           {"hf-tiny-qwen3-embedding-chunked", "hf-tiny-qwen3-embedding"},
           {"hf-tiny-qwen3-embedding-cls", "hf-tiny-qwen3-embedding-cls"},
           {"hf-tiny-llama-embedding", "hf-tiny-llama-embedding"},
           {"hf-tiny-llama-embedding-pp2", "hf-tiny-llama-embedding"},
           {"hf-tiny-llama-embedding-chunked", "hf-tiny-llama-embedding"},
           {"hf-tiny-bert-embedding", "hf-tiny-bert-embedding"},
           {"hf-tiny-bert-embedding-tp2", "hf-tiny-bert-embedding"},
           {"hf-tiny-bert-embedding-pp2", "hf-tiny-bert-embedding"},
           {"hf-tiny-bert-embedding-gguf", "hf-tiny-bert-embedding"},
           {"hf-tiny-roberta-embedding", "hf-tiny-roberta-embedding"},
           {"hf-tiny-xlmr-embedding", "hf-tiny-xlmr-embedding"},
           {"hf-tiny-xlmr-embedding-tp2", "hf-tiny-xlmr-embedding"},
           {"hf-tiny-xlmr-embedding-gguf", "hf-tiny-xlmr-embedding"}}) {
    SCOPED_TRACE(plan);
    std::unique_ptr<CpuExecutor> exec = load(plan);
    ASSERT_TRUE(exec);
    testing_goldens::Golden g = golden(name);
    const int64_t d = g.meta["dimensions"];
    ASSERT_EQ(exec->metadata().outputWidth(), d);
    const std::vector<std::vector<int32_t>> in = prompts(g);
    // Texts: the plan's tokenizer gives sentence-transformers' ids (BERT's WordPiece, RoBERTa's
    // template, XLM-R's Unigram).
    Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromPlan(planDirectory + "/" + plan + ".plan");
    for (size_t i = 0; i < in.size(); ++i)
      if (g.meta["prompts"][i].contains("text")) {
        ASSERT_TRUE(tok.ok()) << tok.error().toString();
        EncodeOptions opts;
        opts.addSpecial = true;
        Expected<std::vector<int32_t>> ids =
            (*tok)->encode(g.meta["prompts"][i]["text"].get<std::string>(), opts);
        ASSERT_TRUE(ids.ok()) << ids.error().toString();
        EXPECT_EQ(*ids, in[i]) << "text " << i;
      }
    ASSERT_EQ(g.logits.size(), in.size() * size_t(d));
    // All prompts in one batch, as a server batches them.
    const std::vector<std::vector<float>> out = embed(*exec, in);
    double worst = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      ASSERT_EQ(out[i].size(), size_t(d)) << "prompt " << i;
      worst = std::max(worst, relativeError(out[i], g.logits.data() + i * size_t(d)));
    }
    EXPECT_LT(worst, kTolerance);
    std::printf("%s: worst relative error %.3g\n", plan.c_str(), worst);
  }
  // The tolerance tells the poolings apart: the first token's vector is far from the last's.
  testing_goldens::Golden last = golden("hf-tiny-qwen3-embedding"),
                          first = golden("hf-tiny-qwen3-embedding-cls");
  std::vector<float> row(last.logits.begin(), last.logits.begin() + 32);
  EXPECT_GT(relativeError(row, first.logits.data()), 100 * kTolerance);
}

// A Matryoshka embedding: the first N features, normalized after when the plan normalizes
// (vLLM's "dimensions"); sentence-transformers' vector cut the same way.
TEST(Embedding, DimensionsKeepTheFirstFeatures) {
  for (auto [plan, normalized] :
       std::vector<std::pair<std::string, bool>>{{"hf-tiny-qwen3-embedding", true},
                                                 {"hf-tiny-llama-embedding", false}}) {
    SCOPED_TRACE(plan);
    std::unique_ptr<CpuExecutor> exec = load(plan);
    ASSERT_TRUE(exec);
    testing_goldens::Golden g = golden(plan);
    const size_t d = g.meta["dimensions"].get<size_t>(), k = 8;
    const std::vector<std::vector<int32_t>> in = prompts(g);
    const std::vector<std::vector<float>> out = embed(*exec, in, {}, int64_t(k));
    for (size_t i = 0; i < in.size(); ++i) {
      std::vector<float> ref(g.logits.begin() + long(i * d), g.logits.begin() + long(i * d + k));
      double norm = 0;
      for (float x : ref)
        norm += double(x) * x;
      for (float &x : ref)
        x = normalized ? float(x / std::sqrt(norm)) : x;
      ASSERT_EQ(out[i].size(), k);
      EXPECT_LT(relativeError(out[i], ref.data()), kTolerance) << "prompt " << i;
    }
  }
}

// Alone, in a batch, joining while others run, and chunked by 8 tokens: the same bits (the
// pooled sum adds rows in position order whatever the steps). (Preemptions need a request
// that grows after younger ones were admitted, and an embedding request does not: the
// scheduler admits a younger one only with blocks to spare once the older ones' last chunks
// are placed.)
TEST(Embedding, VectorsDoNotDependOnTheBatchOrTheChunks) {
  for (auto [plan, chunked] : std::vector<std::pair<std::string, std::string>>{
           {"hf-tiny-qwen3-embedding", "hf-tiny-qwen3-embedding-chunked"},
           {"hf-tiny-qwen3-embedding-cls", ""},
           {"hf-tiny-llama-embedding", "hf-tiny-llama-embedding-chunked"},
           {"hf-tiny-bert-embedding", ""}}) {
    SCOPED_TRACE(plan);
    std::unique_ptr<CpuExecutor> exec = load(plan);
    ASSERT_TRUE(exec);
    const std::vector<std::vector<int32_t>> in = {
        {4, 33, 12, 60, 2, 2, 19, 40, 41, 7, 11, 58, 23, 1, 9, 30, 44, 5, 6, 50},
        {1, 17, 42, 9, 3, 50, 7, 8, 63, 31},
        {20},
        {5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
         28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38}};
    std::vector<std::vector<float>> alone;
    for (const std::vector<int32_t> &p : in)
      alone.push_back(embed(*exec, {p})[0]);
    const std::vector<std::vector<float>> batched = embed(*exec, in);
    const std::vector<std::vector<float>> joining = embed(*exec, in, {0, 1, 1, 2});
    for (size_t i = 0; i < in.size(); ++i) {
      EXPECT_TRUE(sameBits(batched[i], alone[i])) << "batched, prompt " << i;
      EXPECT_TRUE(sameBits(joining[i], alone[i])) << "joining, prompt " << i;
    }
    if (!chunked.empty()) {
      std::unique_ptr<CpuExecutor> small = load(chunked);
      ASSERT_TRUE(small);
      const std::vector<std::vector<float>> pieces = embed(*small, in);
      for (size_t i = 0; i < in.size(); ++i)
        EXPECT_TRUE(sameBits(pieces[i], alone[i])) << "chunked, prompt " << i;
    }
  }
}

// With the prefix cache (the server's default), a last-token request takes the full blocks
// an earlier prompt computed and gives the same bits; mean and cls requests need every row,
// so they compute their prompts whatever the cache holds.
TEST(Embedding, PrefixCacheGivesTheSameVectors) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i) // two full blocks of 16 and a rest
    prompt.push_back((7 * i + 3) % 64);
  for (auto [plan, adopts] : std::vector<std::pair<std::string, bool>>{
           {"hf-tiny-qwen3-embedding", true}, {"hf-tiny-llama-embedding", false}}) {
    SCOPED_TRACE(plan);
    std::unique_ptr<CpuExecutor> exec = load(plan);
    ASSERT_TRUE(exec);
    const std::vector<float> fresh = embed(*exec, {prompt})[0];
    Expected<std::unique_ptr<Engine>> eng =
        Engine::create(*exec, sched::Policy::IterationLevel, /*prefixCaching=*/true);
    ASSERT_TRUE(eng.ok());
    std::vector<std::vector<float>> out;
    std::vector<int32_t> cached;
    for (int round = 0; round < 2; ++round) {
      ASSERT_TRUE((*eng)->addEmbeddingRequest(prompt).ok());
      while ((*eng)->hasUnfinished()) {
        Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
        ASSERT_TRUE(events.ok());
        for (const sched::TokenEvent &e : *events) {
          cached.push_back(e.numCachedTokens);
          out.push_back((*eng)->lastEmbeddings().at(e.id));
        }
      }
    }
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(cached, (std::vector<int32_t>{0, adopts ? 32 : 0}));
    EXPECT_TRUE(sameBits(out[0], fresh));
    EXPECT_TRUE(sameBits(out[1], fresh));
  }
}

// An encoder's prompt runs whole in one step, whatever the batch: with a budget of 8 tokens a
// step takes whole prompts that fit (two of 4, then one of 8) and never a part of one, and
// the vectors are those of prompts run alone; a prompt longer than the budget is refused
// with the reason. The prefix cache is never used (each position's keys depend on the
// positions after it): asked for, the same bits and nothing cached.
TEST(Embedding, EncoderPromptsRunWhole) {
  std::unique_ptr<CpuExecutor> big = load("hf-tiny-bert-embedding");
  std::unique_ptr<CpuExecutor> small = load("hf-tiny-bert-embedding-small-steps");
  ASSERT_TRUE(big && small);
  EXPECT_TRUE(small->metadata().bidirectional);
  const std::vector<std::vector<int32_t>> in = {
      {2, 45, 8, 49, 3}, {2, 591, 27, 3}, {2, 37, 3}, {2, 225, 521, 568, 542, 586, 594, 3}};
  Expected<std::unique_ptr<Engine>> eng = Engine::create(*small, sched::Policy::IterationLevel);
  ASSERT_TRUE(eng.ok()) << eng.error().toString();
  std::vector<sched::RequestId> ids;
  for (const std::vector<int32_t> &p : in)
    ids.push_back(*(*eng)->addEmbeddingRequest(p));
  std::vector<std::vector<sched::RequestId>> steps;
  std::map<sched::RequestId, std::vector<float>> got;
  while ((*eng)->hasUnfinished()) {
    Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
    ASSERT_TRUE(events.ok()) << events.error().toString();
    steps.emplace_back();
    for (const sched::TokenEvent &e : *events) {
      steps.back().push_back(e.id);
      got[e.id] = (*eng)->lastEmbeddings().at(e.id);
    }
    ASSERT_LT(steps.size(), 10u);
  }
  // 5 + 4 > 8: the first alone; then 4 + 3; then the 8.
  EXPECT_EQ(steps, (std::vector<std::vector<sched::RequestId>>{
                       {ids[0]}, {ids[1], ids[2]}, {ids[3]}}));
  for (size_t i = 0; i < in.size(); ++i)
    EXPECT_TRUE(sameBits(got[ids[i]], embed(*big, {in[i]})[0])) << "prompt " << i;
  Expected<sched::RequestId> tooLong =
      (*eng)->addEmbeddingRequest({2, 5, 6, 7, 8, 9, 10, 11, 3});
  ASSERT_FALSE(tooLong.ok());
  EXPECT_NE(tooLong.error().message().find("exceeds max-num-batched-tokens 8"), std::string::npos)
      << tooLong.error().message();

  Expected<std::unique_ptr<Engine>> cached =
      Engine::create(*big, sched::Policy::IterationLevel, /*prefixCaching=*/true);
  ASSERT_TRUE(cached.ok()) << cached.error().toString();
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i)
    prompt.push_back(5 + (7 * i) % 500);
  std::vector<std::vector<float>> out;
  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE((*cached)->addEmbeddingRequest(prompt).ok());
    while ((*cached)->hasUnfinished()) {
      Expected<std::vector<sched::TokenEvent>> events = (*cached)->step();
      ASSERT_TRUE(events.ok()) << events.error().toString();
      for (const sched::TokenEvent &e : *events) {
        EXPECT_EQ(e.numCachedTokens, 0);
        out.push_back((*cached)->lastEmbeddings().at(e.id));
      }
    }
  }
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(sameBits(out[0], out[1]));
  EXPECT_TRUE(sameBits(out[0], embed(*big, {prompt})[0]));
}

TEST(Embedding, EachPlanServesItsOwnKindOfRequest) {
  std::unique_ptr<CpuExecutor> embedding = load("hf-tiny-qwen3-embedding");
  std::unique_ptr<CpuExecutor> generating = load("tiny-llama");
  ASSERT_TRUE(embedding && generating);
  Expected<std::unique_ptr<Engine>> e = Engine::create(*embedding, sched::Policy::IterationLevel);
  Expected<std::unique_ptr<Engine>> g = Engine::create(*generating, sched::Policy::IterationLevel);
  ASSERT_TRUE(e.ok() && g.ok());
  sched::RequestParams params;
  params.prompt = {1, 2, 3};
  Expected<sched::RequestId> refused = (*e)->addRequest(params, {});
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("computes embeddings"), std::string::npos);
  Expected<sched::RequestId> notEmbedding = (*g)->addEmbeddingRequest({1, 2, 3});
  ASSERT_FALSE(notEmbedding.ok());
  EXPECT_NE(notEmbedding.error().message().find("--task embed"), std::string::npos);
  Expected<sched::RequestId> tooWide = (*e)->addEmbeddingRequest({1, 2, 3}, 33);
  ASSERT_FALSE(tooWide.ok());
  EXPECT_NE(tooWide.error().message().find("dimensions 33 is not in [1, 32]"), std::string::npos)
      << tooWide.error().message();
}

namespace {

nlohmann::json classifierGolden(const std::string &name) {
  const char *env = std::getenv("MODELC_SOURCE_DIR");
  std::ifstream in((env && *env ? env : MODELC_TEST_SOURCE_DIR) +
                   std::string("/test/goldens/") + name + ".json");
  EXPECT_TRUE(in.good()) << name;
  return in.good() ? nlohmann::json::parse(in) : nlohmann::json::object();
}

} // namespace

// Each case's prompt (a text pair through the plan's own tokenizer: its pair encoding, or the
// two texts as one, as the plan says; else the golden's ids), all batched: the labels'
// logits and probabilities against transformers' (a Qwen3ForSequenceClassification of 3
// labels, softmax), sentence-transformers' CrossEncoder (a LlamaForSequenceClassification of
// one label, sigmoid) and Qwen3-Reranker's model card (softmax of the LM head's "no" and
// "yes" logits, at yes; also as llama.cpp's converter writes it, a GGUF ranker). Measured: logits 1.5e-6 to 6.2e-6 relative (the reranker's is a
// difference of two logits near 10), probabilities 1.2e-7 to 7.2e-7.
TEST(Classifier, PlansMatchTransformers) {
  for (auto [plan, name] : std::vector<std::pair<std::string, std::string>>{
           {"hf-tiny-qwen3-classifier", "hf-tiny-qwen3-classifier"},
           {"hf-tiny-qwen3-classifier-tp2", "hf-tiny-qwen3-classifier"},
           {"hf-tiny-qwen3-classifier-chunked", "hf-tiny-qwen3-classifier"},
           {"hf-tiny-llama-cross-encoder", "hf-tiny-llama-cross-encoder"},
           {"hf-tiny-llama-cross-encoder-pp2", "hf-tiny-llama-cross-encoder"},
           {"hf-tiny-qwen3-reranker", "hf-tiny-qwen3-reranker"},
           {"hf-tiny-qwen3-reranker-tp2", "hf-tiny-qwen3-reranker"},
           {"tiny-qwen3-reranker-gguf", "hf-tiny-qwen3-reranker"},
           {"hf-tiny-bert-classifier", "hf-tiny-bert-classifier"},
           {"hf-tiny-bert-classifier-tp2", "hf-tiny-bert-classifier"},
           {"hf-tiny-roberta-cross-encoder", "hf-tiny-roberta-cross-encoder"},
           {"hf-tiny-roberta-cross-encoder-pp2", "hf-tiny-roberta-cross-encoder"},
           {"hf-tiny-bert-cross-encoder", "hf-tiny-bert-cross-encoder"},
           {"hf-tiny-bert-cross-encoder-tp2", "hf-tiny-bert-cross-encoder"},
           {"hf-tiny-bert-cross-encoder-pp2", "hf-tiny-bert-cross-encoder"},
           {"hf-tiny-xlmr-reranker", "hf-tiny-xlmr-reranker"},
           {"hf-tiny-xlmr-reranker-pp2", "hf-tiny-xlmr-reranker"},
           {"hf-tiny-xlmr-reranker-gguf", "hf-tiny-xlmr-reranker"}}) {
    SCOPED_TRACE(plan);
    std::unique_ptr<CpuExecutor> exec = load(plan);
    ASSERT_TRUE(exec);
    const std::optional<plan::Classifier> &classifier = exec->metadata().classifier;
    ASSERT_TRUE(classifier.has_value());
    const nlohmann::json g = classifierGolden(name);
    ASSERT_EQ(classifier->labels, g["labels"].get<std::vector<std::string>>());
    // A plan without a tokenizer (the GGUF file here) takes the reference's ids.
    Expected<std::unique_ptr<Tokenizer>> tok =
        Tokenizer::fromPlan(planDirectory + "/" + plan + ".plan");
    ASSERT_TRUE(tok.ok() || tok.error().code() == ErrorCode::NotFound) << tok.error().toString();
    // A BERT cross-encoder's pairs also carry the tokenizer's token types (transformers'
    // token_type_ids in the golden).
    std::vector<std::vector<int32_t>> in, types;
    for (const nlohmann::json &c : g["cases"]) {
      const std::vector<int32_t> expected = c["prompt"].get<std::vector<int32_t>>();
      if (!c.contains("text_1") || !tok.ok()) {
        in.push_back(expected);
        types.emplace_back();
        continue;
      }
      const std::string q = c["text_1"], d = c["text_2"];
      std::vector<int32_t> pairTypes;
      Expected<std::vector<int32_t>> ids =
          server::pairPrompt(**tok, *classifier, q, d, -1, &pairTypes);
      ASSERT_TRUE(ids.ok()) << ids.error().toString();
      EXPECT_EQ(*ids, expected) << "the prompt of (" << q << ", " << d << ")";
      EXPECT_EQ(pairTypes, c.value("token_types", std::vector<int32_t>{}))
          << "the token types of (" << q << ", " << d << ")";
      in.push_back(*ids);
      types.push_back(std::move(pairTypes));
    }
    const std::vector<std::vector<float>> out = embed(*exec, in, {}, 0, types);
    double worstLogit = 0, worstProb = 0;
    for (size_t i = 0; i < in.size(); ++i) {
      const std::vector<float> refLogits = g["cases"][i]["logits"].get<std::vector<float>>();
      const std::vector<float> refProbs = g["cases"][i]["probs"].get<std::vector<float>>();
      const std::vector<float> logits = classifier->logits(out[i]);
      // A pair's: its score (the cross-encoder's activation); else the labels'.
      const std::vector<float> probs = g["cases"][i].contains("text_1")
                                           ? std::vector<float>{classifier->score(out[i])}
                                           : classifier->probabilities(out[i]);
      ASSERT_EQ(logits.size(), refLogits.size()) << "case " << i;
      ASSERT_EQ(probs.size(), refProbs.size()) << "case " << i;
      worstLogit = std::max(worstLogit, relativeError(logits, refLogits.data()));
      for (size_t k = 0; k < probs.size(); ++k)
        worstProb = std::max(worstProb, std::fabs(double(probs[k]) - refProbs[k]));
    }
    EXPECT_LT(worstLogit, kTolerance);
    EXPECT_LT(worstProb, kTolerance);
    std::printf("%s: worst relative logit error %.3g, probability error %.3g\n", plan.c_str(),
                worstLogit, worstProb);
  }
}

// A classifier's logits, like an embedding, do not depend on the batch or the chunks.
TEST(Classifier, LogitsDoNotDependOnTheBatchOrTheChunks) {
  std::unique_ptr<CpuExecutor> exec = load("hf-tiny-qwen3-classifier");
  std::unique_ptr<CpuExecutor> small = load("hf-tiny-qwen3-classifier-chunked");
  ASSERT_TRUE(exec && small);
  const std::vector<std::vector<int32_t>> in = {
      {4, 33, 12, 60, 2, 2, 19, 40, 41, 7, 11, 58, 23, 1, 9, 30, 44, 5, 6, 50},
      {20},
      {1, 17, 42, 9, 3, 50, 7, 8, 63, 31}};
  const std::vector<std::vector<float>> batched = embed(*exec, in, {0, 1, 1});
  const std::vector<std::vector<float>> chunked = embed(*small, in);
  for (size_t i = 0; i < in.size(); ++i) {
    const std::vector<float> alone = embed(*exec, {in[i]})[0];
    ASSERT_EQ(alone.size(), 3u);
    EXPECT_TRUE(sameBits(batched[i], alone)) << "batched, prompt " << i;
    EXPECT_TRUE(sameBits(chunked[i], alone)) << "chunked, prompt " << i;
  }
}
