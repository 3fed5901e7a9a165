// Guided decoding by a regular expression (vLLM's guided_regex): the pattern is compiled to a
// DFA over UTF-8 bytes that must accept exactly what Python's re.fullmatch accepts
// (test/goldens/regex-python.json, labelled by Python itself: scripts/gen-regex-goldens.py),
// and sampling under the constraint only ever ends on such a text, however the vocabulary
// splits it (multi-byte characters across tokens included).
#include "runtime/sample/RegexConstraint.h"
#include "runtime/sample/Sampler.h"
#include "unittests/sample/AllowedTexts.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

namespace modelrt::sample {
namespace {

nlohmann::json goldens() {
  const char *src = std::getenv("MODELC_SOURCE_DIR");
  std::ifstream in(std::string(src ? src : MODELC_TEST_SOURCE_DIR) +
                       "/test/goldens/regex-python.json",
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

TEST(Regex, AcceptsWhatPythonsFullmatchAccepts) {
  const nlohmann::json g = goldens();
  ASSERT_GE(g["cases"].size(), 50u);
  size_t texts = 0, matching = 0;
  for (const nlohmann::json &c : g["cases"]) {
    const std::string pattern = c["pattern"];
    Expected<std::shared_ptr<const Regex>> re = Regex::compile(pattern);
    ASSERT_TRUE(re.ok()) << pattern << ": " << re.error().message();
    for (const nlohmann::json &t : c["texts"]) {
      const std::string text = t[0];
      const bool expected = t[1];
      EXPECT_EQ((*re)->matches(text), expected) << "pattern " << pattern << ", text '" << text << "'";
      ++texts;
      matching += expected;
    }
  }
  EXPECT_GT(texts, 1500u);
  EXPECT_GT(matching, 200u);
}

TEST(Regex, RefusesWhatItCannotEnforceAndWhatPythonRejects) {
  const nlohmann::json g = goldens();
  for (const nlohmann::json &p : g["unsupported"]) {
    Expected<std::shared_ptr<const Regex>> re = Regex::compile(p.get<std::string>(), "'guided_regex'");
    ASSERT_FALSE(re.ok()) << p;
    EXPECT_EQ(re.error().message().rfind("'guided_regex': ", 0), 0u) << re.error().message();
  }
  for (const nlohmann::json &e : g["errors"]) {
    Expected<std::shared_ptr<const Regex>> re = Regex::compile(e["pattern"].get<std::string>());
    EXPECT_FALSE(re.ok()) << e["pattern"] << " (Python: " << e["python"] << ")";
  }
  struct Case {
    const char *pattern, *message;
  } cases[] = {
      {"a(?=b)", "lookaround assertions are not supported at offset 3"},
      {"(a)\\1", "backreferences are not supported"},
      {"\\bx", "the anchor \\b is not supported"},
      {"a^b", "'^' is supported only at the very start"},
      {"a++", "possessive quantifiers are not supported"},
      {"x{1001}", "a repeat count above 1000"},
      {"x{3,2}", "whose maximum is below its minimum"},
      {"[^\\x00-\\U0010FFFF]", "a character class that matches nothing"},
      {"(a|b)*a(a|b){16}", "the pattern needs more than 50000 DFA states"},
      {"(((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((a)))))))))))))))))))))"
       "))))))))))))))))))))))))))))))))))))))))))))))",
       "groups nest deeper than 64"},
      {"\xff", "not valid UTF-8"},
  };
  for (const Case &c : cases) {
    Expected<std::shared_ptr<const Regex>> re = Regex::compile(c.pattern);
    ASSERT_FALSE(re.ok()) << c.pattern;
    EXPECT_NE(re.error().message().find(c.message), std::string::npos) << re.error().message();
  }
  EXPECT_FALSE(Regex::compile(std::string(Regex::kMaxPatternBytes + 1, 'a')).ok());
  // Large but within the limits: compiled, and right.
  Expected<std::shared_ptr<const Regex>> big = Regex::compile(".{0,1000}x");
  ASSERT_TRUE(big.ok()) << big.error().message();
  EXPECT_TRUE((*big)->matches(std::string(1000, 'a') + "x"));
  EXPECT_FALSE((*big)->matches(std::string(1001, 'a') + "x"));
}

// Byte-level tokens, some of them halves of multi-byte characters, and an end token.
std::vector<std::string> regexVocabulary() {
  std::vector<std::string> v = {"", "12", "55", "5-1", "abc", "日", "\xE6\x97", "\xA5",
                                "本", "\xE8", "\xAA\x9E", "é", "\xC3", "\xA9", "--"};
  for (char c = ' '; c < 127; ++c)
    v.push_back(std::string(1, c));
  v.push_back(""); // the end token (no bytes)
  return v;
}

TEST(RegexConstraint, AllowsTokensThatKeepAMatchReachable) {
  const std::vector<std::string> vocab = regexVocabulary();
  const int32_t eos = static_cast<int32_t>(vocab.size() - 1);
  auto shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{eos});
  Expected<std::shared_ptr<const Regex>> re = Regex::compile("\\d{2,3}(-\\d)?");
  ASSERT_TRUE(re.ok());
  RegexConstraint c(shared, *re);
  using V = std::vector<std::string>;
  EXPECT_EQ(allowedTexts(c, vocab), (V{"0", "1", "12", "2", "3", "4", "5", "55", "6", "7", "8", "9"}));
  c.accept(tokenOf(vocab, "12"));
  // Two digits match: the end may come, a third digit, or the dash (with its digit).
  EXPECT_EQ(allowedTexts(c, vocab),
            (V{"-", "0", "1", "2", "3", "4", "5", "5-1", "6", "7", "8", "9", "<end>"}));
  c.accept(tokenOf(vocab, "3"));
  EXPECT_EQ(allowedTexts(c, vocab), (V{"-", "<end>"}));
  c.accept(tokenOf(vocab, "-"));
  EXPECT_EQ(allowedTexts(c, vocab), (V{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  c.accept(tokenOf(vocab, "5"));
  EXPECT_EQ(allowedTexts(c, vocab), (V{"<end>"}));

  // Characters split across tokens: "日" whole or as its first two bytes then the third.
  Expected<std::shared_ptr<const Regex>> cjk = Regex::compile("日本語|日x");
  ASSERT_TRUE(cjk.ok());
  RegexConstraint d(shared, *cjk);
  EXPECT_EQ(allowedTexts(d, vocab), (V{"\xE6\x97", "日"}));
  d.accept(tokenOf(vocab, "\xE6\x97"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{"\xA5"}));
  d.accept(tokenOf(vocab, "\xA5"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{"x", "本"}));
  d.accept(tokenOf(vocab, "本"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{"\xE8"}));
  d.accept(tokenOf(vocab, "\xE8"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{"\xAA\x9E"}));
  d.accept(tokenOf(vocab, "\xAA\x9E"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{"<end>"}));
}

TEST(RegexConstraint, RandomSamplingOnlyEndsOnMatches) {
  const std::vector<std::string> vocab = regexVocabulary();
  const int32_t eos = static_cast<int32_t>(vocab.size() - 1);
  auto shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{eos});
  std::mt19937 rng(7);
  for (const char *pattern : {"\\d{3}-\\d{4}", "[a-c]+(, [a-c]+)*", "(é|日本)+x?", "-?\\d+(\\.\\d+)?",
                              "\\(\\w{1,3}\\)"}) {
    Expected<std::shared_ptr<const Regex>> re = Regex::compile(pattern);
    ASSERT_TRUE(re.ok()) << pattern;
    std::set<std::string> seen;
    for (int trial = 0; trial < 100; ++trial) {
      auto constraint = std::make_shared<RegexConstraint>(shared, *re);
      const auto [text, ended] = sampleText(constraint, vocab, eos, uint64_t(trial), rng, 40);
      if (ended) {
        EXPECT_TRUE((*re)->matches(text)) << pattern << ": '" << text << "'";
        seen.insert(text);
      } else { // cut off by the step limit: still a prefix of some match
        EXPECT_NE(constraint->state(), Regex::kDead) << pattern << ": '" << text << "'";
      }
    }
    EXPECT_GT(seen.size(), 5u) << pattern;
  }
}

} // namespace
} // namespace modelrt::sample
