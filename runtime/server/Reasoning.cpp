#include "runtime/server/Reasoning.h"

#include <algorithm>
#include <initializer_list>

namespace modelrt::server {
namespace {

constexpr std::string_view kSpace = " \t\r\n";
constexpr std::string_view kThinkOpen = "<think>", kThinkClose = "</think>";
constexpr std::string_view kMessage = "<|message|>", kChannel = "<|channel|>";
// What ends a harmony message's body: <|start|> too, for a model that skips <|end|>.
constexpr std::string_view kBodyEnds[] = {"<|end|>", "<|return|>", "<|call|>", "<|start|>"};

// The length of the longest end of `text` that is the start of one of `tags` (and so may
// become one with the next piece).
size_t partialTag(std::string_view text, std::initializer_list<std::string_view> tags) {
  size_t held = 0;
  for (std::string_view tag : tags)
    for (size_t n = std::min(text.size(), tag.size() - 1); n > held; --n)
      if (text.substr(text.size() - n) == tag.substr(0, n)) {
        held = n;
        break;
      }
  return held;
}

// The word after `key` in a harmony header (up to a space or a tag), or "".
std::string headerWord(std::string_view header, std::string_view key) {
  size_t at = header.find(key);
  if (at == std::string_view::npos)
    return {};
  header.remove_prefix(at + key.size());
  return std::string(header.substr(0, header.find_first_of(" \t\n<")));
}

} // namespace

Expected<ReasoningParser> parseReasoningParser(const std::string &name) {
  if (name.empty() || name == "none")
    return ReasoningParser::None;
  if (name == "think")
    return ReasoningParser::Think;
  if (name == "think-tagged")
    return ReasoningParser::ThinkTagged;
  if (name == "harmony")
    return ReasoningParser::Harmony;
  return Error(ErrorCode::InvalidArgument,
               "unknown reasoning parser '" + name + "' (think, think-tagged, harmony)");
}

ReasoningSplitter::ReasoningSplitter(ReasoningParser parser, std::string_view prompt)
    : parser_(parser) {
  if (parser == ReasoningParser::Harmony) {
    state_ = State::Header; // the prompt ends with <|start|>assistant
    return;
  }
  if (parser == ReasoningParser::None) {
    state_ = State::Content;
    sectionStart_ = false;
    return;
  }
  // A prompt that ends with a think tag (the template wrote it): an open one puts the
  // answer inside it (a <think> the model repeats is dropped), a closed one means the
  // template turned thinking off. A tag elsewhere (a past turn, the user's words) decides
  // nothing.
  auto endsWith = [prompt](std::string_view tag) {
    const size_t end = prompt.find_last_not_of(kSpace);
    return end != std::string_view::npos && end + 1 >= tag.size() &&
           prompt.substr(end + 1 - tag.size(), tag.size()) == tag;
  };
  if (endsWith(kThinkOpen)) {
    state_ = State::Start;
    fallback_ = State::Reasoning;
  } else if (endsWith(kThinkClose)) {
    state_ = State::Content;
    sectionStart_ = false; // the answer as written
  } else {
    state_ = State::Start;
    fallback_ = parser == ReasoningParser::Think ? State::Reasoning : State::Content;
  }
}

void ReasoningSplitter::emit(Parts &out, std::string_view text) {
  const bool reasoning =
      state_ == State::Reasoning || (state_ == State::Body && route_ == Route::Reasoning);
  bool &hasText = reasoning ? hasReasoning_ : hasContent_;
  if (sectionStart_) {
    size_t b = text.find_first_not_of(kSpace);
    text.remove_prefix(b == std::string_view::npos ? text.size() : b);
    sectionStart_ = text.empty();
    // A new message after text of the same part: a line between them.
    if (!text.empty() && hasText)
      (reasoning ? out.reasoning : out.content).append("\n");
  }
  hasText = hasText || !text.empty();
  (reasoning ? out.reasoning : out.content).append(text);
}

void ReasoningSplitter::thinkStep(Parts &out, bool final) {
  while (true) {
    switch (state_) {
    case State::Start: {
      // An answer that opens with <think> thinks; one that cannot is the fallback's.
      const size_t b = buffer_.find_first_not_of(kSpace);
      const std::string_view rest =
          b == std::string::npos ? std::string_view() : std::string_view(buffer_).substr(b);
      if (rest.substr(0, kThinkOpen.size()) == kThinkOpen) {
        buffer_.erase(0, b + kThinkOpen.size());
        state_ = State::Reasoning;
        continue;
      }
      if (!final && kThinkOpen.substr(0, rest.size()) == rest)
        return;
      state_ = fallback_;
      sectionStart_ = fallback_ == State::Reasoning; // content: the answer as written
      continue;
    }
    case State::Reasoning: {
      const size_t close = buffer_.find(kThinkClose);
      if (close != std::string::npos) {
        // The thinking ends: its trailing whitespace goes, the answer follows.
        const size_t end = buffer_.find_last_not_of(kSpace, close == 0 ? 0 : close - 1);
        emit(out, std::string_view(buffer_).substr(
                      0, end == std::string::npos || close == 0 ? 0 : end + 1));
        buffer_.erase(0, close + kThinkClose.size());
        state_ = State::Content;
        sectionStart_ = true;
        continue;
      }
      // Held back: what may start </think>, and trailing whitespace (dropped if it ends).
      size_t upto = buffer_.size() - (final ? 0 : partialTag(buffer_, {kThinkClose}));
      const size_t last =
          upto == 0 ? std::string::npos : buffer_.find_last_not_of(kSpace, upto - 1);
      upto = last == std::string::npos ? 0 : last + 1;
      emit(out, std::string_view(buffer_).substr(0, upto));
      buffer_.erase(0, final ? buffer_.size() : upto);
      return;
    }
    default:
      emit(out, buffer_);
      buffer_.clear();
      return;
    }
  }
}

void ReasoningSplitter::harmonyStep(Parts &out, bool final) {
  while (true) {
    if (state_ == State::Header) {
      const size_t m = buffer_.find(kMessage);
      if (m == std::string::npos) {
        if (final) {
          // Text that never became a message: content as written where no message was
          // read (a model that ignores the format); after messages, a header cut short,
          // which is dropped.
          if (!sawMessage_) {
            state_ = State::Content;
            sectionStart_ = false;
            emit(out, buffer_);
          }
          buffer_.clear();
        }
        return;
      }
      const std::string_view header = std::string_view(buffer_).substr(0, m);
      const std::string channel = headerWord(header, kChannel);
      const std::string recipient = headerWord(header, "to=");
      callName_.clear();
      callBody_.clear();
      if (recipient.rfind("functions.", 0) == 0) {
        route_ = Route::Call;
        callName_ = recipient.substr(10);
      } else if (channel == "analysis" || !recipient.empty()) {
        route_ = Route::Reasoning; // thinking, and messages to built-in tools we do not run
      } else {
        route_ = Route::Content; // final, and commentary meant for the user
      }
      buffer_.erase(0, m + kMessage.size());
      sawMessage_ = true;
      state_ = State::Body;
      sectionStart_ = true;
      continue;
    }
    // A body: up to its end tag, or what cannot be the start of one.
    size_t end = std::string::npos, tagSize = 0;
    for (std::string_view tag : kBodyEnds)
      if (size_t at = buffer_.find(tag); at < end)
        end = at, tagSize = tag == "<|start|>" ? 0 : tag.size();
    const bool ends = end != std::string::npos;
    const size_t upto =
        ends ? end
             : buffer_.size() - (final ? 0
                                       : partialTag(buffer_, {kBodyEnds[0], kBodyEnds[1],
                                                              kBodyEnds[2], kBodyEnds[3]}));
    if (route_ == Route::Call)
      callBody_.append(buffer_, 0, upto);
    else
      emit(out, std::string_view(buffer_).substr(0, upto));
    buffer_.erase(0, upto + (ends ? tagSize : 0));
    if (!ends && !final)
      return;
    if (route_ == Route::Call)
      calls_.push_back({callName_, callBody_});
    state_ = State::Header;
    if (!ends)
      return;
  }
}

ReasoningSplitter::Parts ReasoningSplitter::feed(std::string_view text) {
  Parts out;
  buffer_.append(text);
  if (parser_ == ReasoningParser::Harmony)
    harmonyStep(out, false);
  else
    thinkStep(out, false);
  return out;
}

ReasoningSplitter::Parts ReasoningSplitter::finish() {
  Parts out;
  if (parser_ == ReasoningParser::Harmony)
    harmonyStep(out, true);
  else
    thinkStep(out, true);
  return out;
}

} // namespace modelrt::server
