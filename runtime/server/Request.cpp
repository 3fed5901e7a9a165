#include "runtime/server/Request.h"

#include "runtime/sample/ChoiceConstraint.h"
#include "runtime/sample/GrammarConstraint.h"
#include "runtime/sample/RegexConstraint.h"
#include "runtime/sample/SchemaGrammar.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace modelrt::server {

namespace {

using Json = nlohmann::ordered_json;

Error invalid(const std::string &message) { return Error(ErrorCode::InvalidArgument, message); }

// An optional number field of type T: absent or null keeps `out`.
template <typename T> Status optionalNumber(const Json &body, const char *key, T &out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null())
    return Status::success();
  const std::string name = std::string("'") + key + "'";
  if (!it->is_number())
    return invalid(name + " must be a number");
  if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer())
      return invalid(name + " must be an integer");
    // Within T's range, whether the JSON number came as signed or unsigned.
    if (it->is_number_unsigned()) {
      uint64_t v = it->get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        return invalid(name + " is too large");
      out = static_cast<T>(v);
    } else {
      int64_t v = it->get<int64_t>();
      if ((std::is_unsigned_v<T> && v < 0) ||
          (!std::is_unsigned_v<T> && v < static_cast<int64_t>(std::numeric_limits<T>::min())) ||
          (v > 0 &&
           static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max())))
        return invalid(name + " is out of range");
      out = static_cast<T>(v);
    }
  } else {
    double v = it->get<double>();
    if (!std::isfinite(v))
      return invalid(name + " must be finite");
    out = static_cast<T>(v);
  }
  return Status::success();
}

Status optionalString(const Json &body, const char *key, std::string &out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null())
    return Status::success();
  if (!it->is_string())
    return invalid(std::string("'") + key + "' must be a string");
  out = it->get<std::string>();
  return Status::success();
}

Status optionalBool(const Json &body, const char *key, bool &out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null())
    return Status::success();
  if (!it->is_boolean())
    return invalid(std::string("'") + key + "' must be true or false");
  out = it->get<bool>();
  return Status::success();
}

// OpenAI's forms of a completions prompt or an embeddings input: a string, a list of token
// ids (one prompt), or a list of strings or of token-id lists (a batch).
Status parsePromptForms(const Json &body, const char *field, std::vector<PromptInput> &out) {
  auto prompt = body.find(field);
  const Error form = invalid(std::string("'") + field +
                             "' must be a string, a list of token ids, or a list of strings or "
                             "of token-id lists");
  if (prompt == body.end())
    return form;
  auto tokenList = [](const Json &list, std::vector<int32_t> &ids) {
    if (!list.is_array() || list.empty())
      return false;
    for (const Json &id : list) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
        return false;
      ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
    return true;
  };
  if (prompt->is_string()) {
    out.push_back({prompt->get<std::string>(), {}});
  } else if (!prompt->is_array() || prompt->empty()) {
    return form;
  } else if ((*prompt)[0].is_number_integer()) {
    PromptInput one;
    if (!tokenList(*prompt, one.tokens))
      return form;
    out.push_back(std::move(one));
  } else {
    for (const Json &p : *prompt) {
      PromptInput one;
      if (p.is_string())
        one.text = p.get<std::string>();
      else if (!tokenList(p, one.tokens))
        return form;
      out.push_back(std::move(one));
    }
  }
  return Status::success();
}

// Roles and contents are strings; content may also be a list of text parts (joined), or
// null / absent on an assistant message with tool calls.
Status parseMessages(const Json &body, tmpl::ChatRequest &chat) {
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    return invalid("'messages' must be a non-empty array");
  for (size_t i = 0; i < messages->size(); ++i) {
    Json m = (*messages)[i];
    const std::string where = "'messages[" + std::to_string(i) + "]'";
    if (!m.is_object())
      return invalid(where + " must be an object");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string() || role->get_ref<const std::string &>().empty())
      return invalid(where + ": 'role' must be a non-empty string");
    auto content = m.find("content");
    const bool toolCalls = m.contains("tool_calls");
    if (content != m.end() && content->is_array()) {
      std::string text;
      for (const Json &part : *content) {
        auto type = part.is_object() ? part.find("type") : part.end();
        auto partText = part.is_object() ? part.find("text") : part.end();
        if (!part.is_object() || type == part.end() || !type->is_string() ||
            type->get_ref<const std::string &>() != "text" || partText == part.end() ||
            !partText->is_string())
          return invalid(where + ": content parts must be {\"type\": \"text\", \"text\": ...}");
        text += partText->get_ref<const std::string &>();
      }
      *content = text;
    } else if (content == m.end() ? !toolCalls
                                  : !content->is_string() && !(content->is_null() && toolCalls)) {
      return invalid(where + (content == m.end()
                                  ? ": 'content' is missing"
                                  : ": 'content' must be a string or a list of text parts"));
    }
    chat.messages.push_back(std::move(m));
  }
  if (auto tools = body.find("tools"); tools != body.end() && !tools->is_null()) {
    if (!tools->is_array())
      return invalid("'tools' must be an array");
    chat.tools = *tools;
  }
  if (Status s = optionalBool(body, "add_generation_prompt", chat.addGenerationPrompt); !s)
    return s;
  if (auto kwargs = body.find("chat_template_kwargs"); kwargs != body.end() && !kwargs->is_null()) {
    if (!kwargs->is_object())
      return invalid("'chat_template_kwargs' must be an object");
    chat.extra = *kwargs;
  }
  // OpenAI's reasoning_effort reaches the template as the variable of that name (templates
  // of reasoning models read it), unless chat_template_kwargs sets it.
  if (auto effort = body.find("reasoning_effort"); effort != body.end() && !effort->is_null()) {
    static const char *const kEfforts[] = {"low", "medium", "high"}; // vLLM's
    if (!effort->is_string() ||
        std::none_of(std::begin(kEfforts), std::end(kEfforts),
                     [&](const char *e) { return effort->get_ref<const std::string &>() == e; }))
      return invalid("'reasoning_effort' must be \"low\", \"medium\" or \"high\"");
    if (!chat.extra.contains("reasoning_effort"))
      chat.extra["reasoning_effort"] = *effort;
  }
  return Status::success();
}

// tool_choice naming `name` (its arguments) or "required" (`name` empty: one call of any
// declared function, {"name": ..., "arguments": ...}): the answer is guided by the schema
// of what it must be.
// A JSON schema guides the answer: through the JSON recognizer where it enforces the schema,
// else as a grammar (sample/SchemaGrammar.h: unions, maps, tuples, counted bounds); a schema
// neither enforces is refused with the grammar converter's reason.
Status guideBySchema(GenerationRequest &r, const Json &schema) {
  if (Expected<std::shared_ptr<const sample::JsonSchema>> native =
          sample::JsonSchema::compile(schema)) {
    r.jsonObject = true;
    r.jsonSchema = *native;
    return Status::success();
  }
  Expected<std::string> gbnf = sample::jsonSchemaToGbnf(schema);
  if (!gbnf)
    return gbnf.error();
  Expected<std::shared_ptr<const sample::Grammar>> grammar =
      sample::Grammar::compile(*gbnf, "'response_format' json_schema");
  if (!grammar)
    return grammar.error();
  r.guidedGrammar = *grammar;
  return Status::success();
}

Status guideToolCall(GenerationRequest &r, const std::string &name) {
  const std::string what = name.empty() ? "'tool_choice' \"required\"" : "a named 'tool_choice'";
  // Each declared function's parameter schema (an object of anything where it gives none).
  std::vector<std::pair<std::string, Json>> functions;
  if (r.chat.tools.is_array())
    for (const Json &tool : r.chat.tools)
      if (tool.is_object() && tool.contains("function") && tool["function"].is_object() &&
          tool["function"].value("name", Json()).is_string()) {
        auto p = tool["function"].find("parameters");
        functions.emplace_back(tool["function"]["name"].get<std::string>(),
                               p != tool["function"].end() && !p->is_null()
                                   ? *p
                                   : Json::object({{"type", "object"}}));
      }
  auto invalid = [](const std::string &m) { return Error(ErrorCode::InvalidArgument, m); };
  Json schema;
  if (!name.empty()) {
    auto it = std::find_if(functions.begin(), functions.end(),
                           [&](const auto &f) { return f.first == name; });
    if (it == functions.end())
      return invalid("'tool_choice' names the function '" + name.substr(0, 64) +
                     "', which 'tools' does not declare");
    schema = it->second;
  } else {
    if (functions.empty())
      return invalid("'tool_choice' \"required\" needs 'tools' to declare at least one function");
    Json branches = Json::array();
    for (const auto &[fn, params] : functions)
      branches.push_back({{"type", "object"},
                          {"properties", {{"name", {{"const", fn}}}, {"arguments", params}}},
                          {"required", {"name", "arguments"}},
                          {"additionalProperties", false}});
    schema = branches.size() == 1 ? branches[0] : Json{{"anyOf", branches}};
  }
  if (r.jsonObject)
    return invalid(what + " guides the answer to a call; it cannot be combined with "
                          "'response_format' or 'guided_json'");
  if (!r.guidedChoice.empty() || r.guidedRegex || r.guidedGrammar)
    return invalid(what + " cannot be combined with 'guided_choice', 'guided_regex' or "
                          "'guided_grammar'");
  if (r.ignoreEos)
    return invalid(what + " ends with the call; it cannot be combined with 'ignore_eos'");
  if (Status st = guideBySchema(r, schema); !st)
    return invalid((name.empty() ? std::string("'tool_choice' \"required\": the functions' ")
                                 : "'tool_choice' function '" + name.substr(0, 64) + "' ") +
                   "parameters: " + st.error().message());
  return Status::success();
}

Status truncation(const Json &body, int64_t &out);

Expected<GenerationRequest> parse(Api api, const Json &body, int64_t maxSeqLen) {
  if (!body.is_object())
    return invalid("the body is not a JSON object");
  GenerationRequest r;
  r.api = api;
  if (api == Api::Chat)
    r.maxTokens = 0; // not given yet
  sample::SamplingParams &s = r.sampling;
  for (Status st :
       {optionalNumber(body, "max_tokens", r.maxTokens),
        api == Api::Chat ? optionalNumber(body, "max_completion_tokens", r.maxTokens)
                         : Status::success(),
        optionalNumber(body, "temperature", s.temperature), optionalNumber(body, "top_p", s.topP),
        optionalNumber(body, "top_k", s.topK), optionalNumber(body, "min_p", s.minP),
        optionalNumber(body, "seed", s.seed),
        optionalNumber(body, "presence_penalty", s.presencePenalty),
        optionalNumber(body, "frequency_penalty", s.frequencyPenalty),
        optionalNumber(body, "repetition_penalty", s.repetitionPenalty),
        optionalBool(body, "stream", r.stream),
        api == Api::Completions ? optionalBool(body, "echo", r.echo) : Status::success(),
        optionalBool(body, "ignore_eos", r.ignoreEos), optionalString(body, "model", r.model)})
    if (!st)
      return st.error();
  const bool defaulted = api == Api::Chat && r.maxTokens == 0 && !body.contains("max_tokens") &&
                         !body.contains("max_completion_tokens");
  if (!defaulted && !(r.echo && r.maxTokens == 0) && (r.maxTokens < 1 || r.maxTokens > maxSeqLen))
    return invalid("'max_tokens' must be between 1 and " + std::to_string(maxSeqLen) +
                   " (0 with 'echo')");
  if (r.echo && r.stream)
    return invalid("'echo' is not supported with 'stream'");
  if (auto n = body.find("n"); n != body.end() && !n->is_null()) {
    if (!n->is_number_integer() || n->get<int64_t>() < 1 || n->get<int64_t>() > kMaxChoices)
      return invalid("'n' must be an integer from 1 to " + std::to_string(kMaxChoices));
    r.n = static_cast<int>(n->get<int64_t>());
  }
  // logit_bias: {"token id": bias}, as OpenAI's API takes it (ids are checked against the
  // vocabulary when the request reaches the engine).
  if (auto bias = body.find("logit_bias"); bias != body.end() && !bias->is_null()) {
    if (!bias->is_object() || bias->size() > 1024)
      return invalid("'logit_bias' must be an object of at most 1024 token ids");
    for (auto it = bias->begin(); it != bias->end(); ++it) {
      // Decimal digits only, no sign, space or leading zero: one key per token.
      const std::string &key = it.key();
      const bool digits = !key.empty() && key.size() <= 10 &&
                          key.find_first_not_of("0123456789") == std::string::npos &&
                          (key.size() == 1 || key[0] != '0');
      const long long id = digits ? std::stoll(key) : -1;
      if (!digits || id > INT32_MAX)
        return invalid("'logit_bias' keys must be token ids, got '" + key.substr(0, 32) + "'");
      if (!it.value().is_number())
        return invalid("'logit_bias' values must be numbers");
      s.logitBias.push_back({static_cast<int32_t>(id), it.value().get<float>()});
    }
  }
  if (Status st = sample::validate(s); !st)
    return st.error();
  if (auto rf = body.find("response_format"); rf != body.end() && !rf->is_null()) {
    auto type = rf->is_object() ? rf->find("type") : rf->end();
    if (!rf->is_object() || type == rf->end() || !type->is_string())
      return invalid("'response_format' must be an object with a string 'type'");
    const std::string t = type->get<std::string>();
    if (t == "json_object") {
      r.jsonObject = true;
    } else if (t == "json_schema") {
      // OpenAI's shape: {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}.
      auto js = rf->find("json_schema");
      if (js == rf->end() || !js->is_object() || !js->contains("schema"))
        return invalid("'response_format' json_schema needs \"json_schema\": {\"name\": ..., "
                       "\"schema\": {...}}");
      if (Status st = guideBySchema(r, (*js)["schema"]); !st)
        return st.error();
    } else if (t != "text")
      return invalid("'response_format' type must be 'text', 'json_object' or 'json_schema'");
    if ((r.jsonObject || r.guidedGrammar) && r.ignoreEos)
      return invalid("'response_format' " + t +
                     " ends at the end of the object; it cannot "
                     "be combined with 'ignore_eos'");
  }
  // vLLM's guided decoding: its extra parameters guided_json, guided_regex, guided_choice and
  // guided_grammar, or the same as structured_outputs {"json" | "regex" | "choice" | "grammar" |
  // "json_object": true} (its newer form); and `grammar` (GBNF) and `json_schema` (a schema),
  // as GGUF runtimes' servers take them. At most one guide per request (response_format
  // included).
  std::vector<std::pair<std::string, const Json *>> guides; // (name in errors, value)
  const bool hasFormat = body.contains("response_format") && !body["response_format"].is_null();
  for (const char *key : {"guided_json", "guided_regex", "guided_choice", "guided_grammar", "grammar",
                          "json_schema"})
    if (auto g = body.find(key); g != body.end() && !g->is_null())
      guides.push_back({key, &*g});
  if (auto so = body.find("structured_outputs"); so != body.end() && !so->is_null()) {
    if (!so->is_object())
      return invalid("'structured_outputs' must be an object");
    for (auto it = so->begin(); it != so->end(); ++it) {
      const std::string &key = it.key();
      if (it->is_null() || (key == "json_object" && *it == false))
        continue;
      if (key == "json_object" && !it->is_boolean())
        return invalid("'structured_outputs' json_object must be true or false");
      if (key != "json" && key != "regex" && key != "choice" && key != "grammar" &&
          key != "json_object")
        return invalid("'structured_outputs' " + key.substr(0, 64) +
                       " is not supported (json, regex, choice, grammar and json_object are)");
      guides.push_back({"structured_outputs " + key, &*it});
    }
  }
  if (guides.size() + (hasFormat ? 1 : 0) > 1)
    return invalid("give one guide: '" + (hasFormat ? std::string("response_format") : guides[0].first) +
                   "' and '" + guides[hasFormat ? 0 : 1].first + "' cannot be combined");
  if (!guides.empty() && r.ignoreEos)
    return invalid("'" + guides[0].first +
                   "' ends the answer where it is complete; it cannot be combined with "
                   "'ignore_eos'");
  if (!guides.empty()) {
    const std::string &name = guides[0].first;
    const Json &g = *guides[0].second;
    const std::string kind = name.rfind("guided_", 0) == 0 ? name.substr(7)
                             : name == "grammar"           ? name
                             : name == "json_schema"       ? "json"
                                                           : name.substr(name.find(' ') + 1);
    if (kind == "json" || kind == "json_object") {
      // A schema (object or its JSON text), as response_format json_schema; json_object: any.
      Json schemaJson = g;
      if (g.is_string()) {
        schemaJson = Json::parse(g.get<std::string>(), nullptr, /*allow_exceptions=*/false);
        if (schemaJson.is_discarded())
          return invalid("'" + name + "' is a string that is not JSON");
      }
      if (kind == "json") {
        if (Status st = guideBySchema(r, schemaJson); !st)
          return st.error();
      } else {
        r.jsonObject = true;
      }
    } else if (kind == "regex") { // the answer is a text the whole pattern matches
      if (!g.is_string() || g.get<std::string>().empty())
        return invalid("'" + name + "' must be a non-empty string (a regular expression)");
      Expected<std::shared_ptr<const sample::Regex>> re =
          sample::Regex::compile(g.get<std::string>(), "'" + name + "'");
      if (!re)
        return re.error();
      r.guidedRegex = *re;
    } else if (kind == "grammar") { // the answer is a text the grammar's root derives
      if (!g.is_string() || g.get<std::string>().empty())
        return invalid("'" + name + "' must be a non-empty string (a GBNF grammar)");
      Expected<std::shared_ptr<const sample::Grammar>> grammar =
          sample::Grammar::compile(g.get<std::string>(), "'" + name + "'");
      if (!grammar)
        return grammar.error();
      r.guidedGrammar = *grammar;
    } else { // choice: the answer is exactly one of these strings
      using sample::ChoiceConstraint;
      if (!g.is_array() || g.empty() || g.size() > ChoiceConstraint::kMaxChoices)
        return invalid("'" + name + "' must be an array of 1 to 64 strings");
      for (const Json &c : g) {
        if (!c.is_string() || c.get<std::string>().empty() ||
            c.get<std::string>().size() > ChoiceConstraint::kMaxChoiceBytes)
          return invalid("'" + name +
                         "' entries must be non-empty strings of at most 1024 bytes");
        r.guidedChoice.push_back(c.get<std::string>());
      }
    }
  }

  if (api == Api::Completions) {
    // logprobs: n (the chosen token and the n most likely)
    if (auto lp = body.find("logprobs"); lp != body.end() && !lp->is_null()) {
      if (!lp->is_number_integer() || lp->get<int64_t>() < 0 || lp->get<int64_t>() > 20)
        return invalid("'logprobs' must be an integer from 0 to 20");
      r.topLogprobs = static_cast<int>(lp->get<int64_t>());
    }
  } else {
    // logprobs: true, top_logprobs: n
    bool logprobs = false;
    if (Status st = optionalBool(body, "logprobs", logprobs); !st)
      return st.error();
    if (logprobs)
      r.topLogprobs = 0;
    if (auto top = body.find("top_logprobs"); top != body.end() && !top->is_null()) {
      if (!top->is_number_integer() || top->get<int64_t>() < 0 || top->get<int64_t>() > 20)
        return invalid("'top_logprobs' must be an integer from 0 to 20");
      if (!logprobs)
        return invalid("'top_logprobs' needs 'logprobs': true");
      r.topLogprobs = static_cast<int>(top->get<int64_t>());
    }
  }

  if (auto options = body.find("stream_options"); options != body.end() && !options->is_null()) {
    if (!options->is_object())
      return invalid("'stream_options' must be an object");
    if (!r.stream)
      return invalid("'stream_options' needs 'stream': true");
    if (Status st = optionalBool(*options, "include_usage", r.includeUsage); !st)
      return invalid("'stream_options.include_usage' must be true or false");
  }
  if (auto stop = body.find("stop"); stop != body.end() && !stop->is_null()) {
    Json list = stop->is_string() ? Json::array({*stop}) : *stop;
    if (!list.is_array() || list.size() > 4)
      return invalid("'stop' must be a string or an array of at most 4 strings");
    for (const Json &item : list) {
      if (!item.is_string() || item.get_ref<const std::string &>().empty())
        return invalid("'stop' strings must be non-empty strings");
      r.stops.push_back(item.get<std::string>());
    }
  }
  if (Status st = truncation(body, r.truncatePromptTokens); !st)
    return st.error();
  if (auto k = body.find("prompt_logprobs"); k != body.end() && !k->is_null()) {
    if (!k->is_number_integer() || k->get<int64_t>() < 0 || k->get<int64_t>() > 20)
      return invalid("'prompt_logprobs' must be an integer from 0 to 20");
    if (r.stream)
      return invalid("'prompt_logprobs' is not supported with 'stream'");
    r.promptLogprobs = k->get<int>();
  }
  // vLLM's min_tokens, include_stop_str_in_output, skip_special_tokens, allowed_token_ids.
  for (Status st : {optionalNumber(body, "min_tokens", r.minTokens),
                    optionalBool(body, "include_stop_str_in_output", r.includeStopStr),
                    optionalBool(body, "skip_special_tokens", r.skipSpecialTokens)})
    if (!st)
      return st.error();
  if (r.minTokens < 0 || r.minTokens > maxSeqLen || (r.maxTokens > 0 && r.minTokens > r.maxTokens))
    return invalid("'min_tokens' must be between 0 and 'max_tokens'");
  if (auto words = body.find("bad_words"); words != body.end() && !words->is_null()) {
    if (!words->is_array() || words->size() > 64)
      return invalid("'bad_words' must be an array of at most 64 strings");
    for (const Json &w : *words) {
      if (!w.is_string() || w.get_ref<const std::string &>().empty())
        return invalid("'bad_words' must hold non-empty strings");
      r.badWords.push_back(w.get<std::string>());
    }
  }
  if (auto ids = body.find("allowed_token_ids"); ids != body.end() && !ids->is_null()) {
    if (!ids->is_array() || ids->empty() || ids->size() > (1u << 20))
      return invalid("'allowed_token_ids' must be a non-empty array of token ids");
    for (const Json &id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
        return invalid("'allowed_token_ids' must hold non-negative integer token ids");
      r.allowedTokenIds.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }
  // vLLM's stop_token_ids: generating one ends the choice (finish_reason "stop").
  if (auto ids = body.find("stop_token_ids"); ids != body.end() && !ids->is_null()) {
    if (!ids->is_array() || ids->size() > 64)
      return invalid("'stop_token_ids' must be an array of at most 64 token ids");
    for (const Json &id : *ids) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
        return invalid("'stop_token_ids' must hold non-negative integer token ids");
      r.stopTokenIds.push_back(static_cast<int32_t>(id.get<int64_t>()));
    }
  }

  if (api == Api::Completions) {
    // OpenAI's forms: a string, a list of token ids (one prompt), or a list of strings or
    // of token-id lists (a batch).
    if (Status st = parsePromptForms(body, "prompt", r.prompts); !st)
      return st.error();
    if (r.prompts.size() * size_t(r.n) > size_t(kMaxBatchChoices))
      return invalid("'prompt' lists " + std::to_string(r.prompts.size()) + " prompts; with n " +
                     std::to_string(r.n) + " that is more than " +
                     std::to_string(kMaxBatchChoices) + " choices in one request");
  } else if (Status st = parseMessages(body, r.chat); !st) {
    return st.error();
  } else if (auto choice = body.find("tool_choice"); choice != body.end() && !choice->is_null()) {
    // "none" | "auto" | "required" | {"type": "function", "function": {"name": ...}}
    if (choice->is_string() && (*choice == "none" || *choice == "auto")) {
      r.toolChoice = choice->get<std::string>();
    } else if (choice->is_string() && *choice == "required") {
      // At least one call (vLLM's "required"): the answer is one call of a declared function,
      // {"name": ..., "arguments": ...}, guided by a tagged union of the functions' names and
      // parameter schemas.
      r.toolChoice = "required";
      if (Status st = guideToolCall(r, ""); !st)
        return st.error();
    } else if (choice->is_object() && choice->contains("function") &&
               (*choice)["function"].is_object() && (*choice)["function"].contains("name") &&
               (*choice)["function"]["name"].is_string()) {
      r.toolChoice = "function";
      r.toolChoiceName = (*choice)["function"]["name"].get<std::string>();
      // A named function is forced (as vLLM does): the answer is its arguments, guided by
      // its parameters' schema, and comes back as a call to it.
      if (Status st = guideToolCall(r, r.toolChoiceName); !st)
        return st.error();
      r.forcedTool = r.toolChoiceName;
    } else {
      return invalid("'tool_choice' must be \"none\", \"auto\", \"required\" or "
                     "{\"type\": \"function\", \"function\": {\"name\": ...}}");
    }
  }
  return r;
}

} // namespace

// JSON nested deeper than this is refused before it is parsed: copying a value recurses.
constexpr int kMaxNesting = 64;

Status checkNesting(std::string_view body) {
  int depth = 0;
  bool inString = false, escaped = false;
  for (char c : body) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxNesting)
        return invalid("the body nests arrays and objects more than " +
                       std::to_string(kMaxNesting) + " deep");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return Status::success();
}

Expected<GenerationRequest> parseGenerationRequest(Api api, std::string_view body,
                                                   int64_t maxSeqLen) {
  if (Status s = checkNesting(body); !s)
    return s.error();
  // Object keys keep the client's order: chat templates may print messages.
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded())
    return invalid("the body is not a JSON object");
  try {
    return parse(api, json, maxSeqLen);
  } catch (const nlohmann::json::exception &e) {
    // Every access above is type-checked first; this is a backstop, never an abort.
    return invalid(std::string("the body could not be read: ") + e.what());
  }
}

namespace {

// The body as a JSON object, or why not (too deep, not JSON, not an object).
Expected<Json> parseBody(std::string_view body) {
  if (Status s = checkNesting(body); !s)
    return s.error();
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object())
    return invalid("the body is not a JSON object");
  return json;
}

} // namespace

Expected<TokenizeRequest> parseTokenizeRequest(std::string_view body) {
  Expected<Json> json = parseBody(body);
  if (!json)
    return json.error();
  try {
    TokenizeRequest r;
    const bool hasPrompt = json->contains("prompt"), hasMessages = json->contains("messages");
    if (hasPrompt == hasMessages)
      return invalid("give either 'prompt' (a string) or 'messages'");
    if (hasPrompt) {
      const Json &p = (*json)["prompt"];
      if (!p.is_string())
        return invalid("'prompt' must be a string");
      r.prompt = p.get<std::string>();
    } else {
      r.chat = true;
      r.addSpecial = false; // the chat template writes BOS itself
      r.messages.addGenerationPrompt = true;
      if (Status s = parseMessages(*json, r.messages); !s)
        return s.error();
    }
    if (Status s = optionalBool(*json, "add_special_tokens", r.addSpecial); !s)
      return s.error();
    if (Status s = optionalBool(*json, "return_token_strs", r.returnTokenStrs); !s)
      return s.error();
    return r;
  } catch (const nlohmann::json::exception &e) {
    return invalid(std::string("the body could not be read: ") + e.what());
  }
}

namespace {

// vLLM's truncate_prompt_tokens: -1 (to max_seq_len) or k >= 1 (the last k tokens).
Status truncation(const Json &body, int64_t &out) {
  if (Status s = optionalNumber(body, "truncate_prompt_tokens", out); !s)
    return s;
  if (out < -1 || (out == 0 && body.contains("truncate_prompt_tokens") &&
                   !body["truncate_prompt_tokens"].is_null()))
    return invalid("'truncate_prompt_tokens' must be -1 (max_seq_len) or at least 1");
  return Status::success();
}

// A string field, or a list of strings (or of {"text": string} objects, with `objects`):
// non-empty texts, at most kMaxEmbeddingInputs.
Status textList(const Json &body, const char *key, bool allowOne, bool objects,
                std::vector<PromptInput> &out) {
  auto it = body.find(key);
  const std::string name = std::string("'") + key + "'";
  const Error form = invalid(name + " must be " + (allowOne ? "a string or " : "") +
                             "a non-empty list of strings" +
                             (objects ? " (or of {\"text\": string} objects)" : ""));
  if (it == body.end() || it->is_null())
    return invalid(name + " is missing");
  if (it->is_string() && allowOne) {
    out.push_back({it->get<std::string>(), {}});
  } else if (!it->is_array() || it->empty()) {
    return form;
  } else {
    for (const Json &item : *it) {
      if (item.is_string())
        out.push_back({item.get<std::string>(), {}});
      else if (objects && item.is_object() && item.contains("text") && item["text"].is_string())
        out.push_back({item["text"].get<std::string>(), {}});
      else
        return form;
    }
  }
  if (out.size() > size_t(kMaxEmbeddingInputs))
    return invalid(name + " lists " + std::to_string(out.size()) + " texts; at most " +
                   std::to_string(kMaxEmbeddingInputs));
  for (size_t i = 0; i < out.size(); ++i)
    if (out[i].text.empty())
      return invalid(name + (out.size() > 1 ? " " + std::to_string(i) : "") +
                     ": an empty string cannot be scored");
  return Status::success();
}

} // namespace

Expected<EmbeddingRequest> parseEmbeddingRequest(std::string_view body, bool classify) {
  Expected<Json> json = parseBody(body);
  if (!json)
    return json.error();
  try {
    EmbeddingRequest r;
    if (json->contains("input") == json->contains("messages"))
      return invalid("give either 'input' or 'messages'");
    if (json->contains("messages")) {
      r.chat = true;
      r.addSpecial = false; // the chat template writes its special tokens
      r.messages.addGenerationPrompt = false;
      if (Status s = parseMessages(*json, r.messages); !s)
        return s.error();
    } else if (Status s = parsePromptForms(*json, "input", r.inputs); !s) {
      return s.error();
    }
    if (r.inputs.size() > size_t(kMaxEmbeddingInputs))
      return invalid("'input' lists " + std::to_string(r.inputs.size()) + " inputs; at most " +
                     std::to_string(kMaxEmbeddingInputs) + " in one request");
    for (size_t i = 0; i < r.inputs.size(); ++i)
      if (r.inputs[i].tokens.empty() && r.inputs[i].text.empty())
        return invalid("'input'" + (r.inputs.size() > 1 ? " " + std::to_string(i) : "") +
                       (classify ? ": an empty string has nothing to classify"
                                 : ": an empty string has no embedding"));
    if (Status s = optionalString(*json, "model", r.model); !s)
      return s.error();
    if (classify) {
      for (const char *key : {"encoding_format", "dimensions"})
        if (json->contains(key) && !(*json)[key].is_null())
          return invalid("'" + std::string(key) + "' applies to /v1/embeddings, not /classify");
      // vLLM's use_activation, and the older names it still reads.
      for (const char *key : {"activation", "softmax", "use_activation"})
        if (Status s = optionalBool(*json, key, r.useActivation); !s)
          return s.error();
      if (Status s = truncation(*json, r.truncatePromptTokens); !s)
        return s.error();
      if (Status s = optionalBool(*json, "add_special_tokens", r.addSpecial); !s)
        return s.error();
      return r;
    }
    std::string format = "float";
    if (Status s = optionalString(*json, "encoding_format", format); !s)
      return s.error();
    if (format != "float" && format != "base64")
      return invalid("'encoding_format' must be \"float\" or \"base64\"");
    r.base64 = format == "base64";
    if (Status s = optionalNumber(*json, "dimensions", r.dimensions); !s)
      return s.error();
    if (json->contains("dimensions") && !(*json)["dimensions"].is_null() && r.dimensions < 1)
      return invalid("'dimensions' must be at least 1");
    if (Status s = truncation(*json, r.truncatePromptTokens); !s)
      return s.error();
    if (Status s = optionalBool(*json, "add_special_tokens", r.addSpecial); !s)
      return s.error();
    return r;
  } catch (const nlohmann::json::exception &e) {
    return invalid(std::string("the body could not be read: ") + e.what());
  }
}

Expected<ScoreRequest> parseScoreRequest(std::string_view body, bool rerank) {
  Expected<Json> json = parseBody(body);
  if (!json)
    return json.error();
  try {
    ScoreRequest r;
    r.rerank = rerank;
    if (rerank) {
      auto query = json->find("query");
      if (query == json->end() || !query->is_string())
        return invalid("'query' must be a string");
      r.queries.push_back({query->get<std::string>(), {}});
      if (r.queries[0].text.empty())
        return invalid("'query': an empty string cannot be scored");
      if (Status s = textList(*json, "documents", false, true, r.documents); !s)
        return s.error();
      if (Status s = optionalNumber(*json, "top_n", r.topN); !s)
        return s.error();
      if (r.topN < 0)
        return invalid("'top_n' must be at least 0 (0: every document)");
      if (Status s = optionalBool(*json, "return_documents", r.returnDocuments); !s)
        return s.error();
    } else {
      if (Status s = textList(*json, "text_1", true, false, r.queries); !s)
        return s.error();
      if (Status s = textList(*json, "text_2", true, false, r.documents); !s)
        return s.error();
      if (r.queries.size() > 1 && r.queries.size() != r.documents.size())
        return invalid("'text_1' lists " + std::to_string(r.queries.size()) +
                       " texts and 'text_2' " + std::to_string(r.documents.size()) +
                       ": pairs need lists of one length (or one text_1)");
    }
    if (Status s = optionalString(*json, "model", r.model); !s)
      return s.error();
    if (Status s = truncation(*json, r.truncatePromptTokens); !s)
      return s.error();
    for (const char *key : {"activation", "use_activation"})
      if (Status s = optionalBool(*json, key, r.useActivation); !s)
        return s.error();
    return r;
  } catch (const nlohmann::json::exception &e) {
    return invalid(std::string("the body could not be read: ") + e.what());
  }
}

Expected<std::vector<int32_t>> pairPrompt(const Tokenizer &tokenizer,
                                          const plan::Classifier &classifier,
                                          std::string_view query, std::string_view document,
                                          int64_t keep, std::vector<int32_t> *types) {
  Expected<std::vector<int32_t>> ids = pairPrompt(tokenizer, classifier, query, document, types);
  if (!ids || keep < 0 || int64_t(ids->size()) <= keep)
    return ids;
  // The document's first m tokens, its text cut there and the pair encoded again, m shrunk
  // by what is still over (a cut text may encode to other tokens: a few rounds).
  EncodeOptions plain;
  plain.parseSpecial = true;
  Expected<std::vector<int32_t>> doc = tokenizer.encode(document, plain);
  if (!doc)
    return doc.error();
  int64_t m = int64_t(doc->size());
  for (int round = 0; round < 8 && int64_t(ids->size()) > keep && m > 0; ++round) {
    m = std::max<int64_t>(0, m - (int64_t(ids->size()) - keep));
    Expected<std::string> cut =
        tokenizer.decode(std::vector<int32_t>(doc->begin(), doc->begin() + m));
    if (!cut)
      return cut.error();
    ids = pairPrompt(tokenizer, classifier, query, *cut, types);
    if (!ids)
      return ids;
  }
  if (int64_t(ids->size()) > keep)
    return Error(ErrorCode::InvalidArgument,
                 "the query takes " + std::to_string(ids->size()) +
                     " tokens with what joins it to a document, more than the " +
                     std::to_string(keep) + " allowed (truncation cuts documents, not queries)");
  return ids;
}

Expected<std::vector<int32_t>> pairPrompt(const Tokenizer &tokenizer,
                                          const plan::Classifier &classifier,
                                          std::string_view query, std::string_view document,
                                          std::vector<int32_t> *types) {
  if (types)
    types->clear();
  EncodeOptions encode;
  encode.parseSpecial = true;
  encode.addSpecial = classifier.pairTemplate.empty(); // a template writes its own
  // (modelc gives a classifier that takes token types neither a template nor one text.)
  if (!classifier.pairTemplate.empty())
    return tokenizer.encode(classifier.applyPairTemplate(query, document), encode);
  if (classifier.pairEncoding)
    return tokenizer.encodePair(query, document, encode,
                                classifier.tokenTypes > 0 ? types : nullptr);
  return tokenizer.encode(std::string(query) + std::string(document), encode);
}

std::vector<int32_t> truncateLeft(std::vector<int32_t> ids, const std::vector<int32_t> *bare,
                                  int64_t keep) {
  if (keep < 0 || int64_t(ids.size()) <= keep)
    return ids;
  size_t head = 0, tail = 0;
  if (bare && bare->size() < ids.size()) {
    const size_t extra = ids.size() - bare->size();
    while (head <= extra && !std::equal(bare->begin(), bare->end(), ids.begin() + long(head)))
      ++head;
    if (head > extra)
      head = 0; // not inside: no specials known
    else
      tail = extra - head;
  }
  if (int64_t(head + tail) >= keep) {
    ids.erase(ids.begin(), ids.end() - keep);
    return ids;
  }
  const size_t text = size_t(keep) - head - tail;
  ids.erase(ids.begin() + long(head), ids.end() - long(tail + text));
  return ids;
}

Expected<std::vector<int32_t>> parseDetokenizeRequest(std::string_view body) {
  Expected<Json> json = parseBody(body);
  if (!json)
    return json.error();
  auto tokens = json->find("tokens");
  if (tokens == json->end() || !tokens->is_array())
    return invalid("'tokens' must be an array of token ids");
  std::vector<int32_t> ids;
  for (const Json &t : *tokens) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
      return invalid("'tokens' must be an array of token ids (integers >= 0)");
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return ids;
}

} // namespace modelrt::server
