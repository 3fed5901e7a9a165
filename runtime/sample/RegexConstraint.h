// Guided decoding by a regular expression (vLLM's guided_regex, structured_outputs.regex):
// the answer is text the whole pattern matches (Python's re.fullmatch). The pattern is
// compiled to a DFA over UTF-8 bytes when the request arrives (an unsupported or oversized
// pattern is a 400 then, never a stall later); each step walks the vocabulary's byte trie
// with the DFA, and the end token may come only in an accepting state.
#pragma once

#include "runtime/sample/JsonConstraint.h"
#include "runtime/support/Error.h"

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace modelrt::sample {

// A regular expression as a byte-level DFA, matched against whole texts. Syntax (Python's re,
// as guided-decoding libraries take it):
//   literals (UTF-8 code points); `.` (any code point but a newline); classes [...] with
//   ranges, negation [^...] and the escapes below; groups (...), (?:...), (?P<name>...),
//   (?<name>...); alternation |; quantifiers * + ? {n} {n,} {,m} {n,m} (m <= 1000), lazy
//   ones (*? ...) matching the same texts; ^ at the very start and $ at the very end
//   (matching is whole-text anyway);
//   escapes \d \w \s (ASCII: [0-9], [A-Za-z0-9_], [ \t\n\r\f\v]) and \D \W \S, \n \r \t \f
//   \v \a \0, \xHH, \uHHHH, \UHHHHHHHH, and any other non-alphanumeric character escaped.
// Refused with an error naming the construct: anchors elsewhere, \b \B \A \Z, back-
// references, lookaround, inline flags, possessive quantifiers and atomic groups, classes
// that match nothing, patterns past kMaxPatternBytes or whose automata grow past
// kMaxNfaStates / kMaxDfaStates.
class Regex {
public:
  static constexpr size_t kMaxPatternBytes = 4096;
  static constexpr int kMaxRepeat = 1000;
  static constexpr int kMaxNfaStates = 100000;
  static constexpr int kMaxDfaStates = 50000;
  static constexpr int32_t kDead = -1;

  // `what` names the parameter in errors ("'guided_regex'").
  static Expected<std::shared_ptr<const Regex>> compile(std::string_view pattern,
                                                        std::string_view what = "regex");

  static constexpr int32_t start() { return 0; }
  // The state after `byte` from `state` (a live state: some text from it matches), or kDead.
  int32_t next(int32_t state, uint8_t byte) const {
    return table_[size_t(state) * numClasses_ + classOf_[byte]];
  }
  bool accepting(int32_t state) const { return accepting_[size_t(state)] != 0; }
  // Whether the whole of `text` matches.
  bool matches(std::string_view text) const;
  int32_t numStates() const { return static_cast<int32_t>(accepting_.size()); }

private:
  std::array<uint8_t, 256> classOf_{}; // bytes no transition tells apart share a class
  size_t numClasses_ = 1;
  std::vector<int32_t> table_; // [state][class]
  std::vector<uint8_t> accepting_;
  friend struct RegexCompiler;
};

// One request's regex constraint (each choice of a request has its own).
class RegexConstraint : public TokenConstraint {
public:
  RegexConstraint(std::shared_ptr<JsonVocabulary> vocab, std::shared_ptr<const Regex> regex)
      : vocab_(std::move(vocab)), regex_(std::move(regex)) {}
  const std::vector<uint8_t> &allowedTokens() override;
  void accept(int32_t token) override;
  bool allows(int32_t token) override;
  int32_t state() const { return state_; }

private:
  std::shared_ptr<JsonVocabulary> vocab_;
  std::shared_ptr<const Regex> regex_;
  int32_t state_ = Regex::start();
  StateMasks masks_;
};

} // namespace modelrt::sample
