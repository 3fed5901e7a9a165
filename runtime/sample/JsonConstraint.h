// Guided decoding for JSON (OpenAI's response_format {"type": "json_object"}): a request's
// next token may only be one whose bytes keep the output a prefix of a JSON object
// (RFC 8259), and once the object is complete only an end token may come, so what is
// generated parses. The vocabulary's token bytes sit in a trie, shared by all requests;
// each step walks it once with the recognizer's state, pruning every subtree whose prefix
// is already invalid, and the resulting masks are cached by state (most steps repeat one:
// inside a string at the same nesting).
#pragma once

#include "runtime/sample/Sampler.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace modelrt::sample {

// A byte-level recognizer of JSON text prefixes: feed() says whether the bytes so far can
// still be completed into one JSON value (with `objectOnly`, an object), complete() whether
// they are one already. Strings must be valid UTF-8 (split across tokens is fine), with
// surrogate escapes only in high-low pairs (as strict parsers want); at most
// kMaxDepth nested containers and kMaxWhitespace whitespace bytes in a row (a model stuck
// emitting newlines is cut off, as outlines and xgrammar do); numbers at most
// kMaxNumberBytes long with at most two exponent digits, so every one fits a double.
class JsonRecognizer {
public:
  static constexpr int kMaxDepth = 32;
  static constexpr int kMaxWhitespace = 16;
  static constexpr int kMaxNumberBytes = 32;

  explicit JsonRecognizer(bool objectOnly = true) : objectOnly_(objectOnly) {}
  bool feed(uint8_t byte);
  bool feed(std::string_view bytes) {
    for (char c : bytes)
      if (!feed(static_cast<uint8_t>(c)))
        return false;
    return true;
  }
  bool complete() const { return mode_ == Mode::Done; }
  bool started() const { return mode_ != Mode::Start; }
  // The state as bytes (for caching masks): equal keys, equal futures.
  std::string key() const;

private:
  enum class Mode : uint8_t {
    Start,       // before the top-level value
    Value,       // a value must come (after ':' or ',' in an array, or '[')
    ArrayFirst,  // after '[': a value or ']'
    ObjectFirst, // after '{': a key or '}'
    Key,         // after ',' in an object: a key
    Colon,       // after a key
    AfterValue,  // after a value inside a container: ',' or the closer
    String,      // inside a string (key or value)
    Number,
    Literal, // true, false, null
    Done,    // the top-level value is complete
  };
  bool valueStart(uint8_t c);
  bool endValue(); // a value just ended: AfterValue, or Done at the top level
  bool afterNumber(uint8_t c);

  bool objectOnly_;
  Mode mode_ = Mode::Start;
  uint8_t depth_ = 0;
  std::array<uint8_t, kMaxDepth> stack_{}; // '{' or '['
  uint8_t sub_ = 0;       // string: 0 plain, 1 after '\', 2 in \uXXXX, 3 and 4 a low surrogate's
                          // "\u" due; number and literal sub-states
  uint8_t hexDigits_ = 0; // of the \u escape so far, whose value is hex_
  uint16_t hex_ = 0;
  bool lowDue_ = false;  // a high surrogate escape was written: its low half must follow
  uint8_t utf8Left_ = 0; // continuation bytes still due in a string
  uint8_t utf8Lo_ = 0x80, utf8Hi_ = 0xBF; // the range of the next continuation byte
  uint8_t literal_ = 0;                   // which literal ('t', 'f', 'n')
  uint8_t whitespace_ = 0;
  uint8_t numberBytes_ = 0, exponentDigits_ = 0;
  bool stringIsKey_ = false;
};

// The vocabulary of one tokenizer as a byte trie, with a cache of allowed-token masks by
// recognizer state. Not thread-safe: the engine thread alone computes masks.
class JsonVocabulary {
public:
  // tokenBytes[id]: what token `id` writes; empty for tokens never allowed inside JSON
  // (control tokens). endTokens: may come once the JSON is complete (and only then).
  JsonVocabulary(const std::vector<std::string> &tokenBytes, std::vector<int32_t> endTokens);
  size_t vocabSize() const { return bytes_.size(); }
  std::string_view bytes(int32_t token) const {
    return token >= 0 && size_t(token) < bytes_.size() ? std::string_view(bytes_[token]) : "";
  }

  // 1 where the token may come next from `state` (vocabSize() entries).
  const std::vector<uint8_t> &allowed(const JsonRecognizer &state);

private:
  struct Node {
    int32_t firstChild = -1, nextSibling = -1;
    uint8_t byte = 0;
    std::vector<int32_t> tokens; // tokens whose bytes end here
  };
  int32_t child(int32_t node, uint8_t byte); // finds or adds
  std::vector<std::string> bytes_;
  std::vector<Node> nodes_; // nodes_[0]: the root
  std::vector<int32_t> endTokens_;
  std::unordered_map<std::string, std::vector<uint8_t>> cache_;
};

// One request's JSON constraint (each choice of a request has its own).
class JsonConstraint : public TokenConstraint {
public:
  explicit JsonConstraint(std::shared_ptr<JsonVocabulary> vocab) : vocab_(std::move(vocab)) {}
  const std::vector<uint8_t> &allowedTokens() override { return vocab_->allowed(state_); }
  void accept(int32_t token) override { state_.feed(vocab_->bytes(token)); }
  const JsonRecognizer &state() const { return state_; }

private:
  std::shared_ptr<JsonVocabulary> vocab_;
  JsonRecognizer state_;
};

} // namespace modelrt::sample
