// Guided decoding for JSON (OpenAI's response_format {"type": "json_object"} and
// {"type": "json_schema"}): a request's next token may only be one whose bytes keep the
// output a prefix of a JSON object (RFC 8259) that the schema, if any, accepts, and once the
// object is complete only an end token may come, so what is generated parses (and fits). The
// vocabulary's token bytes sit in a trie, shared by all requests; each step walks it once with the
// recognizer's state, pruning every subtree whose prefix is already invalid, and the resulting
// masks are cached by state (most steps repeat one: inside a string at the same nesting).
#pragma once

#include "runtime/sample/Sampler.h"
#include "runtime/support/Error.h"

#include <nlohmann/json_fwd.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace modelrt::sample {

// The subset of JSON Schema that guided decoding enforces, compiled to nodes:
//   type: object (with properties: in their declared order (parse with ordered_json), each listed
//   in `required` must
//         appear, the others may be left out; no other keys; without properties: any
//         object), array (items), string, number, integer, boolean, null, or a list of
//         these with "null" (nullable); enum and const (scalars, written as JSON compactly
//         writes them); $ref to #/$defs/... or #/definitions/... (recursion allowed); anyOf
//         of one schema and {"type": "null"} (pydantic's Optional); anyOf of object schemas
//         whose first property has the same name, is required, and is a different string
//         const in each (a tagged union, e.g. {"name": "get_weather", "arguments": ...}):
//         once the tag is written the object continues as that branch (oneOf of such a
//         union too: the tags make the branches exclusive, as in pydantic's discriminated
//         unions).
//   additionalProperties false without properties (only {}); items without a type (an
//   array). Annotations and bounds (title, description, default, format, minLength,
//   maximum, ...) are accepted and not enforced; what would change validity and is not
//   enforced (other oneOf, allOf, not, patternProperties, prefixItems, if, map-typed
//   additionalProperties, required without properties, enum values outside their type or
//   the recognizer's number limits, required properties nesting past kMaxDepth or in a
//   circle) is refused, so a schema is never silently weakened, and no state is a dead end
//   (containers open only where all they must hold fits under kMaxDepth).
class JsonSchema {
public:
  enum class Type : uint8_t { Any, Object, Array, String, Number, Integer, Boolean, Null, Enum };
  struct Node {
    Type type = Type::Any;
    bool nullable = false;
    bool freeObject = false; // an object without properties: any keys and values
    std::vector<std::pair<std::string, int16_t>> properties;
    uint32_t required = 0; // bit i: properties[i] is required
    int16_t items = -1;    // arrays: the node of every item (-1: any)
    std::vector<std::string> enumTexts;
    int16_t alias = -1; // a $ref or an Optional wrapper: this node is `alias` (nullable added)
    // A tagged union: an object whose one property is the tag (an enum of the branches'
    // tags, in branch order); variants[i] is the object it becomes after tag i.
    std::vector<int16_t> variants;
  };
  static constexpr size_t kMaxProperties = 32, kMaxEnum = 32, kMaxNodes = 4096;

  // The error names what is not supported or malformed (the API answers 400 with it).
  static Expected<std::shared_ptr<const JsonSchema>> compile(const nlohmann::ordered_json &schema);
  // The node `i` stands for (aliases followed), whether it is nullable along the way, and the
  // fewest containers any value of it opens (0 for scalars and nullable ones).
  const Node &node(int16_t i) const { return nodes_[size_t(resolved_[size_t(i)])]; }
  bool nullable(int16_t i) const { return nullable_[size_t(i)]; }
  int minDepth(int16_t i) const { return minDepth_[size_t(i)]; }
  uint64_t id() const { return id_; } // unique per compiled schema (mask cache keys)

private:
  std::vector<Node> nodes_; // nodes_[0]: the root
  std::vector<int16_t> resolved_;
  std::vector<uint8_t> nullable_, minDepth_;
  uint64_t id_ = 0;
  friend struct SchemaCompiler;
};

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
  // Also enforces `schema` (which must outlive the recognizer; its root must be an object).
  explicit JsonRecognizer(const JsonSchema *schema) : objectOnly_(true), schema_(schema) {}
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
  // Schema checks (all true without a schema).
  int16_t expectedNode() const;   // of the value about to start (-1: any)
  bool keyByte(uint8_t c);        // a byte of a key of a schema object
  bool objectMayClose() const;    // no required property left
  bool objectMayContinue() const; // a property may still come
  uint32_t keyCandidates() const; // properties that may come next
  bool enumByte(uint8_t c);       // a byte of an enum value
  bool enumComplete() const;      // the enum value written so far is one of them

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
  // Schema state: each open container's node (-1: any) and, for objects, the next property
  // that may come; the node of the value after the current key; key and enum matching.
  const JsonSchema *schema_ = nullptr;
  std::array<int16_t, kMaxDepth> frameNode_{};
  std::array<uint8_t, kMaxDepth> cursor_{};
  int16_t pendingNode_ = -1;
  int16_t valueNode_ = -1;       // the scalar being written (integer, enum checks)
  uint32_t matchCandidates_ = 0; // key or enum candidates still matching
  uint8_t matchLen_ = 0;
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

  // The tokens that may end the answer (the tokenizer's end-of-text tokens).
  const std::vector<int32_t> &endTokens() const { return endTokens_; }
  bool isEndToken(int32_t token) const {
    return std::find(endTokens_.begin(), endTokens_.end(), token) != endTokens_.end();
  }

  // 1 where the token may come next from `state` (vocabSize() entries).
  const std::vector<uint8_t> &allowed(const JsonRecognizer &state);

  // Sets mask[t] for every token t whose bytes `step` takes one at a time from `start`
  // (bool step(State &, uint8_t); false prunes the subtree): one depth-first walk of the trie,
  // which is laid out in that order (a node's subtree follows it), so the walk reads the
  // arrays front to back, skipping pruned subtrees, with one state per depth.
  template <class State, class Step>
  void walk(const State &start, Step step, std::vector<uint8_t> &mask) const {
    std::vector<State> states(size_t(maxDepth_) + 1, start);
    const int32_t n = static_cast<int32_t>(byte_.size());
    for (int32_t i = 1; i < n;) {
      const uint16_t d = depth_[size_t(i)];
      State s = states[d - 1u];
      if (!step(s, byte_[size_t(i)])) {
        i += subtree_[size_t(i)];
        continue;
      }
      for (int32_t k = tokenBegin_[size_t(i)]; k < tokenBegin_[size_t(i) + 1]; ++k)
        mask[size_t(tokens_[size_t(k)])] = 1;
      states[d] = std::move(s);
      ++i;
    }
  }

  // For recognizers that are automata over bytes (int32_t states, -1 dead; `step(state,
  // byte)` gives the next state): the mask from `state` (one walk; the end tokens where
  // `accepting`, or where no other token may come: only characters this vocabulary cannot
  // write lead on), and whether `token` may come (its bytes stepped; an end token where
  // `accepting`, false otherwise: the mask decides).
  template <class Step>
  void automatonMask(int32_t state, bool accepting, Step step, std::vector<uint8_t> &mask) const {
    mask.assign(vocabSize(), 0);
    if (state >= 0)
      walk(
          state,
          [&step](int32_t &s, uint8_t byte) {
            s = step(s, byte);
            return s >= 0;
          },
          mask);
    const bool none = std::find(mask.begin(), mask.end(), uint8_t(1)) == mask.end();
    if (none || (state >= 0 && accepting))
      for (int32_t t : endTokens_)
        if (t >= 0 && size_t(t) < mask.size())
          mask[size_t(t)] = 1;
  }
  // The state after `token`'s bytes (-1 once dead).
  template <class Step> int32_t automatonFeed(int32_t state, Step step, int32_t token) const {
    for (char c : bytes(token)) {
      if (state < 0)
        return state;
      state = step(state, static_cast<uint8_t>(c));
    }
    return state;
  }
  template <class Step>
  bool automatonAllows(int32_t state, bool accepting, Step step, int32_t token) const {
    if (state < 0)
      return false;
    const std::string_view b = bytes(token);
    if (b.empty())
      return accepting && isEndToken(token);
    for (char c : b)
      if ((state = step(state, static_cast<uint8_t>(c))) < 0)
        return false;
    return true;
  }

private:
  std::vector<std::string> bytes_;
  // The trie in depth-first order (node 0: the root): each node's byte, depth, the size of
  // its subtree (itself included), and the tokens whose bytes end there
  // (tokens_[tokenBegin_[i] .. tokenBegin_[i + 1])).
  std::vector<uint8_t> byte_;
  std::vector<uint16_t> depth_;
  std::vector<int32_t> subtree_, tokenBegin_, tokens_;
  uint16_t maxDepth_ = 0;
  std::vector<int32_t> endTokens_;
  std::unordered_map<std::string, std::vector<uint8_t>> cache_;
};

// An automaton constraint's masks by state: at most kMax vocabulary-sized masks (3 MB at 49k
// tokens), then the cache starts over (a mask is one trie walk).
class StateMasks {
public:
  static constexpr size_t kMax = 64;
  // The mask of `state`, built by build(mask) when not cached.
  template <class Build> const std::vector<uint8_t> &get(int32_t state, Build build) {
    if (auto it = masks_.find(state); it != masks_.end())
      return it->second;
    if (masks_.size() >= kMax)
      masks_.clear();
    std::vector<uint8_t> &mask = masks_[state];
    build(mask);
    return mask;
  }
  void clear() { masks_.clear(); }

private:
  std::unordered_map<int32_t, std::vector<uint8_t>> masks_;
};

// One request's JSON constraint (each choice of a request has its own).
class JsonConstraint : public TokenConstraint {
public:
  explicit JsonConstraint(std::shared_ptr<JsonVocabulary> vocab,
                          std::shared_ptr<const JsonSchema> schema = nullptr)
      : vocab_(std::move(vocab)), schema_(std::move(schema)), state_(schema_.get()) {}
  const std::vector<uint8_t> &allowedTokens() override { return vocab_->allowed(state_); }
  void accept(int32_t token) override { state_.feed(vocab_->bytes(token)); }
  bool allows(int32_t token) override;
  const JsonRecognizer &state() const { return state_; }

private:
  std::shared_ptr<JsonVocabulary> vocab_;
  std::shared_ptr<const JsonSchema> schema_;
  JsonRecognizer state_;
};

} // namespace modelrt::sample
