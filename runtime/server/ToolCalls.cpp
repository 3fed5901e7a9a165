#include "runtime/server/ToolCalls.h"

#include <algorithm>

namespace modelrt::server {
namespace {

using Json = nlohmann::json;

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// {"name": one of names, "arguments" | "parameters": object or JSON string} -> a call.
bool toCall(const std::string &text, const std::vector<std::string> &names, ToolCall &call) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    return false;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() ||
      std::find(names.begin(), names.end(), name->get_ref<const std::string &>()) == names.end())
    return false;
  auto args = j.find("arguments");
  if (args == j.end())
    args = j.find("parameters");
  if (args == j.end())
    return false;
  Json arguments = Json::object();
  if (!args->is_null()) {
    if (args->is_string()) {
      arguments = Json::parse(args->get<std::string>(), nullptr, false);
      if (!arguments.is_object())
        return false;
    } else if (args->is_object()) {
      arguments = *args;
    } else {
      return false;
    }
  }
  call.name = name->get<std::string>();
  call.arguments = arguments.dump(-1, ' ', false, Json::error_handler_t::replace);
  return true;
}

// The end (one past the closing brace) of the JSON object starting at text[at] == '{',
// skipping braces inside strings; npos when it does not close.
size_t objectEnd(const std::string &text, size_t at) {
  int depth = 0;
  bool inString = false;
  for (size_t i = at; i < text.size(); ++i) {
    const char ch = text[i];
    if (inString) {
      if (ch == '\\')
        ++i;
      else if (ch == '"')
        inString = false;
    } else if (ch == '"') {
      inString = true;
    } else if (ch == '{') {
      ++depth;
    } else if (ch == '}' && --depth == 0) {
      return i + 1;
    }
  }
  return std::string::npos;
}

ExtractedToolCalls tagged(const std::string &text, const std::vector<std::string> &names) {
  static const std::string open = "<tool_call>", close = "</tool_call>";
  ExtractedToolCalls out;
  std::string content;
  size_t at = 0;
  while (true) {
    size_t b = text.find(open, at);
    if (b == std::string::npos)
      break;
    size_t e = text.find(close, b + open.size());
    // An unclosed block (the answer was cut off) is kept whole as content.
    if (e == std::string::npos)
      break;
    ToolCall call;
    if (toCall(text.substr(b + open.size(), e - b - open.size()), names, call)) {
      content += text.substr(at, b - at);
      out.calls.push_back(std::move(call));
    } else {
      content += text.substr(at, e + close.size() - at);
    }
    at = e + close.size();
  }
  content += text.substr(at);
  out.content = trim(content);
  return out;
}

ExtractedToolCalls jsonObjects(const std::string &text, const std::vector<std::string> &names) {
  static const std::string tag = "<|python_tag|>";
  ExtractedToolCalls out;
  std::string body = trim(text);
  if (body.compare(0, tag.size(), tag) == 0)
    body = trim(body.substr(tag.size()));
  // Objects joined by ';', each found by its matching brace (one pass over the text).
  std::vector<ToolCall> calls;
  size_t at = 0;
  while (at < body.size()) {
    ToolCall call;
    const size_t end = body[at] == '{' ? objectEnd(body, at) : std::string::npos;
    if (end == std::string::npos || !toCall(body.substr(at, end - at), names, call)) {
      out.content = trim(text);
      return out;
    }
    calls.push_back(std::move(call));
    at = body.find_first_not_of(" \t\r\n", end);
    if (at == std::string::npos)
      break;
    if (body[at] != ';') {
      out.content = trim(text);
      return out;
    }
    at = body.find_first_not_of(" \t\r\n", at + 1);
    if (at == std::string::npos)
      break;
  }
  if (calls.empty())
    out.content = trim(text);
  out.calls = std::move(calls);
  return out;
}

} // namespace

Expected<ToolCallParser> parseToolCallParser(const std::string &name) {
  if (name.empty() || name == "none")
    return ToolCallParser::None;
  if (name == "tag")
    return ToolCallParser::Tag;
  if (name == "json")
    return ToolCallParser::Json;
  return Error(ErrorCode::InvalidArgument, "unknown tool call parser '" + name + "' (tag, json)");
}

ExtractedToolCalls extractToolCalls(ToolCallParser parser, const std::string &text,
                                    const std::vector<std::string> &toolNames) {
  switch (parser) {
  case ToolCallParser::Tag:
    return tagged(text, toolNames);
  case ToolCallParser::Json:
    return jsonObjects(text, toolNames);
  case ToolCallParser::None:
    break;
  }
  return {text, {}};
}

std::optional<ToolCall> checkedToolCall(const std::string &name, std::string_view arguments,
                                        const std::vector<std::string> &toolNames) {
  if (std::find(toolNames.begin(), toolNames.end(), name) == toolNames.end())
    return std::nullopt;
  Json args = Json::parse(arguments, nullptr, /*allow_exceptions=*/false);
  if (!args.is_object())
    return std::nullopt;
  return ToolCall{name, args.dump(-1, ' ', false, Json::error_handler_t::replace)};
}

std::vector<std::string> toolNames(const nlohmann::ordered_json &tools) {
  std::vector<std::string> names;
  if (!tools.is_array())
    return names;
  for (const auto &tool : tools)
    if (tool.is_object() && tool.contains("function") && tool["function"].is_object() &&
        tool["function"].contains("name") && tool["function"]["name"].is_string())
      names.push_back(tool["function"]["name"].get<std::string>());
  return names;
}

nlohmann::json toolCallsJson(const std::vector<ToolCall> &calls, const std::string &idPrefix) {
  Json out = Json::array();
  for (size_t i = 0; i < calls.size(); ++i)
    out.push_back({{"id", "call_" + idPrefix + "_" + std::to_string(i)},
                   {"type", "function"},
                   {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}});
  return out;
}

} // namespace modelrt::server
