// OpenAI request bodies on arbitrary bytes: /v1/completions, /v1/chat/completions,
// /v1/embeddings, /score, /rerank, /tokenize and /detokenize parsing must accept or refuse with an error (never throw, crash
// or over-read), and an accepted chat request must render through a chat template within
// small limits.
#include "runtime/server/Request.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

using namespace modelrt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // ChatML with a tools branch, as SmolLM2 and Qwen2 ship it (abridged).
  static const Expected<tmpl::ChatTemplate> chatml = tmpl::ChatTemplate::parse(
      "{% if tools %}{{ tools | tojson }}{% endif %}{% for message in messages %}"
      "{{ '<|im_start|>' + message['role'] + '\\n' }}{% if message.content is string %}"
      "{{ message['content'] }}{% endif %}{% if message.tool_calls %}"
      "{{ message.tool_calls | tojson }}{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
  std::string_view body(reinterpret_cast<const char *>(data), size);
  for (server::Api api : {server::Api::Completions, server::Api::Chat}) {
    Expected<server::GenerationRequest> r = server::parseGenerationRequest(api, body, 8192);
    if (!r)
      continue;
    // Chat leaves max_tokens 0 when the body has none (the server fills in the context);
    // completions take 0 with echo (the prompt is scored, nothing generated).
    const int64_t minTokens = api == server::Api::Chat || r->echo ? 0 : 1;
    if (r->maxTokens < minTokens || r->maxTokens > 8192 || r->topLogprobs > 20 ||
        r->stops.size() > 4 || (r->includeUsage && !r->stream) || (r->echo && r->stream) ||
        r->n < 1 || r->n > server::kMaxChoices ||
        r->prompts.size() * size_t(r->n) > size_t(server::kMaxBatchChoices) ||
        (api == server::Api::Completions) == r->prompts.empty() || r->minTokens < 0 ||
        r->minTokens > 8192 || (r->maxTokens > 0 && r->minTokens > r->maxTokens) ||
        std::any_of(r->allowedTokenIds.begin(), r->allowedTokenIds.end(),
                    [](int32_t id) { return id < 0; }) ||
        r->promptLogprobs < -1 || r->promptLogprobs > 20 || (r->promptLogprobs >= 0 && r->stream))
      __builtin_trap(); // accepted what the API refuses
    if (api == server::Api::Chat && chatml) {
      tmpl::RenderLimits limits;
      limits.maxOutputBytes = 1 << 16;
      limits.maxSteps = 100000;
      (void)chatml->render(tmpl::chatContext(r->chat), limits);
    }
  }
  if (Expected<server::TokenizeRequest> t = server::parseTokenizeRequest(body); t && t->chat &&
      chatml) {
    tmpl::RenderLimits limits;
    limits.maxOutputBytes = 1 << 16;
    limits.maxSteps = 100000;
    (void)chatml->render(tmpl::chatContext(t->messages), limits);
  }
  for (bool classify : {false, true})
    if (Expected<server::EmbeddingRequest> e = server::parseEmbeddingRequest(body, classify); e) {
      if (e->inputs.empty() == !e->chat ||
          e->inputs.size() > size_t(server::kMaxEmbeddingInputs) || e->dimensions < 0 ||
          e->truncatePromptTokens < -1 || (classify && (e->dimensions != 0 || e->base64)))
        __builtin_trap(); // accepted what the API refuses
      for (const server::PromptInput &in : e->inputs)
        if (in.text.empty() && in.tokens.empty())
          __builtin_trap();
    }
  for (bool rerank : {false, true})
    if (Expected<server::ScoreRequest> r = server::parseScoreRequest(body, rerank); r)
      if (r->queries.empty() || r->documents.empty() || r->topN < 0 ||
          (r->queries.size() > 1 && r->queries.size() != r->documents.size()))
        __builtin_trap();
  if (Expected<std::vector<int32_t>> ids = server::parseDetokenizeRequest(body); ids)
    for (int32_t id : *ids)
      if (id < 0)
        __builtin_trap();
  return 0;
}
