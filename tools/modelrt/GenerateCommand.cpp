// `modelrt generate PLAN -p TEXT`: one request through the serving engine (the scheduler
// chunks the prompt, then decodes; speculative decoding where asked); the text streams to
// stdout as it is produced, timings go to stderr.
#include "Commands.h"

#include "runtime/engine/CpuExecutor.h"
#include "runtime/engine/Engine.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/sample/Sampler.h"
#include "runtime/template/ChatTemplate.h"
#include "runtime/tokenize/Tokenizer.h"

#include <chrono>
#include <cstdio>
#include <iostream>

namespace modelrt::cli {
namespace {

struct GenerateOptions {
  engine::ExecutorOptions executor;
  std::string plan, prompt, tokenizer;
  int64_t maxTokens = 64;
  bool ignoreEos = false;
  bool chat = false;
  std::string system;
  sample::SamplingParams sampling;
  int speculativeTokens = 0;
};

int fail(const std::string &message) {
  std::cerr << "modelrt generate: " << message << "\n";
  return 1;
}

// The plan's own tokenizer, or the one named on the command line.
Expected<std::unique_ptr<Tokenizer>> loadTokenizer(const GenerateOptions &o) {
  if (!o.tokenizer.empty())
    return Tokenizer::fromFile(o.tokenizer);
  return Tokenizer::fromPlan(o.plan);
}

int runGenerate(const GenerateOptions &o) {
  if (Status s = sample::validate(o.sampling); !s)
    return fail(s.error().message());
  if (o.maxTokens < 1)
    return fail("-n must be at least 1");
  Expected<std::unique_ptr<Executor>> exec = engine::loadExecutor(o.plan, o.executor);
  if (!exec)
    return fail(exec.error().message());
  if ((*exec)->metadata().classifier)
    return fail(o.plan + " is a classifier (modelc --task classify): use modelrt classify, or "
                         "serve's /classify, /score and /rerank");
  if ((*exec)->metadata().pooling)
    return fail(o.plan + " computes embeddings (modelc --task embed): use modelrt embed, or "
                         "serve's /v1/embeddings");
  Expected<std::unique_ptr<Tokenizer>> tok = loadTokenizer(o);
  if (!tok)
    return fail(tok.error().message());
  EncodeOptions encode;
  encode.addSpecial = true;
  encode.parseSpecial = true;
  std::string text = o.prompt;
  if (o.chat) {
    // The prompt as the user's message, through the model's chat template (as
    // /v1/chat/completions does); the template writes any BOS itself.
    if ((*tok)->chatTemplate().empty())
      return fail("--chat: the tokenizer has no chat template");
    Expected<tmpl::ChatTemplate> chat = tmpl::ChatTemplate::parse((*tok)->chatTemplate());
    if (!chat)
      return fail("the model's chat template: " + chat.error().message());
    tmpl::ChatRequest request;
    if (!o.system.empty())
      request.messages.push_back({{"role", "system"}, {"content", o.system}});
    request.messages.push_back({{"role", "user"}, {"content", o.prompt}});
    if ((*tok)->bosId() >= 0)
      request.bosToken = std::string((*tok)->tokenText((*tok)->bosId()));
    if ((*tok)->eosId() >= 0)
      request.eosToken = std::string((*tok)->tokenText((*tok)->eosId()));
    Expected<std::string> rendered = chat->render(tmpl::chatContext(request));
    if (!rendered)
      return fail("the chat template: " + rendered.error().message());
    text = std::move(*rendered);
    encode.addSpecial = false;
  }
  Expected<std::vector<int32_t>> prompt = (*tok)->encode(text, encode);
  if (!prompt)
    return fail(prompt.error().message());
  if (prompt->empty())
    return fail("the prompt encodes to no tokens");
  const int64_t vocab = (*exec)->metadata().vocabSize;
  for (int32_t id : *prompt)
    if (id >= vocab)
      return fail("the tokenizer gives id " + std::to_string(id) + ", beyond the model's " +
                  std::to_string(vocab) + " logits: wrong tokenizer for this plan?");

  // At most what max_seq_len leaves after the prompt.
  const int64_t room = (*exec)->metadata().maxSeqLen - static_cast<int64_t>(prompt->size());
  if (room < 1)
    return fail("the prompt has " + std::to_string(prompt->size()) +
                " tokens; the plan's max_seq_len is " +
                std::to_string((*exec)->metadata().maxSeqLen));
  Expected<std::unique_ptr<engine::Engine>> eng = engine::Engine::create(
      **exec, sched::Policy::IterationLevel, /*prefixCaching=*/false, o.speculativeTokens);
  if (!eng)
    return fail(eng.error().message());
  sched::RequestParams params;
  params.prompt = *prompt;
  params.maxTokens = static_cast<int32_t>(std::min<int64_t>(o.maxTokens, room));
  if ((*tok)->eosId() >= 0)
    params.eosTokenId = (*tok)->eosId();
  params.ignoreEos = o.ignoreEos;
  params.adapter = o.executor.loraAdapters.empty() ? 0 : 1;
  if (!o.ignoreEos) // the model's other end-of-answer tokens
    for (int32_t end : (*tok)->endIds())
      if (end != (*tok)->eosId())
        params.stopTokenIds.push_back(end);
  if (Expected<sched::RequestId> id = (*eng)->addRequest(params, o.sampling); !id)
    return fail(id.error().message());
  StreamingDetokenizer detok(**tok, /*skipSpecial=*/true);
  auto start = std::chrono::steady_clock::now(), prefilled = start;
  int64_t generated = 0;
  if (!o.chat)
    std::cout << o.prompt << std::flush;
  while ((*eng)->hasUnfinished()) {
    Expected<std::vector<sched::TokenEvent>> events = (*eng)->step();
    if (!events)
      return fail(events.error().message());
    for (const sched::TokenEvent &e : *events) {
      if (generated++ == 0)
        prefilled = std::chrono::steady_clock::now();
      if (e.finish == sched::FinishReason::Eos)
        continue; // the end-of-sequence token ends the text, unprinted
      Expected<std::string> text = detok.push(e.token);
      if (!text)
        return fail(text.error().message());
      std::cout << *text << std::flush;
    }
  }
  std::cout << detok.finish() << std::endl;
  auto done = std::chrono::steady_clock::now();
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::fprintf(stderr, "prompt %zu tokens in %.1f ms; %lld tokens generated, %.1f ms per token\n",
               prompt->size(), ms(start, prefilled), static_cast<long long>(generated),
               generated > 1 ? ms(prefilled, done) / double(generated - 1) : 0.0);
  if (o.speculativeTokens > 0)
    std::fprintf(stderr, "speculative decoding: %lld of %lld draft tokens accepted\n",
                 static_cast<long long>((*eng)->acceptedDraftTokens()),
                 static_cast<long long>((*eng)->draftTokens()));
  return 0;
}

} // namespace

void addGenerateCommand(CLI::App &app, int &exitCode) {
  auto o = std::make_shared<GenerateOptions>();
  auto *cmd = app.add_subcommand("generate", "Complete a prompt with a plan (one request through the serving engine)");
  cmd->add_option("plan", o->plan, "plan.bin written by modelc")->required();
  addExecutorOptions(cmd, o->executor);
  addLoraOption(cmd, "--lora", o->executor,
                "Generate with this LoRA adapter (a PEFT directory, or name=path)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  cmd->add_option("-p,--prompt", o->prompt, "The prompt text")->required();
  cmd->add_option("-n,--max-tokens", o->maxTokens, "Most tokens to generate (default 64)");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json or .gguf, when the plan carries no tokenizer");
  cmd->add_option("--temperature", o->sampling.temperature, "0 (default) is greedy");
  cmd->add_option("--top-k", o->sampling.topK, "Keep the k most likely tokens (0: all)");
  cmd->add_option("--top-p", o->sampling.topP, "Nucleus sampling mass (default 1)");
  cmd->add_option("--min-p", o->sampling.minP, "Drop tokens below min-p x the best (default 0)");
  cmd->add_option("--seed", o->sampling.seed, "Sampling seed (default 0)");
  cmd->add_option("--presence-penalty", o->sampling.presencePenalty,
                  "Subtracted from the logits of tokens generated so far (default 0)");
  cmd->add_option("--frequency-penalty", o->sampling.frequencyPenalty,
                  "Subtracted per time a token was generated (default 0)");
  cmd->add_option("--repetition-penalty", o->sampling.repetitionPenalty,
                  "Divides positive / multiplies negative logits of prompt and generated tokens "
                  "(default 1: off)");
  cmd->add_flag("--ignore-eos", o->ignoreEos, "Keep going past the end-of-sequence token");
  cmd->add_flag("--chat", o->chat,
                "Send the prompt as a user message through the model's chat template and print "
                "only the answer");
  cmd->add_option("--system", o->system, "With --chat: a system message first");
  cmd->add_option("--num-speculative-tokens", o->speculativeTokens,
                  "Speculative decoding by prompt lookup (greedy): up to this many draft tokens "
                  "per step (default 0: off)")
      ->check(CLI::Range(0, 16));
  cmd->callback([o, &exitCode] {
    if (!runAsWorker(o->plan, o->executor, exitCode))
      exitCode = runGenerate(*o);
  });
}

} // namespace modelrt::cli
