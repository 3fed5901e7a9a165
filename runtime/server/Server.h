// modelrt serve: an OpenAI-compatible HTTP front end over the engine. HTTP threads never
// touch engine state: they validate and tokenize, post a job to the engine thread, and read
// the job's token events from its channel (queues in, results out: STYLE.md item 14).
#pragma once

#include "runtime/engine/CpuExecutor.h"
#include "runtime/support/Error.h"

#include <cstdint>
#include <string>

namespace modelrt::server {

struct ServerOptions {
  std::string plan;
  std::string tokenizer; // tokenizer.json or .gguf; empty: the plan's own
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string apiKey;    // empty: no authentication
  std::string modelName; // empty: the plan's model name
  engine::ExecutorOptions executor;
  // Automatic prefix caching (vLLM's default): prompts that start like an earlier one reuse
  // its KV blocks while they are still in the cache.
  bool prefixCaching = true;
  // Speculative decoding by prompt lookup for greedy requests without logprobs: up to this
  // many draft tokens per decode step (0: off).
  int speculativeTokens = 0;
  // POST /v1/load_lora_adapter and /v1/unload_lora_adapter (vLLM's, behind its
  // VLLM_ALLOW_RUNTIME_LORA_UPDATING): adapters loaded and unloaded while serving.
  bool allowRuntimeLoraUpdating = false;
  // How chat answers to requests with `tools` are read for calls: "tag", "json" (see
  // ToolCalls.h), or "" (none: the text is returned as content).
  std::string toolCallParser;
  // How chat answers are split into reasoning and content: "think", "think-tagged",
  // "harmony" (see Reasoning.h), or "" (none: all content).
  std::string reasoningParser;
};

// Loads the plan and serves until the process is stopped. Errors before listening
// (plan, tokenizer, port) are returned.
Status serve(const ServerOptions &options);

} // namespace modelrt::server
