#include "runtime/template/ChatTemplate.h"
#include "runtime/template/Interpreter.h"
#include "runtime/template/Parser.h"
#include "runtime/template/PyText.h"

#include <new>

namespace modelrt::tmpl {

struct ChatTemplate::Impl {
  std::string source;
  Program program;
};

namespace {

// JSON from a request is bounded by its parser; this bounds what a caller builds by hand.
constexpr int kMaxContextDepth = 128;

template <typename Json> Value fromJson(const Json &j, int depth) {
  if (depth > kMaxContextDepth)
    throw Failure{ErrorCode::InvalidArgument,
                  "context nested deeper than " + std::to_string(kMaxContextDepth) + " levels"};
  switch (j.type()) {
  case Json::value_t::null:
  case Json::value_t::discarded:
    return Value::none();
  case Json::value_t::boolean:
    return Value::boolean(j.template get<bool>());
  case Json::value_t::number_integer:
    return Value::integer(j.template get<int64_t>());
  case Json::value_t::number_unsigned: {
    uint64_t u = j.template get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX))
      return Value::real(static_cast<double>(u));
    return Value::integer(static_cast<int64_t>(u));
  }
  case Json::value_t::number_float:
    return Value::real(j.template get<double>());
  case Json::value_t::string:
    return Value::string(j.template get<std::string>());
  case Json::value_t::array: {
    std::vector<Value> items;
    items.reserve(j.size());
    for (const auto &item : j)
      items.push_back(fromJson(item, depth + 1));
    return Value::list(std::move(items));
  }
  case Json::value_t::object: {
    auto d = std::make_shared<DictData>();
    for (auto it = j.begin(); it != j.end(); ++it)
      d->set(it.key(), fromJson(it.value(), depth + 1));
    return Value::dict(std::move(d));
  }
  case Json::value_t::binary:
    break;
  }
  throw Failure{ErrorCode::InvalidArgument, "binary values cannot be passed to a chat template"};
}

template <typename Json>
Expected<std::string> renderWith(const ChatTemplate::Impl &impl, const Json &context,
                                 const RenderLimits &limits) {
  if (!context.is_object())
    return Error(ErrorCode::InvalidArgument, "chat template context must be a JSON object");
  std::string out;
  // Declared first so that it outlives every value charged to it.
  MemoryBudget budget;
  budget.limit = limits.maxMemoryBytes;
  try {
    Frame root;
    for (auto it = context.begin(); it != context.end(); ++it)
      root.set(it.key(), fromJson(it.value(), 1));
    MemoryScope scope(budget); // the caller's context is not charged
    Interpreter interpreter(limits, out);
    interpreter.run(impl.program, root);
  } catch (const Failure &f) {
    return Error(f.code, f.message);
  } catch (const std::bad_alloc &) {
    return Error(ErrorCode::ResourceExhausted, "out of memory while rendering the chat template");
  }
  return out;
}

} // namespace

Expected<ChatTemplate> ChatTemplate::parse(std::string source) {
  auto impl = std::make_shared<Impl>();
  impl->source = std::move(source);
  try {
    std::string normalized = normalizeSource(impl->source);
    impl->program = parseProgram(tokenize(normalized));
  } catch (const Failure &f) {
    return Error(f.code, "chat template: " + f.message);
  } catch (const std::bad_alloc &) {
    return Error(ErrorCode::ResourceExhausted, "out of memory while parsing the chat template");
  }
  return ChatTemplate(std::move(impl));
}

Expected<std::string> ChatTemplate::render(const nlohmann::ordered_json &context,
                                           const RenderLimits &limits) const {
  return renderWith(*impl_, context, limits);
}

Expected<std::string> ChatTemplate::render(const nlohmann::json &context,
                                           const RenderLimits &limits) const {
  return renderWith(*impl_, context, limits);
}

const std::string &ChatTemplate::source() const { return impl_->source; }

nlohmann::ordered_json chatContext(const ChatRequest &request) {
  using json = nlohmann::ordered_json;
  json messages = json::array();
  if (request.messages.is_array()) {
    for (const auto &message : request.messages) {
      if (!message.is_object()) {
        messages.push_back(message);
        continue;
      }
      json normalized = json::object();
      for (auto it = message.begin(); it != message.end(); ++it)
        if (!it.value().is_null())
          normalized[it.key()] = it.value();
      // transformers reads a message's reasoning under several names and passes it as both
      // `thinking` (first) and `reasoning_content`.
      const json *reasoning = nullptr;
      for (const char *key : {"reasoning_content", "thinking", "reasoning"})
        if (normalized.contains(key)) {
          reasoning = &normalized[key];
          break;
        }
      if (reasoning) {
        json aliased = json::object();
        aliased["thinking"] = *reasoning;
        json value = *reasoning;
        for (auto it = normalized.begin(); it != normalized.end(); ++it)
          aliased[it.key()] = it.value();
        aliased["reasoning_content"] = value;
        normalized = std::move(aliased);
      }
      messages.push_back(std::move(normalized));
    }
  }
  json context = json::object();
  context["messages"] = std::move(messages);
  context["tools"] = request.tools;
  context["documents"] = request.documents;
  context["add_generation_prompt"] = request.addGenerationPrompt;
  if (!request.bosToken.empty())
    context["bos_token"] = request.bosToken;
  if (!request.eosToken.empty())
    context["eos_token"] = request.eosToken;
  if (request.extra.is_object())
    for (auto it = request.extra.begin(); it != request.extra.end(); ++it)
      context[it.key()] = it.value();
  return context;
}

} // namespace modelrt::tmpl
