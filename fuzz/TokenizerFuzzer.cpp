// Tokenizer on arbitrary input. The first byte picks the tokenizer (byte-level SmolLM2, or
// SentencePiece Llama when the shared vectors are present; with bit 6 set, BERT's WordPiece,
// uncased or cased, the uncased one also from llama.cpp's GGUF; with bit 7 alone, a Unigram
// tokenizer with SentencePiece's charsmap, through XLM-R's class pipeline, as its file says,
// or as llama.cpp's "t5" GGUF)
// and the mode: encode the rest as text (with or without special-token parsing), or decode it
// as ids, in one go and streamed.
// With bit 5 set it instead splits valid UTF-8 text by the pre-tokenizer of a GGUF preset (the
// second byte picks it): the pieces must tile the text exactly.
#include "runtime/tokenize/PreTokenizer.h"
#include "runtime/tokenize/Tokenizer.h"
#include "runtime/tokenize/Utf8.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

using namespace modelrt;

namespace {

std::unique_ptr<Tokenizer> load(const std::string &path) {
  Expected<std::unique_ptr<Tokenizer>> tok = Tokenizer::fromFile(path);
  return tok ? std::move(tok.value()) : nullptr;
}

const Tokenizer *pick(uint8_t selector) {
  static std::unique_ptr<Tokenizer> byteLevel =
      load(MODELC_SOURCE_DIR "/unittests/tokenize/data/smollm2/tokenizer.json");
  static std::unique_ptr<Tokenizer> spm =
      load(MODELC_SOURCE_DIR "/../shared/testdata/tokenizer/ggml-vocab-llama-spm.gguf");
  static std::unique_ptr<Tokenizer> wordPiece[3] = {
      load(MODELC_SOURCE_DIR "/unittests/tokenize/data/wordpiece-uncased/tokenizer.json"),
      load(MODELC_SOURCE_DIR "/unittests/tokenize/data/wordpiece-cased/tokenizer.json"),
      load(MODELC_SOURCE_DIR "/test/modelc/Inputs/tiny-bert-embedding.gguf")};
  static std::unique_ptr<Tokenizer> unigram[3] = {
      load(MODELC_SOURCE_DIR "/unittests/tokenize/data/unigram-xlmr"),
      load(MODELC_SOURCE_DIR "/unittests/tokenize/data/unigram-v5"),
      load(MODELC_SOURCE_DIR "/test/modelc/Inputs/tiny-xlmr-embedding.gguf")};
  if (!byteLevel || !wordPiece[0] || !wordPiece[1] || !wordPiece[2] || !unigram[0] ||
      !unigram[1] || !unigram[2])
    __builtin_trap(); // the committed tokenizers must load
  if (selector & 0x40)
    return wordPiece[(selector & 1) + ((selector >> 7) & 1)].get();
  if (selector & 0x80)
    return unigram[(selector & 1) + ((selector >> 4) & 1)].get();
  return (selector & 1) && spm ? spm.get() : byteLevel.get();
}

const PreTokenizer &preset(uint8_t selector) {
  static const std::vector<PreTokenizer> all = [] {
    std::vector<PreTokenizer> out;
    for (const char *name : {"gpt2", "llama-bpe", "qwen2", "gpt-4o", "smollm", "tekken",
                             "deepseek-v3", "deepseek-llm", "deepseek-coder", "olmo"}) {
      Expected<GgufPreTokenizer> pre = resolveGgufPreTokenizer(name);
      Expected<PreTokenizer> stages =
          pre ? PreTokenizer::create(pre->regexes) : Expected<PreTokenizer>(pre.error());
      if (!stages)
        __builtin_trap(); // every built-in preset must compile
      out.push_back(std::move(*stages));
    }
    return out;
  }();
  return all[selector % all.size()];
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  if ((data[0] & 0x20) && size >= 2) {
    std::string_view text(reinterpret_cast<const char *>(data + 2), size - 2);
    if (utf8::firstInvalid(text) != text.size())
      return 0; // encode refuses it before pre-tokenizing
    std::vector<std::string_view> pieces;
    preset(data[1]).split(text, pieces);
    const char *next = text.data();
    for (std::string_view piece : pieces) {
      if (piece.data() != next || piece.empty())
        __builtin_trap(); // a gap, an overlap or an empty piece
      next += piece.size();
    }
    if (next != text.data() + text.size())
      __builtin_trap();
    return 0;
  }
  const Tokenizer *tok = pick(data[0]);
  uint8_t mode = (data[0] >> 1) & 3;
  std::string_view rest(reinterpret_cast<const char *>(data + 1), size - 1);
  if (mode < 2) {
    EncodeOptions opts;
    opts.parseSpecial = mode == 1;
    opts.addSpecial = data[0] & 8;
    Expected<std::vector<int32_t>> ids = tok->encode(rest, opts);
    if (!ids)
      return 0;
    // Every id must be in range, so decoding what encode produced cannot fail. (Exact
    // round trips are not an invariant: SmolLM2's vocabulary lacks the bytes 0x04 and 0x06,
    // which the reference drops too.)
    if (!tok->decode(*ids))
      __builtin_trap();
    return 0;
  }
  std::vector<int32_t> ids(rest.size() / 4);
  if (!ids.empty())
    std::memcpy(ids.data(), rest.data(), ids.size() * 4);
  for (int32_t &id : ids)
    id = mode == 2 ? id : static_cast<int32_t>(static_cast<uint32_t>(id) % (tok->vocabSize() + 2));
  (void)tok->decode(ids, data[0] & 8);
  StreamingDetokenizer stream(*tok, data[0] & 16);
  for (int32_t id : ids)
    (void)stream.push(id);
  (void)stream.finish();
  return 0;
}
