// LoRA adapters on the CPU executor: PEFT's adapters on hf-tiny-llama against PEFT's own
// forward pass (goldens from scripts/gen-reference-logits.py), on 1 and 2 ranks and 2
// stages; requests of different adapters batched together give what each gives alone, bit
// for bit; the engine keeps each adapter's KV apart in the prefix cache; bad adapters are
// refused with what is wrong.
#include "runtime/engine/CpuExecutor.h"
#include "runtime/engine/Engine.h"
#include "runtime/engine/Sequences.h"
#include "unittests/Goldens.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace modelrt;
using namespace modelrt::engine;

extern std::string planDirectory;

namespace {

const std::string kInputs = std::string(MODELC_TEST_SOURCE_DIR) + "/test/modelc/Inputs/";

ExecutorOptions withAdapters(std::vector<LoraSpec> adapters) {
  ExecutorOptions options;
  options.loraAdapters = std::move(adapters);
  return options;
}

const std::vector<LoraSpec> kBoth = {{"full", kInputs + "hf-tiny-llama-lora"},
                                     {"rs", kInputs + "hf-tiny-llama-lora-rs"}};

// Each prompt of `golden` one token a step under `adapter` of `adapters`; the worst relative
// logit error.
double worstError(const std::string &plan, const std::string &golden, int32_t adapter,
                  const std::vector<LoraSpec> &adapters = kBoth) {
  Expected<std::unique_ptr<CpuExecutor>> exec = CpuExecutor::load(plan, withAdapters(adapters));
  EXPECT_TRUE(exec.ok()) << exec.error().toString();
  if (!exec.ok())
    return 1e9;
  Expected<Sequences> seqs = Sequences::create(**exec);
  EXPECT_TRUE(seqs.ok());
  testing_goldens::Golden g = testing_goldens::readGolden(golden, MODELC_TEST_SOURCE_DIR);
  const int64_t vocab = g.meta["vocab"];
  double worst = 0;
  int64_t row = 0;
  uint64_t sequence = 0;
  for (const nlohmann::json &p : g.meta["prompts"]) {
    ++sequence;
    for (int32_t token : p["prompt"].get<std::vector<int32_t>>()) {
      Expected<std::vector<float>> logits = seqs->step({token}, {{sequence, 1, true, adapter}});
      EXPECT_TRUE(logits.ok()) << logits.error().toString();
      if (!logits.ok())
        return 1e9;
      worst = std::max(worst, testing_goldens::relativeError(logits->data(),
                                                             &g.logits[row * vocab], vocab));
      ++row;
    }
  }
  return worst;
}

// A PEFT-style adapter directory under the test's temporary directory: `config` as
// adapter_config.json and `tensors` (name -> shape, values i * 0.01) as
// adapter_model.safetensors.
std::string writeAdapter(const std::string &name, const nlohmann::json &config,
                         const std::vector<std::pair<std::string, std::vector<int64_t>>> &tensors) {
  const std::string dir = testing::TempDir() + "lora-" + name;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/adapter_config.json") << config.dump();
  nlohmann::json header = nlohmann::json::object();
  std::vector<float> data;
  for (const auto &[tensor, shape] : tensors) {
    int64_t n = 1;
    for (int64_t d : shape)
      n *= d;
    const size_t begin = data.size() * sizeof(float);
    for (int64_t i = 0; i < n; ++i)
      data.push_back(0.01f * static_cast<float>(i % 17));
    header[tensor] = {{"dtype", "F32"},
                      {"shape", shape},
                      {"data_offsets", {begin, data.size() * sizeof(float)}}};
  }
  std::string text = header.dump();
  while (text.size() % 8)
    text += ' ';
  std::ofstream out(dir + "/adapter_model.safetensors", std::ios::binary);
  const uint64_t length = text.size();
  out.write(reinterpret_cast<const char *>(&length), 8);
  out << text;
  out.write(reinterpret_cast<const char *>(data.data()),
            static_cast<std::streamsize>(data.size() * sizeof(float)));
  return dir;
}

const nlohmann::json kConfig = {{"peft_type", "LORA"}, {"r", 2}, {"lora_alpha", 4}};
const std::string kQ = "base_model.model.model.layers.0.self_attn.q_proj";

std::string loadError(const std::string &plan, const std::string &adapterDir) {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/" + plan, withAdapters({{"bad", adapterDir}}));
  return exec.ok() ? std::string("loaded") : exec.error().message();
}

} // namespace

// Both adapters on one plan: all seven linears of each layer at rank 4 (q, k and v update
// their rows of the merged QKV GEMM, gate and up theirs of the merged gate/up), and rank 2
// on three modules with rsLoRA scaling and a per-module alpha. On 2 ranks the shards take
// their rows of B or columns of A; on 2 stages each stage its own layers'.
TEST(Reference, LoraAdaptersMatchPeft) {
  for (const char *variant : {"", "-tp2", "-pp2"}) {
    SCOPED_TRACE(variant);
    const std::string plan = planDirectory + "/hf-tiny-llama" + variant + ".plan";
    const double full = worstError(plan, "hf-tiny-llama-lora", 1);
    const double rs = worstError(plan, "hf-tiny-llama-lora-rs", 2);
    std::printf("hf-tiny-llama%s: worst relative logit error %.3g (rank 4, all linears), "
                "%.3g (rsLoRA)\n",
                variant, full, rs);
    EXPECT_LT(full, 1e-5);
    EXPECT_LT(rs, 1e-5);
    // The adapters matter: without them (or with the other one) the logits are far off.
    EXPECT_GT(worstError(plan, "hf-tiny-llama-lora", 0), 1e-2);
    EXPECT_GT(worstError(plan, "hf-tiny-llama-lora", 2), 1e-2);
  }
}

// An adapter of the LM head (hf-tiny-mixtral's is its own), whose GEMM sees only the
// sampled rows, and of attention, on 1 and 2 ranks (the head's rows split over the
// vocabulary); PEFT saved the head's base weight beside it, which is the plan's.
TEST(Reference, LoraOfTheLmHeadMatchesPeft) {
  const std::vector<LoraSpec> adapter = {{"mixtral", kInputs + "hf-tiny-mixtral-lora"}};
  for (const char *variant : {"", "-tp2"}) {
    SCOPED_TRACE(variant);
    const std::string plan = planDirectory + "/hf-tiny-mixtral" + variant + ".plan";
    const double worst = worstError(plan, "hf-tiny-mixtral-lora", 1, adapter);
    std::printf("hf-tiny-mixtral%s with its adapter: worst relative logit error %.3g\n", variant,
                worst);
    EXPECT_LT(worst, 1e-5);
    EXPECT_GT(worstError(plan, "hf-tiny-mixtral-lora", 0, adapter), 1e-2);
  }
}

// The same adapter on the model's FP8 checkpoint (its blocks kept in the plan, 1 and 2
// ranks): a quantized base with an adapter, against PEFT on transformers' dequantized model.
TEST(Reference, LoraOnAnFp8BaseMatchesPeft) {
  for (const char *variant : {"-native", "-tp2"}) {
    SCOPED_TRACE(variant);
    const std::string plan = planDirectory + "/hf-tiny-llama-fp8" + variant + ".plan";
    const double worst = worstError(plan, "hf-tiny-llama-fp8-lora", 1);
    std::printf("hf-tiny-llama-fp8%s with hf-tiny-llama-lora: worst relative logit error %.3g\n",
                variant, worst);
    EXPECT_LT(worst, 1e-5);
    EXPECT_GT(worstError(plan, "hf-tiny-llama-fp8-lora", 0), 1e-2);
  }
}

// One step batching a prompt of each adapter and of none, and decode rows of each, gives
// every row the logits it has alone.
TEST(Lora, MixedBatchEqualsEachAlone) {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama.plan", withAdapters(kBoth));
  ASSERT_TRUE(exec.ok()) << exec.error().toString();
  const std::vector<int32_t> prompt = {1, 17, 42, 9, 3, 50, 7};
  std::vector<std::vector<float>> alone;
  for (int32_t adapter = 0; adapter < 3; ++adapter) {
    Expected<Sequences> seqs = Sequences::create(**exec);
    ASSERT_TRUE(seqs.ok());
    Expected<std::vector<float>> logits =
        seqs->step(prompt, {{1, int64_t(prompt.size()), true, adapter}});
    ASSERT_TRUE(logits.ok()) << logits.error().toString();
    alone.push_back(*logits);
    logits = seqs->step({5}, {{1, 1, true, adapter}});
    ASSERT_TRUE(logits.ok());
    alone.push_back(*logits);
  }
  Expected<Sequences> seqs = Sequences::create(**exec);
  ASSERT_TRUE(seqs.ok());
  std::vector<int32_t> tokens;
  std::vector<SequenceChunk> chunks;
  // Adapter 1's rows are apart in the batch (gathered for its GEMMs).
  const std::vector<int32_t> order = {1, 0, 1, 2};
  for (size_t i = 0; i < order.size(); ++i) {
    tokens.insert(tokens.end(), prompt.begin(), prompt.end());
    chunks.push_back({uint64_t(20 + i), int64_t(prompt.size()), true, order[i]});
  }
  Expected<std::vector<float>> batched = seqs->step(tokens, chunks);
  ASSERT_TRUE(batched.ok()) << batched.error().toString();
  const size_t vocab = alone[0].size();
  for (size_t i = 0; i < order.size(); ++i) {
    const int adapter = order[i];
    EXPECT_EQ(0, std::memcmp(batched->data() + i * vocab, alone[size_t(2 * adapter)].data(),
                             vocab * sizeof(float)))
        << "prompt of adapter " << adapter;
  }
  batched = seqs->step({5, 5, 5, 5},
                       {{22, 1, true, 1}, {23, 1, true, 2}, {21, 1, true, 0}, {20, 1, true, 1}});
  ASSERT_TRUE(batched.ok());
  for (int i = 0; i < 4; ++i) {
    const int adapter = std::vector<int>{1, 2, 0, 1}[size_t(i)];
    EXPECT_EQ(0, std::memcmp(batched->data() + i * vocab, alone[size_t(2 * adapter + 1)].data(),
                             vocab * sizeof(float)))
        << "decode row of adapter " << adapter;
  }
}

// The engine with its prefix cache: a prompt's blocks computed under one adapter are not
// adopted by a request of another (whose KV differs), and are by a request of the same one.
TEST(Lora, PrefixCacheKeepsAdaptersApart) {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama.plan", withAdapters(kBoth));
  ASSERT_TRUE(exec.ok()) << exec.error().toString();
  std::vector<int32_t> prompt;
  for (int i = 0; i < 40; ++i)
    prompt.push_back((i * 7 + 3) % 64);
  // Greedy tokens of each adapter alone, from a fresh engine without a prefix cache.
  auto run = [&](Engine &engine, int32_t adapter) -> std::vector<int32_t> {
    sched::RequestParams params;
    params.prompt = prompt;
    params.maxTokens = 6;
    params.ignoreEos = true;
    params.adapter = adapter;
    Expected<sched::RequestId> id = engine.addRequest(params, sample::SamplingParams{});
    EXPECT_TRUE(id.ok()) << id.error().toString();
    std::vector<int32_t> out;
    while (engine.hasUnfinished()) {
      Expected<std::vector<sched::TokenEvent>> events = engine.step();
      EXPECT_TRUE(events.ok());
      if (!events.ok())
        break;
      for (const sched::TokenEvent &e : *events)
        out.push_back(e.token);
    }
    return out;
  };
  std::vector<std::vector<int32_t>> expected;
  for (int32_t adapter = 0; adapter < 3; ++adapter) {
    Expected<std::unique_ptr<Engine>> engine =
        Engine::create(**exec, sched::Policy::IterationLevel, /*prefixCaching=*/false);
    ASSERT_TRUE(engine.ok());
    expected.push_back(run(**engine, adapter));
  }
  EXPECT_NE(expected[0], expected[1]);
  Expected<std::unique_ptr<Engine>> engine =
      Engine::create(**exec, sched::Policy::IterationLevel, /*prefixCaching=*/true);
  ASSERT_TRUE(engine.ok());
  std::vector<int64_t> cached;
  for (int32_t adapter : {1, 0, 2, 1}) {
    SCOPED_TRACE(adapter);
    EXPECT_EQ(run(**engine, adapter), expected[size_t(adapter)]);
    cached.push_back((*engine)->scheduler().kvCache().numCachedBlocks());
  }
  // Each adapter's first request indexed blocks of its own; the second request of adapter 1
  // adopted its first one's and indexed nothing new.
  EXPECT_GT(cached[0], 0);
  EXPECT_EQ(cached[1], 2 * cached[0]);
  EXPECT_EQ(cached[2], 3 * cached[0]);
  EXPECT_EQ(cached[3], cached[2]);
}

TEST(Lora, StepsAndRequestsNameOnlyLoadedAdapters) {
  Expected<std::unique_ptr<CpuExecutor>> exec = CpuExecutor::load(
      planDirectory + "/hf-tiny-llama.plan", withAdapters({kBoth[0]}));
  ASSERT_TRUE(exec.ok()) << exec.error().toString();
  EXPECT_EQ((*exec)->adapterNames(), std::vector<std::string>{"full"});
  std::vector<int32_t> table = {0};
  PagedChunk chunk{0, 1, true, &table};
  chunk.adapter = 2;
  Expected<std::vector<float>> logits = (*exec)->step({1}, {chunk});
  ASSERT_FALSE(logits.ok());
  EXPECT_NE(logits.error().message().find("LoRA adapter 2 is not loaded"), std::string::npos)
      << logits.error().message();
  Expected<std::unique_ptr<Engine>> engine = Engine::create(**exec, sched::Policy::IterationLevel);
  ASSERT_TRUE(engine.ok());
  sched::RequestParams params;
  params.prompt = {1, 2};
  params.adapter = 2;
  Expected<sched::RequestId> id = (*engine)->addRequest(params, sample::SamplingParams{});
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.error().message().find("not loaded"), std::string::npos);
}

TEST(Lora, BadAdaptersAreNamed) {
  struct Case {
    const char *name;
    nlohmann::json config;
    std::vector<std::pair<std::string, std::vector<int64_t>>> tensors;
    const char *expected;
  };
  const std::vector<Case> cases = {
      {"unknown-module", kConfig,
       {{"base_model.model.model.layers.0.self_attn.qkv.lora_A.weight", {2, 32}},
        {"base_model.model.model.layers.0.self_attn.qkv.lora_B.weight", {64, 2}}},
       "module 'model.layers.0.self_attn.qkv' is no linear of this plan"},
      {"a-only", kConfig, {{kQ + ".lora_A.weight", {2, 32}}}, "has lora_A without lora_B"},
      {"ranks", kConfig,
       {{kQ + ".lora_A.weight", {2, 32}}, {kQ + ".lora_B.weight", {32, 3}}},
       "lora_A has rank 2 and lora_B 3"},
      {"shape", kConfig,
       {{kQ + ".lora_A.weight", {2, 30}}, {kQ + ".lora_B.weight", {32, 2}}},
       "and the plan's is [32, 32]"},
      {"other-tensor", kConfig,
       {{"base_model.model.model.embed_tokens.lora_embedding_A", {2, 64}}},
       "is not a LoRA A or B matrix"},
      {"dora", {{"peft_type", "LORA"}, {"use_dora", true}},
       {{kQ + ".lora_A.weight", {2, 32}}, {kQ + ".lora_B.weight", {32, 2}}},
       "DoRA"},
      {"save", {{"peft_type", "LORA"}, {"modules_to_save", {"lm_head"}}},
       {{kQ + ".lora_A.weight", {2, 32}}, {kQ + ".lora_B.weight", {32, 2}}},
       "modules_to_save"},
      {"not-lora", {{"peft_type", "IA3"}}, {{kQ + ".lora_A.weight", {2, 32}}}, "IA3"},
      {"pissa", {{"peft_type", "LORA"}, {"init_lora_weights", "pissa_niter_4"}},
       {{kQ + ".lora_A.weight", {2, 32}}, {kQ + ".lora_B.weight", {32, 2}}},
       "trained against a changed base model"},
      {"regex", {{"peft_type", "LORA"}, {"alpha_pattern", {{"((a{100}){100})", 2}}}},
       {{kQ + ".lora_A.weight", {2, 32}}, {kQ + ".lora_B.weight", {32, 2}}},
       "is not a module name"},
      {"added-tokens", kConfig,
       {{kQ + ".lora_A.weight", {2, 32}},
        {kQ + ".lora_B.weight", {32, 2}},
        {kQ + ".base_layer.weight", {40, 32}}},
       "replaces a weight of the model"},
      {"nested", {{"peft_type", {{"a", {{"b", {1, 2, 3}}}}}}}, {}, "peft_type is a JSON object"},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    const std::string error = loadError("hf-tiny-llama.plan", writeAdapter(c.name, c.config, c.tensors));
    EXPECT_NE(error.find(c.expected), std::string::npos) << error;
    EXPECT_NE(error.find("LoRA adapter 'bad'"), std::string::npos) << error;
  }
  EXPECT_NE(loadError("hf-tiny-llama.plan", "/nonexistent").find("no adapter_config.json"),
            std::string::npos);
  // Every rank reads the adapter; the first to refuse it names it.
  EXPECT_NE(loadError("hf-tiny-llama-tp2.plan", writeAdapter("shape", kConfig, {}))
                .find("LoRA adapter 'bad'"),
            std::string::npos);
  // A plan read from a GGUF file names its weights as llama.cpp does.
  EXPECT_NE(loadError("tiny-smollm3-gguf.plan", kInputs + "hf-tiny-llama-lora")
                .find("named after a GGUF file"),
            std::string::npos);
  // Two adapters of one name.
  Expected<std::unique_ptr<CpuExecutor>> twice = CpuExecutor::load(
      planDirectory + "/hf-tiny-llama.plan", withAdapters({kBoth[0], kBoth[0]}));
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message().find("a LoRA adapter named 'full' is already loaded"), std::string::npos);
}

// Adapters loaded and unloaded between steps (modelrt serve --allow-runtime-lora-updating):
// a loaded adapter gives what it gives when loaded at start; an unloaded slot is refused and
// never reused; plans with ranks keep the adapters they started with.
TEST(Lora, LoadAndUnloadBetweenSteps) {
  Expected<std::unique_ptr<CpuExecutor>> started =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama.plan", withAdapters({kBoth[0]}));
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama.plan");
  ASSERT_TRUE(started.ok() && exec.ok());
  const std::vector<int32_t> prompt = {1, 17, 42, 9};
  auto run = [&](CpuExecutor &e, int32_t adapter) -> Expected<std::vector<float>> {
    Expected<Sequences> seqs = Sequences::create(e);
    if (!seqs)
      return seqs.error();
    return seqs->step(prompt, {{1, int64_t(prompt.size()), true, adapter}});
  };
  Expected<std::vector<float>> expected = run(**started, 1);
  ASSERT_TRUE(expected.ok());

  ASSERT_TRUE((*exec)->loadAdapter("full", kBoth[0].path).ok());
  EXPECT_EQ((*exec)->adapterNames(), std::vector<std::string>{"full"});
  Expected<std::vector<float>> logits = run(**exec, 1);
  ASSERT_TRUE(logits.ok()) << logits.error().toString();
  EXPECT_EQ(*logits, *expected);
  EXPECT_FALSE((*exec)->loadAdapter("full", kBoth[1].path).ok()); // the name is taken

  ASSERT_TRUE((*exec)->unloadAdapter("full").ok());
  EXPECT_EQ((*exec)->adapterNames(), std::vector<std::string>{""});
  logits = run(**exec, 1);
  ASSERT_FALSE(logits.ok());
  EXPECT_NE(logits.error().message().find("was unloaded"), std::string::npos);
  Expected<std::unique_ptr<Engine>> engine = Engine::create(**exec, sched::Policy::IterationLevel);
  ASSERT_TRUE(engine.ok());
  sched::RequestParams params;
  params.prompt = prompt;
  params.adapter = 1;
  EXPECT_FALSE((*engine)->addRequest(params, sample::SamplingParams{}).ok());

  // Loaded again: a new slot, the same logits.
  ASSERT_TRUE((*exec)->loadAdapter("full", kBoth[0].path).ok());
  EXPECT_EQ((*exec)->adapterNames(), (std::vector<std::string>{"", "full"}));
  logits = run(**exec, 2);
  ASSERT_TRUE(logits.ok());
  EXPECT_EQ(*logits, *expected);
  Status missing = (*exec)->unloadAdapter("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::NotFound);
  // A bad adapter changes nothing.
  EXPECT_FALSE((*exec)->loadAdapter("bad", "/nonexistent").ok());
  EXPECT_EQ((*exec)->adapterNames(), (std::vector<std::string>{"", "full"}));

  // Two ranks (threads): both load it, and give what they give with it loaded at start.
  Expected<std::unique_ptr<CpuExecutor>> ranks =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama-tp2.plan");
  Expected<std::unique_ptr<CpuExecutor>> ranksStarted =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama-tp2.plan", withAdapters({kBoth[0]}));
  ASSERT_TRUE(ranks.ok() && ranksStarted.ok());
  Expected<std::vector<float>> tp2 = run(**ranksStarted, 1);
  ASSERT_TRUE(tp2.ok());
  ASSERT_TRUE((*ranks)->loadAdapter("full", kBoth[0].path).ok());
  logits = run(**ranks, 1);
  ASSERT_TRUE(logits.ok()) << logits.error().toString();
  EXPECT_EQ(*logits, *tp2);
  EXPECT_FALSE((*ranks)->loadAdapter("bad", "/nonexistent").ok()); // every rank: no slot
  ASSERT_TRUE((*ranks)->unloadAdapter("full").ok());
  EXPECT_EQ((*ranks)->adapterNames(), (std::vector<std::string>{""}));
  EXPECT_FALSE(run(**ranks, 1).ok());
  ASSERT_TRUE((*ranks)->loadAdapter("full", kBoth[0].path).ok()); // slot 2 on both ranks
  logits = run(**ranks, 2);
  ASSERT_TRUE(logits.ok()) << logits.error().toString();
  EXPECT_EQ(*logits, *tp2);

  Expected<std::unique_ptr<CpuExecutor>> stages =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama-pp2.plan");
  ASSERT_TRUE(stages.ok());
  Status refused = (*stages)->loadAdapter("full", kBoth[0].path);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("loaded at start"), std::string::npos);
}

// vLLM's limits: --max-lora-rank refuses a higher-rank adapter, --max-loras more adapters
// at once than it allows (an unloaded one frees its place).
TEST(Lora, MaxLorasAndMaxLoraRank) {
  ExecutorOptions rank2 = withAdapters({kBoth[0]}); // rank 4
  rank2.maxLoraRank = 2;
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama.plan", rank2);
  ASSERT_FALSE(exec.ok());
  EXPECT_NE(exec.error().message().find("has rank 4, over --max-lora-rank 2"), std::string::npos)
      << exec.error().message();
  ExecutorOptions one = withAdapters(kBoth);
  one.maxLoras = 1;
  exec = CpuExecutor::load(planDirectory + "/hf-tiny-llama.plan", one);
  ASSERT_FALSE(exec.ok());
  EXPECT_NE(exec.error().message().find("--max-loras"), std::string::npos);
  one.loraAdapters = {kBoth[0]};
  exec = CpuExecutor::load(planDirectory + "/hf-tiny-llama.plan", one);
  ASSERT_TRUE(exec.ok()) << exec.error().toString();
  EXPECT_FALSE((*exec)->loadAdapter("rs", kBoth[1].path).ok());
  ASSERT_TRUE((*exec)->unloadAdapter("full").ok());
  EXPECT_TRUE((*exec)->loadAdapter("rs", kBoth[1].path).ok());
}

// Speculative decoding (prompt-lookup drafts verified in the request's own chunk, so under
// its adapter) gives each adapter's greedy tokens, batched together.
TEST(Lora, SpeculativeDecodingKeepsEachAdaptersTokens) {
  Expected<std::unique_ptr<CpuExecutor>> exec =
      CpuExecutor::load(planDirectory + "/hf-tiny-llama.plan", withAdapters(kBoth));
  ASSERT_TRUE(exec.ok()) << exec.error().toString();
  auto serveAll = [&](int speculative, int64_t *accepted) {
    Expected<std::unique_ptr<Engine>> engine =
        Engine::create(**exec, sched::Policy::IterationLevel, false, speculative);
    EXPECT_TRUE(engine.ok());
    std::map<sched::RequestId, size_t> index;
    std::vector<std::vector<int32_t>> out(3);
    for (int32_t adapter = 0; adapter < 3; ++adapter) {
      sched::RequestParams params;
      params.prompt = {5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 7};
      params.maxTokens = 24;
      params.ignoreEos = true;
      params.adapter = adapter;
      Expected<sched::RequestId> id = (*engine)->addRequest(params, sample::SamplingParams{});
      EXPECT_TRUE(id.ok());
      index[*id] = size_t(adapter);
    }
    while ((*engine)->hasUnfinished()) {
      Expected<std::vector<sched::TokenEvent>> events = (*engine)->step();
      EXPECT_TRUE(events.ok());
      if (!events.ok())
        break;
      for (const sched::TokenEvent &e : *events)
        out[index.at(e.id)].push_back(e.token);
    }
    if (accepted)
      *accepted = (*engine)->acceptedDraftTokens();
    return out;
  };
  const std::vector<std::vector<int32_t>> plain = serveAll(0, nullptr);
  int64_t accepted = 0;
  EXPECT_EQ(serveAll(4, &accepted), plain);
  EXPECT_GT(accepted, 0) << "no draft was confirmed: the test speculated nothing";
  EXPECT_NE(plain[1], plain[0]);
  std::printf("speculative decoding under adapters: %lld draft tokens confirmed\n",
              static_cast<long long>(accepted));
}
