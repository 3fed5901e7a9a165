// Reasoning in generated text: a reasoning model thinks before it answers, and the server
// returns the two apart, as vLLM does with --reasoning-parser: the thinking as the
// message's `reasoning_content` (and `reasoning`, vLLM's newer name), the answer as its
// `content`. The formats are named by their shape (modelrt serve maps vLLM's parser names
// onto them):
//   think:        <think> ... </think> answer. The answer starts in the thinking (the
//                 <think> is optional: the chat template may have written it).
//   think-tagged: the same tags, but the answer is thinking only where it opens with
//                 <think> or the prompt left one open; else it is all content.
//   harmony:      OpenAI's harmony format: messages
//                 <|channel|>NAME [to=RECIPIENT] [<|constrain|>json]<|message|>BODY<|end|>,
//                 each after <|start|>assistant but the first. The analysis channel is the
//                 thinking, final (and commentary without a recipient) the content, a
//                 message to functions.NAME a tool call (the answer stops at its <|call|>).
// For the think formats, a chat prompt that closes a think block (a template's switch to
// turn thinking off) means there is none to find: the answer is all content.
//
// The split works on text as it streams: each piece in gives the reasoning and content
// that became certain, holding back only what may be the start of a tag.
#pragma once

#include "runtime/server/ToolCalls.h"
#include "runtime/support/Error.h"

#include <string>
#include <string_view>
#include <vector>

namespace modelrt::server {

enum class ReasoningParser { None, Think, ThinkTagged, Harmony };

// "think", "think-tagged", "harmony", or "" / "none".
Expected<ReasoningParser> parseReasoningParser(const std::string &name);

// Whether the parser reads the special tokens of the answer (harmony's tags are control
// tokens, which are otherwise dropped from the text).
inline bool readsSpecialTokens(ReasoningParser parser) {
  return parser == ReasoningParser::Harmony;
}

class ReasoningSplitter {
public:
  struct Parts {
    std::string reasoning, content;
  };
  // `prompt`: the rendered chat prompt, whose last think tag says whether the answer starts
  // inside one.
  ReasoningSplitter(ReasoningParser parser, std::string_view prompt);

  // The parts that became certain with `text` (the next piece of the answer).
  Parts feed(std::string_view text);
  // The rest, at the end of the answer.
  Parts finish();
  // Harmony's messages to functions.NAME, complete after finish(): their names and bodies
  // as written (checked against the request's tools by the caller).
  const std::vector<ToolCall> &calls() const { return calls_; }

private:
  enum class State { Start, Reasoning, Content, Header, Body };
  enum class Route { Reasoning, Content, Call };
  void thinkStep(Parts &out, bool final);
  void harmonyStep(Parts &out, bool final);
  void emit(Parts &out, std::string_view text);

  ReasoningParser parser_;
  State state_;
  State fallback_ = State::Content; // Start: where an answer without <think> goes
  Route route_ = Route::Content;    // harmony: where the current body goes
  bool sectionStart_ = true;        // leading whitespace of a section is dropped
  bool hasReasoning_ = false, hasContent_ = false; // what was given out so far
  bool sawMessage_ = false;                         // harmony: a message header was read
  std::string buffer_;              // text not yet given out
  std::string callName_, callBody_; // harmony: the call being written
  std::vector<ToolCall> calls_;
};

} // namespace modelrt::server
