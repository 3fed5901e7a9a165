// Chat templates: the Jinja programs Hugging Face models ship (tokenizer_config.json
// "chat_template", GGUF tokenizer.chat_template) that turn a message list into the prompt.
// Rendering matches transformers' apply_chat_template byte for byte: the same sandboxed
// Jinja settings (trim_blocks, lstrip_blocks, loop controls), its tojson, raise_exception
// and strftime_now, and Python's semantics for the values templates compute with.
//
//   Expected<ChatTemplate> tmpl = ChatTemplate::parse(tokenizer->chatTemplate());
//   ChatRequest request;
//   request.messages = body["messages"];
//   request.bosToken = "<s>";
//   Expected<std::string> prompt = tmpl->render(chatContext(request));
//
// A template that calls raise_exception("...") fails to render with exactly that message
// (code InvalidArgument); other render errors start with "line N: ". Every render is bounded
// by RenderLimits, so a hostile template returns an error instead of hanging or crashing.
// A ChatTemplate is immutable once parsed; render may run on many threads at once.
// The supported subset of Jinja is listed in docs/chat-templates.md.
#pragma once

#include "runtime/support/Error.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace modelrt::tmpl {

struct RenderLimits {
  size_t maxOutputBytes = 8u << 20;   // the prompt, and any one string built on the way
  size_t maxMemoryBytes = 128u << 20; // strings and lists the template holds at once
  uint64_t maxSteps = 5'000'000;      // loop iterations, calls, elements and bytes copied
  unsigned maxCallDepth = 64;         // nested macro calls
};

class ChatTemplate {
public:
  // Parses once; a syntax error names the line and column and what is wrong.
  static Expected<ChatTemplate> parse(std::string source);

  // Renders with `context` as the template's variables. Object keys keep their order (as
  // in a Python dict), which `tojson` and `items()` show.
  Expected<std::string> render(const nlohmann::ordered_json &context,
                               const RenderLimits &limits = {}) const;
  // The same for a sorted-key json; its objects iterate in key order.
  Expected<std::string> render(const nlohmann::json &context,
                               const RenderLimits &limits = {}) const;

  const std::string &source() const;

  struct Impl;

private:
  explicit ChatTemplate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// The variables transformers' apply_chat_template(messages, tools=..., add_generation_prompt=...,
// **kwargs) gives a template.
struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;     // null when the request has none
  nlohmann::ordered_json documents; // null when the request has none
  bool addGenerationPrompt = true;
  std::string bosToken; // empty: not passed (the tokenizer has none)
  std::string eosToken;
  // chat_template_kwargs and other extras; they override the variables above.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

// {messages, tools, documents, add_generation_prompt, bos_token, eos_token, ...extra}, with
// messages normalized as transformers does: keys whose value is null are dropped, and a
// message's reasoning (reasoning_content, thinking or reasoning) is also given as
// `thinking` and `reasoning_content`.
nlohmann::ordered_json chatContext(const ChatRequest &request);

} // namespace modelrt::tmpl
