// Reasoning split from chat answers in the three formats (think, think-tagged, harmony),
// whole and as they stream: every way of cutting the answer into pieces gives the same
// reasoning, content and calls as the whole answer at once.
#include "runtime/server/Reasoning.h"

#include <gtest/gtest.h>

using namespace modelrt;
using namespace modelrt::server;

namespace {

struct Split {
  std::string reasoning, content;
  std::vector<ToolCall> calls;
};

// The answer fed in pieces cut at `cuts` (offsets), then finished.
Split run(ReasoningParser parser, std::string_view prompt, std::string_view answer,
          const std::vector<size_t> &cuts = {}) {
  ReasoningSplitter s(parser, prompt);
  Split out;
  size_t at = 0;
  auto take = [&out](const ReasoningSplitter::Parts &p) {
    out.reasoning += p.reasoning;
    out.content += p.content;
  };
  for (size_t cut : cuts) {
    take(s.feed(answer.substr(at, cut - at)));
    at = cut;
  }
  take(s.feed(answer.substr(at)));
  take(s.finish());
  out.calls = s.calls();
  return out;
}

// The split of the whole answer, checked to equal that of every cut into two pieces and of
// one byte at a time.
Split split(ReasoningParser parser, std::string_view prompt, std::string_view answer) {
  Split whole = run(parser, prompt, answer);
  std::vector<size_t> bytes;
  for (size_t k = 1; k < answer.size(); ++k) {
    bytes.push_back(k);
    Split two = run(parser, prompt, answer, {k});
    EXPECT_EQ(two.reasoning, whole.reasoning) << "cut at " << k;
    EXPECT_EQ(two.content, whole.content) << "cut at " << k;
    EXPECT_EQ(two.calls.size(), whole.calls.size()) << "cut at " << k;
  }
  Split each = run(parser, prompt, answer, bytes);
  EXPECT_EQ(each.reasoning, whole.reasoning);
  EXPECT_EQ(each.content, whole.content);
  return whole;
}

TEST(Reasoning, ThinkTagsSplitTheAnswer) {
  for (ReasoningParser p : {ReasoningParser::Think, ReasoningParser::ThinkTagged}) {
    Split s = split(p, "<|im_start|>assistant\n",
                    "<think>\nThe user greets me.\nI greet back.\n</think>\n\nHello!");
    EXPECT_EQ(s.reasoning, "The user greets me.\nI greet back.");
    EXPECT_EQ(s.content, "Hello!");
  }
}

TEST(Reasoning, AnAnswerWithoutTagsDependsOnTheFormat) {
  // think: the answer starts in the thinking; cut off before </think>, it is all thinking.
  Split s = split(ReasoningParser::Think, "User: hi\nAssistant:", "Let me think about hi");
  EXPECT_EQ(s.reasoning, "Let me think about hi");
  EXPECT_EQ(s.content, "");
  s = split(ReasoningParser::Think, "", "I ponder</think>The answer is 4.");
  EXPECT_EQ(s.reasoning, "I ponder");
  EXPECT_EQ(s.content, "The answer is 4.");
  // think-tagged: thinking only after <think>.
  s = split(ReasoningParser::ThinkTagged, "", "\n    indented();");
  EXPECT_EQ(s.reasoning, "");
  EXPECT_EQ(s.content, "\n    indented();"); // the answer as written
  s = split(ReasoningParser::ThinkTagged, "", "<thin");
  EXPECT_EQ(s.content, "<thin");
}

TEST(Reasoning, ThePromptOpensOrClosesTheThinking) {
  Split s0;
  // A template that writes <think> itself: the answer starts inside, for both formats.
  for (ReasoningParser p : {ReasoningParser::Think, ReasoningParser::ThinkTagged}) {
    Split s = split(p, "<|im_start|>assistant\n<think>\n", "Two and two.\n</think>\n\n4");
    EXPECT_EQ(s.reasoning, "Two and two.");
    EXPECT_EQ(s.content, "4");
    // Thinking turned off by the template (an empty think block closes the prompt): no
    // reasoning to find, whatever the answer holds.
    s = split(p, "<|im_start|>assistant\n<think>\n\n</think>\n\n", " 4 </think> is a tag");
    EXPECT_EQ(s.reasoning, "");
    EXPECT_EQ(s.content, " 4 </think> is a tag");
    // A <think> the model repeats after the template's is dropped.
    s = split(p, "<|im_start|>assistant\n<think>\n", "<think>\nHm.</think>4");
    EXPECT_EQ(s.reasoning, "Hm.");
    EXPECT_EQ(s.content, "4");
  }
  // Tags inside the conversation, not at the prompt's end, decide nothing.
  s0 = split(ReasoningParser::ThinkTagged,
             "<|im_start|>user\nWhat does <think> do?<|im_end|>\n<|im_start|>assistant\n",
             "It marks thinking.");
  EXPECT_EQ(s0.reasoning, "");
  EXPECT_EQ(s0.content, "It marks thinking.");
  // A think block closed earlier in the conversation (a past turn) decides nothing.
  Split s = split(ReasoningParser::Think,
                  "<think>old</think>Old answer.<|im_start|>user\nhi<|im_start|>assistant\n",
                  "new thought</think>New answer.");
  EXPECT_EQ(s.reasoning, "new thought");
  EXPECT_EQ(s.content, "New answer.");
}

TEST(Reasoning, AnUnfinishedTagStaysText) {
  Split s = split(ReasoningParser::Think, "", "<think>a < b and c </thin");
  EXPECT_EQ(s.reasoning, "a < b and c </thin");
  s = split(ReasoningParser::Think, "", "<think>x</think>y </thin");
  EXPECT_EQ(s.content, "y </thin");
}

// OpenAI's harmony format as the gpt-oss chat template prompts it: the prompt ends with
// <|start|>assistant, the answer with <|return|> or <|call|> (end tokens, not in the text).
constexpr const char *kHarmonyPrompt =
    "<|start|>user<|message|>What is the weather in Paris?<|end|><|start|>assistant";

TEST(Reasoning, HarmonyChannels) {
  Split s = split(ReasoningParser::Harmony, kHarmonyPrompt,
                  "<|channel|>analysis<|message|>The user asks about the weather. I cannot "
                  "look it up.<|end|><|start|>assistant<|channel|>final<|message|>I cannot "
                  "check the weather.");
  EXPECT_EQ(s.reasoning, "The user asks about the weather. I cannot look it up.");
  EXPECT_EQ(s.content, "I cannot check the weather.");
  EXPECT_TRUE(s.calls.empty());
  // A preamble on the commentary channel is for the user: content.
  s = split(ReasoningParser::Harmony, kHarmonyPrompt,
            "<|channel|>commentary<|message|>Checking.<|end|><|start|>assistant<|channel|>"
            "final<|message|>Done.");
  EXPECT_EQ(s.content, "Checking.\nDone."); // messages of one part: a line between them
  s = split(ReasoningParser::Harmony, kHarmonyPrompt,
            "<|channel|>analysis<|message|>First.<|end|><|start|>assistant<|channel|>analysis"
            "<|message|>Second.<|end|><|start|>assistant<|channel|>final<|message|>Done.");
  EXPECT_EQ(s.reasoning, "First.\nSecond.");
}

TEST(Reasoning, HarmonyFunctionCalls) {
  // The recipient in the channel header, or after the role.
  for (const char *answer :
       {"<|channel|>analysis<|message|>Need the tool.<|end|><|start|>assistant<|channel|>"
        "commentary to=functions.get_weather <|constrain|>json<|message|>{\"city\": "
        "\"Paris\"}",
        "<|channel|>analysis<|message|>Need the tool.<|end|><|start|>assistant "
        "to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Paris\"}"}) {
    Split s = split(ReasoningParser::Harmony, kHarmonyPrompt, answer);
    EXPECT_EQ(s.reasoning, "Need the tool.");
    EXPECT_EQ(s.content, "");
    ASSERT_EQ(s.calls.size(), 1u) << answer;
    EXPECT_EQ(s.calls[0].name, "get_weather");
    EXPECT_EQ(s.calls[0].arguments, "{\"city\": \"Paris\"}");
  }
  // A message to a built-in tool the server does not run is reasoning, not a call.
  Split s = split(ReasoningParser::Harmony, kHarmonyPrompt,
                  "<|channel|>analysis to=browser.search<|message|>{\"query\": \"x\"}<|end|>");
  EXPECT_EQ(s.reasoning, "{\"query\": \"x\"}");
  EXPECT_TRUE(s.calls.empty());
}

TEST(Reasoning, HarmonyWithoutMessagesIsContent) {
  // A model that ignores the format: nothing is lost.
  Split s = split(ReasoningParser::Harmony, kHarmonyPrompt, "Just text.");
  EXPECT_EQ(s.content, "Just text.");
  EXPECT_EQ(s.reasoning, "");
  // Cut off inside a later message's header: the header is dropped.
  s = split(ReasoningParser::Harmony, kHarmonyPrompt,
            "<|channel|>analysis<|message|>Hm.<|end|><|start|>assistant<|channel|>fin");
  EXPECT_EQ(s.reasoning, "Hm.");
  EXPECT_EQ(s.content, "");
  // Cut off inside a message: its text so far.
  s = split(ReasoningParser::Harmony, kHarmonyPrompt, "<|channel|>analysis<|message|>Thinking <|e");
  EXPECT_EQ(s.reasoning, "Thinking <|e");
}

TEST(Reasoning, ParserNames) {
  EXPECT_EQ(*parseReasoningParser(""), ReasoningParser::None);
  EXPECT_EQ(*parseReasoningParser("think"), ReasoningParser::Think);
  EXPECT_EQ(*parseReasoningParser("think-tagged"), ReasoningParser::ThinkTagged);
  EXPECT_EQ(*parseReasoningParser("harmony"), ReasoningParser::Harmony);
  Expected<ReasoningParser> bad = parseReasoningParser("deepthink");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("unknown reasoning parser 'deepthink'"), std::string::npos);
}

} // namespace
