// Tokenizers of the model families we serve, loaded from a tokenizer.json or from GGUF
// tokenizer.ggml.* metadata:
//  - byte-level BPE over merges (GPT-2, Llama 3, SmolLM2, Qwen2 pre-tokenizers), and
//  - SentencePiece-style BPE over scores or merges with byte fallback (Llama 2, TinyLlama),
//  - WordPiece with BERT's normalizer and pre-tokenizer (BERT, MiniLM, BGE embedders),
//  - Unigram over SentencePiece's precompiled normalization (XLM-RoBERTa: multilingual-e5,
//    bge-m3 and their rerankers).
// Encoding matches the Hugging Face `tokenizers` library id for id (see unittests/tokenize).
//
//   auto tok = Tokenizer::fromFile("model.gguf");        // or tokenizer.json, or an HF dir
//   Expected<std::vector<int32_t>> ids = (*tok)->encode("Hello", {});
//   Expected<std::string> text = (*tok)->decode(*ids);
//
// A Tokenizer is immutable after loading; encode and decode may run on many threads.
#pragma once

#include "runtime/support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt {

class GgufFile;

enum class TokenAttr : uint8_t {
  Normal,      // a learned piece
  Unknown,     // <unk>
  Control,     // BOS/EOS/chat markers: matched in text only with parseSpecial
  UserDefined, // added tokens that are always matched in text
  Byte,        // <0xXX> byte-fallback piece
  Unused,
};

struct EncodeOptions {
  bool addSpecial = false;   // prepend BOS / append EOS where the tokenizer's config asks
  bool parseSpecial = false; // recognise control tokens (e.g. "<|im_start|>") in the text
};

// The files beside a tokenizer.json in a Hugging Face directory that change how a model is
// served, each the file's text or empty when absent.
struct HfTokenizerFiles {
  std::string_view config;           // tokenizer_config.json: BOS/EOS, add_*_token, chat_template
  std::string_view chatTemplate;     // chat_template.jinja (newer transformers); wins over config's
  std::string_view generationConfig; // generation_config.json: its eos_token_id(s) end answers too
};
// Their names, which are also the names of a plan's tokenizer sections.
inline constexpr const char *kTokenizerConfigFile = "tokenizer_config.json";
inline constexpr const char *kChatTemplateFile = "chat_template.jinja";
inline constexpr const char *kGenerationConfigFile = "generation_config.json";
// Each file's name and field, for readers that fill them all.
struct HfTokenizerFile {
  const char *name;
  std::string_view HfTokenizerFiles::*field;
};
inline constexpr HfTokenizerFile kHfTokenizerFiles[] = {
    {kTokenizerConfigFile, &HfTokenizerFiles::config},
    {kChatTemplateFile, &HfTokenizerFiles::chatTemplate},
    {kGenerationConfigFile, &HfTokenizerFiles::generationConfig}};

class Tokenizer {
public:
  enum class Kind { ByteLevelBpe, SentencePieceBpe, WordPiece, Unigram };

  // Dispatches on the path: *.gguf, a plan (the tokenizer it carries), a tokenizer.json, or a
  // directory holding tokenizer.json (and optionally the HfTokenizerFiles, read from the
  // tokenizer.json's directory).
  static Expected<std::unique_ptr<Tokenizer>> fromFile(const std::string &path);
  static Expected<std::unique_ptr<Tokenizer>> fromGguf(const GgufFile &gguf);
  static Expected<std::unique_ptr<Tokenizer>>
  fromTokenizerJson(std::string_view json, const HfTokenizerFiles &files = {},
                    const std::string &name = "tokenizer.json");
  // The tokenizer a plan carries: `format` is the plan's tokenizer format ("tokenizer.json",
  // or "gguf": a GGUF file holding a model's tokenizer.* metadata), `bytes` its section,
  // `files` the companions a "tokenizer.json" plan carries in sections of their own.
  static Expected<std::unique_ptr<Tokenizer>>
  fromPlanSection(std::string_view format, std::string_view bytes, const std::string &name,
                  const HfTokenizerFiles &files = {});
  // The tokenizer in the plan file at `planPath`; NotFound when it carries none.
  static Expected<std::unique_ptr<Tokenizer>> fromPlan(const std::string &planPath);
  ~Tokenizer();

  // Text must be valid UTF-8 (an error names the offset of the first bad byte).
  Expected<std::vector<int32_t>> encode(std::string_view text,
                                        const EncodeOptions &options = {}) const;
  // Two texts as one input (transformers' tokenizer(text, text_pair): a cross-encoder's
  // query and document): with addSpecial, the post-processor's pair template places them
  // among its special tokens; a tokenizer without one adds each text's specials as encode
  // does (BOS a EOS BOS b EOS where both are added; nothing between them where neither is).
  // `types` (if given) gets each id's token type: the pair template's type_id of the item it
  // came from (BERT: the first text and its specials 0, the second 1); without a template,
  // 0 for the first text's ids and 1 for the second's.
  Expected<std::vector<int32_t>> encodePair(std::string_view first, std::string_view second,
                                            const EncodeOptions &options = {},
                                            std::vector<int32_t> *types = nullptr) const;
  // Ids out of range are an error. Control tokens are written as their text unless skipped.
  Expected<std::string> decode(const std::vector<int32_t> &ids, bool skipSpecial = false) const;

  Kind kind() const;
  size_t vocabSize() const;
  // The raw bytes a token stands for (a Control token: its text). Empty if out of range.
  std::string_view tokenBytes(int32_t id) const;
  std::string_view tokenText(int32_t id) const; // as stored in the vocabulary
  TokenAttr tokenAttr(int32_t id) const;
  int32_t tokenId(std::string_view text) const; // -1 if absent
  int32_t bosId() const;                        // -1 if none
  int32_t eosId() const;
  // The tokens that end an answer: EOS first, then the model's other end-of-turn tokens
  // (a Hugging Face model's generation_config.json eos_token_id list, as vLLM reads it; a
  // GGUF's EOT/EOM and end-of-turn markers, as llama.cpp reads them). Empty when the model names none.
  const std::vector<int32_t> &endIds() const;
  bool isEnd(int32_t id) const;
  int32_t padId() const;
  int32_t unknownId() const;
  const std::string &chatTemplate() const;

  struct Impl;

private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A GGUF tokenizer's pre-tokenizer: its regexes, and whether a word already in the
// vocabulary skips the merges (HF BPE ignore_merges).
struct GgufPreTokenizer {
  std::vector<std::string> regexes;
  bool ignoreMerges = false;
};
// Keys a plan's embedded GGUF tokenizer adds, so that reading it needs no preset table.
inline constexpr const char *kGgufPreRegexesKey = "tokenizer.modelc.pre_regexes";
inline constexpr const char *kGgufIgnoreMergesKey = "tokenizer.modelc.ignore_merges";
// The regexes of a tokenizer.ggml.pre preset; Unsupported for presets we do not know.
Expected<GgufPreTokenizer> resolveGgufPreTokenizer(const std::string &pre);

// Turns a stream of token ids into text that only ever contains complete UTF-8 characters:
// bytes of a character split across tokens are held back until the character is complete.
class StreamingDetokenizer {
public:
  explicit StreamingDetokenizer(const Tokenizer &tokenizer, bool skipSpecial = false)
      : tokenizer_(tokenizer), skipSpecial_(skipSpecial) {}
  // Text that became complete with this token (possibly empty).
  Expected<std::string> push(int32_t id);
  // What is left at the end of the stream; incomplete bytes become U+FFFD.
  std::string finish();

private:
  const Tokenizer &tokenizer_;
  bool skipSpecial_;
  bool first_ = true;
  std::string pending_;
};

} // namespace modelrt
