// Tool calls read from generated text in the two formats ("tag" and "json": what vLLM's
// hermes and llama3_json parsers take); whatever does not parse stays content.
#include "runtime/server/ToolCalls.h"

#include <gtest/gtest.h>

using namespace modelrt;
using namespace modelrt::server;

namespace {

const std::vector<std::string> kNames = {"get_weather", "now", "f", "a", "b"};

ExtractedToolCalls extract(ToolCallParser parser, const std::string &text) {
  return extractToolCalls(parser, text, kNames);
}

TEST(ToolCalls, TagBlocksBecomeCallsAndTheRestContent) {
  ExtractedToolCalls x = extract(
      ToolCallParser::Tag,
      "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>\n<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>");
  ASSERT_EQ(x.calls.size(), 2u);
  EXPECT_EQ(x.calls[0].name, "get_weather");
  EXPECT_EQ(x.calls[0].arguments, R"({"city":"Paris"})");
  EXPECT_EQ(x.calls[1].name, "now");
  EXPECT_EQ(x.calls[1].arguments, "{}");
  EXPECT_EQ(x.content, "Let me check.");
  // Arguments given as a JSON string are taken as that object.
  x = extract(ToolCallParser::Tag,
              R"(<tool_call>{"name": "f", "arguments": "{\"a\": 1}"}</tool_call>)");
  ASSERT_EQ(x.calls.size(), 1u);
  EXPECT_EQ(x.calls[0].arguments, R"({"a":1})");
}

TEST(ToolCalls, TagKeepsWhatDoesNotParse) {
  const std::string text = "<tool_call>{\"name\": \"f\", \"arguments\": {</tool_call> and "
                           "<tool_call>{\"arguments\": {}}</tool_call> then <tool_call>{\"name\"";
  ExtractedToolCalls x = extract(ToolCallParser::Tag, text);
  EXPECT_TRUE(x.calls.empty());
  EXPECT_EQ(x.content, text);
  EXPECT_TRUE(extract(ToolCallParser::Tag, "plain answer").calls.empty());
}

TEST(ToolCalls, JsonObjectsJoinedBySemicolons) {
  ExtractedToolCalls x = extract(
      ToolCallParser::Json,
      "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"q\": \"x; y\"}}; {\"name\": \"b\", "
      "\"parameters\": {}}");
  ASSERT_EQ(x.calls.size(), 2u);
  EXPECT_EQ(x.calls[0].name, "a");
  EXPECT_EQ(x.calls[0].arguments, R"({"q":"x; y"})");
  EXPECT_EQ(x.calls[1].name, "b");
  EXPECT_EQ(x.content, "");
  // Not a call: the text is the answer.
  x = extract(ToolCallParser::Json, "{ not json");
  EXPECT_TRUE(x.calls.empty());
  EXPECT_EQ(x.content, "{ not json");
  x = extract(ToolCallParser::Json, "The weather is fine.");
  EXPECT_TRUE(x.calls.empty());
  EXPECT_EQ(x.content, "The weather is fine.");
}

TEST(ToolCalls, OnlyDeclaredToolsWithArgumentsAreCalls) {
  // A JSON answer is not a call unless it names a declared tool and has arguments.
  EXPECT_TRUE(extract(ToolCallParser::Json, R"({"name": "Alice", "age": 3})").calls.empty());
  EXPECT_TRUE(extract(ToolCallParser::Json, R"({"name": "now"})").calls.empty());
  EXPECT_EQ(extract(ToolCallParser::Json, R"({"name": "now", "parameters": null})").calls.size(),
            1u);
  EXPECT_TRUE(
      extract(ToolCallParser::Tag, R"(<tool_call>{"name": "x", "arguments": {}}</tool_call>)")
          .calls.empty());
  // Braces and semicolons inside strings; linear time on a long argument.
  ExtractedToolCalls x = extract(
      ToolCallParser::Json,
      R"({"name": "f", "parameters": {"code": "if (a) { b; } \"}\"; c;"}};{"name": "now", "parameters": {}})");
  ASSERT_EQ(x.calls.size(), 2u);
  EXPECT_EQ(x.calls[0].arguments, R"({"code":"if (a) { b; } \"}\"; c;"})");
  std::string longArg =
      R"({"name": "f", "parameters": {"s": ")" + std::string(200000, ';') + R"("}})";
  EXPECT_EQ(extract(ToolCallParser::Json, longArg).calls.size(), 1u);
  EXPECT_EQ(toolNames(nlohmann::ordered_json::parse(
                R"([{"type": "function", "function": {"name": "g"}}, {"type": "x"}])")),
            std::vector<std::string>{"g"});
}

TEST(ToolCalls, OpenAIShapeAndParserNames) {
  nlohmann::json j = toolCallsJson({{"f", R"({"a":1})"}}, "abc");
  EXPECT_EQ(
      j.dump(),
      R"([{"function":{"arguments":"{\"a\":1}","name":"f"},"id":"call_abc_0","type":"function"}])");
  EXPECT_EQ(*parseToolCallParser("tag"), ToolCallParser::Tag);
  EXPECT_EQ(*parseToolCallParser("json"), ToolCallParser::Json);
  EXPECT_EQ(*parseToolCallParser(""), ToolCallParser::None);
  EXPECT_FALSE(parseToolCallParser("mistral").ok());
  EXPECT_TRUE(
      extract(ToolCallParser::None, "<tool_call>{\"name\": \"f\"}</tool_call>").calls.empty());
}

} // namespace
