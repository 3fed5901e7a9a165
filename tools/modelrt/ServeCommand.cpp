// `modelrt serve PLAN`: the OpenAI-compatible HTTP server (runtime/server).
#include "Commands.h"

#include "runtime/server/Server.h"

#include <iostream>
#include <map>

namespace modelrt::cli {

void addServeCommand(CLI::App &app, int &exitCode) {
  auto o = std::make_shared<server::ServerOptions>();
  auto *cmd = app.add_subcommand("serve", "Serve a plan over HTTP (OpenAI /v1/completions)");
  cmd->add_option("plan", o->plan, "plan.bin written by modelc")->required();
  cmd->add_option("--host", o->host, "Address to listen on (default 127.0.0.1)");
  cmd->add_option("--port", o->port, "Port (default 8000)")->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", o->apiKey, "Require 'Authorization: Bearer KEY'");
  cmd->add_option("--tokenizer", o->tokenizer, "tokenizer.json or .gguf, when the plan has none");
  cmd->add_option("--served-model-name", o->modelName, "Model id reported by /v1/models");
  addExecutorOptions(cmd, o->executor);
  // vLLM's parser names map onto the runtime's format names (runtime/server/ToolCalls.h).
  const std::map<std::string, std::string> toolFormats = {
      {"hermes", "tag"}, {"llama3_json", "json"}, {"tag", "tag"}, {"json", "json"}};
  cmd->add_option("--tool-call-parser", o->toolCallParser,
                  "Read tool calls from chat answers to requests with 'tools': hermes (calls in "
                  "<tool_call> tags, as Hermes and Qwen2.5 write them) or llama3_json (bare "
                  "JSON objects, as Llama 3.1+ writes them)")
      ->transform(CLI::CheckedTransformer(toolFormats));
  const std::map<std::string, std::string> reasoningFormats = {
      {"deepseek_r1", "think"},     {"qwen3", "think-tagged"},      {"openai_gptoss", "harmony"},
      {"think", "think"},           {"think-tagged", "think-tagged"}, {"harmony", "harmony"}};
  cmd->add_option("--reasoning-parser", o->reasoningParser,
                  "Return chat answers' thinking apart, as 'reasoning_content': deepseek_r1 "
                  "(<think>...</think>, the answer starting in the thinking), qwen3 (thinking "
                  "only after <think>, or where the prompt left one open) or openai_gptoss "
                  "(the harmony format's analysis channel; its calls to functions are tool "
                  "calls)")
      ->transform(CLI::CheckedTransformer(reasoningFormats));
  addLoraLimits(cmd, o->executor);
  addLoraOption(cmd, "--lora-modules", o->executor,
                "LoRA adapters (PEFT directories: adapter_config.json, "
                "adapter_model.safetensors) as name=path ...; a request's 'model' names one "
                "(CPU executor, plans compiled from Hugging Face checkpoints)");
  cmd->add_flag("--allow-runtime-lora-updating", o->allowRuntimeLoraUpdating,
                "Serve POST /v1/load_lora_adapter {lora_name, lora_path} and "
                "/v1/unload_lora_adapter {lora_name} (vLLM's, which it enables with "
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING); not with pipeline stages");
  cmd->add_flag("--no-prefix-caching{false}", o->prefixCaching,
                "Compute every prompt in full instead of reusing the KV of cached prefixes");
  cmd->add_option("--num-speculative-tokens", o->speculativeTokens,
                  "Speculative decoding by prompt lookup (vLLM's ngram method) for greedy "
                  "requests without logprobs: up to this many draft tokens per decode step "
                  "(default 0: off)")
      ->check(CLI::Range(0, 16));
  cmd->callback([o, &exitCode] {
    if (runAsWorker(o->plan, o->executor, exitCode))
      return;
    Status s = server::serve(*o);
    if (!s) {
      std::cerr << "modelrt serve: " << s.error().message() << "\n";
      exitCode = 1;
    }
  });
}

} // namespace modelrt::cli
