// JSON-guided decoding: the recognizer against JSON texts (valid ones accepted and
// complete, invalid ones refused at the first bad byte), the vocabulary masks against a
// byte-by-byte check of every token, and the property users rely on: sampling with random
// logits under the constraint always yields text that nlohmann::json parses as an object.
#include "runtime/sample/JsonConstraint.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <random>
#include <set>

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

// Samples up to `steps` tokens under `constraint` from noisy logits that favour the end
// token `eos`; returns the text (without the end token).
std::string sampleUnder(const std::vector<std::string> &vocab, int32_t eos,
                        std::shared_ptr<JsonConstraint> constraint, uint64_t seed,
                        std::mt19937 &rng, int steps) {
  std::normal_distribution<float> noise(0.0f, 2.0f);
  SamplingParams params;
  params.temperature = 1.0f;
  params.seed = seed;
  params.constraint = std::move(constraint);
  Sampler sampler(params);
  std::string text;
  std::vector<float> logits(vocab.size());
  for (int step = 0; step < steps; ++step) {
    for (float &x : logits)
      x = noise(rng);
    logits[size_t(eos)] += 3.0f; // a model that likes to stop early
    const int32_t t = sampler.next(logits.data(), int64_t(logits.size()));
    if (t == eos)
      break;
    sampler.accept(t);
    text += vocab[size_t(t)];
  }
  return text;
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
  int complete = 0;
  for (int trial = 0; trial < 300; ++trial) {
    auto constraint = std::make_shared<JsonConstraint>(shared);
    const std::string text = sampleUnder(vocab, eos, constraint, uint64_t(trial), rng, 400);
    if (constraint->state().complete()) {
      ++complete;
      nlohmann::json parsed;
      ASSERT_NO_THROW(parsed = nlohmann::json::parse(text)) << text;
      EXPECT_TRUE(parsed.is_object()) << text;
    } else {
      JsonRecognizer check; // cut off by the step limit: still a valid prefix
      EXPECT_TRUE(check.feed(text)) << text;
    }
  }
  EXPECT_GT(complete, 100); // most runs reach a complete object and then stop
}

} // namespace
} // namespace modelrt::sample

namespace modelrt::sample {
namespace {

const char *kPetSchema = R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "title": "Name"},
    "age": {"type": "integer", "minimum": 0},
    "weight": {"type": ["number", "null"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "kind": {"enum": ["cat", "dog", 7, true]},
    "owner": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]},
    "extra": {"type": "object"}
  },
  "required": ["name", "age"],
  "$defs": {"Person": {"type": "object", "properties": {"first": {"type": "string"},
                                                        "friend": {"$ref": "#/$defs/Person"}},
                       "required": ["first"]}}
})";

std::shared_ptr<const JsonSchema> petSchema() {
  Expected<std::shared_ptr<const JsonSchema>> s =
      JsonSchema::compile(nlohmann::ordered_json::parse(kPetSchema));
  EXPECT_TRUE(s.ok()) << s.error().toString();
  return s.ok() ? *s : nullptr;
}

bool schemaAccepts(const JsonSchema &schema, std::string_view text, bool wantComplete) {
  JsonRecognizer r(&schema);
  return r.feed(text) && r.complete() == wantComplete;
}

TEST(JsonSchema, AcceptsWhatTheSchemaAllowsAndItsPrefixes) {
  auto schema = petSchema();
  ASSERT_TRUE(schema);
  const std::string docs[] = {
      R"({"name": "Tom", "age": 3})",
      R"({"name":"Tom","age":3,"weight":4.5,"tags":["a","b"],"kind":"cat","owner":null,"extra":{"x":[1]}})",
      R"({"name": "x", "age": -1, "weight": null, "kind": 7, "owner": {"first": "A", "friend": {"first": "B"}}})",
      R"({"name": "x", "age": 0, "kind": true})",
  };
  for (const std::string &d : docs) {
    EXPECT_TRUE(schemaAccepts(*schema, d, true)) << d;
    for (size_t n = 0; n < d.size(); ++n)
      EXPECT_TRUE(schemaAccepts(*schema, d.substr(0, n), false)) << "prefix " << n << " of " << d;
  }
}

TEST(JsonSchema, RefusesWhatTheSchemaDoesNot) {
  auto schema = petSchema();
  ASSERT_TRUE(schema);
  const char *bad[] = {
      R"({"age": 3, "name": "Tom"})",              // properties in another order
      R"({"name": "Tom"})",                        // a required property missing
      R"({"name": "T", "weight": 1})",             // a required property skipped
      R"({"name": "Tom", "age": 3.5})",            // not an integer
      R"({"name": 1, "age": 3})",                  // not a string
      R"({"name": "T", "age": 3, "kind": "cow"})", // not in the enum
      R"({"name": "T", "age": 3, "kind": 70})",
      R"({"name": "T", "age": 3, "x": 1})", // a property the schema does not have
      R"({"name": "T", "age": 3, "owner": {"first": 1}})",
      R"({"name": "T", "age": 3, "owner": {}})", // the owner's required property
      R"({"name": "T", "age": 3, "tags": [1]})",
      R"({"name": "T", "age": 3, "weight": "heavy"})",
  };
  for (const char *b : bad)
    EXPECT_FALSE(schemaAccepts(*schema, b, true)) << b;
}

TEST(JsonSchema, RefusesWhatItCannotEnforce) {
  const std::pair<const char *, const char *> cases[] = {
      {R"({"type": "object", "properties": {"a": {"oneOf": [{"type": "string"}]}}})",
       "'oneOf' is supported only as a tagged union"},
      {R"({"type": "object", "properties": {"a": {"allOf": [{"type": "string"}]}}})",
       "keyword 'allOf' is not supported"},
      {R"({"type": "array"})", "the top-level schema must be an object"},
      {R"({"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}})",
       "does not name an entry"},
      {R"({"type": "object", "properties": {"a": {"enum": [{"x": 1}]}}})",
       "values must be strings, numbers, booleans or null"},
      {R"({"type": "object", "properties": {"a": {"type": ["string", "integer"]}}})",
       "more than one non-null type"},
      {R"({"type": "object", "properties": {"a": {"type": "decimal"}}})", "unknown type 'decimal'"},
      {R"({"type": "object", "properties": {"a": {}}, "required": ["b"]})",
       "'required' names a property"},
      {R"({"type": "object", "properties": {"a": {"$ref": "#/$defs/A"}},
           "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}})",
       "refer to each other in a circle"},
      {R"({"$ref": "#/$defs/A", "$defs": {"A": {"type": "object",
           "properties": {"a": {"$ref": "#/$defs/A"}}, "required": ["a"]}}})",
       "no value can be written"},
      {R"({"type": "object", "properties": {"a": {"type": "string", "enum": ["x", 1]}}})",
       "is not of type 'string'"},
      {R"({"type": "object", "properties": {"a": {"enum": [1e100]}}})", "cannot be generated"},
      {R"({"type": "object", "properties": {"m": {"type": "object",
           "additionalProperties": {"type": "integer"}}}})",
       "(maps) are not supported"},
      {R"({"type": "object", "properties": {"m": {"type": "object", "required": ["a"]}}})",
       "'required' without 'properties'"},
  };
  for (auto [schema, message] : cases) {
    Expected<std::shared_ptr<const JsonSchema>> s =
        JsonSchema::compile(nlohmann::ordered_json::parse(schema));
    ASSERT_FALSE(s.ok()) << schema;
    EXPECT_NE(s.error().toString().find(message), std::string::npos) << s.error().toString();
  }
}

TEST(JsonSchema, RecursiveOptionalReferencesKeepTheirSchema) {
  // pydantic's `next: Optional["Node"]`: the reference is compiled while Node still is.
  auto s = JsonSchema::compile(nlohmann::ordered_json::parse(R"({"$ref": "#/$defs/N", "$defs":
      {"N": {"type": "object", "properties": {"v": {"type": "integer"},
             "next": {"anyOf": [{"$ref": "#/$defs/N"}, {"type": "null"}]}}}}})"));
  ASSERT_TRUE(s.ok()) << s.error().toString();
  EXPECT_TRUE(schemaAccepts(**s, R"({"v": 1, "next": {"v": 2, "next": null}})", true));
  EXPECT_FALSE(schemaAccepts(**s, R"({"next": 5})", true));
  EXPECT_FALSE(schemaAccepts(**s, R"({"next": {"v": "x"}})", true));
}

TEST(JsonSchema, NoDeadEndAtTheDepthLimit) {
  // Person.friend nests optionally: at the depth limit "friend" may no longer start, but the
  // object can still close.
  auto schema = petSchema();
  ASSERT_TRUE(schema);
  std::string text = R"({"name": "a", "age": 1, "owner": )";
  int depth = 1;
  while (depth + 1 < JsonRecognizer::kMaxDepth) {
    text += R"({"first": "b", "friend": )";
    ++depth;
  }
  text += R"({"first": "c")"; // depth kMaxDepth
  JsonRecognizer r(schema.get());
  ASSERT_TRUE(r.feed(text));
  JsonRecognizer more = r;
  EXPECT_FALSE(more.feed(R"(, "friend")")) << "a key whose object could not open";
  EXPECT_TRUE(r.feed(std::string(size_t(JsonRecognizer::kMaxDepth), '}')));
  EXPECT_TRUE(r.complete());
  // additionalProperties false without properties: only {}; items without a type: an array.
  auto strict = JsonSchema::compile(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"e": {"type": "object", "additionalProperties": false},
          "l": {"items": {"type": "integer"}}}})"));
  ASSERT_TRUE(strict.ok()) << strict.error().toString();
  EXPECT_TRUE(schemaAccepts(**strict, R"({"e": {}, "l": [1, 2]})", true));
  EXPECT_FALSE(schemaAccepts(**strict, R"({"e": {"x": 1}})", true));
  EXPECT_FALSE(schemaAccepts(**strict, R"({"l": ["a"]})", true));
}

// Checks a parsed document against the pet schema by hand (the property the constraint
// promises): known keys in schema order, required ones present, types and enum values.
bool fitsPetSchema(const nlohmann::ordered_json &doc) {
  static const std::vector<std::string> order = {"name", "age",   "weight", "tags",
                                                 "kind", "owner", "extra"};
  if (!doc.is_object() || !doc.contains("name") || !doc.contains("age"))
    return false;
  size_t last = 0;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    auto pos = std::find(order.begin(), order.end(), it.key());
    if (pos == order.end() || size_t(pos - order.begin()) < last)
      return false;
    last = size_t(pos - order.begin());
  }
  auto person = [](const nlohmann::ordered_json &p, auto &&self) -> bool {
    if (!p.is_object() || !p.contains("first") || !p["first"].is_string())
      return false;
    for (auto it = p.begin(); it != p.end(); ++it)
      if (it.key() != "first" && !(it.key() == "friend" && self(it.value(), self)))
        return false;
    return true;
  };
  const auto &kind = doc.value("kind", nlohmann::ordered_json("cat"));
  return doc["name"].is_string() && doc["age"].is_number_integer() &&
         (!doc.contains("weight") || doc["weight"].is_number() || doc["weight"].is_null()) &&
         (!doc.contains("tags") ||
          (doc["tags"].is_array() && std::all_of(doc["tags"].begin(), doc["tags"].end(),
                                                 [](auto &t) { return t.is_string(); }))) &&
         (kind == "cat" || kind == "dog" || kind == 7 || kind == true) &&
         (!doc.contains("owner") || doc["owner"].is_null() || person(doc["owner"], person)) &&
         (!doc.contains("extra") || doc["extra"].is_object());
}

// The test vocabulary plus whole words of a schema, and an end token.
struct SchemaVocabulary {
  std::vector<std::string> vocab;
  int32_t eos;
  std::shared_ptr<JsonVocabulary> shared;
  explicit SchemaVocabulary(std::initializer_list<const char *> words)
      : vocab(testVocabulary()) {
    vocab.insert(vocab.end(), words.begin(), words.end());
    eos = int32_t(vocab.size());
    vocab.push_back("");
    shared = std::make_shared<JsonVocabulary>(vocab, std::vector<int32_t>{eos});
  }
};

TEST(JsonSchema, RandomSamplingAlwaysFitsTheSchema) {
  auto schema = petSchema();
  ASSERT_TRUE(schema);
  SchemaVocabulary v({"name", "age", "weight", "tags", "kind", "owner", "first", "\"cat\"",
                      "friend", "extra", "null", "dog"});
  const std::vector<std::string> &vocab = v.vocab;
  const int32_t eos = v.eos;
  auto shared = v.shared;
  std::mt19937 rng(5);
  int complete = 0;
  for (int trial = 0; trial < 200; ++trial) {
    auto constraint = std::make_shared<JsonConstraint>(shared, schema);
    const std::string text = sampleUnder(vocab, eos, constraint, uint64_t(trial), rng, 300);
    if (constraint->state().complete()) {
      ++complete;
      nlohmann::ordered_json doc;
      ASSERT_NO_THROW(doc = nlohmann::ordered_json::parse(text)) << text;
      EXPECT_TRUE(fitsPetSchema(doc)) << text;
    } else {
      EXPECT_TRUE(JsonRecognizer(schema.get()).feed(text)) << text;
    }
  }
  EXPECT_GT(complete, 50);
}

// tool_choice "required": one call of any declared function, a tagged union of
// {"name": const, "arguments": parameters}. After the tag the object is that branch.
const char *kCallSchema = R"({"anyOf": [
  {"type": "object", "properties": {"name": {"const": "get_weather"},
     "arguments": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}},
   "required": ["name", "arguments"], "additionalProperties": false},
  {"type": "object", "properties": {"name": {"const": "add"},
     "arguments": {"type": "object", "properties": {"a": {"type": "integer"},
                                                    "b": {"type": "integer"}},
                   "required": ["a", "b"]}},
   "required": ["name", "arguments"]},
  {"$ref": "#/$defs/Stop"}],
  "$defs": {"Stop": {"type": "object", "properties": {"name": {"const": "stop"},
                                                      "arguments": {"type": "object"}},
                     "required": ["name", "arguments"]}}})";

TEST(JsonSchema, TaggedUnionContinuesAsTheNamedBranch) {
  Expected<std::shared_ptr<const JsonSchema>> s =
      JsonSchema::compile(nlohmann::ordered_json::parse(kCallSchema));
  ASSERT_TRUE(s.ok()) << s.error().toString();
  const std::string good[] = {
      R"({"name": "get_weather", "arguments": {"city": "Paris"}})",
      R"({"name":"add","arguments":{"a":1,"b":-2}})",
      R"({"name": "stop", "arguments": {"why": [1, "x"]}})",
  };
  for (const std::string &d : good) {
    EXPECT_TRUE(schemaAccepts(**s, d, true)) << d;
    for (size_t n = 0; n < d.size(); ++n)
      EXPECT_TRUE(schemaAccepts(**s, d.substr(0, n), false)) << "prefix " << n << " of " << d;
  }
  const char *bad[] = {
      R"({"name": "add", "arguments": {"city": "Paris"}})",      // another branch's arguments
      R"({"name": "get_weather", "arguments": {"a": 1, "b": 2}})",
      R"({"name": "add", "arguments": {"a": 1}})",               // its required b
      R"({"name": "add", "arguments": {"a": "1", "b": 2}})",     // its types
      R"({"name": "mul", "arguments": {}})",                     // not a declared name
      R"({"arguments": {}, "name": "add"})",                     // the tag comes first
      R"({"name": "add"})",                                      // arguments required
      R"({"name": "get_weather", "arguments": {"city": "P"}, "x": 1})",
  };
  for (const char *b : bad)
    EXPECT_FALSE(schemaAccepts(**s, b, true)) << b;
}

// pydantic's discriminated union: oneOf with the tag first in each branch.
TEST(JsonSchema, OneOfOfATaggedUnionIsItsAnyOf) {
  Expected<std::shared_ptr<const JsonSchema>> s = JsonSchema::compile(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"pet": {"oneOf": [{"$ref": "#/$defs/Cat"},
           {"$ref": "#/$defs/Dog"}], "discriminator": {"propertyName": "pet_type"}}},
          "required": ["pet"],
          "$defs": {"Cat": {"type": "object", "properties": {"pet_type": {"const": "cat"},
                                                             "meows": {"type": "integer"}},
                            "required": ["pet_type", "meows"]},
                    "Dog": {"type": "object", "properties": {"pet_type": {"const": "dog"},
                                                             "barks": {"type": "number"}},
                            "required": ["pet_type", "barks"]}}})"));
  ASSERT_TRUE(s.ok()) << s.error().toString();
  EXPECT_TRUE(schemaAccepts(**s, R"({"pet": {"pet_type": "cat", "meows": 3}})", true));
  EXPECT_TRUE(schemaAccepts(**s, R"({"pet": {"pet_type": "dog", "barks": 1.5}})", true));
  EXPECT_FALSE(schemaAccepts(**s, R"({"pet": {"pet_type": "dog", "meows": 3}})", true));
  EXPECT_FALSE(schemaAccepts(**s, R"({"pet": {"pet_type": "cow", "moos": 1}})", true));
}

TEST(JsonSchema, UnionsItCannotTellApartAreRefused) {
  const char *cases[] = {
      // no common first property
      R"({"anyOf": [{"type": "object", "properties": {"a": {"const": "x"}}, "required": ["a"]},
                    {"type": "object", "properties": {"b": {"const": "y"}}, "required": ["b"]}]})",
      // the tag is not a const
      R"({"anyOf": [{"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"type": "object", "properties": {"a": {"const": "y"}}, "required": ["a"]}]})",
      // the same tag twice
      R"({"anyOf": [{"type": "object", "properties": {"a": {"const": "x"}}, "required": ["a"]},
                    {"type": "object", "properties": {"a": {"const": "x"}}, "required": ["a"]}]})",
      // the tag may be left out
      R"({"anyOf": [{"type": "object", "properties": {"a": {"const": "x"}}},
                    {"type": "object", "properties": {"a": {"const": "y"}}, "required": ["a"]}]})",
      // not objects
      R"({"anyOf": [{"type": "string"}, {"type": "integer"}]})",
      // a number tag
      R"({"anyOf": [{"type": "object", "properties": {"a": {"const": 1}}, "required": ["a"]},
                    {"type": "object", "properties": {"a": {"const": 2}}, "required": ["a"]}]})",
  };
  for (const char *c : cases) {
    Expected<std::shared_ptr<const JsonSchema>> s =
        JsonSchema::compile(nlohmann::ordered_json::parse(c));
    ASSERT_FALSE(s.ok()) << c;
    EXPECT_NE(s.error().toString().find("tagged union"), std::string::npos) << s.error().toString();
  }
}

TEST(JsonSchema, RandomSamplingUnderATaggedUnionWritesOneBranch) {
  Expected<std::shared_ptr<const JsonSchema>> s =
      JsonSchema::compile(nlohmann::ordered_json::parse(kCallSchema));
  ASSERT_TRUE(s.ok()) << s.error().toString();
  SchemaVocabulary v({"name", "arguments", "\"get_weather\"", "\"add\"", "stop", "city",
                      "\"a\"", "\"b\""});
  const std::vector<std::string> &vocab = v.vocab;
  const int32_t eos = v.eos;
  auto shared = v.shared;
  std::mt19937 rng(7);
  int complete = 0;
  std::set<std::string> names;
  for (int trial = 0; trial < 200; ++trial) {
    auto constraint = std::make_shared<JsonConstraint>(shared, *s);
    const std::string text = sampleUnder(vocab, eos, constraint, uint64_t(trial), rng, 300);
    if (!constraint->state().complete())
      continue;
    ++complete;
    nlohmann::ordered_json doc;
    ASSERT_NO_THROW(doc = nlohmann::ordered_json::parse(text)) << text;
    const std::string name = doc.at("name");
    names.insert(name);
    const nlohmann::ordered_json &args = doc.at("arguments");
    // JSON Schema integers have no size limit: past 64 bits nlohmann reads a double.
    auto integral = [](const nlohmann::ordered_json &v) {
      return v.is_number_integer() ||
             (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
    };
    if (name == "get_weather")
      EXPECT_TRUE(args.size() == 1 && args.at("city").is_string()) << text;
    else if (name == "add")
      EXPECT_TRUE(args.size() == 2 && integral(args.at("a")) && integral(args.at("b"))) << text;
    else
      EXPECT_EQ(name, "stop") << text;
  }
  EXPECT_GT(complete, 50);
  EXPECT_EQ(names.size(), 3u); // every branch is reachable
}

} // namespace
} // namespace modelrt::sample
