// `modelrt embed PLAN -p TEXT [-p TEXT ...] [-f FILE]`: embeddings from a plan compiled with modelc
// --task embed, every input one request of the same serving engine (batched as the server
// batches them); one JSON array of floats per input, in order, on stdout.
// `modelrt classify PLAN -p TEXT ... [--query Q]`: the same for a plan compiled with modelc
// --task classify; one JSON object per input ({"label", "probs"}), each input paired with
// the query when given (a cross-encoder's or a reranker's score of a document).
#include "Commands.h"

#include "runtime/engine/CpuExecutor.h"
#include "runtime/engine/Engine.h"
#include "runtime/server/Request.h"
#include "runtime/tokenize/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <optional>
#include <iostream>
#include <map>
#include <sstream>

namespace modelrt::cli {
namespace {

struct EmbedOptions {
  engine::ExecutorOptions executor;
  std::string plan, tokenizer;
  std::vector<std::string> prompts;
  std::vector<std::string> promptIds; // "1,17,42": token ids, for plans without a tokenizer
  std::string file;                   // one text per line (llama-embedding's -f)
  int64_t dimensions = 0;
  bool classify = false; // modelrt classify
  std::optional<std::string> query;
};

int fail(const EmbedOptions &o, const std::string &message) {
  std::cerr << (o.classify ? "modelrt classify: " : "modelrt embed: ") << message << "\n";
  return 1;
}

Expected<std::vector<int32_t>> parseIds(const std::string &text) {
  std::vector<int32_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    long long id = -1;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception &) {
      used = 0;
    }
    if (used != item.size() || id < 0 || id > INT32_MAX)
      return Error(ErrorCode::InvalidArgument,
                   "--prompt-ids: '" + item + "' is not a token id (ids are comma-separated)");
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

int runEmbed(EmbedOptions o) {
  if (!o.file.empty()) { // each non-empty line an input, after any -p
    std::ifstream in(o.file);
    if (!in)
      return fail(o, o.file + ": cannot be read");
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r')
        line.pop_back();
      if (!line.empty())
        o.prompts.push_back(line);
    }
    if (o.prompts.empty())
      return fail(o, o.file + ": no text (one input per non-empty line)");
  }
  if (o.prompts.empty() == o.promptIds.empty())
    return fail(o, "give the inputs as -p TEXT (or -f FILE) or as --prompt-ids IDS (not both)");
  Expected<std::unique_ptr<Executor>> exec = engine::loadExecutor(o.plan, o.executor);
  if (!exec)
    return fail(o, exec.error().message());
  const plan::PlanMetadata &meta = (*exec)->metadata();
  if (!meta.pooling)
    return fail(o, o.plan + " generates tokens (modelrt generate); " +
                       (o.classify ? "classes need a plan compiled with modelc --task classify"
                                   : "embeddings need a plan compiled with modelc --task embed"));
  if (o.classify != meta.classifier.has_value())
    return fail(o, o.plan + (o.classify ? " computes embeddings (modelrt embed)"
                                        : " is a classifier (modelrt classify)"));
  if (o.query && meta.classifier && meta.classifier->labels.size() != 1)
    return fail(o, "--query scores pairs with a classifier of one label (a cross-encoder); this "
                   "one has " + std::to_string(meta.classifier->labels.size()));
  if (o.query && !o.promptIds.empty())
    return fail(o, "--query pairs texts: give the documents as -p TEXT or -f FILE");
  std::vector<std::vector<int32_t>> inputs, types; // types: a pair's token types, if any
  for (const std::string &ids : o.promptIds) {
    Expected<std::vector<int32_t>> parsed = parseIds(ids);
    if (!parsed)
      return fail(o, parsed.error().message());
    inputs.push_back(std::move(*parsed));
  }
  if (!o.prompts.empty()) {
    Expected<std::unique_ptr<Tokenizer>> tok =
        o.tokenizer.empty() ? Tokenizer::fromPlan(o.plan) : Tokenizer::fromFile(o.tokenizer);
    if (!tok)
      return fail(o, tok.error().message());
    EncodeOptions encode;
    encode.addSpecial = true; // as sentence-transformers and vLLM tokenize embedding inputs
    encode.parseSpecial = true;
    for (const std::string &text : o.prompts) {
      std::vector<int32_t> pairTypes;
      Expected<std::vector<int32_t>> ids =
          o.query ? server::pairPrompt(**tok, *meta.classifier, *o.query, text, &pairTypes)
                  : (*tok)->encode(text, encode);
      if (!ids)
        return fail(o, ids.error().message());
      inputs.push_back(std::move(*ids));
      types.resize(inputs.size());
      types.back() = std::move(pairTypes);
    }
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty())
      return fail(o, "input " + std::to_string(i) + " has no tokens");
    if (int64_t(inputs[i].size()) > meta.maxSeqLen)
      return fail(o, "input " + std::to_string(i) + " has " + std::to_string(inputs[i].size()) +
                  " tokens; the plan's max_seq_len is " + std::to_string(meta.maxSeqLen));
    for (int32_t id : inputs[i])
      if (id >= meta.vocabSize)
        return fail(o, "input " + std::to_string(i) + ": token id " + std::to_string(id) +
                    " is outside the vocabulary of " + std::to_string(meta.vocabSize));
  }
  Expected<std::unique_ptr<engine::Engine>> eng =
      engine::Engine::create(**exec, sched::Policy::IterationLevel);
  if (!eng)
    return fail(o, eng.error().message());
  std::vector<sched::RequestId> ids;
  types.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    Expected<sched::RequestId> id =
        (*eng)->addEmbeddingRequest(std::move(inputs[i]), o.dimensions,
                                    o.executor.loraAdapters.empty() ? 0 : 1, std::move(types[i]));
    if (!id)
      return fail(o, id.error().message());
    ids.push_back(*id);
  }
  std::map<sched::RequestId, std::vector<float>> done;
  while ((*eng)->hasUnfinished()) {
    if (Expected<std::vector<sched::TokenEvent>> events = (*eng)->step(); !events)
      return fail(o, events.error().message());
    for (const auto &[id, v] : (*eng)->lastEmbeddings())
      done[id] = v;
  }
  for (sched::RequestId id : ids) {
    const std::vector<float> &v = done.at(id);
    // With --query, a pair's score (the cross-encoder's activation); else the labels'.
    const std::vector<float> values = !o.classify ? v
                                      : o.query   ? std::vector<float>{meta.classifier->score(v)}
                                                  : meta.classifier->probabilities(v);
    std::string line = "[";
    char buf[32];
    for (float x : values) {
      std::snprintf(buf, sizeof buf, "%s%.9g", line.size() > 1 ? ", " : "", double(x));
      line += buf;
    }
    line += "]";
    if (o.classify) {
      const size_t best = size_t(std::max_element(values.begin(), values.end()) - values.begin());
      line = "{\"label\": " + nlohmann::json(meta.classifier->labels[best]).dump() +
             ", \"probs\": " + line + "}";
    }
    std::cout << line << "\n";
  }
  return 0;
}

} // namespace

void addPoolingCommand(CLI::App &app, int &exitCode, bool classify) {
  auto o = std::make_shared<EmbedOptions>();
  o->classify = classify;
  auto *cmd =
      classify
          ? app.add_subcommand("classify",
                               "Label probabilities of texts from a plan compiled with modelc "
                               "--task classify (one JSON object per input: label, probs)")
          : app.add_subcommand("embed", "Embeddings of texts from a plan compiled with modelc "
                                        "--task embed (one JSON array per input)");
  cmd->add_option("plan", o->plan,
                  classify ? "plan.bin written by modelc --task classify"
                           : "plan.bin written by modelc --task embed")
      ->required();
  addExecutorOptions(cmd, o->executor);
  addLoraOption(cmd, "--lora", o->executor, "With this LoRA adapter (a PEFT directory)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  cmd->add_option("-p,--prompt", o->prompts, "A text to embed (repeat for more)");
  cmd->add_option("-f,--file", o->file, "Texts to embed, one per non-empty line");
  cmd->add_option("--prompt-ids", o->promptIds,
                  "Token ids to embed, comma-separated (repeat for more)");
  cmd->add_option("--tokenizer", o->tokenizer,
                  "tokenizer.json or .gguf, when the plan carries no tokenizer");
  if (classify)
    cmd->add_option("--query", o->query,
                    "Pair each text with this query (a cross-encoder's or a reranker's "
                    "input: the score of each text as a document)");
  else
    cmd->add_option("--dimensions", o->dimensions,
                    "Keep the first N features (a Matryoshka model's shorter embedding), "
                    "normalized after (default: all)")
        ->check(CLI::PositiveNumber);
  cmd->callback([o, &exitCode] {
    if (!runAsWorker(o->plan, o->executor, exitCode))
      exitCode = runEmbed(*o);
  });
}

} // namespace modelrt::cli
