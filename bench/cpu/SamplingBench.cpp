// Token choice alone (runtime/sample): the sampler over random logits (greedy, temperature,
// top-p, top-k; vocabularies of 49,152 and 128,256), and guided decoding's token masks: one
// trie walk of a real vocabulary
// per new recognizer state, which is what a guided step costs when the sampler cannot take
// the unconstrained choice (top-k/top-p/min-p, or the model strays). Each iteration accepts
// one token and builds the mask of the state it leads to: a counted guide makes every state
// new. Argument 1: with cold caches.
//   build/runtime/sample/modelrt-sampling-bench <model.gguf | tokenizer.json | HF dir>
#include "runtime/sample/GrammarConstraint.h"
#include "runtime/sample/JsonConstraint.h"
#include "runtime/sample/RegexConstraint.h"
#include "runtime/tokenize/Tokenizer.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <random>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace modelrt;

std::shared_ptr<sample::JsonVocabulary> gVocab;
int32_t gLetter = -1; // the token "a"

// The vocabulary as the server builds it: control, unknown and unused tokens and the end
// tokens write no bytes.
std::shared_ptr<sample::JsonVocabulary> vocabulary(const Tokenizer &tok) {
  std::vector<std::string> bytes(size_t(tok.vocabSize()));
  for (size_t id = 0; id < bytes.size(); ++id) {
    const TokenAttr a = tok.tokenAttr(int32_t(id));
    if (a != TokenAttr::Control && a != TokenAttr::Unknown &&
        a != TokenAttr::Unused)
      bytes[id] = std::string(tok.tokenBytes(int32_t(id)));
    if (bytes[id] == "a")
      gLetter = int32_t(id);
  }
  std::vector<int32_t> ends = tok.endIds();
  for (int32_t end : ends)
    bytes[size_t(end)].clear();
  return std::make_shared<sample::JsonVocabulary>(bytes, std::move(ends));
}

// With argument 1, caches are cold, as after a forward pass that streamed the weights: 64 MB
// written before each iteration (untimed).
void evictCaches() {
  static std::vector<uint64_t> junk(size_t(8) << 20);
  for (uint64_t &x : junk)
    x += 1;
  benchmark::ClobberMemory();
}

template <class Make>
void fresh(benchmark::State &state, Make make) {
  auto c = make();
  int accepted = 0;
  for (auto _ : state) {
    if (accepted == 900 || state.range(0)) {
      state.PauseTiming();
      if (accepted == 900) { // the counter's end is near: start over
        c = make();
        accepted = 0;
      }
      if (state.range(0))
        evictCaches();
      state.ResumeTiming();
    }
    c->accept(gLetter);
    ++accepted;
    benchmark::DoNotOptimize(c->allowedTokens().data());
  }
  state.counters["vocab"] = double(gVocab->vocabSize());
}

void BM_RegexMask(benchmark::State &state) {
  auto re = sample::Regex::compile("[^#]{1,1000}#");
  fresh(state, [&] { return std::make_unique<sample::RegexConstraint>(gVocab, *re); });
}
BENCHMARK(BM_RegexMask)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_GrammarMask(benchmark::State &state) {
  auto g = sample::Grammar::compile("root ::= [^#]{1,1000} \"#\"");
  fresh(state, [&] { return std::make_unique<sample::GrammarConstraint>(gVocab, *g); });
}
BENCHMARK(BM_GrammarMask)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// JSON (response_format): the mask inside a string value, from a vocabulary whose mask cache
// is empty (copied before each walk, untimed).
void BM_JsonStringMask(benchmark::State &state) {
  sample::JsonRecognizer inString;
  inString.feed("{\"key\": \"");
  for (auto _ : state) {
    state.PauseTiming();
    auto v = std::make_shared<sample::JsonVocabulary>(*gVocab);
    if (state.range(0))
      evictCaches();
    state.ResumeTiming();
    benchmark::DoNotOptimize(v->allowed(inString).data());
  }
}
BENCHMARK(BM_JsonStringMask)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Logits shaped like a model's: a few likely tokens, a long tail.
std::vector<float> modelLogits(int64_t vocab) {
  std::vector<float> logits(static_cast<size_t>(vocab));
  std::mt19937 rng(3);
  std::normal_distribution<float> tail(0.0f, 2.0f);
  for (float &x : logits)
    x = tail(rng);
  for (int i = 0; i < 8; ++i)
    logits[size_t(rng() % logits.size())] += 12.0f - float(i);
  return logits;
}

// Sampler::next: arguments vocabulary size, temperature x 100, top_p x 100, top_k.
void BM_Sample(benchmark::State &state) {
  const std::vector<float> logits = modelLogits(state.range(0));
  sample::SamplingParams p;
  p.temperature = float(state.range(1)) / 100.0f;
  p.topP = float(state.range(2)) / 100.0f;
  p.topK = int32_t(state.range(3));
  sample::Sampler s(p);
  for (auto _ : state)
    benchmark::DoNotOptimize(s.next(logits.data(), int64_t(logits.size())));
}
BENCHMARK(BM_Sample)
    ->ArgNames({"vocab", "temp", "top_p", "top_k"})
    ->Args({49152, 0, 100, 0})
    ->Args({49152, 70, 100, 0})
    ->Args({49152, 70, 90, 0})
    ->Args({49152, 70, 100, 40})
    ->Args({128256, 70, 95, 0})
    ->Unit(benchmark::kMicrosecond);

// The chosen token's logprob with the 5 most likely (OpenAI's logprobs / top_logprobs).
void BM_Logprobs(benchmark::State &state) {
  const std::vector<float> logits = modelLogits(state.range(0));
  for (auto _ : state)
    benchmark::DoNotOptimize(sample::logprobs(logits.data(), int64_t(logits.size()), 7, 5));
}
BENCHMARK(BM_Logprobs)->Arg(49152)->Arg(128256)->Unit(benchmark::kMicrosecond);

} // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: modelrt-sampling-bench <model.gguf | tokenizer.json | HF dir>\n");
    return 2;
  }
  auto tok = Tokenizer::fromFile(argv[1]);
  if (!tok) {
    std::fprintf(stderr, "%s\n", tok.error().message().c_str());
    return 1;
  }
  gVocab = vocabulary(**tok);
  if (gLetter < 0) {
    std::fprintf(stderr, "the vocabulary has no token \"a\"\n");
    return 1;
  }
  benchmark::RunSpecifiedBenchmarks();
}
