// Encode throughput in MB/s (Google Benchmark). The text file comes from
// scripts/bench-tokenizer.py, which also times the Hugging Face tokenizers library on the
// same file in the same run:
//   MODELC_BENCH_TEXT=/tmp/mixed.txt MODELC_BENCH_TOKENIZER=path/to/tokenizer.json TokenizerBench
#include "runtime/tokenize/Tokenizer.h"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

using namespace modelrt;

namespace {

std::string envOr(const char *name, const std::string &fallback) {
  const char *v = std::getenv(name);
  return v ? v : fallback;
}

void BM_Encode(benchmark::State &state) {
  std::string tokPath = envOr("MODELC_BENCH_TOKENIZER", MODELC_TEST_SOURCE_DIR
                              "/unittests/tokenize/data/smollm2/tokenizer.json");
  std::string textPath = envOr("MODELC_BENCH_TEXT", "");
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromFile(tokPath);
  if (!tok) {
    state.SkipWithError(tok.error().toString().c_str());
    return;
  }
  std::string text;
  if (textPath.empty()) {
    for (int k = 0; k < 20000; ++k)
      text += "Hello world, the year is 2024! 你好 🦙 def f(x): return x * 2\n";
  } else {
    std::ifstream in(textPath, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  size_t tokens = 0;
  for (auto _ : state) {
    Expected<std::vector<int32_t>> ids = (*tok)->encode(text);
    if (!ids) {
      state.SkipWithError(ids.error().toString().c_str());
      return;
    }
    tokens = ids->size();
    benchmark::DoNotOptimize(ids->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_Encode)->Unit(benchmark::kMillisecond)->MinTime(2.0);

} // namespace

BENCHMARK_MAIN();
