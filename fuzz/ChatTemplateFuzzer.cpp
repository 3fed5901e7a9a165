// Chat templates on arbitrary bytes: parsing must fail cleanly or yield a template that renders
// (or fails) within small limits over a conversation with tools, never crashing or hanging.
#include "runtime/template/ChatTemplate.h"

#include <cstddef>
#include <cstdint>
#include <string>

using namespace modelrt;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const nlohmann::ordered_json context = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "h\u00e9llo \ud83e\udd99 {{ x }}"},
      {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call12345", "type": "function",
         "function": {"name": "f", "arguments": {"a": 1, "b": [true, null, 2.5]}}}]},
      {"role": "tool", "content": "42"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
    "documents": null, "add_generation_prompt": true,
    "bos_token": "<s>", "eos_token": "</s>"})");
  Expected<tmpl::ChatTemplate> parsed =
      tmpl::ChatTemplate::parse(std::string(reinterpret_cast<const char *>(data), size));
  if (!parsed)
    return 0;
  tmpl::RenderLimits limits;
  limits.maxOutputBytes = 1 << 16;
  limits.maxMemoryBytes = 4 << 20;
  limits.maxSteps = 100000;
  (void)parsed->render(context, limits);
  return 0;
}
