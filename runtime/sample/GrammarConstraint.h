// Guided decoding by a context-free grammar in GBNF (the `grammar` of GGUF runtimes' servers,
// vLLM's guided_grammar and structured_outputs.grammar): the answer is a text the grammar's
// `root` rule derives. The grammar is checked and compiled when the request arrives (syntax,
// undefined rules, left recursion and sizes are a 400 then); generation runs a pushdown
// recognizer over UTF-8 bytes whose states (sets of parse stacks) are interned, with their
// byte transitions computed on first use, so each step walks the vocabulary's byte trie as a
// regex does, and the end token may come only once `root` is complete.
#pragma once

#include "runtime/sample/JsonConstraint.h"
#include "runtime/support/Error.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace modelrt::sample {

// A grammar, compiled. Syntax (GBNF):
//   rules `name ::= alternatives`, names of letters, digits, '-' and '_'; a rule ends where the
//   next `name ::=` begins (newlines are whitespace), `#` comments to the line's end;
//   alternatives separated by `|` (an empty one matches the empty text); sequences of
//   "strings", character classes [a-z0-9_] and [^...] (code points), `.` (any code point),
//   rule names and groups ( ... ); quantifiers * + ? {n} {n,} {,m} {n,m} (m <= kMaxRepeat);
//   escapes \n \r \t \\ \" \[ \] \xHH \uHHHH \UHHHHHHHH and any other punctuation escaped.
// Refused with an error naming the place: no `root` rule, undefined or twice-defined rules,
// left recursion (a rule that can reach itself before writing anything, with something left
// to write after: the recognizer would grow without bound; right recursion and repetition
// are fine), a root that derives no finite text, token references <...>, classes that match
// nothing, grammars past kMaxGrammarBytes or kMaxElements once repetitions are expanded.
// Alternatives that can never finish (they need a rule that derives no finite text) are
// dropped, so every state the recognizer reaches can still complete.
class Grammar {
public:
  static constexpr size_t kMaxGrammarBytes = 65536;
  static constexpr int kMaxRepeat = 1000;
  static constexpr size_t kMaxElements = 200000;
  static constexpr int kMaxNesting = 64; // groups within groups

  // `what` names the parameter in errors ("'guided_grammar'").
  static Expected<std::shared_ptr<const Grammar>> compile(std::string_view text,
                                                          std::string_view what = "grammar");
  // Whether `root` derives the whole of `text`.
  bool matches(std::string_view text) const;

  // The compiled form: each rule's alternatives are runs of elements in one array, each run
  // closed by an End; a Ref names a rule, a Bytes element one byte of a set.
  enum class Kind : uint8_t { End, Ref, Bytes };
  struct Element {
    Kind kind;
    uint32_t arg; // Ref: the rule; Bytes: the set
  };
  const Element &element(uint32_t pos) const { return elements_[pos]; }
  const std::vector<uint32_t> &alternatives(uint32_t rule) const { return rules_[rule]; }
  static constexpr uint32_t root() { return 0; }
  bool inSet(uint32_t set, uint8_t byte) const {
    return (sets_[set][byte >> 6] >> (byte & 63)) & 1;
  }
  // Bytes no set tells apart share a class (transitions are cached per class).
  uint8_t classOf(uint8_t byte) const { return classOf_[byte]; }
  size_t numClasses() const { return numClasses_; }

private:
  std::vector<Element> elements_;
  std::vector<std::vector<uint32_t>> rules_; // the first element of each alternative
  std::vector<std::array<uint64_t, 4>> sets_;
  std::array<uint8_t, 256> classOf_{};
  size_t numClasses_ = 1;
  friend struct GrammarCompiler;
};

// A recognizer of one grammar's texts. A state is a set of parse stacks (each a position at a
// Bytes element with the positions to return to, shared as linked nodes) and whether `root`
// is complete; states and nodes are interned, transitions cached per state and byte class.
// The caches are bounded: compact() starts them over, keeping one state. Not thread-safe.
class GrammarMatcher {
public:
  static constexpr int32_t kDead = -1;
  // Parse stacks in one state; past this the text is taken as not matching (an ambiguous
  // grammar whose parses multiply).
  static constexpr size_t kMaxStacks = 4096;
  // compact() starts the caches over past kMaxNodes stack nodes or kMaxTransitions cached
  // transition slots (states x byte classes: 16 MB); within one mask's walk they may grow to
  // twice that, past which a new state counts as not matching (fewer tokens allowed, never
  // a text the grammar does not derive) until the next compaction.
  static constexpr size_t kMaxNodes = 1 << 20, kMaxTransitions = 1 << 22;

  // The bounds may be set lower (tests).
  explicit GrammarMatcher(std::shared_ptr<const Grammar> grammar, size_t maxNodes = kMaxNodes,
                          size_t maxTransitions = kMaxTransitions);
  int32_t start() const { return start_; }
  // The state after `byte`, or kDead.
  int32_t next(int32_t state, uint8_t byte) {
    const size_t i = size_t(state) * grammar_->numClasses() + grammar_->classOf(byte);
    const int32_t to = transitions_[i];
    return to != kUnknown ? to : step(state, byte, i);
  }
  bool accepting(int32_t state) const { return states_[size_t(state)].accepting; }
  size_t numStates() const { return states_.size(); }
  // The states past which compact() starts over (kMaxTransitions / byte classes).
  size_t maxStates() const { return maxTransitions_ / grammar_->numClasses(); }
  size_t numNodes() const { return nodes_.size(); }
  // Where the caches have outgrown their bounds, starts them over and returns `state`'s new
  // id (every other id is then stale); otherwise returns `state`.
  int32_t compact(int32_t state);
  uint64_t generation() const { return generation_; } // compactions so far

private:
  static constexpr int32_t kUnknown = -2;
  struct Node {
    uint32_t pos;
    int32_t parent; // -1: the bottom
  };
  struct State {
    std::vector<int32_t> stacks; // top nodes, sorted
    bool accepting = false;
  };
  struct Closure; // the stacks one expansion reaches
  int32_t node(uint32_t pos, int32_t parent);
  void expand(uint32_t pos, int32_t parent, Closure &out);
  int32_t intern(Closure &closure);
  int32_t step(int32_t state, uint8_t byte, size_t slot);
  // Nodes allowed before compact() starts over: kMaxNodes, or twice what the state kept at
  // the last compaction held (a deep stack is kept whole, and compacted again only once the
  // nodes have doubled).
  size_t nodeBudget() const { return std::max(maxNodes_, 2 * keptNodes_); }
  bool overBounds() const {
    return nodes_.size() > 2 * nodeBudget() || states_.size() >= 2 * maxStates();
  }

  std::shared_ptr<const Grammar> grammar_;
  size_t maxNodes_, maxTransitions_, keptNodes_ = 0;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, int32_t> nodeIds_;
  std::vector<State> states_;
  std::unordered_map<std::string, int32_t> stateIds_;
  std::vector<int32_t> transitions_; // [state][byte class]
  int32_t start_ = kDead;
  uint64_t generation_ = 0;
};

// One request's grammar constraint (each choice of a request has its own).
class GrammarConstraint : public TokenConstraint {
public:
  GrammarConstraint(std::shared_ptr<JsonVocabulary> vocab, std::shared_ptr<const Grammar> grammar)
      : vocab_(std::move(vocab)), matcher_(std::move(grammar)), state_(matcher_.start()) {}
  const std::vector<uint8_t> &allowedTokens() override;
  void accept(int32_t token) override;
  bool allows(int32_t token) override;
  bool complete() const { return state_ != GrammarMatcher::kDead && matcher_.accepting(state_); }
  bool dead() const { return state_ == GrammarMatcher::kDead; }

private:
  void compact(); // bounds the matcher's caches between tokens
  std::shared_ptr<JsonVocabulary> vocab_;
  GrammarMatcher matcher_;
  int32_t state_;
  StateMasks masks_;
};

} // namespace modelrt::sample
