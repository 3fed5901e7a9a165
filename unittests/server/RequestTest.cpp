// OpenAI request bodies: what is accepted, and that every refusal names the field.
#include "runtime/server/Request.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

using namespace modelrt;
using namespace modelrt::server;

namespace {

std::string refusal(Api api, const std::string &body) {
  Expected<GenerationRequest> r = parseGenerationRequest(api, body, 8192);
  return r.ok() ? std::string("accepted") : r.error().message();
}

TEST(Request, CompletionFields) {
  Expected<GenerationRequest> r = parseGenerationRequest(
      Api::Completions,
      R"({"prompt": "hi", "max_tokens": 7, "temperature": 0.5, "top_k": 3, "seed": 18446744073709551615,
          "logprobs": 2, "stop": "\n", "stream": true, "ignore_eos": true})",
      8192);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  ASSERT_EQ(r->prompts.size(), 1u);
  EXPECT_EQ(r->prompts[0].text, "hi");
  EXPECT_EQ(r->maxTokens, 7);
  EXPECT_EQ(r->sampling.topK, 3);
  EXPECT_EQ(r->sampling.seed, UINT64_MAX);
  EXPECT_EQ(r->topLogprobs, 2);
  EXPECT_EQ(r->stops, std::vector<std::string>{"\n"});
  EXPECT_TRUE(r->stream && r->ignoreEos);
}

TEST(Request, PenaltiesAndLogitBias) {
  Expected<GenerationRequest> r = parseGenerationRequest(
      Api::Chat,
      R"({"messages": [{"role": "user", "content": "x"}], "presence_penalty": 0.5,
          "frequency_penalty": -0.25, "repetition_penalty": 1.1,
          "logit_bias": {"50256": -100, "7": 2.5}})",
      8192);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  EXPECT_EQ(r->sampling.presencePenalty, 0.5f);
  EXPECT_EQ(r->sampling.frequencyPenalty, -0.25f);
  EXPECT_EQ(r->sampling.repetitionPenalty, 1.1f);
  std::vector<std::pair<int32_t, float>> bias = r->sampling.logitBias;
  std::sort(bias.begin(), bias.end());
  EXPECT_EQ(bias, (std::vector<std::pair<int32_t, float>>{{7, 2.5f}, {50256, -100.0f}}));
  Expected<GenerationRequest> echo = parseGenerationRequest(
      Api::Completions, R"({"prompt": "x", "max_tokens": 0, "echo": true, "logprobs": 1})", 8192);
  ASSERT_TRUE(echo.ok()) << echo.error().toString();
  EXPECT_TRUE(echo->echo);
  EXPECT_EQ(echo->maxTokens, 0);
  Expected<GenerationRequest> n =
      parseGenerationRequest(Api::Completions, R"({"prompt": "x", "n": 16, "stream": true})", 8192);
  ASSERT_TRUE(n.ok()) << n.error().toString();
  EXPECT_EQ(n->n, 16);
}

TEST(Request, ResponseFormat) {
  Expected<GenerationRequest> json = parseGenerationRequest(
      Api::Chat,
      R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}})",
      8192);
  ASSERT_TRUE(json.ok()) << json.error().toString();
  EXPECT_TRUE(json->jsonObject);
  Expected<GenerationRequest> schema = parseGenerationRequest(
      Api::Chat,
      R"({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema",
          "json_schema": {"name": "pet", "strict": true, "schema": {"type": "object",
          "properties": {"name": {"type": "string"}}, "required": ["name"]}}}})",
      8192);
  ASSERT_TRUE(schema.ok()) << schema.error().toString();
  EXPECT_TRUE(schema->jsonObject && schema->jsonSchema);
  // vLLM's guided_json: the schema as an object or as JSON text.
  for (
      const char *body :
      {R"({"prompt": "x", "guided_json": {"type": "object", "properties": {"a": {"type": "integer"}}}})",
       R"({"prompt": "x", "guided_json": "{\"type\": \"object\"}"})",
       R"({"prompt": "x", "json_schema": {"type": "object"}})"}) {
    Expected<GenerationRequest> g = parseGenerationRequest(Api::Completions, body, 8192);
    ASSERT_TRUE(g.ok()) << g.error().toString();
    EXPECT_TRUE(g->jsonObject && g->jsonSchema) << body;
  }
  // Schemas the JSON recognizer refuses (a union, a map) are guided by a grammar instead, in
  // every place a schema goes.
  for (const char *body : {
           R"({"prompt": "x", "guided_json": {"type": "object", "properties": {"v": {"anyOf":
               [{"type": "integer"}, {"type": "string"}]}, "m": {"type": "object",
               "additionalProperties": {"type": "integer"}}}, "required": ["v"]}})",
           R"({"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"name": "u",
               "schema": {"type": "object", "properties": {"v": {"anyOf": [{"type": "integer"},
               {"type": "string"}]}, "m": {"type": "object", "additionalProperties": {"type":
               "integer"}}}, "required": ["v"]}}}})"}) {
    Expected<GenerationRequest> g = parseGenerationRequest(Api::Completions, body, 8192);
    ASSERT_TRUE(g.ok()) << body << ": " << g.error().toString();
    ASSERT_TRUE(g->guidedGrammar) << body;
    EXPECT_FALSE(g->jsonObject);
    EXPECT_TRUE(g->guidedGrammar->matches(R"({"v": 1, "m": {"a": 2}})"));
    EXPECT_TRUE(g->guidedGrammar->matches(R"({"v": "x"})"));
    EXPECT_FALSE(g->guidedGrammar->matches(R"({"v": true})"));
    EXPECT_FALSE(g->guidedGrammar->matches(R"({"m": {}})"));
  }
  // vLLM's guided_choice.
  Expected<GenerationRequest> choice = parseGenerationRequest(
      Api::Completions, R"({"prompt": "x", "guided_choice": ["yes", "no"]})", 8192);
  ASSERT_TRUE(choice.ok()) << choice.error().toString();
  EXPECT_EQ(choice->guidedChoice, (std::vector<std::string>{"yes", "no"}));
  EXPECT_FALSE(choice->jsonObject);
  // vLLM's guided_regex, and structured_outputs (its newer form of all three).
  Expected<GenerationRequest> regex = parseGenerationRequest(
      Api::Completions, R"({"prompt": "x", "guided_regex": "\\d{3}-\\d{4}"})", 8192);
  ASSERT_TRUE(regex.ok()) << regex.error().toString();
  ASSERT_TRUE(regex->guidedRegex);
  EXPECT_TRUE(regex->guidedRegex->matches("555-1234"));
  EXPECT_FALSE(regex->guidedRegex->matches("555-123"));
  EXPECT_FALSE(regex->jsonObject);
  Expected<GenerationRequest> so = parseGenerationRequest(
      Api::Completions, R"({"prompt": "x", "structured_outputs": {"regex": "yes|no"}})", 8192);
  ASSERT_TRUE(so.ok()) << so.error().toString();
  EXPECT_TRUE(so->guidedRegex && so->guidedRegex->matches("no"));
  // guided_grammar, structured_outputs grammar and `grammar`: GBNF, compiled here.
  for (const char *body :
       {R"({"prompt": "x", "guided_grammar": "root ::= \"(\" root \")\" | \"x\""})",
        R"({"prompt": "x", "structured_outputs": {"grammar": "root ::= \"(\" root \")\" | \"x\""}})",
        R"({"prompt": "x", "grammar": "root ::= \"(\" root \")\" | \"x\""})"}) {
    Expected<GenerationRequest> grammar = parseGenerationRequest(Api::Completions, body, 8192);
    ASSERT_TRUE(grammar.ok()) << body << ": " << grammar.error().toString();
    ASSERT_TRUE(grammar->guidedGrammar) << body;
    EXPECT_TRUE(grammar->guidedGrammar->matches("((x))"));
    EXPECT_FALSE(grammar->guidedGrammar->matches("((x)"));
  }
  so = parseGenerationRequest(
      Api::Completions, R"({"prompt": "x", "structured_outputs": {"choice": ["a", "b"]}})", 8192);
  ASSERT_TRUE(so.ok()) << so.error().toString();
  EXPECT_EQ(so->guidedChoice, (std::vector<std::string>{"a", "b"}));
  so = parseGenerationRequest(
      Api::Completions,
      R"({"prompt": "x", "structured_outputs": {"json": {"type": "object"}, "regex": null}})", 8192);
  ASSERT_TRUE(so.ok()) << so.error().toString();
  EXPECT_TRUE(so->jsonObject && so->jsonSchema);
  so = parseGenerationRequest(
      Api::Completions, R"({"prompt": "x", "structured_outputs": {"json_object": true}})", 8192);
  ASSERT_TRUE(so.ok()) << so.error().toString();
  EXPECT_TRUE(so->jsonObject && !so->jsonSchema);
  Expected<GenerationRequest> text = parseGenerationRequest(
      Api::Completions, R"({"prompt": "x", "response_format": {"type": "text"}})", 8192);
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->jsonObject);
}

TEST(Request, PromptForms) {
  Expected<GenerationRequest> one =
      parseGenerationRequest(Api::Completions, R"({"prompt": ["hi"]})", 8192);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->prompts.size(), 1u);
  EXPECT_EQ(one->prompts[0].text, "hi");
  Expected<GenerationRequest> ids =
      parseGenerationRequest(Api::Completions, R"({"prompt": [504, 3575, 282]})", 8192);
  ASSERT_TRUE(ids.ok());
  ASSERT_EQ(ids->prompts.size(), 1u);
  EXPECT_EQ(ids->prompts[0].tokens, (std::vector<int32_t>{504, 3575, 282}));
  EXPECT_TRUE(ids->prompts[0].text.empty());
  // A batch: strings and token-id lists, in order.
  Expected<GenerationRequest> batch = parseGenerationRequest(
      Api::Completions, R"({"prompt": ["a", [5, 6], "b"], "n": 2})", 8192);
  ASSERT_TRUE(batch.ok()) << batch.error().toString();
  ASSERT_EQ(batch->prompts.size(), 3u);
  EXPECT_EQ(batch->prompts[0].text, "a");
  EXPECT_EQ(batch->prompts[1].tokens, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(batch->prompts[2].text, "b");
  EXPECT_EQ(batch->n, 2);
  // At most 256 choices in all.
  std::string many = R"({"n": 16, "prompt": [)";
  for (int i = 0; i < 17; ++i)
    many += std::string(i ? "," : "") + "\"x\"";
  EXPECT_NE(refusal(Api::Completions, many + "]}").find("more than 256 choices"), std::string::npos);
  many = R"({"n": 16, "prompt": [)";
  for (int i = 0; i < 16; ++i)
    many += std::string(i ? "," : "") + "\"x\"";
  EXPECT_TRUE(parseGenerationRequest(Api::Completions, many + "]}", 8192).ok());
}

TEST(Request, ChatFields) {
  Expected<GenerationRequest> r = parseGenerationRequest(
      Api::Chat,
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                       {"role": "assistant", "content": null, "tool_calls": []}],
          "max_completion_tokens": 3, "logprobs": true, "top_logprobs": 1,
          "chat_template_kwargs": {"x": 1}, "add_generation_prompt": false})",
      8192);
  ASSERT_TRUE(r.ok()) << r.error().toString();
  EXPECT_EQ(r->chat.messages[0]["content"], "ab");
  EXPECT_EQ(r->maxTokens, 3);
  EXPECT_EQ(r->topLogprobs, 1);
  EXPECT_FALSE(r->chat.addGenerationPrompt);
  EXPECT_EQ(r->chat.extra["x"], 1);
  // reasoning_effort is a template variable; chat_template_kwargs wins; stop_token_ids.
  Expected<GenerationRequest> effort = parseGenerationRequest(
      Api::Chat,
      R"({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low",
          "stop_token_ids": [7, 0]})",
      8192);
  ASSERT_TRUE(effort.ok()) << effort.error().toString();
  EXPECT_EQ(effort->chat.extra["reasoning_effort"], "low");
  EXPECT_EQ(effort->stopTokenIds, (std::vector<int32_t>{7, 0}));
  Expected<GenerationRequest> both = parseGenerationRequest(
      Api::Chat,
      R"({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low",
          "chat_template_kwargs": {"reasoning_effort": "high"}})",
      8192);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->chat.extra["reasoning_effort"], "high");
  // Without max_tokens a chat request may use the rest of the context (the server sizes it).
  Expected<GenerationRequest> open = parseGenerationRequest(
      Api::Chat, R"({"messages": [{"role": "user", "content": "x"}]})", 8192);
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->maxTokens, 0);
  EXPECT_EQ(parseGenerationRequest(Api::Completions, R"({"prompt": "x"})", 8192)->maxTokens, 16);
  // A named tool_choice guides the answer to the function's parameters.
  Expected<GenerationRequest> forced = parseGenerationRequest(
      Api::Chat,
      R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
          "function": {"name": "get_weather", "parameters": {"type": "object", "properties":
          {"city": {"type": "string"}}, "required": ["city"]}}}],
          "tool_choice": {"type": "function", "function": {"name": "get_weather"}}})",
      8192);
  ASSERT_TRUE(forced.ok()) << forced.error().toString();
  EXPECT_EQ(forced->forcedTool, "get_weather");
  EXPECT_TRUE(forced->jsonObject && forced->jsonSchema);
  // "required": one call of any declared function, {"name": ..., "arguments": ...}, each
  // name with its own parameters.
  Expected<GenerationRequest> required = parseGenerationRequest(
      Api::Chat,
      R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
          "function": {"name": "get_weather", "parameters": {"type": "object", "properties":
          {"city": {"type": "string"}}, "required": ["city"]}}}, {"type": "function",
          "function": {"name": "now"}}], "tool_choice": "required"})",
      8192);
  ASSERT_TRUE(required.ok()) << required.error().toString();
  EXPECT_EQ(required->toolChoice, "required");
  EXPECT_TRUE(required->forcedTool.empty());
  ASSERT_TRUE(required->jsonObject && required->jsonSchema);
  auto fits = [&](const char *text) {
    sample::JsonRecognizer r(required->jsonSchema.get());
    return r.feed(text) && r.complete();
  };
  EXPECT_TRUE(fits(R"({"name": "get_weather", "arguments": {"city": "Oslo"}})"));
  EXPECT_TRUE(fits(R"({"name": "now", "arguments": {}})"));
  EXPECT_FALSE(fits(R"({"name": "get_weather", "arguments": {}})"));
  EXPECT_FALSE(fits(R"({"name": "later", "arguments": {}})"));
  EXPECT_FALSE(fits(R"({"city": "Oslo"})"));
  Expected<GenerationRequest> automatic = parseGenerationRequest(
      Api::Chat, R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"})",
      8192);
  ASSERT_TRUE(automatic.ok());
  EXPECT_TRUE(automatic->forcedTool.empty());
  EXPECT_FALSE(automatic->jsonObject);
}

TEST(Request, DeepNestingIsRefusedBeforeParsing) {
  std::string deep =
      R"({"prompt": "x", "stop": )" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_NE(refusal(Api::Completions, deep).find("nests arrays and objects more than 64 deep"),
            std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_EQ(refusal(Api::Completions, R"({"prompt": ")" + std::string(1000, '[') + R"("})"),
            "accepted");
}

TEST(Request, RefusalsNameTheField) {
  const std::pair<const char *, const char *> completions[] = {
      {"[1]", "not a JSON object"},
      {"{", "not a JSON object"},
      {R"({"prompt": 1})", "'prompt' must be a string"},
      {R"({"prompt": []})", "'prompt' must be a string"},
      {R"({"prompt": [1, -2]})", "'prompt' must be a string"},
      {R"({"prompt": ["a", 2]})", "'prompt' must be a string"},
      {R"({"prompt": [[1], []]})", "'prompt' must be a string"},
      {R"({"prompt": [1, "a"]})", "'prompt' must be a string"},
      {R"({"prompt": ["a", "b", "c"], "n": 100})", "'n' must be an integer from 1 to 16"},
      {R"({"prompt": "x", "top_k": 4294967297})", "'top_k' is too large"},
      {R"({"prompt": "x", "seed": -1})", "'seed' is out of range"},
      {R"({"prompt": "x", "max_tokens": 9000})", "'max_tokens' must be between 1 and 8192"},
      {R"({"prompt": "x", "max_tokens": 1.5})", "'max_tokens' must be an integer"},
      {R"({"prompt": "x", "ignore_eos": "yes"})", "'ignore_eos' must be true or false"},
      {R"({"prompt": "x", "logprobs": 21})", "'logprobs' must be an integer from 0 to 20"},
      {R"({"prompt": "x", "stop": [1]})", "'stop' strings must be non-empty strings"},
      {R"({"prompt": "x", "temperature": -1})", "temperature"},
      {R"({"prompt": "x", "presence_penalty": 3})", "presence_penalty must be in [-2, 2]"},
      {R"({"prompt": "x", "n": 0})", "'n' must be an integer from 1 to 16"},
      {R"({"prompt": "x", "max_tokens": 0})", "'max_tokens' must be between 1 and 8192"},
      {R"({"prompt": "x", "echo": true, "stream": true})", "'echo' is not supported with 'stream'"},
      {R"({"prompt": "x", "echo": 1})", "'echo' must be true or false"},
      {R"({"prompt": "x", "n": 1.5})", "'n' must be an integer from 1 to 16"},
      {R"({"prompt": "x", "frequency_penalty": "a"})", "'frequency_penalty' must be a number"},
      {R"({"prompt": "x", "repetition_penalty": 0})", "repetition_penalty must be"},
      {R"({"prompt": "x", "logit_bias": [1]})", "'logit_bias' must be an object"},
      {R"({"prompt": "x", "logit_bias": {"abc": 1}})", "'logit_bias' keys must be token ids"},
      {R"({"prompt": "x", "logit_bias": {"-4": 1}})", "'logit_bias' keys must be token ids"},
      {R"({"prompt": "x", "logit_bias": {" 5": 1}})", "'logit_bias' keys must be token ids"},
      {R"({"prompt": "x", "logit_bias": {"05": 1}})", "'logit_bias' keys must be token ids"},
      {R"({"prompt": "x", "logit_bias": {"+5": 1}})", "'logit_bias' keys must be token ids"},
      {R"({"prompt": "x", "logit_bias": {"4": "up"}})", "'logit_bias' values must be numbers"},
      {R"({"prompt": "x", "logit_bias": {"4": 200}})", "logit_bias values must be in [-100, 100]"},
      {R"({"prompt": "x", "response_format": "json"})", "'response_format' must be an object"},
      {R"({"prompt": "x", "response_format": {"type": "yaml"}})",
       "'response_format' type must be 'text', 'json_object' or 'json_schema'"},
      {R"({"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {}}})",
       "json_schema needs"},
      {R"({"prompt": "x", "response_format": {"type": "json_schema", "json_schema":
          {"name": "a", "schema": {"type": "object", "properties": {"a": {"allOf": []}}}}}})",
       "'response_format' json_schema: 'allOf' is supported only with one schema"},
      {R"({"prompt": "x", "response_format": {"type": "json_schema", "json_schema":
          {"name": "a", "schema": {"type": "object", "properties": {"a": {"not": {}}}}}}})",
       "'response_format' json_schema: keyword 'not' is not supported"},
      {R"({"prompt": "x", "guided_json": {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]}})",
       "'oneOf' is supported only as a tagged union of objects or over schemas of distinct types"},
      {R"({"prompt": "x", "guided_json": {"type": "array", "prefixItems": [{"type": "integer"}]}})",
       "'prefixItems' is supported only with 'minItems' equal to their count"},
      {R"({"prompt": "x", "ignore_eos": true, "response_format": {"type": "json_object"}})",
       "cannot be combined with 'ignore_eos'"},
      {R"({"prompt": "x", "guided_json": "{nope"})", "'guided_json' is a string that is not JSON"},
      {R"({"prompt": "x", "guided_choice": []})", "'guided_choice' must be an array of 1 to 64"},
      {R"({"prompt": "x", "guided_choice": "yes"})", "'guided_choice' must be an array"},
      {R"({"prompt": "x", "guided_choice": ["yes", ""]})", "non-empty strings"},
      {R"({"prompt": "x", "guided_choice": ["yes", 1]})", "non-empty strings"},
      {R"({"prompt": "x", "guided_choice": ["a"], "guided_json": {"type": "object"}})",
       "give one guide: 'guided_json' and 'guided_choice' cannot be combined"},
      {R"({"prompt": "x", "guided_regex": "a+", "structured_outputs": {"choice": ["a"]}})",
       "'guided_regex' and 'structured_outputs choice' cannot be combined"},
      {R"j({"prompt": "x", "guided_regex": "a(?=b)"})j",
       "'guided_regex': lookaround assertions are not supported at offset 3 of the pattern"},
      {R"({"prompt": "x", "guided_regex": ""})", "'guided_regex' must be a non-empty string"},
      {R"({"prompt": "x", "guided_regex": ["a"]})", "'guided_regex' must be a non-empty string"},
      {R"({"prompt": "x", "guided_regex": "a+", "ignore_eos": true})",
       "'guided_regex' ends the answer where it is complete; it cannot be combined with 'ignore_eos'"},
      {R"({"prompt": "x", "structured_outputs": {"regex": "(a"}})",
       "'structured_outputs regex': a '(' is not closed"},
      {R"({"prompt": "x", "structured_outputs": {"lark": "start: \"a\""}})",
       "'structured_outputs' lark is not supported (json, regex, choice, grammar and json_object "
       "are)"},
      {R"({"prompt": "x", "guided_grammar": "root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\""})",
       "'guided_grammar': rule 'expr' is left-recursive"},
      {R"({"prompt": "x", "grammar": "root ::= \"a\" b"})",
       "'grammar': line 1, column 14: rule 'b' is not defined"},
      {R"({"prompt": "x", "structured_outputs": {"grammar": "root ::= [a-"}})",
       "'structured_outputs grammar': line 1, column 10: a '[' without its ']'"},
      {R"({"prompt": "x", "guided_grammar": ""})", "'guided_grammar' must be a non-empty string (a GBNF grammar)"},
      {R"({"prompt": "x", "grammar": "root ::= \"a\"", "guided_regex": "a"})",
       "give one guide: 'guided_regex' and 'grammar' cannot be combined"},
      {R"({"prompt": "x", "guided_grammar": "root ::= \"a\"", "ignore_eos": true})",
       "'guided_grammar' ends the answer where it is complete"},
      {R"({"prompt": "x", "structured_outputs": "a+"})", "'structured_outputs' must be an object"},
      {R"({"prompt": "x", "structured_outputs": {"json_object": 1}})",
       "'structured_outputs' json_object must be true or false"},
      {R"({"prompt": "x", "guided_choice": ["a"], "ignore_eos": true})",
       "cannot be combined with 'ignore_eos'"},
      {R"({"prompt": "x", "guided_json": {"type": "object"}, "response_format": {"type": "text"}})",
       "'response_format' and 'guided_json' cannot be combined"},
      {R"({"prompt": "x", "stream_options": {"include_usage": true}})",
       "'stream_options' needs 'stream': true"},
      {R"({"prompt": "x", "stream": true, "stream_options": {"include_usage": 1}})",
       "'stream_options.include_usage' must be true or false"}};
  for (auto [body, message] : completions)
    EXPECT_NE(refusal(Api::Completions, body).find(message), std::string::npos)
        << body << " -> " << refusal(Api::Completions, body);
  const std::pair<const char *, const char *> chat[] = {
      {R"({"messages": {}})", "'messages' must be a non-empty array"},
      {R"({"messages": [1]})", "'messages[0]' must be an object"},
      {R"({"messages": [{"role": "", "content": "x"}]})", "'role' must be a non-empty string"},
      {R"({"messages": [{"role": "user", "content": [{"type": 5, "text": "x"}]}]})",
       "content parts must be"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "content parts must be"},
      {R"({"messages": [{"role": "user", "content": null}]})", "'content' must be a string"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": {}})",
       "'tools' must be an array"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})",
       "'top_logprobs' needs 'logprobs': true"},
      {R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": []})",
       "'chat_template_kwargs' must be an object"},
      {R"({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"})",
       "'reasoning_effort' must be"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop_token_ids": [-1]})",
       "'stop_token_ids' must hold non-negative integer token ids"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop_token_ids": 3})",
       "'stop_token_ids' must be an array"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"})",
       "'tool_choice' must be"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"function": 1}})",
       "'tool_choice' must be"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": {"type": "function",
          "function": {"name": "f"}}})",
       "which 'tools' does not declare"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
          "function": {"name": "f", "parameters": {"type": "object", "properties": {"a":
          {"oneOf": []}}}}}], "tool_choice": {"type": "function", "function": {"name": "f"}}})",
       "'tool_choice' function 'f' parameters"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
          "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name":
          "f"}}, "response_format": {"type": "json_object"}})",
       "cannot be combined with 'response_format'"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"})",
       "'tool_choice' \"required\" needs 'tools'"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
          "function": {"name": "f"}}], "tool_choice": "required", "guided_choice": ["a"]})",
       "cannot be combined with 'guided_choice'"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
          "function": {"name": "f", "parameters": {"type": "object", "properties": {"a":
          {"oneOf": []}}}}}], "tool_choice": "required"})",
       "'tool_choice' \"required\": the functions' parameters"}};
  for (auto [body, message] : chat)
    EXPECT_NE(refusal(Api::Chat, body).find(message), std::string::npos)
        << body << " -> " << refusal(Api::Chat, body);
}

TEST(Request, TokenizeAndDetokenizeBodies) {
  Expected<TokenizeRequest> text = parseTokenizeRequest(R"({"prompt": "hi", "model": "m"})");
  ASSERT_TRUE(text.ok()) << text.error().toString();
  EXPECT_FALSE(text->chat);
  EXPECT_EQ(text->prompt, "hi");
  EXPECT_TRUE(text->addSpecial);
  Expected<TokenizeRequest> chat = parseTokenizeRequest(
      R"({"messages": [{"role": "user", "content": "x"}], "return_token_strs": true,
          "add_generation_prompt": false})");
  ASSERT_TRUE(chat.ok()) << chat.error().toString();
  EXPECT_TRUE(chat->chat && chat->returnTokenStrs);
  EXPECT_FALSE(chat->addSpecial); // the template writes BOS
  EXPECT_FALSE(chat->messages.addGenerationPrompt);
  ASSERT_EQ(chat->messages.messages.size(), 1u);
  const std::pair<const char *, const char *> bad[] = {
      {R"({})", "either 'prompt'"},
      {R"({"prompt": "a", "messages": []})", "either 'prompt'"},
      {R"({"prompt": 5})", "'prompt' must be a string"},
      {R"({"messages": []})", "'messages' must be a non-empty array"},
      {R"({"prompt": "a", "add_special_tokens": "yes"})", "add_special_tokens"},
      {R"([1])", "not a JSON object"},
      {R"({"prompt": )", "not a JSON object"}};
  for (auto [body, message] : bad) {
    Expected<TokenizeRequest> r = parseTokenizeRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.error().message().find(message), std::string::npos) << r.error().message();
  }
  Expected<std::vector<int32_t>> ids = parseDetokenizeRequest(R"({"tokens": [504, 3575]})");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*ids, (std::vector<int32_t>{504, 3575}));
  for (const char *body : {R"({})", R"({"tokens": [-1]})", R"({"tokens": "x"})",
                           R"({"tokens": [1.5]})", R"({"tokens": [4294967296]})"}) {
    Expected<std::vector<int32_t>> r = parseDetokenizeRequest(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_NE(r.error().message().find("'tokens' must be an array of token ids"),
              std::string::npos)
        << r.error().message();
  }
}

} // namespace

// vLLM's truncate_prompt_tokens keeps the last k tokens; a text keeps the special tokens its
// tokenizer added around it (transformers truncates the text, then adds them).
TEST(Request, TruncationKeepsTheSpecialTokensAroundAText) {
  using V = std::vector<int32_t>;
  const V bare = {10, 11, 12, 13, 14};
  const V withBos = {1, 10, 11, 12, 13, 14}, withBoth = {1, 10, 11, 12, 13, 14, 2};
  EXPECT_EQ(server::truncateLeft(withBos, &bare, 3), (V{1, 13, 14}));
  EXPECT_EQ(server::truncateLeft(withBoth, &bare, 4), (V{1, 13, 14, 2}));
  EXPECT_EQ(server::truncateLeft(withBoth, &bare, 7), withBoth); // fits: as is
  EXPECT_EQ(server::truncateLeft(withBoth, &bare, 2), (V{14, 2})); // no room: the last ids
  EXPECT_EQ(server::truncateLeft(withBoth, nullptr, 4), (V{12, 13, 14, 2})); // ids given
  const V other = {7, 8};
  EXPECT_EQ(server::truncateLeft(withBoth, &other, 3), (V{13, 14, 2})); // not inside: as ids
}

// vLLM's sampling extras: min_tokens (at most max_tokens), allowed_token_ids,
// include_stop_str_in_output, skip_special_tokens.
TEST(Request, SamplingExtras) {
  Expected<server::GenerationRequest> r = server::parseGenerationRequest(
      server::Api::Completions,
      R"({"prompt": "a", "max_tokens": 8, "min_tokens": 3, "allowed_token_ids": [4, 5],
          "include_stop_str_in_output": true, "skip_special_tokens": false,
          "bad_words": ["foo", " bar baz"], "prompt_logprobs": 5})",
      64);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->minTokens, 3);
  EXPECT_EQ(r->allowedTokenIds, (std::vector<int32_t>{4, 5}));
  EXPECT_TRUE(r->includeStopStr);
  EXPECT_FALSE(r->skipSpecialTokens);
  EXPECT_EQ(r->badWords, (std::vector<std::string>{"foo", " bar baz"}));
  EXPECT_EQ(r->promptLogprobs, 5);
  Expected<server::GenerationRequest> plain =
      server::parseGenerationRequest(server::Api::Completions, R"({"prompt": "a"})", 64);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->minTokens, 0);
  EXPECT_TRUE(plain->skipSpecialTokens);
  EXPECT_EQ(plain->promptLogprobs, -1);
  EXPECT_FALSE(plain->includeStopStr);
  // A chat request without max_tokens bounds min_tokens by max_seq_len.
  EXPECT_TRUE(server::parseGenerationRequest(
                  server::Api::Chat,
                  R"({"messages": [{"role": "user", "content": "hi"}], "min_tokens": 64})", 64)
                  .ok());
  for (auto [body, words] : std::vector<std::pair<std::string, std::string>>{
           {R"({"prompt": "a", "max_tokens": 2, "min_tokens": 3})", "'min_tokens' must be"},
           {R"({"prompt": "a", "min_tokens": -1})", "'min_tokens' must be"},
           {R"({"prompt": "a", "allowed_token_ids": []})", "'allowed_token_ids' must be"},
           {R"({"prompt": "a", "allowed_token_ids": [-1]})", "non-negative integer token ids"},
           {R"({"prompt": "a", "skip_special_tokens": 0})", "'skip_special_tokens'"},
           {R"({"prompt": "a", "bad_words": [""]})", "'bad_words' must hold non-empty strings"},
           {R"({"prompt": "a", "bad_words": "x"})", "'bad_words' must be an array"},
           {R"({"prompt": "a", "prompt_logprobs": 1.5})", "'prompt_logprobs' must be an integer"},
           {R"({"prompt": "a", "prompt_logprobs": 2, "stream": true})", "not supported with 'stream'"}}) {
    Expected<server::GenerationRequest> bad =
        server::parseGenerationRequest(server::Api::Completions, body, 64);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_NE(bad.error().message().find(words), std::string::npos) << bad.error().message();
  }
}

// vLLM's /classify: the embeddings' inputs and truncation, use_activation (or its older
// names), and neither encoding_format nor dimensions.
TEST(Request, ClassifyBodies) {
  Expected<server::EmbeddingRequest> c = server::parseEmbeddingRequest(
      R"({"input": ["a b", [1, 2]], "use_activation": false, "truncate_prompt_tokens": 4})",
      /*classify=*/true);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->inputs.size(), 2u);
  EXPECT_FALSE(c->useActivation);
  EXPECT_EQ(c->truncatePromptTokens, 4);
  Expected<server::EmbeddingRequest> old =
      server::parseEmbeddingRequest(R"({"input": "a", "softmax": false})", true);
  ASSERT_TRUE(old.ok()) << old.error().message();
  EXPECT_FALSE(old->useActivation);
  Expected<server::EmbeddingRequest> plain = server::parseEmbeddingRequest(R"({"input": "a"})", true);
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(plain->useActivation);
  for (auto [body, words] : std::vector<std::pair<std::string, std::string>>{
           {R"({"input": ""})", "an empty string has nothing to classify"},
           {R"({"input": "a", "dimensions": 2})", "'dimensions' applies to /v1/embeddings"},
           {R"({"input": "a", "encoding_format": "float"})",
            "'encoding_format' applies to /v1/embeddings"},
           {R"({"input": "a", "use_activation": "no"})", "'use_activation'"}}) {
    Expected<server::EmbeddingRequest> bad = server::parseEmbeddingRequest(body, true);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_NE(bad.error().message().find(words), std::string::npos) << bad.error().message();
  }
}

// /v1/embeddings, /score and /rerank bodies: the forms vLLM takes, and refusals that name
// the field.
TEST(Request, EmbeddingScoreAndRerankBodies) {
  Expected<server::EmbeddingRequest> e = server::parseEmbeddingRequest(
      R"({"input": ["a b", [1, 2]], "encoding_format": "base64", "dimensions": 8,
          "truncate_prompt_tokens": -1, "add_special_tokens": false, "model": "m"})");
  ASSERT_TRUE(e.ok()) << e.error().message();
  ASSERT_EQ(e->inputs.size(), 2u);
  EXPECT_EQ(e->inputs[0].text, "a b");
  EXPECT_EQ(e->inputs[1].tokens, (std::vector<int32_t>{1, 2}));
  EXPECT_TRUE(e->base64);
  EXPECT_EQ(e->dimensions, 8);
  EXPECT_EQ(e->truncatePromptTokens, -1);
  EXPECT_FALSE(e->addSpecial);
  EXPECT_EQ(e->model, "m");
  for (auto [body, words] : std::vector<std::pair<std::string, std::string>>{
           {R"({"input": [""]})", "an empty string has no embedding"},
           {R"({"input": 3})", "'input' must be a string, a list of token ids"},
           {R"({"input": "a", "dimensions": -1})", "'dimensions' must be at least 1"},
           {R"({"input": "a", "truncate_prompt_tokens": 0})", "'truncate_prompt_tokens' must be"},
           {R"({"input": "a", "encoding_format": "int8"})", "'encoding_format' must be"}}) {
    Expected<server::EmbeddingRequest> bad = server::parseEmbeddingRequest(body);
    ASSERT_FALSE(bad.ok()) << body;
    EXPECT_NE(bad.error().message().find(words), std::string::npos) << bad.error().message();
  }
  // vLLM's chat form: no generation prompt and no added special tokens by default.
  Expected<server::EmbeddingRequest> chat =
      server::parseEmbeddingRequest(R"({"messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_TRUE(chat.ok()) << chat.error().message();
  EXPECT_TRUE(chat->chat);
  EXPECT_TRUE(chat->inputs.empty());
  EXPECT_FALSE(chat->messages.addGenerationPrompt);
  EXPECT_FALSE(chat->addSpecial);
  EXPECT_FALSE(server::parseEmbeddingRequest(R"({"input": "a", "messages": []})").ok());
  Expected<server::ScoreRequest> s =
      server::parseScoreRequest(R"({"text_1": "q", "text_2": ["a", "b"]})", false);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->queries.size(), 1u);
  EXPECT_EQ(s->documents.size(), 2u);
  Expected<server::ScoreRequest> r = server::parseScoreRequest(
      R"({"query": "q", "documents": ["a", {"text": "b"}], "top_n": 1, "return_documents": false})",
      true);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->documents[1].text, "b");
  EXPECT_EQ(r->topN, 1);
  EXPECT_FALSE(r->returnDocuments);
  EXPECT_FALSE(server::parseScoreRequest(R"({"text_1": ["a", "b"], "text_2": ["c"]})", false).ok());
  EXPECT_FALSE(server::parseScoreRequest(R"({"documents": ["a"]})", true).ok());
}

// A cross-encoder's pair cut to truncate_prompt_tokens: the document's end goes, the query
// and the tokens around it stay (hf-tiny-llama-cross-encoder's pair template "<s> $A <s>
// $B"); a bound the query alone passes is an error naming it.
TEST(Request, PairTruncationKeepsTheQuery) {
  const char *src = std::getenv("MODELC_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "ctest sets MODELC_SOURCE_DIR";
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromFile(
      std::string(src) + "/test/modelc/Inputs/hf-tiny-llama-cross-encoder/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  plan::Classifier k;
  k.labels = {"LABEL_0"};
  const std::string query = "the cat sat", document = "then it ran on, and on, and on.";
  Expected<std::vector<int32_t>> full = pairPrompt(**tok, k, query, document);
  Expected<std::vector<int32_t>> head = pairPrompt(**tok, k, query, "");
  ASSERT_TRUE(full.ok() && head.ok());
  ASSERT_GT(full->size(), head->size() + 6);
  for (int64_t keep : {int64_t(full->size()) - 1, int64_t(head->size()) + 3,
                       int64_t(head->size())}) {
    Expected<std::vector<int32_t>> cut = pairPrompt(**tok, k, query, document, keep);
    ASSERT_TRUE(cut.ok()) << cut.error().message();
    EXPECT_LE(int64_t(cut->size()), keep);
    EXPECT_TRUE(std::equal(head->begin(), head->end(), cut->begin())) << "keep " << keep;
  }
  Expected<std::vector<int32_t>> untouched = pairPrompt(**tok, k, query, document, -1);
  EXPECT_EQ(*untouched, *full);
  Expected<std::vector<int32_t>> tooShort =
      pairPrompt(**tok, k, query, document, int64_t(head->size()) - 1);
  ASSERT_FALSE(tooShort.ok());
  EXPECT_NE(tooShort.error().message().find("truncation cuts documents, not queries"),
            std::string::npos)
      << tooShort.error().message();
}

// A BERT cross-encoder's pair carries token types: its query and its specials 0, its
// document and the [SEP] after it 1, as the template's type ids say (BertProcessing here;
// transformers' token_type_ids of the same pair: EmbeddingTest's Classifier.* goldens).
TEST(Request, PairTokenTypesFollowTheTemplate) {
  const char *src = std::getenv("MODELC_SOURCE_DIR");
  ASSERT_NE(src, nullptr) << "ctest sets MODELC_SOURCE_DIR";
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromFile(
      std::string(src) + "/unittests/tokenize/data/wordpiece-uncased/tokenizer.json");
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  plan::Classifier k;
  k.labels = {"LABEL_0"};
  k.tokenTypes = 2;
  std::vector<int32_t> types;
  Expected<std::vector<int32_t>> ids = pairPrompt(**tok, k, "the fox", "a dog.", -1, &types);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  const std::vector<int32_t> query = *(*tok)->encode("the fox", {});
  const std::vector<int32_t> document = *(*tok)->encode("a dog.", {});
  std::vector<int32_t> want(query.size() + 2, 0); // [CLS] query [SEP]
  want.resize(want.size() + document.size() + 1, 1); // document [SEP]
  EXPECT_EQ(types, want);
  EXPECT_EQ(ids->size(), want.size());
  // Truncation cuts the document and its types alike.
  Expected<std::vector<int32_t>> cut = pairPrompt(**tok, k, "the fox", "a dog.", int64_t(want.size()) - 1, &types);
  ASSERT_TRUE(cut.ok());
  EXPECT_EQ(types.size(), cut->size());
  // A classifier without token types gives none.
  k.tokenTypes = 0;
  ASSERT_TRUE(pairPrompt(**tok, k, "the fox", "a dog.", -1, &types).ok());
  EXPECT_TRUE(types.empty());
}
