// Tokenizer tests against vectors from implementations nobody here wrote:
//  - ../shared/testdata/tokenizer (llama.cpp's ggml-vocab-* files and expected ids), and
//  - unittests/tokenize/data/smollm2 (the Hugging Face `tokenizers` library's ids for
//    SmolLM2, written by scripts/gen-tokenizer-vectors.py).
#include "runtime/tokenize/Tokenizer.h"
#include "runtime/formats/Gguf.h"
#include "runtime/tokenize/PreTokenizer.h"
#include "runtime/tokenize/Unicode.h"
#include "runtime/tokenize/Utf8.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <cstdio>
#include <sys/stat.h>
#include <unistd.h>

using namespace modelrt;

namespace {

std::string sourceDir() {
  const char *src = std::getenv("MODELC_SOURCE_DIR");
  return src ? src : MODELC_TEST_SOURCE_DIR;
}
std::string sharedDir() {
  const char *shared = std::getenv("MODELC_SHARED_DIR");
  return shared ? shared : sourceDir() + "/../shared";
}
bool exists(const std::string &p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
std::string readAll(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string formatIds(const std::vector<int32_t> &ids) {
  std::string s;
  for (int32_t id : ids)
    s += (s.empty() ? "" : " ") + std::to_string(id);
  return s;
}

// Runs one llama.cpp vector file pair; returns (matched, total).
void checkLlamaCppVectors(const std::string &vocab) {
  std::string base = sharedDir() + "/testdata/tokenizer/" + vocab;
  if (!exists(base))
    GTEST_SKIP() << "shared test vectors not found at " << base;
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromFile(base);
  ASSERT_TRUE(tok.ok()) << tok.error().toString();

  std::string inp = readAll(base + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0;;) {
    size_t hit = inp.find(sep, pos);
    if (hit == std::string::npos) {
      if (pos < inp.size())
        inputs.push_back(inp.substr(pos));
      break;
    }
    inputs.push_back(inp.substr(pos, hit - pos));
    pos = hit + sep.size();
  }
  std::istringstream out(readAll(base + ".out"));
  std::vector<std::string> expected;
  for (std::string line; std::getline(out, line);)
    expected.push_back(line);
  ASSERT_EQ(inputs.size(), expected.size());

  size_t matched = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    Expected<std::vector<int32_t>> ids = (*tok)->encode(inputs[k]);
    ASSERT_TRUE(ids.ok()) << ids.error().toString();
    std::string got = formatIds(*ids);
    // Reference lines carry a leading space before each id.
    std::string want = expected[k];
    while (!want.empty() && want.back() == ' ')
      want.pop_back();
    while (!want.empty() && want.front() == ' ')
      want.erase(0, 1);
    if (got == want)
      ++matched;
    else
      ADD_FAILURE() << vocab << " input #" << k << " '" << inputs[k] << "'\n  want: " << want
                    << "\n  got:  " << got;
    Expected<std::string> text = (*tok)->decode(*ids);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, inputs[k]) << vocab << " decode of input #" << k;
  }
  EXPECT_EQ(matched, inputs.size());
  std::cout << vocab << ": " << matched << "/" << inputs.size() << " vectors match\n";
}

struct Vector {
  std::string text;
  std::vector<int32_t> ids;
  bool parseSpecial;
};

std::vector<Vector> smolVectors() {
  nlohmann::json j =
      nlohmann::json::parse(readAll(sourceDir() + "/unittests/tokenize/data/smollm2/vectors.json"));
  std::vector<Vector> out;
  for (const auto &v : j)
    out.push_back({v["text"], v["ids"].get<std::vector<int32_t>>(), v["parse_special"]});
  return out;
}

void checkSmolVectors(const Tokenizer &tok) {
  std::vector<Vector> vectors = smolVectors();
  ASSERT_GE(vectors.size(), 20u);
  size_t matched = 0;
  for (const Vector &v : vectors) {
    EncodeOptions opts;
    opts.parseSpecial = v.parseSpecial;
    Expected<std::vector<int32_t>> ids = tok.encode(v.text, opts);
    ASSERT_TRUE(ids.ok()) << ids.error().toString();
    if (*ids == v.ids)
      ++matched;
    else
      ADD_FAILURE() << "'" << v.text << "'\n  want: " << formatIds(v.ids)
                    << "\n  got:  " << formatIds(*ids);
    EXPECT_EQ(*tok.decode(*ids), v.text);
  }
  EXPECT_EQ(matched, vectors.size());
}

std::unique_ptr<Tokenizer> tokOf(const nlohmann::json &json) {
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromTokenizerJson(json.dump());
  EXPECT_TRUE(tok.ok()) << tok.error().toString();
  return tok.ok() ? std::move(*tok) : nullptr;
}

std::unique_ptr<Tokenizer> load(const std::string &path) {
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromFile(path);
  EXPECT_TRUE(tok.ok()) << tok.error().toString();
  return tok.ok() ? std::move(tok.value()) : nullptr;
}

std::unique_ptr<Tokenizer> smolFromJson() {
  Expected<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::fromFile(sourceDir() + "/unittests/tokenize/data/smollm2/tokenizer.json");
  EXPECT_TRUE(tok.ok()) << tok.error().toString();
  return tok.ok() ? std::move(*tok) : nullptr;
}

} // namespace

TEST(Tokenizer, Gpt2VectorsFromLlamaCpp) { checkLlamaCppVectors("ggml-vocab-gpt-2.gguf"); }
TEST(Tokenizer, LlamaSpmVectorsFromLlamaCpp) { checkLlamaCppVectors("ggml-vocab-llama-spm.gguf"); }

TEST(Tokenizer, SmolLM2VectorsFromTokenizerJson) {
  std::unique_ptr<Tokenizer> tok = smolFromJson();
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), Tokenizer::Kind::ByteLevelBpe);
  EXPECT_EQ(tok->vocabSize(), 49152u);
  EXPECT_EQ(tok->eosId(), 2);
  EXPECT_FALSE(tok->chatTemplate().empty());
  checkSmolVectors(*tok);
}

TEST(Tokenizer, SmolLM2VectorsFromGguf) {
  const char *path = std::getenv("MODELC_SMOLLM2_GGUF");
  if (!path)
    GTEST_SKIP() << "set MODELC_SMOLLM2_GGUF to the SmolLM2-135M-Instruct GGUF to run this";
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromFile(path);
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  checkSmolVectors(**tok);
}

// A plan carries a GGUF tokenizer as a GGUF of its tokenizer.* keys alone
// (writeGgufMetadata); read back from those bytes it still matches HF tokenizers.
TEST(Tokenizer, SmolLM2VectorsFromPlanSection) {
  const char *path = std::getenv("MODELC_SMOLLM2_GGUF");
  if (!path)
    GTEST_SKIP() << "set MODELC_SMOLLM2_GGUF to the SmolLM2-135M-Instruct GGUF to run this";
  Expected<GgufFile> gguf = GgufFile::open(path);
  ASSERT_TRUE(gguf.ok()) << gguf.error().toString();
  std::vector<std::pair<std::string, const GgufValue *>> keys;
  for (const auto &[key, value] : gguf->metadata())
    if (key.rfind("tokenizer.", 0) == 0)
      keys.emplace_back(key, &value);
  std::vector<uint8_t> bytes = writeGgufMetadata(keys);
  EXPECT_LT(bytes.size(), 4u << 20);
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromPlanSection(
      "gguf", std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
      "plan: tokenizer.gguf");
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  Expected<std::unique_ptr<Tokenizer>> truncated = Tokenizer::fromPlanSection(
      "gguf", std::string_view(reinterpret_cast<const char *>(bytes.data()), 100), "plan");
  EXPECT_FALSE(truncated.ok());
  EXPECT_FALSE(Tokenizer::fromPlanSection("sentencepiece", "", "plan").ok());
  bytes.assign(bytes.size(), 0); // the tokenizer keeps no pointer into the section
  checkSmolVectors(**tok);
  EXPECT_EQ((*tok)->chatTemplate(), *gguf->getString("tokenizer.chat_template"));
}

// A tokenizer that carries its pre-tokenizer regexes (as modelc embeds GGUF tokenizers in
// plans) is read from them, not from the preset name: an unknown preset name with the
// regexes present works, and without them is refused.
TEST(Tokenizer, GgufPreTokenizerRegexesOverrideThePreset) {
  const char *path = std::getenv("MODELC_SMOLLM2_GGUF");
  if (!path)
    GTEST_SKIP() << "set MODELC_SMOLLM2_GGUF to the SmolLM2-135M-Instruct GGUF to run this";
  Expected<GgufFile> gguf = GgufFile::open(path);
  ASSERT_TRUE(gguf.ok()) << gguf.error().toString();
  Expected<GgufPreTokenizer> smol = resolveGgufPreTokenizer(*gguf->getString("tokenizer.ggml.pre"));
  ASSERT_TRUE(smol.ok());
  GgufValue unknown, regexes;
  unknown.type = GgufType::String;
  unknown.str = "no-such-preset";
  regexes.type = GgufType::Array;
  regexes.elemType = GgufType::String;
  regexes.count = smol->regexes.size();
  regexes.strings.assign(smol->regexes.begin(), smol->regexes.end());
  auto build = [&](bool withRegexes) {
    std::vector<std::pair<std::string, const GgufValue *>> keys;
    for (const auto &[key, value] : gguf->metadata())
      if (key.rfind("tokenizer.", 0) == 0)
        keys.emplace_back(key, key == "tokenizer.ggml.pre" ? &unknown : &value);
    if (withRegexes)
      keys.emplace_back(kGgufPreRegexesKey, &regexes);
    std::vector<uint8_t> bytes = writeGgufMetadata(keys);
    return Tokenizer::fromPlanSection(
        "gguf", std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
        "plan");
  };
  Expected<std::unique_ptr<Tokenizer>> tok = build(true);
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  checkSmolVectors(**tok);
  Expected<std::unique_ptr<Tokenizer>> refused = build(false);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("unsupported pre-tokenizer 'no-such-preset'"),
            std::string::npos);
}

// GGUF presets (tokenizer.ggml.pre, llama.cpp's names) resolve to their models' rules, and
// whether BPE looks whole words up before merging (llama.cpp's ignore_merges).
TEST(PreTokenizer, GgufPresetsResolveToTheirRules) {
  struct Case {
    const char *preset;
    std::vector<std::string> regexes;
    bool ignoreMerges;
  };
  for (const Case &c : std::vector<Case>{
           {"llama-bpe", {pretok::kLlama3}, true},
           {"tekken", {pretok::kTekken}, true},
           {"deepseek-v3",
            {pretok::kDeepseekV3Digits, pretok::kDeepseekV3Cjk, pretok::kDeepseekV3},
            false},
           {"deepseek-llm",
       {pretok::kLineBreak, pretok::kDeepseekLlmLetters, pretok::kDeepseekLlmPunctuation,
        pretok::kDeepseekLlmTrailingSpace, pretok::kDeepseekCjkHangul, pretok::kDigits}},
      {"deepseek-coder",
            {pretok::kLineBreak, pretok::kDeepseekCoderLetters,
             pretok::kDeepseekCoderPunctuation, pretok::kDeepseekCjkHangul, pretok::kDigit},
            false},
           {"deepseek-llm",
            {pretok::kLineBreak, pretok::kDeepseekLlmLetters, pretok::kDeepseekLlmPunctuation,
             pretok::kDeepseekLlmTrailingSpace, pretok::kDeepseekCjkHangul, pretok::kDigits},
            false},
           {"dbrx", {pretok::kLlama3}, false},
           {"glm4", {pretok::kLlama3}, false},
           {"olmo", {pretok::kGpt2}, false},
       }) {
    Expected<GgufPreTokenizer> pre = resolveGgufPreTokenizer(c.preset);
    ASSERT_TRUE(pre.ok()) << c.preset << ": " << pre.error().toString();
    EXPECT_EQ(pre->regexes, c.regexes) << c.preset;
    EXPECT_EQ(pre->ignoreMerges, c.ignoreMerges) << c.preset;
  }
}

// Our PCRE2 pre-tokenizer stages split exactly as HF tokenizers' Split (onig) does, for the
// GPT-2, Llama 3, Qwen2, SmolLM2, o200k (gpt-oss), tekken (Mistral), DeepSeek-V3, DeepSeek-LLM
// (V2) and DeepSeek-Coder rules
// (unittests/tokenize/data/pretokenizers.json).
TEST(PreTokenizer, SplitsLikeHfTokenizers) {
  nlohmann::json all =
      nlohmann::json::parse(readAll(sourceDir() + "/unittests/tokenize/data/pretokenizers.json"));
  const std::map<std::string, std::vector<std::string>> ours = {
      {"gpt2", {pretok::kGpt2}},
      {"llama3", {pretok::kLlama3}},
      {"qwen2", {pretok::kQwen2}},
      {"smollm", {pretok::kDigit, pretok::kGpt2}},
      {"o200k", {pretok::kO200k}},
      {"tekken", {pretok::kTekken}},
      {"deepseek-v3", {pretok::kDeepseekV3Digits, pretok::kDeepseekV3Cjk, pretok::kDeepseekV3}},
      {"deepseek-llm",
       {pretok::kLineBreak, pretok::kDeepseekLlmLetters, pretok::kDeepseekLlmPunctuation,
        pretok::kDeepseekLlmTrailingSpace, pretok::kDeepseekCjkHangul, pretok::kDigits}},
      {"deepseek-coder",
       {pretok::kLineBreak, pretok::kDeepseekCoderLetters,
        pretok::kDeepseekCoderPunctuation, pretok::kDeepseekCjkHangul, pretok::kDigit}},
  };
  ASSERT_EQ(all.size(), ours.size());
  for (const auto &[name, patterns] : ours) {
    const nlohmann::json &entry = all.at(name);
    EXPECT_EQ(entry["patterns"].get<std::vector<std::string>>(), patterns) << name;
    Expected<PreTokenizer> pre = PreTokenizer::create(patterns);
    ASSERT_TRUE(pre.ok()) << pre.error().toString();
    for (const auto &c : entry["cases"]) {
      std::string text = c["text"];
      std::vector<std::string_view> pieces;
      pre->split(text, pieces);
      EXPECT_EQ(std::vector<std::string>(pieces.begin(), pieces.end()),
                c["pieces"].get<std::vector<std::string>>())
          << name << ": '" << text << "'";
    }
  }
}

// tokenizer.json in the Llama 2 layout (SentencePiece-style BPE over merges with byte
// fallback), ids and decoded text from HF tokenizers.
TEST(Tokenizer, TinySentencePieceJsonMatchesHfTokenizers) {
  std::string dir = sourceDir() + "/unittests/tokenize/data/tiny-spm";
  std::unique_ptr<Tokenizer> tok = load(dir);
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), Tokenizer::Kind::SentencePieceBpe);
  EXPECT_EQ(tok->bosId(), 1);
  nlohmann::json vectors = nlohmann::json::parse(readAll(dir + "/vectors.json"));
  ASSERT_EQ(vectors.size(), 7u);
  for (const auto &v : vectors) {
    std::string text = v["text"];
    Expected<std::vector<int32_t>> ids = tok->encode(text);
    ASSERT_TRUE(ids.ok()) << ids.error().toString();
    EXPECT_EQ(*ids, v["ids"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(*tok->decode(*ids), v["decoded"].get<std::string>());
  }
  EncodeOptions opts;
  opts.addSpecial = true;
  EXPECT_EQ(tok->encode("hello", opts)->front(), 1);
}

// Llama 3 layout: Split regex + ByteLevel without regex, ignore_merges, BOS from the
// post-processor template rather than tokenizer_config.json.
TEST(Tokenizer, Llama3StyleTokenizerJson) {
  std::string json = R"({
    "added_tokens": [{"id": 4, "content": "<|begin_of_text|>", "special": true}],
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}|\\p{L}+|\\s+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
    "post_processor": {"type": "Sequence", "processors": [
      {"type": "ByteLevel"},
      {"type": "TemplateProcessing",
       "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
       "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [4], "tokens": ["<|begin_of_text|>"]}}}]},
    "model": {"type": "BPE", "ignore_merges": true,
              "vocab": {"a": 0, "b": 1, "ab": 2, "abab": 3, "1": 5, "2": 6, "12": 7, "Ġ": 8},
              "merges": ["a b", "1 2"]}})";
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromTokenizerJson(json);
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  EXPECT_EQ((*tok)->bosId(), 4);
  EncodeOptions opts;
  opts.addSpecial = true;
  // "abab" is kept whole (ignore_merges); merges alone would give "ab ab". Digits split in
  // threes. Expected ids are HF tokenizers' for this JSON (checked with tokenizers 0.23.3).
  EXPECT_EQ(*(*tok)->encode("abab 1212", opts), (std::vector<int32_t>{4, 3, 8, 7, 5, 6}));
  EXPECT_EQ(*(*tok)->encode("abab 1212"), (std::vector<int32_t>{3, 8, 7, 5, 6}));
}

// The ways a SentencePiece-style tokenizer.json prepends "▁" (Prepend normalizer, Metaspace
// first / always, with and without split), around special tokens. Expected ids are HF
// tokenizers 0.23.3's for the tiny-spm vocabulary with each pipeline.
TEST(Tokenizer, SentencePieceSpacePrefixVariantsMatchHf) {
  std::string dir = sourceDir() + "/unittests/tokenize/data/tiny-spm";
  nlohmann::json base = nlohmann::json::parse(readAll(dir + "/tokenizer.json"));
  nlohmann::json first = base, always = base;
  first["normalizer"] = nullptr;
  first["pre_tokenizer"] = {{"type", "Metaspace"},
                            {"replacement", "\xE2\x96\x81"},
                            {"prepend_scheme", "first"},
                            {"split", false}};
  always["normalizer"] = nullptr;
  always["pre_tokenizer"] = {{"type", "Metaspace"},
                             {"replacement", "\xE2\x96\x81"},
                             {"prepend_scheme", "always"},
                             {"split", true}};
  struct Case {
    std::string text;
    std::vector<int32_t> prepend, metaspaceFirst, metaspaceAlways;
  };
  const Case cases[] = {
      {"hello world<s>hello",
       {268, 276, 1, 268},
       {268, 276, 1, 260, 261, 262, 291},
       {268, 276, 1, 268}},
      {"  hello  world", {290, 268, 259, 276}, {259, 268, 259, 276}, {259, 268, 259, 276}},
      {"lolo<s> the",
       {259, 291, 291, 1, 259, 280},
       {259, 291, 291, 1, 280},
       {259, 291, 291, 1, 280}},
  };
  std::unique_ptr<Tokenizer> prepend = load(dir);
  Expected<std::unique_ptr<Tokenizer>> f = Tokenizer::fromTokenizerJson(first.dump());
  Expected<std::unique_ptr<Tokenizer>> a = Tokenizer::fromTokenizerJson(always.dump());
  ASSERT_TRUE(prepend && f.ok() && a.ok());
  EncodeOptions opts;
  opts.parseSpecial = true;
  for (const Case &c : cases) {
    EXPECT_EQ(*prepend->encode(c.text, opts), c.prepend) << c.text;
    EXPECT_EQ(*(*f)->encode(c.text, opts), c.metaspaceFirst) << c.text;
    EXPECT_EQ(*(*a)->encode(c.text, opts), c.metaspaceAlways) << c.text;
  }
}

// A vocabulary-only GGUF written by the gguf package, with ids from HF tokenizers
// (scripts/gen-format-vectors.py): the GGUF byte-level path with the SmolLM2 pre-tokenizer.
TEST(Tokenizer, TinyGgufVocabularyMatchesHfTokenizers) {
  std::string dir = sourceDir() + "/unittests/formats/data";
  std::unique_ptr<Tokenizer> tok = load(dir + "/tiny-vocab.gguf");
  ASSERT_TRUE(tok);
  nlohmann::json vectors = nlohmann::json::parse(readAll(dir + "/tiny-vocab.json"));
  ASSERT_EQ(vectors.size(), 6u);
  for (const auto &v : vectors) {
    std::string text = v["text"];
    EncodeOptions opts;
    opts.parseSpecial = true;
    Expected<std::vector<int32_t>> ids = tok->encode(text, opts);
    ASSERT_TRUE(ids.ok()) << ids.error().toString();
    EXPECT_EQ(*ids, v["ids"].get<std::vector<int32_t>>()) << text;
    EXPECT_EQ(*tok->decode(*ids), text);
  }
}

TEST(Tokenizer, ControlTokensOnlyWhenAllowed) {
  std::unique_ptr<Tokenizer> tok = smolFromJson();
  ASSERT_TRUE(tok);
  const std::string text = "<|im_start|>user";
  std::vector<int32_t> plain = *tok->encode(text);
  EXPECT_NE(plain.front(), 1);
  EncodeOptions opts;
  opts.parseSpecial = true;
  std::vector<int32_t> parsed = *tok->encode(text, opts);
  EXPECT_EQ(parsed.front(), 1);
  EXPECT_EQ(*tok->decode(parsed), text);
  EXPECT_EQ(*tok->decode(parsed, /*skipSpecial=*/true), "user");
}

TEST(Tokenizer, AddsBosWhenConfigured) {
  std::string path = sharedDir() + "/testdata/tokenizer/ggml-vocab-llama-spm.gguf";
  if (!exists(path))
    GTEST_SKIP() << "shared test vectors not found";
  std::unique_ptr<Tokenizer> tok = load(path);
  ASSERT_TRUE(tok);
  EncodeOptions opts;
  opts.addSpecial = true;
  std::vector<int32_t> ids = *tok->encode("Hello", opts);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids.front(), tok->bosId());
  EXPECT_EQ(*tok->decode(ids, true), "Hello");
}

TEST(Tokenizer, RejectsBadInput) {
  std::unique_ptr<Tokenizer> tok = smolFromJson();
  ASSERT_TRUE(tok);
  Expected<std::vector<int32_t>> bad = tok->encode("ok\xff\xfe");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("byte 2"), std::string::npos);
  EXPECT_FALSE(tok->decode({0, 49152}).ok());
  EXPECT_FALSE(tok->decode({-1}).ok());
  EXPECT_FALSE(Tokenizer::fromFile("/nonexistent/tokenizer.json").ok());
  // Found by the tokenizer-json fuzzer: a float id must be an error, not a conversion.
  Expected<std::unique_ptr<Tokenizer>> floatId = Tokenizer::fromTokenizerJson(
      R"({"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 3e94}}})");
  ASSERT_FALSE(floatId.ok());
  EXPECT_NE(floatId.error().message().find("not an integer"), std::string::npos);
  Expected<std::unique_ptr<Tokenizer>> broken = Tokenizer::fromTokenizerJson("{\"model\": 3}");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message().find("tokenizer.json"), std::string::npos);
}

// Qwen3-Embedding's layout: the post-processor appends <|endoftext|> while
// tokenizer_config.json's eos_token is <|im_end|>. transformers runs the post-processor, so
// the appended token is the template's (the position last-token pooling reads); EOS, which
// ends answers, stays the config's.
TEST(Tokenizer, TemplateAppendsItsOwnTokenWhateverEosSays) {
  const std::string src = sourceDir() + "/unittests/tokenize/data/smollm2";
  nlohmann::json json = nlohmann::json::parse(readAll(src + "/tokenizer.json"));
  json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
        {{"SpecialToken", {{"id", "<|endoftext|>"}, {"type_id", 0}}}}}},
      {"pair", nlohmann::json::array()},
      {"special_tokens",
       {{"<|endoftext|>", {{"id", "<|endoftext|>"}, {"ids", {0}}, {"tokens", {"<|endoftext|>"}}}}}}};
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromPlanSection(
      "tokenizer.json", json.dump(), "plan", {readAll(src + "/tokenizer_config.json"), "", ""});
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  EXPECT_EQ((*tok)->eosId(), 2); // <|im_end|>, from tokenizer_config.json
  EncodeOptions opts;
  opts.addSpecial = true;
  Expected<std::vector<int32_t>> ids = (*tok)->encode("hello", opts);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->back(), 0); // <|endoftext|>, as the template appends it
  EXPECT_EQ(*(*tok)->encode("hello"), std::vector<int32_t>(ids->begin(), ids->end() - 1));
}

// Two texts as one input (a cross-encoder's query and document), as transformers'
// tokenizer(text, text_pair) makes it: the post-processor's pair template places the texts
// among its special tokens; without a template, each text gets what encode adds; where
// tokenizer_config.json's add_bos_token or add_eos_token say otherwise than the single
// template, likewise. (Against transformers itself:
// Classifier.PlansMatchTransformers.)
TEST(Tokenizer, PairTemplatePlacesBothTexts) {
  const std::string src = sourceDir() + "/unittests/tokenize/data/smollm2";
  nlohmann::json json = nlohmann::json::parse(readAll(src + "/tokenizer.json"));
  auto seq = [](const char *id) { return nlohmann::json{{"Sequence", {{"id", id}, {"type_id", 0}}}}; };
  auto special = [](const char *id) {
    return nlohmann::json{{"SpecialToken", {{"id", id}, {"type_id", 0}}}};
  };
  json["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {special("<|im_start|>"), seq("A")}},
      {"pair", {special("<|im_start|>"), seq("A"), special("<|endoftext|>"), seq("B"),
                special("<|im_end|>")}},
      {"special_tokens", nlohmann::json::object()}};
  nlohmann::json cfg = nlohmann::json::parse(readAll(src + "/tokenizer_config.json"));
  cfg.erase("add_bos_token");
  const std::string config = cfg.dump();
  Expected<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::fromPlanSection("tokenizer.json", json.dump(), "plan", {config, "", ""});
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  EncodeOptions opts;
  opts.addSpecial = true;
  const std::vector<int32_t> a = *(*tok)->encode("hello"), b = *(*tok)->encode("world");
  std::vector<int32_t> want = {1};
  want.insert(want.end(), a.begin(), a.end());
  want.push_back(0);
  want.insert(want.end(), b.begin(), b.end());
  want.push_back(2);
  EXPECT_EQ(*(*tok)->encodePair("hello", "world", opts), want);
  // Without the specials: the two texts' ids one after the other.
  std::vector<int32_t> bare = a;
  bare.insert(bare.end(), b.begin(), b.end());
  EXPECT_EQ(*(*tok)->encodePair("hello", "world"), bare);
  // add_bos_token false against the template's BOS: no pair template; each text as encode
  // gives it (no BOS, as tokenizer_config.json says).
  cfg["add_bos_token"] = false;
  Expected<std::unique_ptr<Tokenizer>> rebuilt =
      Tokenizer::fromPlanSection("tokenizer.json", json.dump(), "plan", {cfg.dump(), "", ""});
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().toString();
  std::vector<int32_t> each = *(*rebuilt)->encode("hello", opts);
  const std::vector<int32_t> second = *(*rebuilt)->encode("world", opts);
  each.insert(each.end(), second.begin(), second.end());
  EXPECT_EQ(*(*rebuilt)->encodePair("hello", "world", opts), bare);
  EXPECT_EQ(each, bare);
}

// unittests/tokenize/data/<name>: HF tokenizers' ids of its vectors.json texts (special
// tokens found in the text, as HF's encode does), with and without the post-processor's
// specials, their decoding (HF's decode skips special tokens, the unknown one among them),
// and its pairs; at least `minTexts` texts, `minUnknown` of them with the unknown token. The
// vectors of `section` if given (loaded with tokenizer_config.json), else the top level's
// (loaded without it when `fileOnly`: the tokenizers library runs the file alone).
static void checkHfTextsAndPairs(const char *name, Tokenizer::Kind kind, size_t minTexts,
                                 int minUnknown, const char *section = nullptr,
                                 bool fileOnly = false) {
  SCOPED_TRACE(std::string(name) + (section ? std::string(" ") + section : ""));
  const std::string dir = sourceDir() + "/unittests/tokenize/data/" + name;
  std::unique_ptr<Tokenizer> tok;
  if (fileOnly) {
    Expected<std::unique_ptr<Tokenizer>> t =
        Tokenizer::fromTokenizerJson(readAll(dir + "/tokenizer.json"));
    ASSERT_TRUE(t.ok()) << t.error().toString();
    tok = std::move(*t);
  } else {
    tok = load(dir + "/tokenizer.json");
  }
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), kind);
  nlohmann::json vectors = nlohmann::json::parse(readAll(dir + "/vectors.json"));
  if (section)
    vectors = nlohmann::json(vectors[section]);
  ASSERT_GE(vectors["texts"].size(), minTexts);
  int withUnknown = 0;
  for (const nlohmann::json &v : vectors["texts"]) {
    const std::string text = v["text"];
    const std::vector<int32_t> want = v["ids"], wantSpecial = v["special_ids"];
    EncodeOptions opts;
    opts.parseSpecial = true;
    Expected<std::vector<int32_t>> ids = tok->encode(text, opts);
    ASSERT_TRUE(ids.ok()) << ids.error().toString();
    EXPECT_EQ(formatIds(*ids), formatIds(want)) << "'" << text << "'";
    opts.addSpecial = true;
    EXPECT_EQ(formatIds(*tok->encode(text, opts)), formatIds(wantSpecial)) << "'" << text << "'";
    if (std::find(want.begin(), want.end(), tok->unknownId()) != want.end())
      ++withUnknown;
    EXPECT_EQ(*tok->decode(want, /*skipSpecial=*/true), v["decoded"].get<std::string>())
        << "'" << text << "'";
  }
  EXPECT_GE(withUnknown, minUnknown);
  for (const nlohmann::json &p : vectors["pairs"]) {
    EncodeOptions opts;
    opts.addSpecial = true;
    const std::vector<int32_t> want = p["ids"];
    EXPECT_EQ(formatIds(*tok->encodePair(p["first"].get<std::string>(),
                                         p["second"].get<std::string>(), opts)),
              formatIds(want));
  }
}

// BERT's WordPiece pipeline (BertNormalizer, BertPreTokenizer, WordPiece, BertProcessing or
// TemplateProcessing) against HF tokenizers' ids, on two tokenizers it trained (see
// scripts/gen-tokenizer-vectors.py --wordpiece): lower-cased with accents stripped and CJK
// ideographs spaced, and cased without either. The texts cover control and format
// characters, Unicode white space and punctuation, accents and case mappings beyond ASCII,
// Hangul, unknown characters, words past 100 characters and special tokens in the text.
TEST(Tokenizer, WordPieceMatchesHfTokenizers) {
  for (const char *name : {"wordpiece-uncased", "wordpiece-cased"})
    checkHfTextsAndPairs(name, Tokenizer::Kind::WordPiece, 30, 3);
}

// llama.cpp's "bert" vocabulary (its phantom-space spelling, test/modelc/Inputs/
// tiny-bert-embedding.gguf, written from wordpiece-uncased as llama.cpp's converter does):
// the same ids as the tokenizer.json, with [CLS] first and [SEP] last. (llama.cpp's own
// tokenizer gives these ids on that file too: scripts/gen-compiler-test-models.py.)
TEST(Tokenizer, WordPieceFromGgufMatchesTheTokenizerJson) {
  std::unique_ptr<Tokenizer> tok =
      load(sourceDir() + "/test/modelc/Inputs/tiny-bert-embedding.gguf");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), Tokenizer::Kind::WordPiece);
  EXPECT_EQ(tok->tokenText(tok->bosId()), "[CLS]");
  const nlohmann::json vectors = nlohmann::json::parse(
      readAll(sourceDir() + "/unittests/tokenize/data/wordpiece-uncased/vectors.json"));
  for (const nlohmann::json &v : vectors["texts"]) {
    const std::string text = v["text"];
    EncodeOptions opts;
    opts.parseSpecial = true;
    opts.addSpecial = true;
    EXPECT_EQ(formatIds(*tok->encode(text, opts)), formatIds(v["special_ids"])) << "'" << text << "'";
  }
  EXPECT_EQ(*tok->decode(*tok->encode("the quick brown fox")), "the quick brown fox");
}

// Pair token types as HF's post-processors give them (transformers' token_type_ids):
// BertProcessing's second text and its [SEP] are 1; RobertaProcessing's all 0.
TEST(Tokenizer, PairTokenTypesOfBertAndRobertaProcessing) {
  const std::string dir = sourceDir() + "/unittests/tokenize/data/wordpiece-uncased";
  nlohmann::json json = nlohmann::json::parse(readAll(dir + "/tokenizer.json"));
  EncodeOptions opts;
  opts.addSpecial = true;
  const size_t a = tokOf(json)->encode("the fox")->size(), b = tokOf(json)->encode("a dog")->size();
  for (const char *type : {"BertProcessing", "RobertaProcessing"}) {
    SCOPED_TRACE(type);
    json["post_processor"] = {{"type", type}, {"sep", {"[SEP]", 3}}, {"cls", {"[CLS]", 2}}};
    std::unique_ptr<Tokenizer> tok = tokOf(json);
    std::vector<int32_t> types;
    Expected<std::vector<int32_t>> ids = tok->encodePair("the fox", "a dog", opts, &types);
    ASSERT_TRUE(ids.ok());
    const bool bert = std::string(type) == "BertProcessing";
    std::vector<int32_t> want(a + (bert ? 2 : 3), 0);
    want.resize(ids->size(), bert ? 1 : 0);
    EXPECT_EQ(ids->size(), a + b + (bert ? 3 : 4));
    EXPECT_EQ(types, want);
  }
}

// A WordPiece tokenizer.json whose pipeline is not BERT's is refused with what is wrong.
TEST(Tokenizer, WordPieceRefusesOtherPipelines) {
  const std::string dir = sourceDir() + "/unittests/tokenize/data/wordpiece-uncased";
  const nlohmann::json json = nlohmann::json::parse(readAll(dir + "/tokenizer.json"));
  auto refusal = [](const nlohmann::json &j) {
    Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromTokenizerJson(j.dump());
    return tok.ok() ? std::string("loaded") : tok.error().toString();
  };
  nlohmann::json other = json;
  other["pre_tokenizer"] = {{"type", "Whitespace"}};
  EXPECT_NE(refusal(other).find("unsupported pre-tokenizer type 'Whitespace'"), std::string::npos)
      << refusal(other);
  other["pre_tokenizer"] = nullptr;
  EXPECT_NE(refusal(other).find("WordPiece without BertPreTokenizer"), std::string::npos);
  other = json;
  other["model"]["unk_token"] = "[NOPE]";
  EXPECT_NE(refusal(other).find("without an unk_token"), std::string::npos) << refusal(other);
}

// Extended grapheme clusters (UAX #29) as the PyPI regex module's \X gives them
// (scripts/gen-tokenizer-vectors.py --unigram): each rule, emoji sequences, Indic conjuncts.
TEST(Unicode, GraphemeClustersMatchTheRegexModule) {
  const nlohmann::json data = nlohmann::json::parse(
      readAll(sourceDir() + "/unittests/tokenize/data/graphemes.json"));
  ASSERT_GE(data["cases"].size(), 40u);
  int multi = 0;
  for (const nlohmann::json &c : data["cases"]) {
    const std::string text = c["text"];
    std::vector<std::string> got;
    for (size_t pos = 0; pos < text.size();) {
      const size_t end = unicode::graphemeEnd(text, pos);
      ASSERT_GT(end, pos);
      got.push_back(text.substr(pos, end - pos));
      pos = end;
    }
    const std::vector<std::string> want = c["clusters"];
    EXPECT_EQ(got, want) << "'" << text << "'";
    for (const std::string &cluster : want)
      multi += unicode::decode(cluster).size() > 1;
  }
  EXPECT_GE(multi, 40); // clusters of more than one character
}

// Unigram tokenizer.json files of XLM-RoBERTa's layout (SentencePiece's nmt_nfkc charsmap,
// runs of spaces to one, Metaspace, RobertaProcessing) and of transformers 5's converter
// (right Strip, runs of spaces to "▁", WhitespaceSplit), trained and converted by
// scripts/gen-tokenizer-vectors.py --unigram, each run as the file says: HF tokenizers' ids
// for texts (NFKC forms, combining marks, emoji, unknown characters), with and without
// specials, for pairs, and its decoding.
TEST(Tokenizer, UnigramMatchesHfTokenizers) {
  checkHfTextsAndPairs("unigram-xlmr", Tokenizer::Kind::Unigram, 50, 5, nullptr, /*fileOnly=*/true);
  checkHfTextsAndPairs("unigram-v5", Tokenizer::Kind::Unigram, 50, 5);
}

// unigram-xlmr's tokenizer_config.json names XLMRobertaTokenizer, which transformers 5 builds
// itself around the file's vocabulary and charsmap (WhitespaceSplit, no Replace normalizer,
// its own template): transformers' AutoTokenizer's ids, which differ from the file's own on
// runs of white space.
TEST(Tokenizer, XlmRobertaClassMatchesTransformers) {
  checkHfTextsAndPairs("unigram-xlmr", Tokenizer::Kind::Unigram, 50, 5, "transformers");
}

// llama.cpp's GGUF of an XLM-R (tokenizer.ggml.model "t5": test/modelc/Inputs/
// tiny-xlmr-embedding.gguf, unigram-xlmr's vocabulary and charsmap as llama.cpp's converter
// writes them) is run as llama.cpp runs it: its ids (llama-cpp-python, in vectors.json's
// "llama_cpp") for every text, with and without BOS/EOS. (llama.cpp's
// normalizer takes the charsmap's longest match, not HF's grapheme clusters, and merges
// white space itself: it differs from transformers on 2 of the texts.)
TEST(Tokenizer, UgmGgufMatchesLlamaCpp) {
  std::unique_ptr<Tokenizer> tok =
      load(sourceDir() + "/test/modelc/Inputs/tiny-xlmr-embedding.gguf");
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->kind(), Tokenizer::Kind::Unigram);
  const nlohmann::json vectors = nlohmann::json::parse(
      readAll(sourceDir() + "/unittests/tokenize/data/unigram-xlmr/vectors.json"))["llama_cpp"];
  ASSERT_GE(vectors["texts"].size(), 50u);
  int differFromTransformers = 0;
  const nlohmann::json hf = nlohmann::json::parse(readAll(
      sourceDir() + "/unittests/tokenize/data/unigram-xlmr/vectors.json"))["transformers"]["texts"];
  for (size_t k = 0; k < vectors["texts"].size(); ++k) {
    const nlohmann::json &v = vectors["texts"][k];
    const std::string text = v["text"];
    EncodeOptions opts;
    opts.parseSpecial = true;
    Expected<std::vector<int32_t>> ids = tok->encode(text, opts);
    ASSERT_TRUE(ids.ok()) << ids.error().toString();
    EXPECT_EQ(formatIds(*ids), formatIds(v["ids"])) << "'" << text << "'";
    opts.addSpecial = true;
    EXPECT_EQ(formatIds(*tok->encode(text, opts)), formatIds(v["special_ids"])) << "'" << text << "'";
    differFromTransformers += v["ids"] != hf[k]["ids"];
  }
  EXPECT_GE(differFromTransformers, 1); // the vectors tell the two apart
}

// A Unigram tokenizer.json that is broken, or whose pipeline we do not implement, is refused
// with what is wrong.
TEST(Tokenizer, UnigramRefusesBadFiles) {
  const nlohmann::json json = nlohmann::json::parse(
      readAll(sourceDir() + "/unittests/tokenize/data/unigram-xlmr/tokenizer.json"));
  auto refusal = [](const nlohmann::json &j) {
    Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromTokenizerJson(j.dump());
    return tok.ok() ? std::string("loaded") : tok.error().toString();
  };
  auto expectRefusal = [&](const nlohmann::json &j, const std::string &what) {
    EXPECT_NE(refusal(j).find(what), std::string::npos) << refusal(j);
  };
  EXPECT_EQ(refusal(json), "loaded");
  nlohmann::json other = json;
  other["model"]["unk_id"] = nullptr;
  expectRefusal(other, "Unigram model without an unk_id");
  other["model"]["unk_id"] = 100000;
  expectRefusal(other, "Unigram model without an unk_id");
  other = json;
  other["model"]["vocab"][7] = {"x"};
  expectRefusal(other, "Unigram vocab entry #7 is not [piece, finite score]");
  other["model"]["vocab"] = {{"a", 1}};
  expectRefusal(other, "Unigram vocab is not a list");
  other = json;
  nlohmann::json &charsmap = other["normalizer"]["normalizers"][0]["precompiled_charsmap"];
  charsmap = "not base64!";
  expectRefusal(other, "precompiled_charsmap is not base64");
  charsmap = "AQ=="; // one byte
  expectRefusal(other, "shorter than its 4-byte header");
  charsmap = "AAEAAA=="; // a trie of 256 bytes in a 4-byte map
  expectRefusal(other, "runs past the 4-byte map");
  other = json;
  other["pre_tokenizer"] = {{"type", "ByteLevel"}};
  expectRefusal(other, "Unigram with a pre-tokenizer other than WhitespaceSplit and Metaspace");
  other["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "_"}};
  expectRefusal(other, "Metaspace replacement other than U+2581");
  other = json;
  other["normalizer"] = {{"type", "NFKD"}};
  expectRefusal(other, "unsupported normalizer 'NFKD'");
  other["normalizer"] = {{"type", "Replace"}, {"pattern", {{"String", ""}}}, {"content", "x"}};
  expectRefusal(other, "Replace normalizer with an empty pattern"); // (it would never end)
  other = json;
  other["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers", {json["pre_tokenizer"], {{"type", "WhitespaceSplit"}}}}};
  expectRefusal(other, "WhitespaceSplit after Metaspace");
  // A trie whose units point anywhere is bounds-checked: text encodes, unchanged.
  other = json;
  const std::string blob = std::string("\x10\0\0\0", 4) + std::string(16, '\xff') + "x";
  other["normalizer"]["normalizers"][0]["precompiled_charsmap"] = [&] {
    static const char *kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t k = 0; k < blob.size(); k += 3) {
      uint32_t v = static_cast<uint8_t>(blob[k]) << 16;
      if (k + 1 < blob.size())
        v |= static_cast<uint8_t>(blob[k + 1]) << 8;
      if (k + 2 < blob.size())
        v |= static_cast<uint8_t>(blob[k + 2]);
      for (size_t j = 0; j < 4; ++j)
        out += k + j <= blob.size() ? kAlphabet[(v >> (18 - 6 * j)) & 63] : '=';
    }
    return out;
  }();
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromTokenizerJson(other.dump());
  ASSERT_TRUE(tok.ok()) << tok.error().toString();
  Expected<std::vector<int32_t>> ids = (*tok)->encode("hello world");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(*(*tok)->decode(*ids), "hello world");
}

// A Hugging Face directory's companions of tokenizer.json: chat_template.jinja wins over
// tokenizer_config.json's template, and generation_config.json's eos_token_id list ends
// answers besides EOS (as vLLM reads it). The same files given as a plan's sections.
TEST(Tokenizer, HfCompanionFilesGiveTemplateAndEnds) {
  const std::string src = sourceDir() + "/unittests/tokenize/data/smollm2";
  char dirTemplate[] = "/tmp/modelc-hf-tokenizer-XXXXXX";
  ASSERT_NE(::mkdtemp(dirTemplate), nullptr);
  const std::string dir = dirTemplate;
  auto write = [&dir](const std::string &name, const std::string &text) {
    std::ofstream(dir + "/" + name, std::ios::binary) << text;
  };
  const std::string json = readAll(src + "/tokenizer.json");
  const std::string config = readAll(src + "/tokenizer_config.json");
  write("tokenizer.json", json);
  write("tokenizer_config.json", config);
  Expected<std::unique_ptr<Tokenizer>> plain = Tokenizer::fromFile(dir);
  ASSERT_TRUE(plain.ok()) << plain.error().toString();
  EXPECT_EQ((*plain)->eosId(), 2); // <|im_end|>
  EXPECT_EQ((*plain)->endIds(), std::vector<int32_t>{2});
  EXPECT_EQ((*plain)->chatTemplate().substr(0, 18), "{% for message in ");

  write("generation_config.json", R"({"bos_token_id": 1, "eos_token_id": [0, 2]})");
  write("chat_template.jinja", "{{ messages[0]['content'] }}");
  Expected<std::unique_ptr<Tokenizer>> full = Tokenizer::fromFile(dir);
  ASSERT_TRUE(full.ok()) << full.error().toString();
  EXPECT_EQ((*full)->endIds(), (std::vector<int32_t>{2, 0})); // EOS first, no repeats
  EXPECT_TRUE((*full)->isEnd(0));
  EXPECT_FALSE((*full)->isEnd(1));
  EXPECT_EQ((*full)->chatTemplate(), "{{ messages[0]['content'] }}");
  const std::string generation = readAll(dir + "/generation_config.json");
  Expected<std::unique_ptr<Tokenizer>> fromPlan = Tokenizer::fromPlanSection(
      "tokenizer.json", json, "plan", {config, "{{ messages[0]['content'] }}", generation});
  ASSERT_TRUE(fromPlan.ok()) << fromPlan.error().toString();
  EXPECT_EQ((*fromPlan)->endIds(), (*full)->endIds());
  EXPECT_EQ((*fromPlan)->chatTemplate(), (*full)->chatTemplate());

  // A single id; named templates (the "default" one is the chat template).
  Expected<std::unique_ptr<Tokenizer>> named = Tokenizer::fromTokenizerJson(
      json,
      {R"({"eos_token": "<|im_end|>", "chat_template": [{"name": "tool_use", "template": "T"},
          {"name": "default", "template": "D"}]})",
       "", R"({"eos_token_id": 0})"});
  ASSERT_TRUE(named.ok()) << named.error().toString();
  EXPECT_EQ((*named)->chatTemplate(), "D");
  EXPECT_EQ((*named)->endIds(), (std::vector<int32_t>{2, 0}));

  // Bad companions are errors naming the file.
  Expected<std::unique_ptr<Tokenizer>> outside =
      Tokenizer::fromTokenizerJson(json, {config, "", R"({"eos_token_id": [2, 49152]})"});
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message().find("generation_config.json: eos_token_id 49152 is "
                                           "outside the vocabulary of 49152"),
            std::string::npos)
      << outside.error().message();
  Expected<std::unique_ptr<Tokenizer>> broken =
      Tokenizer::fromTokenizerJson(json, {config, "", "{\"eos_token_id\": "});
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message().find("generation_config.json"), std::string::npos);
  for (const char *name : {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                           "chat_template.jinja"})
    std::remove((dir + "/" + name).c_str());
  ::rmdir(dir.c_str());
}

// A GGUF tokenizer's end-of-answer tokens, as llama.cpp collects them: EOS, EOT and EOM
// by id, and the chat formats' end-of-turn markers by text; where harmony's <|return|>
// and <|call|> exist, <|end|> only ends a message.
TEST(Tokenizer, GgufEndOfTurnTokens) {
  auto build = [](const std::vector<std::string> &vocab, uint64_t eos, int64_t eot) {
    std::vector<std::string_view> views(vocab.begin(), vocab.end());
    GgufValue model, tokens, merges, eosId, eotId;
    model.type = GgufType::String;
    model.str = "gpt2";
    tokens.type = merges.type = GgufType::Array;
    tokens.elemType = merges.elemType = GgufType::String;
    tokens.count = views.size();
    tokens.strings = views;
    eosId.type = eotId.type = GgufType::UInt32;
    eosId.u = eos;
    eotId.u = static_cast<uint64_t>(eot);
    std::vector<std::pair<std::string, const GgufValue *>> keys = {
        {"tokenizer.ggml.model", &model},
        {"tokenizer.ggml.tokens", &tokens},
        {"tokenizer.ggml.merges", &merges},
        {"tokenizer.ggml.eos_token_id", &eosId}};
    if (eot >= 0)
      keys.emplace_back("tokenizer.ggml.eot_token_id", &eotId);
    std::vector<uint8_t> bytes = writeGgufMetadata(keys);
    return Tokenizer::fromPlanSection(
        "gguf", std::string_view(reinterpret_cast<const char *>(bytes.data()), bytes.size()),
        "tokenizer.gguf");
  };
  Expected<std::unique_ptr<Tokenizer>> chatml =
      build({"a", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<end_of_turn>"}, 1, -1);
  ASSERT_TRUE(chatml.ok()) << chatml.error().toString();
  EXPECT_EQ((*chatml)->endIds(), (std::vector<int32_t>{1, 3, 4}));
  Expected<std::unique_ptr<Tokenizer>> byId = build({"a", "b", "c", "<|eot_id|>"}, 1, 2);
  ASSERT_TRUE(byId.ok());
  EXPECT_EQ((*byId)->endIds(), (std::vector<int32_t>{1, 2, 3}));
  Expected<std::unique_ptr<Tokenizer>> harmony =
      build({"a", "<|return|>", "<|end|>", "<|call|>", "<|endoftext|>"}, 1, -1);
  ASSERT_TRUE(harmony.ok());
  EXPECT_EQ((*harmony)->endIds(), (std::vector<int32_t>{1, 3, 4}));
  Expected<std::unique_ptr<Tokenizer>> bad = build({"a", "b"}, 1, 7);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("eot_token_id 7 is outside the vocabulary"),
            std::string::npos);
}

TEST(StreamingDetokenizer, EmitsOnlyCompleteCharacters) {
  std::unique_ptr<Tokenizer> tok = smolFromJson();
  ASSERT_TRUE(tok);
  const std::string text = "Emoji 🦙🔥👍🏽 and 你好 done";
  std::vector<int32_t> ids = *tok->encode(text);
  StreamingDetokenizer detok(*tok);
  std::string joined;
  bool sawHeldBack = false;
  for (int32_t id : ids) {
    std::string piece = *detok.push(id);
    EXPECT_EQ(utf8::firstInvalid(piece), piece.size()) << "partial character emitted";
    sawHeldBack |= piece.empty();
    joined += piece;
  }
  joined += detok.finish();
  EXPECT_EQ(joined, text);
  EXPECT_TRUE(sawHeldBack); // the emoji span several byte-level tokens
}

TEST(StreamingDetokenizer, SentencePieceSpacesAndByteFallback) {
  std::string path = sharedDir() + "/testdata/tokenizer/ggml-vocab-llama-spm.gguf";
  if (!exists(path))
    GTEST_SKIP() << "shared test vectors not found";
  std::unique_ptr<Tokenizer> tok = load(path);
  ASSERT_TRUE(tok);
  const std::string text = "Hello world 🦙 end";
  std::vector<int32_t> ids = *tok->encode(text);
  StreamingDetokenizer detok(*tok);
  std::string joined;
  for (int32_t id : ids)
    joined += *detok.push(id);
  joined += detok.finish();
  EXPECT_EQ(joined, text);
}

TEST(StreamingDetokenizer, InvalidBytesBecomeReplacementCharacters) {
  std::string path = sharedDir() + "/testdata/tokenizer/ggml-vocab-llama-spm.gguf";
  if (!exists(path))
    GTEST_SKIP() << "shared test vectors not found";
  std::unique_ptr<Tokenizer> tok = load(path);
  ASSERT_TRUE(tok);
  int32_t lead = tok->tokenId("<0xF0>"), ascii = tok->tokenId("<0x41>");
  ASSERT_GE(lead, 0);
  StreamingDetokenizer detok(*tok);
  EXPECT_EQ(*detok.push(lead), "");
  EXPECT_EQ(*detok.push(ascii), "\xEF\xBF\xBD"
                                "A");
  EXPECT_EQ(*detok.push(lead), "");
  EXPECT_EQ(detok.finish(), "\xEF\xBF\xBD");
}
