// Tool calls in generated text: a chat model asked to call tools answers in one of two
// formats, which the server turns into OpenAI's `tool_calls`. The formats are named by
// their shape; which one a model writes is the operator's choice (modelrt serve maps
// vLLM's --tool-call-parser names onto them).
//   tag:  <tool_call>{"name": "f", "arguments": {...}}</tool_call>, any number, in text
//   json: {"name": "f", "parameters": {...}}, several joined by ';', optionally after a
//         <|python_tag|> marker, and nothing else
#pragma once

#include "runtime/support/Error.h"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt::server {

enum class ToolCallParser { None, Tag, Json };

// "tag", "json", or "" / "none".
Expected<ToolCallParser> parseToolCallParser(const std::string &name);

struct ToolCall {
  std::string name;
  std::string arguments; // a JSON object, serialized (OpenAI sends it as a string)
};

struct ExtractedToolCalls {
  std::string content; // the text outside the calls, trimmed
  std::vector<ToolCall> calls;
};

// Splits text into content and the calls written in the parser's format. A call needs a
// name among `toolNames` (the request's tools) and "arguments" (or "parameters"); whatever
// does not parse as one stays content, so nothing generated is lost. Linear in the text.
ExtractedToolCalls extractToolCalls(ToolCallParser parser, const std::string &text,
                                    const std::vector<std::string> &toolNames);

// A call to `name` with the arguments as the model wrote them (a JSON object), when `name`
// is among `toolNames` and the arguments parse; nullopt otherwise.
std::optional<ToolCall> checkedToolCall(const std::string &name, std::string_view arguments,
                                        const std::vector<std::string> &toolNames);

// The function names declared in a request's `tools` array.
std::vector<std::string> toolNames(const nlohmann::ordered_json &tools);

// OpenAI's `tool_calls` array for the calls; ids are `call_<prefix>_<i>`.
nlohmann::json toolCallsJson(const std::vector<ToolCall> &calls, const std::string &idPrefix);

} // namespace modelrt::server
