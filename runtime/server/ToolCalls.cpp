#include "runtime/server/ToolCalls.h"

namespace modelrt::server {
namespace {

using Json = nlohmann::json;

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// {"name": string, "arguments" | "parameters": object or JSON string} -> a call.
bool toCall(const std::string &text, ToolCall &call) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    return false;
  auto name = j.find("name");
  if (name == j.end() || !name->is_string() || name->get_ref<const std::string &>().empty())
    return false;
  auto args = j.find("arguments");
  if (args == j.end())
    args = j.find("parameters");
  Json arguments = Json::object();
  if (args != j.end() && !args->is_null()) {
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

ExtractedToolCalls hermes(const std::string &text) {
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
    if (toCall(text.substr(b + open.size(), e - b - open.size()), call)) {
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

ExtractedToolCalls llama3Json(const std::string &text) {
  static const std::string tag = "<|python_tag|>";
  ExtractedToolCalls out;
  std::string body = trim(text);
  if (body.compare(0, tag.size(), tag) == 0)
    body = trim(body.substr(tag.size()));
  if (body.empty() || body[0] != '{') {
    out.content = trim(text);
    return out;
  }
  // Objects joined by ';' (a ';' inside a string is skipped by trying the longest parses).
  std::vector<ToolCall> calls;
  size_t at = 0;
  while (at < body.size()) {
    size_t end = body.size();
    ToolCall call;
    bool found = false;
    for (size_t semi = body.find(';', at);; semi = body.find(';', semi + 1)) {
      size_t stop = semi == std::string::npos ? body.size() : semi;
      if (toCall(body.substr(at, stop - at), call)) {
        end = stop;
        found = true;
        break;
      }
      if (semi == std::string::npos)
        break;
    }
    if (!found) {
      out.content = trim(text);
      return out;
    }
    calls.push_back(std::move(call));
    at = body.find_first_not_of(" \t\r\n", end + 1);
    if (at == std::string::npos)
      break;
  }
  out.calls = std::move(calls);
  return out;
}

} // namespace

Expected<ToolCallParser> parseToolCallParser(const std::string &name) {
  if (name.empty() || name == "none")
    return ToolCallParser::None;
  if (name == "hermes")
    return ToolCallParser::Hermes;
  if (name == "llama3_json")
    return ToolCallParser::Llama3Json;
  return Error(ErrorCode::InvalidArgument,
               "unknown tool call parser '" + name + "' (hermes, llama3_json)");
}

ExtractedToolCalls extractToolCalls(ToolCallParser parser, const std::string &text) {
  switch (parser) {
  case ToolCallParser::Hermes:
    return hermes(text);
  case ToolCallParser::Llama3Json:
    return llama3Json(text);
  case ToolCallParser::None:
    break;
  }
  return {text, {}};
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
