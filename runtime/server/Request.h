// The body of an OpenAI /v1/completions or /v1/chat/completions request, parsed and
// validated before anything else sees it: every field has the type and range the API
// documents, or the request is refused with an error naming the field (HTTP 400). Never
// throws; kept apart from the HTTP server so a fuzzer can drive it.
#pragma once

#include "runtime/plan/PlanMetadata.h"
#include "runtime/sample/JsonConstraint.h"
#include "runtime/sample/GrammarConstraint.h"
#include "runtime/sample/RegexConstraint.h"
#include "runtime/sample/Sampler.h"
#include "runtime/support/Error.h"
#include "runtime/template/ChatTemplate.h"
#include "runtime/tokenize/Tokenizer.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt::server {

enum class Api { Completions, Chat };

// Choices one request may ask for ('n').
constexpr int kMaxChoices = 16;
// A completions request may list prompts (a batch); at most this many choices in all.
constexpr int kMaxBatchChoices = 256;

// A completions prompt: its text, or the token ids given instead (then the text is empty).
struct PromptInput {
  std::string text;
  std::vector<int32_t> tokens;
};

struct GenerationRequest {
  Api api = Api::Completions;
  // Completions: one prompt, or several (OpenAI's list forms): choice p x n + i is prompt
  // p's i-th. Empty for chat.
  std::vector<PromptInput> prompts;
  tmpl::ChatRequest chat; // chat: messages, tools, add_generation_prompt, template kwargs
  // max_tokens; 0 when a chat request leaves it out (the server then allows the rest of
  // max_seq_len after the prompt, as OpenAI's API does). Completions default to 16.
  // The model asked for: the served model's name, a LoRA adapter's, or empty (the
  // served model).
  std::string model;
  int64_t maxTokens = 16;
  sample::SamplingParams sampling;
  int topLogprobs = -1; // -1: no logprobs; n >= 0: the chosen token and the n most likely
  int n = 1;            // choices, each an engine request of its own (seeds seed + i)
  // chat: "auto" (the default), "none" (answers are not read for tool calls), "required",
  // or "function" with toolChoiceName; only "none" changes what the server does.
  std::string toolChoice = "auto";
  std::string toolChoiceName;
  bool stream = false;
  bool includeUsage = false; // stream_options.include_usage: a last chunk with the usage
  bool ignoreEos = false;
  std::vector<std::string> stops;
  std::vector<int32_t> stopTokenIds; // checked against the vocabulary by the server
  // vLLM's min_tokens: no end token, stop token or stop string ends a choice before it has
  // this many tokens (the tokens are held back from sampling until then).
  int64_t minTokens = 0;
  // vLLM's allowed_token_ids: only these are generated (checked against the vocabulary by
  // the server); empty: any.
  std::vector<int32_t> allowedTokenIds;
  // vLLM's bad_words: texts never generated (their tokens as a word starts, and after a
  // space); at most 64 non-empty strings.
  std::vector<std::string> badWords;
  bool includeStopStr = false;   // vLLM's include_stop_str_in_output: the stop string is sent
  bool skipSpecialTokens = true; // vLLM's skip_special_tokens: false keeps them in the text
  // vLLM's prompt_logprobs (0 to 20; -1: none): each prompt token's logprob and rank, and the
  // k most likely tokens there, beside each choice (not streamed).
  int promptLogprobs = -1;
  // vLLM's truncate_prompt_tokens: each prompt's last k tokens (its special tokens kept);
  // -1: as many as leave room for one token; 0: none cut.
  int64_t truncatePromptTokens = 0;
  // completions: the prompt comes back before the completion, with its tokens' logprobs
  // when logprobs are asked for (the first token's are null); max_tokens may then be 0.
  bool echo = false;
  // response_format {"type": "json_object"}: the answer is constrained to one JSON object
  // (guided decoding: sample/JsonConstraint.h); {"type": "json_schema"} also to the schema
  // (compiled here, so an unsupported one is a 400).
  bool jsonObject = false;
  std::shared_ptr<const sample::JsonSchema> jsonSchema;
  // A named tool_choice: the answer is this function's arguments (jsonSchema is its
  // parameters'), returned as a call to it.
  std::string forcedTool;
  // vLLM's guided_choice: the answer is exactly one of these strings.
  std::vector<std::string> guidedChoice;
  // vLLM's guided_regex: the answer is a text the whole pattern matches.
  std::shared_ptr<const sample::Regex> guidedRegex;
  // vLLM's guided_grammar (`grammar`): the answer is a text the GBNF grammar's root derives.
  std::shared_ptr<const sample::Grammar> guidedGrammar;
};

// `maxSeqLen` bounds max_tokens.
Expected<GenerationRequest> parseGenerationRequest(Api api, std::string_view body,
                                                   int64_t maxSeqLen);

// OpenAI's POST /v1/embeddings: "input" in the completions prompt's forms (a string, a list
// of token ids, or a list of strings or of token-id lists; no empty string) or vLLM's
// "messages" (one input: the chat rendered), "model",
// "encoding_format" ("float", or "base64": each vector's little-endian float32 bytes),
// "dimensions" (the first N features, normalized after: a Matryoshka model's shorter
// embedding), "user" (ignored); vLLM's "truncate_prompt_tokens" (keep the last k tokens;
// -1: max_seq_len) and "add_special_tokens" (default true). vLLM's POST /classify
// (`classify`) takes the same inputs and options, but no encoding_format or dimensions.
constexpr int kMaxEmbeddingInputs = 2048; // OpenAI's limit on one request's inputs
struct EmbeddingRequest {
  std::vector<PromptInput> inputs;
  // vLLM's chat form: "messages" (in place of "input") through the model's chat template,
  // add_generation_prompt false and add_special_tokens false unless the body says otherwise.
  bool chat = false;
  tmpl::ChatRequest messages;
  std::string model;
  bool base64 = false;
  int64_t dimensions = 0;           // 0: all of them
  int64_t truncatePromptTokens = 0; // 0: no truncation; -1: to max_seq_len
  bool addSpecial = true;
  // /classify: vLLM's use_activation (or its older names activation, softmax): false gives
  // the logits in place of the probabilities. /classify takes no encoding_format or
  // dimensions.
  bool useActivation = true;
};
Expected<EmbeddingRequest> parseEmbeddingRequest(std::string_view body, bool classify = false);

// vLLM's truncate_prompt_tokens: the last `keep` ids. Given `bare` (a text's ids without
// the special tokens the tokenizer added), those specials stay (BOS before, an EOS after),
// as transformers' left truncation keeps them, and the text's last tokens fill the rest;
// where they leave no room, or `bare` is not inside `ids`, the last `keep` ids as they are.
std::vector<int32_t> truncateLeft(std::vector<int32_t> ids, const std::vector<int32_t> *bare,
                                  int64_t keep);

// vLLM's score and rerank APIs (on an embedding model: cosine similarities). POST /score:
// {"text_1": a string or a list, "text_2": a string or a list}: text_1 against each text_2,
// or pairwise when both are lists of one length. POST /rerank (Jina's and Cohere's shape):
// {"query": a string, "documents": strings or {"text": string} objects, "top_n" (0: all),
// "return_documents" (default true)}. Both: "model", "truncate_prompt_tokens", and for a
// cross-encoder "use_activation" (or "activation"). Texts are non-empty strings; at most
// kMaxEmbeddingInputs documents.
struct ScoreRequest {
  bool rerank = false;
  std::vector<PromptInput> queries; // one, or one per document
  std::vector<PromptInput> documents;
  std::string model;
  int64_t topN = 0;
  bool returnDocuments = true;
  int64_t truncatePromptTokens = 0; // as EmbeddingRequest's; a pair keeps its query whole
  bool useActivation = true;        // a cross-encoder's: false gives its logit
};
Expected<ScoreRequest> parseScoreRequest(std::string_view body, bool rerank);

// A cross-encoder's prompt of a query and a document, as `classifier` joins them: its pair
// template's text (special tokens recognised, none added: the template writes them), the
// tokenizer's pair encoding, or the two texts as one (special tokens recognised and added).
// `types` (if given) gets each token's type where the classifier takes them (its pair
// encoding's: the query 0, the document 1), else is cleared.
Expected<std::vector<int32_t>> pairPrompt(const Tokenizer &tokenizer,
                                          const plan::Classifier &classifier,
                                          std::string_view query, std::string_view document,
                                          std::vector<int32_t> *types = nullptr);
// At most `keep` tokens (-1: no bound): the document's end cut until the prompt fits (its
// first tokens' text joined again), as transformers' "only_second" truncation keeps the
// query; an error when the query alone does not fit.
Expected<std::vector<int32_t>> pairPrompt(const Tokenizer &tokenizer,
                                          const plan::Classifier &classifier,
                                          std::string_view query, std::string_view document,
                                          int64_t keep, std::vector<int32_t> *types = nullptr);

// vLLM's POST /tokenize: a completion prompt ({"prompt": text, "add_special_tokens": true})
// or chat messages ({"messages": [...], "add_generation_prompt": true, "tools",
// "chat_template_kwargs"; "add_special_tokens" false), and "return_token_strs".
struct TokenizeRequest {
  bool chat = false;
  std::string prompt;
  tmpl::ChatRequest messages;
  bool addSpecial = true;
  bool returnTokenStrs = false;
};
Expected<TokenizeRequest> parseTokenizeRequest(std::string_view body);

// vLLM's POST /detokenize: {"tokens": [ids]} (checked against the vocabulary by the server).
Expected<std::vector<int32_t>> parseDetokenizeRequest(std::string_view body);

} // namespace modelrt::server
