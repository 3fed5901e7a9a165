// Guided decoding by a GBNF grammar (guided_grammar, `grammar`): the compiled recognizer must
// accept exactly what Lark's Earley parser accepts for the same grammar written in Lark's
// EBNF (test/goldens/grammar-lark.json: scripts/gen-grammar-goldens.py), context-free and
// ambiguous grammars included; bad grammars are refused with errors naming the place; and
// sampling under the constraint only ever ends on a text the grammar derives, however the
// vocabulary splits it.
#include "runtime/sample/GrammarConstraint.h"
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
                       "/test/goldens/grammar-lark.json",
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::shared_ptr<const Grammar> compiled(const std::string &text) {
  Expected<std::shared_ptr<const Grammar>> g = Grammar::compile(text);
  EXPECT_TRUE(g.ok()) << text << ": " << g.error().message();
  return g.ok() ? *g : nullptr;
}

TEST(Grammar, AcceptsWhatLarksEarleyParserAccepts) {
  const nlohmann::json g = goldens();
  ASSERT_GE(g["cases"].size(), 10u);
  size_t texts = 0, matching = 0;
  for (const nlohmann::json &c : g["cases"]) {
    const std::string name = c["name"];
    std::shared_ptr<const Grammar> grammar = compiled(c["grammar"].get<std::string>());
    ASSERT_TRUE(grammar) << name;
    for (const nlohmann::json &t : c["texts"]) {
      const std::string text = t[0];
      const bool expected = t[1];
      EXPECT_EQ(grammar->matches(text), expected) << name << ": '" << text << "'";
      ++texts;
      matching += expected;
    }
  }
  EXPECT_GT(texts, 20000u);
  EXPECT_GT(matching, 500u);
}

TEST(Grammar, RefusesBadGrammarsNamingThePlace) {
  struct Case {
    const char *grammar, *message;
  } cases[] = {
      {"", "the grammar has no 'root' rule"},
      {"start ::= \"a\"", "the grammar has no 'root' rule"},
      {"root ::= \"a\" b", "line 1, column 14: rule 'b' is not defined"},
      {"root ::= \"a\"\nroot ::= \"b\"", "line 2, column 1: rule 'root' is defined twice"},
      {"root ::= expr\nexpr ::= expr \"+\" term | term\nterm ::= [0-9]",
       "rule 'expr' is left-recursive"},
      {"root ::= a\na ::= b \"x\" | \"y\"\nb ::= \"\" | a", "is left-recursive"},
      {"root ::= \"a\" root", "'root' derives no finite text"},
      {"root ::= \"a", "line 1, column 10: a string without its closing '\"'"},
      {"root ::= [a-", "a '[' without its ']'"},
      {"root ::= [z-a]", "a class range runs backwards"},
      {"root ::= [^\\x00-\\U0010FFFF]", "the class matches no character"},
      {"root ::= (\"a\"", "a '(' without its ')'"},
      {"root ::= \"a\")", "a ')' without its '('"},
      {"root ::= \"a\"{1001}", "repetition counts go up to 1000"},
      {"root ::= \"a\"{3,2}", "maximum is below its minimum"},
      {"root ::= \"a\"{}", "'{}' needs a count"},
      {"root ::= \"a\"**", "a quantifier must follow an item"},
      {"root ::= \"\\q\"", "unknown escape '\\q'"},
      {"root ::= \"\\u12\"", "an escape needs 4 hexadecimal digits"},
      {"root ::= \"\\uD800\"", "names no Unicode scalar value"},
      {"root ::= <think>", "token references (<...>) are not supported"},
      {"root ::= !\"a\"", "negation ('!') is not supported"},
      {"root ::= 'a'", "strings are written in double quotes"},
      {"root := \"a\"", "'::=' must follow the rule name 'root'"},
      {"start: \"a\"", "'::=' must follow the rule name 'start' (grammars are GBNF; Lark's "
                         "'name: ...' rules are not read)"},
      {"::= \"a\"", "a rule must start with its name"},
      {"root ::= \"\xff\"", "not valid UTF-8"},
      {"root ::= ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((\"a\")))))))))"
       ")))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
       "groups nest deeper than 64"},
  };
  for (const Case &c : cases) {
    Expected<std::shared_ptr<const Grammar>> g = Grammar::compile(c.grammar, "'guided_grammar'");
    ASSERT_FALSE(g.ok()) << c.grammar;
    EXPECT_EQ(g.error().message().rfind("'guided_grammar': ", 0), 0u) << g.error().message();
    EXPECT_NE(g.error().message().find(c.message), std::string::npos)
        << c.grammar << ": " << g.error().message();
  }
  EXPECT_FALSE(Grammar::compile(std::string(Grammar::kMaxGrammarBytes + 1, ' ')).ok());
  std::string wide = "root ::= \"x\"";
  for (int i = 0; i < 4100; ++i)
    wide += " | \"" + std::to_string(i) + "\"";
  Expected<std::shared_ptr<const Grammar>> tooWide = Grammar::compile(wide);
  ASSERT_FALSE(tooWide.ok());
  EXPECT_NE(tooWide.error().message().find("the grammar starts more than 4096 ways at once"),
            std::string::npos)
      << tooWide.error().message();
  std::string large = "root ::=";
  for (int i = 0; i < 201; ++i)
    large += " \"a\"{1000}";
  Expected<std::shared_ptr<const Grammar>> tooLarge = Grammar::compile(large);
  ASSERT_FALSE(tooLarge.ok());
  EXPECT_NE(tooLarge.error().message().find("the grammar is too large once its repetitions are "
                                            "written out (more than 200000 elements)"),
            std::string::npos)
      << tooLarge.error().message();
  // Repetitions of repetitions are references, not copies: small.
  std::shared_ptr<const Grammar> nested = compiled("root ::= ((\"ab\"{1000}){1000}){1000}");
  ASSERT_TRUE(nested);
  EXPECT_FALSE(nested->matches("ab"));
  // Within the limits: compiled, and right.
  std::shared_ptr<const Grammar> big = compiled("root ::= [a-z]{0,1000} \"!\"");
  ASSERT_TRUE(big);
  EXPECT_TRUE(big->matches(std::string(1000, 'q') + "!"));
  EXPECT_FALSE(big->matches(std::string(1001, 'q') + "!"));
}

TEST(Grammar, DropsAlternativesThatCanNeverFinish) {
  // `loop` derives no finite text, so "a" loop is not a way out: only "b" is.
  std::shared_ptr<const Grammar> g = compiled("root ::= \"a\" loop | \"b\"\nloop ::= \"x\" loop");
  ASSERT_TRUE(g);
  EXPECT_TRUE(g->matches("b"));
  GrammarMatcher m(g);
  EXPECT_EQ(m.next(m.start(), 'a'), GrammarMatcher::kDead); // no dead end to walk into
}

TEST(GrammarMatcher, DeepNestingOutgrowsTheCachesAndKeepsItsPlace) {
  // Every depth of nesting is a state of its own: 40,000 of them outgrow bounds of 3,000
  // states (9,000 transitions over 3 byte classes) and 10,000 nodes, and compact() starts
  // the caches over with the current stack intact.
  std::shared_ptr<const Grammar> g = compiled("root ::= (\"(\" root \")\")*");
  ASSERT_TRUE(g);
  GrammarMatcher m(g, 10000, 9000);
  ASSERT_EQ(m.maxStates(), 3000u);
  int32_t s = m.start();
  const int depth = 40000;
  size_t compactions = 0;
  for (int i = 0; i < 2 * depth; ++i) {
    const uint64_t before = m.generation();
    s = m.compact(s);
    compactions += m.generation() != before;
    s = m.next(s, i < depth ? '(' : ')');
    ASSERT_NE(s, GrammarMatcher::kDead) << i;
    ASSERT_EQ(m.accepting(s), i == 2 * depth - 1) << i;
  }
  EXPECT_GE(compactions, 1u);
  EXPECT_GE(compactions, 10u);
  EXPECT_LE(m.numStates(), m.maxStates() + 1);
  EXPECT_EQ(m.next(s, ')'), GrammarMatcher::kDead);
}

// Byte-level tokens, some of them halves of multi-byte characters, and an end token.
std::vector<std::string> grammarVocabulary() {
  std::vector<std::string> v = {"", "12", "(1", "+(", "))", "日", "\xE6\x97", "\xA5", "本",
                                "true", "tr", "ue", "\", \"", "é", "\xC3", "\xA9"};
  for (char c = ' '; c < 127; ++c)
    v.push_back(std::string(1, c));
  v.push_back(""); // the end token (no bytes)
  return v;
}

TEST(GrammarConstraint, AllowsTokensThatKeepADerivationReachable) {
  const std::vector<std::string> vocab = grammarVocabulary();
  const int32_t eos = static_cast<int32_t>(vocab.size() - 1);
  auto shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{eos});
  std::shared_ptr<const Grammar> g =
      compiled("root ::= \"(\" root \")\" | [1-2]+ | root2\nroot2 ::= \"日本\"");
  ASSERT_TRUE(g);
  GrammarConstraint c(shared, g);
  using V = std::vector<std::string>;
  EXPECT_EQ(allowedTexts(c, vocab), (V{"(", "(1", "1", "12", "2", "\xE6\x97", "日"}));
  c.accept(tokenOf(vocab, "(1"));
  EXPECT_EQ(allowedTexts(c, vocab), (V{")", "1", "12", "2"}));
  c.accept(tokenOf(vocab, ")"));
  EXPECT_EQ(allowedTexts(c, vocab), (V{"<end>"})); // complete: only the end
  EXPECT_TRUE(c.complete());

  GrammarConstraint d(shared, g);
  d.accept(tokenOf(vocab, "("));
  d.accept(tokenOf(vocab, "("));
  d.accept(tokenOf(vocab, "\xE6\x97"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{"\xA5"}));
  d.accept(tokenOf(vocab, "\xA5"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{"本"}));
  d.accept(tokenOf(vocab, "本"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{")", "))"})); // both closers at once, or one
  d.accept(tokenOf(vocab, "))"));
  EXPECT_EQ(allowedTexts(d, vocab), (V{"<end>"}));
  EXPECT_FALSE(d.dead());
}

TEST(GrammarConstraint, RandomSamplingOnlyEndsOnDerivedTexts) {
  const std::vector<std::string> vocab = grammarVocabulary();
  const int32_t eos = static_cast<int32_t>(vocab.size() - 1);
  auto shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{eos});
  std::mt19937 rng(11);
  for (const char *text : {
           "root ::= expr\nexpr ::= term ((\"+\" | \"-\") term)*\nterm ::= [0-9]+ | \"(\" expr \")\"",
           "root ::= \"[\" (value (\", \" value)*)? \"]\"\nvalue ::= \"true\" | [0-9]+ | root",
           "root ::= s\ns ::= \"a\" s \"a\" | \"b\" s \"b\" | \"c\"",
           "root ::= (\"é\" | \"日本\")+ \"x\"?",
       }) {
    std::shared_ptr<const Grammar> g = compiled(text);
    ASSERT_TRUE(g);
    std::set<std::string> seen;
    for (int trial = 0; trial < 100; ++trial) {
      auto constraint = std::make_shared<GrammarConstraint>(shared, g);
      const auto [out, ended] = sampleText(constraint, vocab, eos, uint64_t(trial), rng, 40);
      if (ended) {
        EXPECT_TRUE(g->matches(out)) << text << ": '" << out << "'";
        seen.insert(out);
      } else { // cut off by the step limit: still a prefix of some derived text
        EXPECT_FALSE(constraint->dead()) << text << ": '" << out << "'";
      }
    }
    EXPECT_GT(seen.size(), 5u) << text;
  }
}

} // namespace
} // namespace modelrt::sample
