// JSON-guided decoding: the recognizer against JSON texts (valid ones accepted and
// complete, invalid ones refused at the first bad byte), the vocabulary masks against a
// byte-by-byte check of every token, and the property users rely on: sampling with random
// logits under the constraint always yields text that nlohmann::json parses as an object.
#include "runtime/sample/JsonConstraint.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>

namespace modelrt::sample {
namespace {

bool accepts(std::string_view text, bool wantComplete) {
  JsonRecognizer r;
  return r.feed(text) && r.complete() == wantComplete;
}

TEST(JsonRecognizer, AcceptsObjectsAndTheirPrefixes) {
  const std::string docs[] = {
      R"({})",
      R"({"a": 1})",
      R"( { "a" : [1, -2.5e+3, 0, 0.25, true, false, null, "x\"y\\z\u00e9\n"], "b": {} } )",
      "{\"nested\": [[[{}]]], \"unicode\": \"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}",
      R"({"e": 1E5, "f": -0, "g": [], "h": ""})",
      R"({"pair": "\ud83d\ude00", "bmp": "\u20AC"})",
  };
  for (const std::string &d : docs) {
    std::string trimmed = d.substr(0, d.find_last_not_of(' ') + 1);
    EXPECT_TRUE(accepts(trimmed, true)) << d;
    for (size_t n = 0; n < trimmed.size(); ++n)
      EXPECT_TRUE(accepts(trimmed.substr(0, n), false)) << "prefix " << n << " of " << d;
    ASSERT_NO_THROW((void)nlohmann::json::parse(d)) << d; // the reference agrees
  }
}

TEST(JsonRecognizer, RefusesWhatIsNotJson) {
  const char *bad[] = {
      "[1]",               // an array where an object is asked for
      "{a: 1}",            // unquoted key
      "{\"a\" 1}",         // no colon
      "{\"a\": 01}",       // leading zero
      "{\"a\": 1.}",       // no fraction digits
      "{\"a\": tru}",      // broken literal
      "{\"a\": \"\x01\"}", // raw control character
      "{\"a\": \"\\x\"}",  // bad escape
      "{\"a\": \"\\u12g4\"}",
      "{\"a\": 1,}",               // trailing comma
      "{\"a\": 1}}",               // extra closer
      "{\"a\": \"\xc3\x28\"}",     // bad UTF-8 continuation
      "{\"a\": \"\xed\xa0\x80\"}", // a surrogate
      "{} x",
      "```json",
      "{\"a\": 1e123}",        // an exponent past double's range
      "{\"a\": \"\\udc00\"}",  // a lone low surrogate
      "{\"a\": \"\\ud800x\"}", // a high surrogate without its low half
  };
  for (const char *b : bad) {
    JsonRecognizer r;
    EXPECT_FALSE(r.feed(b) && r.complete()) << b;
  }
  JsonRecognizer deep;
  EXPECT_FALSE(deep.feed(std::string(1, '{') + std::string(40, '[')));
  // A number may be 32 bytes long, and its 32nd byte must complete it.
  JsonRecognizer longNumber;
  EXPECT_TRUE(longNumber.feed("{\"n\": " + std::string(31, '1')));
  JsonRecognizer atLimit = longNumber;
  EXPECT_FALSE(atLimit.feed(".")) << "no dead end at the limit";
  EXPECT_TRUE(longNumber.feed("2}"));
  EXPECT_TRUE(longNumber.complete());
  JsonRecognizer spaces;
  EXPECT_FALSE(spaces.feed("{" + std::string(17, ' ')));
}

// A vocabulary of JSON-ish fragments, multi-byte ones split, and junk, plus every single
// printable ASCII byte (as byte-level vocabularies have: no valid prefix is a dead end).
std::vector<std::string> testVocabulary() {
  std::vector<std::string> v = {
      "",      "{",   "}",   "[",    "]",    ",",    ":",     "\"",          " ",   "\n",  "\"a\"",
      "\"key", "\":", "1",   "23",   "-",    ".5",   "e",     "true",        "fal", "se",  "null",
      "\\",    "n",   "u",   "00e9", "\xc3", "\xa9", "x",     "```",         "}\n", "{\"", "\"}",
      "],",    "abc", " \"", "\t\t", "0",    "E+",   "\"\\u", "\xe2\x82\xac"};
  for (char c = ' '; c < 127; ++c)
    v.push_back(std::string(1, c));
  return v;
}

TEST(JsonVocabulary, MasksEqualFeedingEachTokenBytes) {
  const std::vector<std::string> vocab = testVocabulary();
  const int32_t eos = int32_t(vocab.size()); // an end token outside the byte vocabulary
  std::vector<std::string> withEos = vocab;
  withEos.push_back("");
  JsonVocabulary v(withEos, {eos});
  const std::string states[] = {"",           "{",
                                "{\"ke",      "{\"key\":",
                                "{\"a\": [1", "{\"a\": \"\\u0",
                                "{\"a\": tr", "{\"a\": \"\xe2",
                                "{\"a\": -",  "{}"};
  for (const std::string &prefix : states) {
    JsonRecognizer r;
    ASSERT_TRUE(r.feed(prefix)) << prefix;
    const std::vector<uint8_t> &mask = v.allowed(r);
    for (size_t id = 0; id < vocab.size(); ++id) {
      JsonRecognizer s = r;
      const bool expected = !r.complete() && !vocab[id].empty() && s.feed(vocab[id]);
      EXPECT_EQ(bool(mask[id]), expected)
          << "after '" << prefix << "', token '" << vocab[id] << "'";
    }
    EXPECT_EQ(bool(mask[size_t(eos)]), r.complete()) << prefix;
  }
}

TEST(JsonConstraint, RandomSamplingAlwaysYieldsAnObject) {
  std::vector<std::string> vocab = testVocabulary();
  const int32_t eos = int32_t(vocab.size());
  vocab.push_back("");
  auto shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{eos});
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 2.0f);
  int finished = 0;
  for (int trial = 0; trial < 300; ++trial) {
    SamplingParams params;
    params.temperature = 1.0f;
    params.seed = uint64_t(trial);
    auto constraint = std::make_shared<JsonConstraint>(shared);
    params.constraint = constraint;
    Sampler sampler(params);
    std::string text;
    std::vector<float> logits(vocab.size());
    for (int step = 0; step < 400; ++step) {
      for (float &x : logits)
        x = noise(rng);
      logits[size_t(eos)] += 3.0f; // a model that likes to stop early
      const int32_t t = sampler.next(logits.data(), int64_t(logits.size()));
      if (t == eos) {
        ++finished;
        break;
      }
      sampler.accept(t);
      text += vocab[size_t(t)];
    }
    if (constraint->state().complete()) {
      nlohmann::json parsed;
      ASSERT_NO_THROW(parsed = nlohmann::json::parse(text)) << text;
      EXPECT_TRUE(parsed.is_object()) << text;
    } else {
      JsonRecognizer check; // cut off by the step limit: still a valid prefix
      EXPECT_TRUE(check.feed(text)) << text;
    }
  }
  EXPECT_GT(finished, 100); // most runs reach a complete object and then stop
}

} // namespace
} // namespace modelrt::sample
