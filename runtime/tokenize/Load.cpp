// Tokenizer loaders: GGUF tokenizer.ggml.* metadata and Hugging Face tokenizer.json.
#include "runtime/formats/Gguf.h"
#include "runtime/plan/PlanFile.h"
#include "runtime/plan/PlanMetadata.h"
#include "runtime/tokenize/Tokenizer.h"
#include "runtime/tokenize/TokenizerImpl.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/stat.h>

namespace modelrt {
namespace {

using json = nlohmann::json;

Error bad(const std::string &name, const std::string &msg) {
  return Error(ErrorCode::InvalidFormat, name + ": " + msg);
}

// Merge "a b" (or ["a", "b"]): records its rank and result. Missing pieces are an error,
// as in the reference implementations.
Status addMerge(Tokenizer::Impl &t, std::string_view left, std::string_view right, size_t rank,
                const std::string &name) {
  auto l = t.ids.find(std::string(left));
  auto r = t.ids.find(std::string(right));
  auto m = t.ids.find(std::string(left) + std::string(right));
  if (l == t.ids.end() || r == t.ids.end() || m == t.ids.end())
    return bad(name, "merge #" + std::to_string(rank) + " '" + std::string(left) + " " +
                         std::string(right) + "' uses a piece that is not in the vocabulary");
  uint64_t key = (static_cast<uint64_t>(l->second) << 32) | static_cast<uint32_t>(r->second);
  t.merges.emplace(key, std::make_pair(static_cast<int32_t>(rank), m->second));
  return Status();
}

Status addMergeString(Tokenizer::Impl &t, std::string_view merge, size_t rank,
                      const std::string &name) {
  size_t space = merge.find(' ', 1); // a piece may itself be " " in non-byte-level vocabularies
  if (space == std::string_view::npos)
    return bad(name, "merge #" + std::to_string(rank) + " '" + std::string(merge) +
                         "' is not 'left right'");
  return addMerge(t, merge.substr(0, space), merge.substr(space + 1), rank, name);
}

template <typename T> Expected<T> orDefault(Expected<T> v, T fallback) {
  if (v.ok() || v.error().code() == ErrorCode::NotFound)
    return v.ok() ? *v : fallback;
  return v.error();
}

} // namespace

// GGUF names its pre-tokenizer by a preset (tokenizer.ggml.pre: the format's own key values,
// not architectures); this maps the values we support to their regexes.
// Only a raw .gguf given as a tokenizer needs it: modelc resolves the preset when it embeds
// a GGUF tokenizer in a plan (tokenizer.modelc.pre_regexes), and the plan is read from that.
Expected<GgufPreTokenizer> resolveGgufPreTokenizer(const std::string &pre) {
  if (pre == "gpt-2" || pre == "default" || pre == "gpt2")
    return GgufPreTokenizer{{pretok::kGpt2}, false};
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe")
    return GgufPreTokenizer{{pretok::kLlama3}, true};
  if (pre == "falcon3")
    return GgufPreTokenizer{{pretok::kLlama3}, false};
  if (pre == "qwen2" || pre == "deepseek-r1-qwen")
    return GgufPreTokenizer{{pretok::kQwen2}, false};
  if (pre == "gpt-4o" || pre == "llama4")
    return GgufPreTokenizer{{pretok::kO200k}, false};
  if (pre == "smollm")
    return GgufPreTokenizer{{pretok::kDigit, pretok::kGpt2}, false};
  if (pre == "tekken")
    return GgufPreTokenizer{{pretok::kTekken}, true};
  if (pre == "deepseek-v3")
    return GgufPreTokenizer{
        {pretok::kDeepseekV3Digits, pretok::kDeepseekV3Cjk, pretok::kDeepseekV3}, false};
  if (pre == "deepseek-llm")
    return GgufPreTokenizer{{pretok::kLineBreak, pretok::kDeepseekLlmLetters,
                             pretok::kDeepseekLlmPunctuation, pretok::kDeepseekLlmTrailingSpace,
                             pretok::kDeepseekCjkHangul, pretok::kDigits},
                            false};
  if (pre == "deepseek-coder")
    return GgufPreTokenizer{{pretok::kLineBreak, pretok::kDeepseekCoderLetters,
                             pretok::kDeepseekCoderPunctuation, pretok::kDeepseekCjkHangul,
                             pretok::kDigit},
                            false};
  // llama.cpp reads these as Llama 3's rules (DBRX, Smaug, GLM-4 / GLM-4.5) and GPT-2's (OLMo).
  if (pre == "dbrx" || pre == "smaug-bpe" || pre == "glm4" || pre == "chatglm-bpe")
    return GgufPreTokenizer{{pretok::kLlama3}, false};
  if (pre == "olmo")
    return GgufPreTokenizer{{pretok::kGpt2}, false};
  return Error(ErrorCode::Unsupported,
               "unsupported pre-tokenizer '" + pre + "' (tokenizer.ggml.pre)");
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromPlanSection(std::string_view format,
                                                                std::string_view bytes,
                                                                const std::string &name,
                                                                const HfTokenizerFiles &files) {
  if (format == "tokenizer.json")
    return fromTokenizerJson(bytes, files, name);
  if (format != "gguf")
    return Error(ErrorCode::Unsupported,
                 name + ": unknown tokenizer format '" + std::string(format) + "'");
  Expected<GgufFile> gguf =
      GgufFile::parse(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), name);
  if (!gguf)
    return gguf.error();
  return fromGguf(*gguf); // copies what it keeps: the bytes may go afterwards
}

namespace {

// A GGUF "bert" vocabulary (its converter writes each word-initial piece with a "▁" before
// it and each "##" piece without its "##"; control and "[...]" tokens as they are) read back
// as WordPiece's, with the uncased normalizer (lower case, accents stripped; the file keeps
// no normalizer). BOS ([CLS]: bos_token_id, or a cls_token_id) goes first and the separator
// ([SEP]: seperator_token_id, the format's spelling, else EOS) last; by their text where
// the file names neither.
Status readGgufWordPiece(const GgufFile &gguf, Tokenizer::Impl &t) {
  const std::string &name = gguf.path();
  if (t.attr.empty())
    t.attr.assign(t.text.size(), TokenAttr::Normal);
  // The converter's rule undone: a "▁" piece is word-initial; a control token, or one
  // written "[...]", is as it was; any other is a "##" piece.
  for (size_t k = 0; k < t.text.size(); ++k) {
    std::string &s = t.text[k];
    if (s.rfind("\xE2\x96\x81", 0) == 0)
      s = s.substr(3);
    else if (t.attr[k] != TokenAttr::Control && t.attr[k] != TokenAttr::Unknown &&
             !(s.size() >= 2 && s.front() == '[' && s.back() == ']'))
      s = "##" + s;
  }
  t.bert = {true, true, true, true, true};
  for (auto [key, slot] : {std::pair{"tokenizer.ggml.cls_token_id", &t.bos},
                           std::pair{"tokenizer.ggml.seperator_token_id", &t.appendedEos}}) {
    Expected<uint64_t> id = orDefault<uint64_t>(gguf.getUInt(key), UINT64_MAX);
    if (!id)
      return id.error();
    if (*id != UINT64_MAX && *id >= t.text.size())
      return bad(name, std::string(key) + " " + std::to_string(*id) + " is outside the vocabulary");
    if (*id != UINT64_MAX)
      *slot = static_cast<int32_t>(*id);
  }
  auto byText = [&](const char *text) {
    auto it = std::find(t.text.begin(), t.text.end(), text);
    return it == t.text.end() ? -1 : static_cast<int32_t>(it - t.text.begin());
  };
  if (t.bos < 0)
    t.bos = byText("[CLS]");
  if (t.appendedEos < 0)
    t.appendedEos = t.eos >= 0 ? t.eos : byText("[SEP]");
  if (t.eos < 0)
    t.eos = t.appendedEos;
  if (t.unk < 0)
    t.unk = byText("[UNK]");
  if (t.unk < 0)
    return bad(name, "a bert vocabulary without an unknown token (tokenizer.ggml.unknown_token_id)");
  t.attr[static_cast<size_t>(t.unk)] = TokenAttr::Unknown;
  return Status();
}

// A GGUF UGM vocabulary (tokenizer.ggml.model "t5"): its scores, its unknown token, the
// SentencePiece charsmap (tokenizer.ggml.precompiled_charsmap, if any) and
// remove_extra_whitespaces, run by the format's conventions (Impl::ggufUgm).
Status readGgufUgm(const GgufFile &gguf, Tokenizer::Impl &t) {
  const std::string &name = gguf.path();
  if (t.scores.size() != t.text.size())
    return bad(name, "a t5 (Unigram) vocabulary without tokenizer.ggml.scores");
  if (t.attr.empty())
    t.attr.assign(t.text.size(), TokenAttr::Normal);
  // llama.cpp's defaults for a t5 vocabulary that names none: unknown 2, EOS 1, pad 0.
  const auto n = static_cast<int32_t>(t.text.size());
  if (t.unk < 0 && n > 2)
    t.unk = 2;
  if (t.eos < 0 && n > 1)
    t.eos = 1;
  if (t.pad < 0 && n > 0)
    t.pad = 0;
  if (t.unk < 0)
    return bad(name, "a t5 (Unigram) vocabulary without an unknown token");
  t.attr[static_cast<size_t>(t.unk)] = TokenAttr::Unknown;
  t.pieceScores.assign(t.scores.begin(), t.scores.end());
  float minScore = 0;
  bool any = false;
  for (size_t k = 0; k < t.text.size(); ++k) {
    const TokenAttr a = t.attr[k];
    if ((a == TokenAttr::Normal || a == TokenAttr::Unused) && !std::isfinite(t.scores[k]))
      return bad(name, "token " + std::to_string(k) + " has a score that is not finite");
    if (a == TokenAttr::Normal) {
      minScore = any ? std::min(minScore, t.scores[k]) : t.scores[k];
      any = true;
    }
  }
  t.unkScore = minScore - 10.0f; // llama.cpp's penalty (as HF's), in float as llama.cpp has it
  Expected<bool> merge = orDefault(gguf.getBool("tokenizer.ggml.remove_extra_whitespaces"), false);
  if (!merge)
    return merge.error();
  t.removeExtraWhitespaces = *merge;
  if (gguf.find("tokenizer.ggml.precompiled_charsmap")) {
    Expected<std::vector<int64_t>> bytes = gguf.getIntArray("tokenizer.ggml.precompiled_charsmap");
    if (!bytes)
      return bytes.error();
    std::string blob(bytes->size(), '\0');
    for (size_t k = 0; k < bytes->size(); ++k) {
      if ((*bytes)[k] < -128 || (*bytes)[k] > 255) // (an INT8 array's bytes read back signed)
        return bad(name, "tokenizer.ggml.precompiled_charsmap holds a value that is not a byte");
      blob[k] = static_cast<char>((*bytes)[k] & 0xFF);
    }
    Expected<CharsMap> map = CharsMap::parse(blob);
    if (!map)
      return map.error().withContext(name);
    t.ugmCharsMap = std::make_shared<const CharsMap>(std::move(*map));
  }
  return Status();
}

} // namespace

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromGguf(const GgufFile &gguf) {
  const std::string &name = gguf.path();
  auto t = std::make_unique<Impl>();
  Expected<std::string> model = gguf.getString("tokenizer.ggml.model");
  if (!model)
    return model.error();
  if (*model == "gpt2")
    t->kind = Kind::ByteLevelBpe;
  else if (*model == "llama")
    t->kind = Kind::SentencePieceBpe;
  else if (*model == "bert")
    t->kind = Kind::WordPiece;
  else if (*model == "t5")
    t->kind = Kind::Unigram, t->ggufUgm = true;
  else
    return Error(ErrorCode::Unsupported, name + ": unsupported tokenizer model '" + *model + "'");

  Expected<std::vector<std::string_view>> tokens = gguf.getStringArray("tokenizer.ggml.tokens");
  if (!tokens)
    return tokens.error();
  if (tokens->size() > static_cast<size_t>(INT32_MAX))
    return bad(name, "vocabulary too large");
  t->text.assign(tokens->begin(), tokens->end());
  size_t n = t->text.size();

  if (gguf.find("tokenizer.ggml.token_type")) {
    Expected<std::vector<int64_t>> types = gguf.getIntArray("tokenizer.ggml.token_type");
    if (!types)
      return types.error();
    if (types->size() != n)
      return bad(name, "tokenizer.ggml.token_type has " + std::to_string(types->size()) +
                           " entries for " + std::to_string(n) + " tokens");
    t->attr.resize(n);
    for (size_t k = 0; k < n; ++k) {
      switch ((*types)[k]) {
      case 1:
        t->attr[k] = TokenAttr::Normal;
        break;
      case 2:
        t->attr[k] = TokenAttr::Unknown;
        break;
      case 3:
        t->attr[k] = TokenAttr::Control;
        break;
      case 4:
        t->attr[k] = TokenAttr::UserDefined;
        break;
      case 5:
        t->attr[k] = TokenAttr::Unused;
        break;
      case 6:
        t->attr[k] = TokenAttr::Byte;
        break;
      default:
        return bad(name, "token " + std::to_string(k) + " has invalid type " +
                             std::to_string((*types)[k]));
      }
    }
  }
  if (gguf.find("tokenizer.ggml.scores")) {
    Expected<std::vector<float>> scores = gguf.getFloatArray("tokenizer.ggml.scores");
    if (!scores)
      return scores.error();
    if (scores->size() != n)
      return bad(name, "tokenizer.ggml.scores has " + std::to_string(scores->size()) +
                           " entries for " + std::to_string(n) + " tokens");
    t->scores = std::move(*scores);
  }
  // EOT and EOM end answers, as EOS does.
  int32_t eot = -1, eom = -1;
  for (auto [key, slot] : {std::pair{"tokenizer.ggml.bos_token_id", &t->bos},
                           std::pair{"tokenizer.ggml.eos_token_id", &t->eos},
                           std::pair{"tokenizer.ggml.padding_token_id", &t->pad},
                           std::pair{"tokenizer.ggml.unknown_token_id", &t->unk},
                           std::pair{"tokenizer.ggml.eot_token_id", &eot},
                           std::pair{"tokenizer.ggml.eom_token_id", &eom}}) {
    Expected<uint64_t> id = orDefault<uint64_t>(gguf.getUInt(key), UINT64_MAX);
    if (!id)
      return id.error();
    if (*id != UINT64_MAX) {
      if (*id >= n)
        return bad(name,
                   std::string(key) + " " + std::to_string(*id) + " is outside the vocabulary");
      *slot = static_cast<int32_t>(*id);
    }
  }
  for (int32_t id : {eot, eom})
    if (id >= 0)
      t->ends.push_back(id);
  // The end-of-turn markers of the chat formats, by their text, as llama.cpp collects them.
  {
    static const char *const kEndOfTurn[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>",         "<|return|>",        "<|call|>",
        "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>",
        "<end_of_utterance>"};
    int32_t endId = -1, returnId = -1, callId = -1;
    for (size_t k = 0; k < n; ++k)
      for (const char *marker : kEndOfTurn) {
        if (t->text[k] != marker)
          continue;
        const auto id = static_cast<int32_t>(k);
        t->ends.push_back(id);
        const std::string_view m(marker);
        if (m == "<|end|>")
          endId = id;
        else if (m == "<|return|>")
          returnId = id;
        else if (m == "<|call|>")
          callId = id;
      }
    // In the harmony format <|end|> ends a message, not the answer: where <|return|> and
    // <|call|> exist, they end it.
    if (returnId >= 0 && callId >= 0 && endId >= 0 && endId != t->eos)
      t->ends.erase(std::remove(t->ends.begin(), t->ends.end(), endId), t->ends.end());
  }
  bool spm = t->kind == Kind::SentencePieceBpe;
  const bool wordPiece = t->kind == Kind::WordPiece, ugm = t->kind == Kind::Unigram;
  if (wordPiece) {
    if (Status s = readGgufWordPiece(gguf, *t); !s)
      return s.error();
  }
  if (ugm) {
    if (Status s = readGgufUgm(gguf, *t); !s)
      return s.error();
  }
  // (llama.cpp's defaults: BOS for SentencePiece and BERT, EOS for BERT and UGM.)
  Expected<bool> addBos = orDefault(gguf.getBool("tokenizer.ggml.add_bos_token"), spm || wordPiece);
  Expected<bool> addEos = orDefault(
      gguf.getBool(wordPiece ? "tokenizer.ggml.add_sep_token" : "tokenizer.ggml.add_eos_token"),
      wordPiece || ugm);
  Expected<bool> addSpace = orDefault(gguf.getBool("tokenizer.ggml.add_space_prefix"), spm);
  Expected<std::string> chat = orDefault(gguf.getString("tokenizer.chat_template"), std::string());
  for (const Status &s : {addBos.ok() ? Status() : Status(addBos.error()),
                          addEos.ok() ? Status() : Status(addEos.error()),
                          addSpace.ok() ? Status() : Status(addSpace.error()),
                          chat.ok() ? Status() : Status(chat.error())})
    if (!s)
      return s.error();
  t->addBos = *addBos;
  t->addEos = *addEos;
  t->chatTemplate = *chat;

  if (wordPiece) {
    // (no pre-tokenizer regexes, no merges: BERT's pipeline, Kind::WordPiece)
  } else if (ugm) {
    t->spmPrefix = *addSpace ? Impl::SpacePrefix::Prepend : Impl::SpacePrefix::None;
    // A pair as llama.cpp's server lays out a rerank pair: [BOS] A [EOS] [SEP] B [EOS], each
    // as the file adds them (XLM-R: <s> A </s> </s> B </s>, transformers' template too).
    Expected<bool> addSep = orDefault(gguf.getBool("tokenizer.ggml.add_sep_token"), false);
    Expected<uint64_t> sep =
        orDefault<uint64_t>(gguf.getUInt("tokenizer.ggml.seperator_token_id"), UINT64_MAX);
    if (!addSep)
      return addSep.error();
    if (!sep)
      return sep.error();
    if (*sep != UINT64_MAX && *sep >= t->text.size())
      return bad(name, "tokenizer.ggml.seperator_token_id " + std::to_string(*sep) +
                           " is outside the vocabulary");
    if (t->addBos && t->bos >= 0)
      t->pairTemplate.push_back(t->bos);
    t->pairTemplate.push_back(Impl::kPairFirst);
    if (t->addEos && t->eos >= 0)
      t->pairTemplate.push_back(t->eos);
    if (*addSep && *sep != UINT64_MAX)
      t->pairTemplate.push_back(static_cast<int32_t>(*sep));
    t->pairTemplate.push_back(Impl::kPairSecond);
    if (t->addEos && t->eos >= 0)
      t->pairTemplate.push_back(t->eos);
    t->pairTemplateTypes.assign(t->pairTemplate.size(), 0);
  } else if (spm) {
    if (t->scores.empty())
      return bad(name, "SentencePiece vocabulary without tokenizer.ggml.scores");
    t->useScores = true;
    t->byteFallback = true;
    t->spmPrefix = *addSpace ? Impl::SpacePrefix::Prepend : Impl::SpacePrefix::None;
  } else {
    t->addPrefixSpace = *addSpace;
    // The regexes themselves when the file carries them (a plan's tokenizer), else the preset.
    GgufPreTokenizer resolved;
    if (gguf.find(kGgufPreRegexesKey)) {
      Expected<std::vector<std::string_view>> regexes = gguf.getStringArray(kGgufPreRegexesKey);
      if (!regexes)
        return regexes.error().withContext(name);
      resolved.regexes.assign(regexes->begin(), regexes->end());
      Expected<bool> ignore = orDefault(gguf.getBool(kGgufIgnoreMergesKey), false);
      if (!ignore)
        return ignore.error().withContext(name);
      resolved.ignoreMerges = *ignore;
    } else {
      Expected<std::string> pre =
          orDefault(gguf.getString("tokenizer.ggml.pre"), std::string("default"));
      if (!pre)
        return pre.error();
      Expected<GgufPreTokenizer> preset = resolveGgufPreTokenizer(*pre);
      if (!preset)
        return preset.error().withContext(name);
      resolved = std::move(*preset);
    }
    Expected<PreTokenizer> p = PreTokenizer::create(resolved.regexes);
    if (!p)
      return p.error();
    t->pre = std::move(*p);
    t->ignoreMerges = resolved.ignoreMerges;
  }
  if (Status s = t->finish(name); !s)
    return s.error();
  if (!spm && !wordPiece && !ugm) {
    Expected<std::vector<std::string_view>> merges = gguf.getStringArray("tokenizer.ggml.merges");
    if (!merges)
      return merges.error();
    t->merges.reserve(merges->size());
    for (size_t k = 0; k < merges->size(); ++k)
      if (Status s = addMergeString(*t, (*merges)[k], k, name); !s)
        return s.error();
  }
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(t)));
}

namespace {

// Reads the parts of a tokenizer.json pre_tokenizer / normalizer we implement.
struct JsonPipeline {
  std::vector<std::string> patterns;
  bool byteLevel = false;
  bool addPrefixSpace = false;
  bool metaspace = false; // SentencePiece-style: spaces become "▁"
  Tokenizer::Impl::SpacePrefix prefix = Tokenizer::Impl::SpacePrefix::None;
  bool metaspaceSplit = false; // Metaspace(split): each "▁" starts a new piece
  Tokenizer::Impl::BertNormalizer bert; // BertNormalizer (WordPiece only)
  bool bertWords = false;               // BertPreTokenizer (WordPiece only)
  // Unigram only: the normalizer's steps, WhitespaceSplit, and whether a Metaspace
  // pre-tokenizer (not a Replace normalizer) turns spaces into "▁".
  bool unigram = false; // the model is Unigram: the steps below are read
  std::vector<Tokenizer::Impl::NormalizerStep> steps;
  bool whitespaceSplit = false;
  bool metaspacePre = false;
};

std::string regexEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos)
      out += '\\';
    out += c;
  }
  return out;
}

constexpr int kMaxSequenceDepth = 8;
// Metaspace's split: each "▁" starts a piece, merged with what follows it.
const char *const kMetaspaceSplit = R"([^\x{2581}]+|\x{2581}[^\x{2581}]*)";

Status readPreTokenizer(const json &p, JsonPipeline &out, const std::string &name, int depth = 0) {
  if (p.is_null())
    return Status();
  std::string type = p.value("type", "");
  if (type == "Sequence") {
    if (depth >= kMaxSequenceDepth)
      return bad(name, "pre-tokenizer sequences nested too deeply");
    for (const json &q : p.at("pretokenizers"))
      if (Status s = readPreTokenizer(q, out, name, depth + 1); !s)
        return s;
    return Status();
  }
  if (type == "ByteLevel") {
    out.byteLevel = true;
    out.addPrefixSpace = p.value("add_prefix_space", false);
    if (p.value("use_regex", true))
      out.patterns.push_back(pretok::kGpt2);
    return Status();
  }
  if (type == "Split") {
    if (p.value("behavior", "") != "Isolated" || p.value("invert", false))
      return Error(ErrorCode::Unsupported,
                   name + ": Split pre-tokenizer behavior other than Isolated");
    const json &pat = p.at("pattern");
    if (pat.contains("Regex"))
      out.patterns.push_back(pat.at("Regex").get<std::string>());
    else
      out.patterns.push_back(regexEscape(pat.at("String").get<std::string>()));
    return Status();
  }
  if (type == "Digits") {
    out.patterns.push_back(p.value("individual_digits", false) ? pretok::kDigit : R"(\p{N}+)");
    return Status();
  }
  if (type == "BertPreTokenizer") {
    out.bertWords = true;
    return Status();
  }
  if (type == "WhitespaceSplit" && out.unigram) {
    if (out.metaspacePre) // Metaspace first would leave no spaces to split at
      return Error(ErrorCode::Unsupported, name + ": WhitespaceSplit after Metaspace");
    out.whitespaceSplit = true;
    return Status();
  }
  if (type == "Metaspace") {
    out.metaspace = true;
    out.metaspacePre = true;
    if (p.value("replacement", "\xE2\x96\x81") != "\xE2\x96\x81")
      return Error(ErrorCode::Unsupported, name + ": Metaspace replacement other than U+2581");
    std::string scheme =
        p.value("prepend_scheme", p.value("add_prefix_space", true) ? "always" : "never");
    using SpacePrefix = Tokenizer::Impl::SpacePrefix;
    if (scheme == "first")
      out.prefix = SpacePrefix::MetaspaceFirst;
    else if (scheme == "always")
      out.prefix = SpacePrefix::MetaspaceAlways;
    else if (scheme != "never")
      return Error(ErrorCode::Unsupported, name + ": Metaspace prepend_scheme '" + scheme + "'");
    out.metaspaceSplit = p.value("split", true);
    return Status();
  }
  return Error(ErrorCode::Unsupported, name + ": unsupported pre-tokenizer type '" + type + "'");
}

Status readNormalizer(const json &n, JsonPipeline &out, const std::string &name, int depth = 0) {
  if (n.is_null())
    return Status();
  std::string type = n.value("type", "");
  if (type == "Sequence") {
    if (depth >= kMaxSequenceDepth)
      return bad(name, "normalizer sequences nested too deeply");
    for (const json &q : n.at("normalizers"))
      if (Status s = readNormalizer(q, out, name, depth + 1); !s)
        return s;
    return Status();
  }
  using Step = Tokenizer::Impl::NormalizerStep;
  if (type == "Prepend" && n.value("prepend", "") == "\xE2\x96\x81") {
    out.prefix = Tokenizer::Impl::SpacePrefix::Prepend;
    out.steps.push_back({Step::Op::Prepend, "", n.at("prepend").get<std::string>()});
    return Status();
  }
  if (type == "Replace" && n.at("pattern").value("String", "") == " " &&
      n.value("content", "") == "\xE2\x96\x81") {
    out.metaspace = true;
    out.steps.push_back({Step::Op::Replace, " ", n.at("content").get<std::string>()});
    return Status();
  }
  if (out.unigram && type == "Replace") {
    const json &pattern = n.at("pattern");
    const std::string content = n.at("content").get<std::string>();
    if (pattern.contains("String")) {
      const std::string from = pattern.at("String").get<std::string>();
      if (from.empty())
        return Error(ErrorCode::Unsupported, name + ": Replace normalizer with an empty pattern");
      out.steps.push_back({Step::Op::Replace, from, content});
      return Status();
    }
    Expected<PreTokenizer> regex = PreTokenizer::create({pattern.at("Regex").get<std::string>()});
    if (!regex)
      return regex.error().withContext(name + ": Replace normalizer");
    Step step{Step::Op::RegexReplace, "", content};
    step.regex = std::make_shared<const PreTokenizer>(std::move(*regex));
    out.steps.push_back(std::move(step));
    return Status();
  }
  if (out.unigram && type == "Strip") {
    Step step{Step::Op::Strip};
    step.left = n.value("strip_left", false);
    step.right = n.value("strip_right", false);
    out.steps.push_back(std::move(step));
    return Status();
  }
  if (out.unigram && type == "Precompiled") {
    const json &text = n.value("precompiled_charsmap", json());
    if (text.is_null())
      return Status(); // converters write null when the SentencePiece model had no map
    std::optional<std::string> blob = decodeBase64(text.get<std::string>());
    if (!blob)
      return bad(name, "Precompiled normalizer's precompiled_charsmap is not base64");
    Expected<CharsMap> map = CharsMap::parse(*blob);
    if (!map)
      return map.error().withContext(name);
    Step step{Step::Op::Precompiled};
    step.charsMap = std::make_shared<const CharsMap>(std::move(*map));
    out.steps.push_back(std::move(step));
    return Status();
  }
  if (type == "NFC")
    return Status(); // inputs are expected in NFC already; see docs/formats.md
  if (type == "BertNormalizer") {
    auto flag = [&](const char *key, bool otherwise) {
      const json &v = n.value(key, json());
      return v.is_boolean() ? v.get<bool>() : otherwise;
    };
    out.bert.on = true;
    out.bert.cleanText = flag("clean_text", true);
    out.bert.chineseChars = flag("handle_chinese_chars", true);
    out.bert.lowercase = flag("lowercase", true);
    out.bert.stripAccents = flag("strip_accents", out.bert.lowercase); // null: as lowercase
    return Status();
  }
  return Error(ErrorCode::Unsupported, name + ": unsupported normalizer '" + type + "'");
}

// The special tokens a TemplateProcessing post-processor puts before and after a single
// sequence (searched inside a Sequence post-processor too).
struct TemplateSpecials {
  std::string first, last;
  // The pair template's items in order: "$A", "$B" or a special token's text; empty when
  // the template has none. And each item's type id.
  std::vector<std::string> pair;
  std::vector<int32_t> pairTypes;
};

TemplateSpecials readTemplate(const json &p) {
  TemplateSpecials out;
  if (!p.is_object())
    return out;
  std::string type = p.value("type", "");
  if (type == "Sequence" && p.contains("processors") && p.at("processors").is_array()) {
    for (const json &q : p.at("processors")) {
      TemplateSpecials inner = q.is_object() && q.value("type", "") == "TemplateProcessing"
                                   ? readTemplate(q)
                                   : TemplateSpecials{};
      if (!inner.first.empty() || !inner.last.empty() || !inner.pair.empty())
        return inner;
    }
    return out;
  }
  // BertProcessing: [CLS] $A [SEP], and [CLS] $A [SEP] $B [SEP]; RobertaProcessing: <s> $A
  // </s>, and <s> $A </s> </s> $B </s>. "cls" and "sep" are [text, id].
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    auto textOf = [&](const char *key) -> std::string {
      const json &v = p.value(key, json());
      return v.is_array() && !v.empty() && v.at(0).is_string() ? v.at(0).get<std::string>()
                                                               : std::string();
    };
    out.first = textOf("cls");
    out.last = textOf("sep");
    if (out.first.empty() || out.last.empty())
      return TemplateSpecials{};
    // Type ids: BertProcessing's second text and its [SEP] 1; RobertaProcessing's all 0.
    const int32_t second = type == "BertProcessing" ? 1 : 0;
    out.pair = {out.first, "$A", out.last};
    out.pairTypes = {0, 0, 0};
    if (type == "RobertaProcessing") {
      out.pair.push_back(out.last);
      out.pairTypes.push_back(0);
    }
    out.pair.insert(out.pair.end(), {"$B", out.last});
    out.pairTypes.insert(out.pairTypes.end(), {second, second});
    return out;
  }
  if (type != "TemplateProcessing" || !p.contains("single") || !p.at("single").is_array())
    return out;
  const json &single = p.at("single");
  auto specialOf = [](const json &item) -> std::string {
    if (!item.is_object() || !item.contains("SpecialToken"))
      return {};
    const json &st = item.at("SpecialToken");
    return st.is_object() && st.contains("id") && st.at("id").is_string()
               ? st.at("id").get<std::string>()
               : std::string();
  };
  if (!single.empty()) {
    out.first = specialOf(single.front());
    if (single.size() > 1)
      out.last = specialOf(single.back());
  }
  if (p.contains("pair") && p.at("pair").is_array())
    for (const json &item : p.at("pair")) {
      std::string special = specialOf(item);
      const json *sequence = item.is_object() && item.contains("Sequence") ? &item.at("Sequence")
                                                                             : nullptr;
      const json *body = sequence ? sequence
                         : item.is_object() && item.contains("SpecialToken") ? &item.at("SpecialToken")
                                                                             : nullptr;
      const json typeId = body && body->is_object() ? body->value("type_id", json(0)) : json(0);
      out.pairTypes.push_back(typeId.is_number_integer() && typeId.get<int64_t>() >= 0 &&
                                      typeId.get<int64_t>() < 1024
                                  ? static_cast<int32_t>(typeId.get<int64_t>())
                                  : 0);
      if (sequence && sequence->is_object() && sequence->value("id", json()) == "A")
        out.pair.push_back("$A");
      else if (sequence && sequence->is_object() && sequence->value("id", json()) == "B")
        out.pair.push_back("$B");
      else if (!special.empty())
        out.pair.push_back(special);
      else
        return out.pair.clear(), out; // not a template we understand: the fallback
    }
  return out;
}

struct BadJsonValue {
  std::string message;
};

// A token id: a JSON integer (nlohmann would convert a float silently, or with undefined
// behaviour when it is out of range).
int64_t jsonTokenId(const json &v, const std::string &what) {
  if (!v.is_number_integer())
    throw BadJsonValue{"id of '" + what + "' is not an integer"};
  return v.get<int64_t>();
}

// "<s>" or {"content": "<s>", ...} as tokenizer_config.json writes special tokens.
std::string specialText(const json &v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v.at("content").is_string())
    return v.at("content").get<std::string>();
  return {};
}

Expected<std::string> readWholeFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error(ErrorCode::NotFound, path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// transformers 5 does not run an XLM-RoBERTa tokenizer.json's pipeline as the file gives it:
// its XLMRobertaTokenizer class (CamembertTokenizer is the same) keeps the file's vocabulary
// and SentencePiece charsmap (Precompiled) and builds the rest itself: no other normalizer,
// WhitespaceSplit then
// Metaspace (prepending "▁" unless tokenizer_config.json's add_prefix_space is false), and
// "<s> $A </s>", "<s> $A </s> </s> $B </s>" of its bos_token and eos_token. Served models
// are compared with it, so a tokenizer_config.json naming that class gets that pipeline
// (transformers 4 ran the file's; the two differ on runs of white space).
// `bos` and `eos`: the ids of its bos_token and eos_token (-1: not in the vocabulary).
Status useXlmRobertaClassPipeline(Tokenizer::Impl &t, const json &config, int32_t bos,
                                  int32_t eos, const std::string &name) {
  using Step = Tokenizer::Impl::NormalizerStep;
  std::vector<Step> kept;
  for (Step &step : t.normalizer)
    if (step.op == Step::Op::Precompiled)
      kept.push_back(std::move(step));
  t.normalizer = std::move(kept);
  t.whitespaceSplit = t.metaspacePre = true;
  t.spmPrefix = config.value("add_prefix_space", true) ? Tokenizer::Impl::SpacePrefix::MetaspaceAlways
                                                      : Tokenizer::Impl::SpacePrefix::None;
  Expected<PreTokenizer> split = PreTokenizer::create({kMetaspaceSplit});
  if (!split)
    return split.error().withContext(name);
  t.pre = std::move(*split);
  if (bos < 0 || eos < 0)
    return bad(name, "XLMRobertaTokenizer without its bos_token and eos_token in the vocabulary");
  t.bos = bos;
  t.eos = t.appendedEos = eos;
  t.addBos = t.addEos = true;
  t.pairTemplate = {bos, Tokenizer::Impl::kPairFirst, eos, eos, Tokenizer::Impl::kPairSecond, eos};
  t.pairTemplateTypes.assign(t.pairTemplate.size(), 0);
  return Status();
}

} // namespace

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromTokenizerJson(std::string_view text,
                                                                  const HfTokenizerFiles &files,
                                                                  const std::string &name) {
  std::string part = name; // the file an error is in
  try {
    json root = json::parse(text);
    part = kTokenizerConfigFile;
    json config = files.config.empty() ? json::object() : json::parse(files.config);
    part = kGenerationConfigFile;
    json generation =
        files.generationConfig.empty() ? json::object() : json::parse(files.generationConfig);
    part = name;
    const json &model = root.at("model");
    std::string type = model.value("type", "BPE");
    if (type != "BPE" && type != "WordPiece" && type != "Unigram")
      return Error(ErrorCode::Unsupported, name + ": unsupported model type '" + type + "'");
    auto t = std::make_unique<Impl>();

    JsonPipeline pipe;
    const bool unigram = type == "Unigram";
    pipe.unigram = unigram;
    if (Status s = readNormalizer(root.value("normalizer", json()), pipe, name); !s)
      return s.error();
    if (Status s = readPreTokenizer(root.value("pre_tokenizer", json()), pipe, name); !s)
      return s.error();
    const bool wordPiece = type == "WordPiece";
    if (wordPiece != pipe.bertWords)
      return Error(ErrorCode::Unsupported,
                   name + (wordPiece ? ": WordPiece without BertPreTokenizer"
                                     : ": BertPreTokenizer with a model other than WordPiece"));
    if (!wordPiece && pipe.bert.on)
      return Error(ErrorCode::Unsupported, name + ": BertNormalizer with a model other than WordPiece");
    if (wordPiece && (pipe.byteLevel || pipe.metaspace || !pipe.patterns.empty()))
      return Error(ErrorCode::Unsupported,
                   name + ": WordPiece with a pre-tokenizer other than BertPreTokenizer alone");
    if (unigram && (pipe.byteLevel || !pipe.patterns.empty()))
      return Error(ErrorCode::Unsupported,
                   name + ": Unigram with a pre-tokenizer other than WhitespaceSplit and Metaspace");
    t->kind = wordPiece ? Kind::WordPiece
              : unigram ? Kind::Unigram
              : pipe.byteLevel ? Kind::ByteLevelBpe
                               : Kind::SentencePieceBpe;
    t->normalizer = std::move(pipe.steps);
    t->whitespaceSplit = pipe.whitespaceSplit;
    t->metaspacePre = pipe.metaspacePre;
    t->bert = pipe.bert;
    if (wordPiece) {
      if (model.contains("continuing_subword_prefix") &&
          model.at("continuing_subword_prefix").is_string())
        t->subwordPrefix = model.at("continuing_subword_prefix").get<std::string>();
      const json &chars = model.value("max_input_chars_per_word", json());
      if (chars.is_number_unsigned())
        t->maxWordChars = chars.get<size_t>();
    }
    t->byteFallback = model.value("byte_fallback", false);
    t->ignoreMerges = model.value("ignore_merges", false);
    t->addPrefixSpace = pipe.addPrefixSpace;
    t->spmPrefix = pipe.byteLevel ? Impl::SpacePrefix::None : pipe.prefix;
    if (!wordPiece && !unigram && !pipe.byteLevel && !pipe.metaspace)
      return Error(ErrorCode::Unsupported,
                   name + ": BPE without a ByteLevel or Metaspace pre-tokenizer");
    if (!pipe.byteLevel && pipe.metaspaceSplit)
      pipe.patterns = {kMetaspaceSplit};
    if (pipe.byteLevel || pipe.metaspaceSplit) {
      Expected<PreTokenizer> p = PreTokenizer::create(pipe.patterns);
      if (!p)
        return p.error().withContext(name);
      t->pre = std::move(*p);
    }

    // Vocabulary plus added tokens; ids may leave gaps, which stay unused.
    const json &vocab = model.at("vocab");
    if (unigram != vocab.is_array())
      return bad(name, unigram ? "Unigram vocab is not a list of [piece, score]"
                               : "vocab is not an object of piece: id");
    int64_t maxId = unigram ? static_cast<int64_t>(vocab.size()) - 1 : -1;
    for (auto it = vocab.begin(); !unigram && it != vocab.end(); ++it)
      maxId = std::max<int64_t>(maxId, jsonTokenId(*it, it.key()));
    const json added = root.value("added_tokens", json::array());
    for (const json &a : added)
      maxId = std::max<int64_t>(maxId, jsonTokenId(a.at("id"), "added token"));
    // Ids are dense in real vocabularies; a bound keeps a hostile file from allocating 2^31 slots.
    if (maxId >= static_cast<int64_t>(2 * (vocab.size() + added.size()) + 1024))
      return bad(name, "token id " + std::to_string(maxId) + " is far beyond the " +
                           std::to_string(vocab.size() + added.size()) + " tokens defined");
    t->text.resize(static_cast<size_t>(maxId + 1));
    t->attr.assign(t->text.size(), TokenAttr::Unused);
    double minScore = 0;
    if (unigram)
      t->pieceScores.assign(t->text.size(), 0.0);
    for (size_t k = 0; unigram && k < vocab.size(); ++k) {
      const json &e = vocab[k];
      if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number() ||
          !std::isfinite(e[1].get<double>()))
        return bad(name, "Unigram vocab entry #" + std::to_string(k) +
                             " is not [piece, finite score]");
      t->text[k] = e[0].get<std::string>();
      t->attr[k] = TokenAttr::Normal;
      t->pieceScores[k] = e[1].get<double>();
      minScore = k == 0 ? t->pieceScores[k] : std::min(minScore, t->pieceScores[k]);
    }
    // A character no piece covers scores the lowest piece's score less 10 (HF's penalty).
    t->unkScore = minScore - 10.0;
    for (auto it = vocab.begin(); !unigram && it != vocab.end(); ++it) {
      int64_t id = jsonTokenId(*it, it.key());
      if (id < 0)
        return bad(name, "negative id for token '" + it.key() + "'");
      t->text[id] = it.key();
      t->attr[id] = TokenAttr::Normal;
    }
    for (const json &a : added) {
      int64_t id = jsonTokenId(a.at("id"), "added token");
      if (id < 0)
        return bad(name, "negative added token id");
      t->text[id] = a.at("content").get<std::string>();
      t->attr[id] = a.value("special", false) ? TokenAttr::Control : TokenAttr::UserDefined;
    }
    std::string unk = model.value("unk_token", json()).is_string()
                          ? model.at("unk_token").get<std::string>()
                          : "";
    for (size_t k = 0; k < t->text.size(); ++k)
      if (!unk.empty() && t->text[k] == unk) {
        t->attr[k] = TokenAttr::Unknown;
        t->unk = static_cast<int32_t>(k);
      }
    if (wordPiece && t->unk < 0)
      return bad(name, "WordPiece model without an unk_token in its vocabulary");
    if (unigram) {
      const json &unkId = model.value("unk_id", json());
      if (!unkId.is_number_integer() || unkId.get<int64_t>() < 0 ||
          unkId.get<int64_t>() >= static_cast<int64_t>(t->text.size()))
        return bad(name, "Unigram model without an unk_id in its vocabulary");
      t->unk = unkId.get<int32_t>();
      // An added (special) token becomes the unknown token; a vocabulary piece stays a piece
      // of the lattice with its score, as in HF.
      if (t->attr[t->unk] != TokenAttr::Normal)
        t->attr[t->unk] = TokenAttr::Unknown;
    }

    auto idOf = [&](const json &v) -> int32_t {
      std::string s = specialText(v);
      for (size_t k = 0; k < t->text.size() && !s.empty(); ++k)
        if (t->text[k] == s)
          return static_cast<int32_t>(k);
      return -1;
    };
    t->bos = idOf(config.value("bos_token", json()));
    t->eos = idOf(config.value("eos_token", json()));
    t->pad = idOf(config.value("pad_token", json()));
    // BOS/EOS added by the post-processor template (Llama 3 style), unless tokenizer_config.json
    // says otherwise.
    TemplateSpecials tmpl = readTemplate(root.value("post_processor", json()));
    if (!tmpl.first.empty()) {
      t->bos = idOf(tmpl.first);
      t->addBos = t->bos >= 0;
    }
    if (!tmpl.last.empty()) {
      t->eos = t->eos >= 0 ? t->eos : idOf(tmpl.last);
      t->addEos = idOf(tmpl.last) >= 0;
      t->appendedEos = idOf(tmpl.last); // what transformers appends, whatever eos_token says
    }
    // A pair template stands unless tokenizer_config.json's add_bos_token or add_eos_token
    // says otherwise than the single template (a tokenizer class that honours them then
    // rebuilds both templates: encodePair adds each text's specials).
    const bool rebuilt = config.value("add_bos_token", t->addBos) != t->addBos ||
                         config.value("add_eos_token", t->addEos) != t->addEos;
    if (!rebuilt)
      for (const std::string &item : tmpl.pair) {
        const int32_t id = item == "$A" ? Impl::kPairFirst : item == "$B" ? Impl::kPairSecond
                                                                          : idOf(item);
        if (id == -1) {
          t->pairTemplate.clear();
          t->pairTemplateTypes.clear();
          break;
        }
        t->pairTemplate.push_back(id);
        t->pairTemplateTypes.push_back(
            t->pairTemplateTypes.size() < tmpl.pairTypes.size()
                ? tmpl.pairTypes[t->pairTemplateTypes.size()]
                : 0);
      }
    t->addBos = config.value("add_bos_token", t->addBos);
    t->addEos = config.value("add_eos_token", t->addEos);
    const json &tokenizerClass = config.value("tokenizer_class", json());
    if (unigram && tokenizerClass.is_string() &&
        (tokenizerClass == "XLMRobertaTokenizer" || tokenizerClass == "XLMRobertaTokenizerFast" ||
         tokenizerClass == "CamembertTokenizer" || tokenizerClass == "CamembertTokenizerFast"))
      if (Status s = useXlmRobertaClassPipeline(*t, config,
                                                idOf(config.value("bos_token", json("<s>"))),
                                                idOf(config.value("eos_token", json("</s>"))),
                                                name);
          !s)
        return s.error();
    // The chat template: chat_template.jinja, else tokenizer_config.json's string, or the
    // one named "default" among its named templates.
    if (!files.chatTemplate.empty()) {
      t->chatTemplate = std::string(files.chatTemplate);
    } else if (auto c = config.find("chat_template"); c != config.end()) {
      if (c->is_string()) {
        t->chatTemplate = c->get<std::string>();
      } else if (c->is_array()) {
        for (const json &named : *c)
          if (named.is_object() && named.value("name", json()) == "default" &&
              named.value("template", json()).is_string())
            t->chatTemplate = named.at("template").get<std::string>();
      }
    }
    // generation_config.json's eos_token_id (one id or a list) ends answers too.
    if (auto e = generation.find("eos_token_id"); e != generation.end() && !e->is_null()) {
      const json list = e->is_array() ? *e : json::array({*e});
      for (const json &id : list) {
        int64_t v = jsonTokenId(id, std::string(kGenerationConfigFile) + " eos_token_id");
        if (v < 0 || v >= static_cast<int64_t>(t->text.size()))
          return bad(std::string(kGenerationConfigFile),
                     "eos_token_id " + std::to_string(v) + " is outside the vocabulary of " +
                         std::to_string(t->text.size()));
        t->ends.push_back(static_cast<int32_t>(v));
      }
    }

    if (Status s = t->finish(name); !s)
      return s.error();
    const json merges = model.value("merges", json::array());
    t->merges.reserve(merges.size());
    for (size_t k = 0; k < merges.size(); ++k) {
      const json &m = merges[k];
      Status s = m.is_string() ? addMergeString(*t, m.get<std::string>(), k, name)
                               : addMerge(*t, m.at(0).get<std::string>(),
                                          m.at(1).get<std::string>(), k, name);
      if (!s)
        return s.error();
    }
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(t)));
  } catch (const json::exception &e) {
    return bad(part, std::string("bad tokenizer JSON: ") + e.what());
  } catch (const BadJsonValue &e) {
    return bad(name, e.message);
  }
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromFile(const std::string &path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return Error(ErrorCode::NotFound, path + ": no such file or directory");
  std::string jsonPath = path, dir;
  if (S_ISDIR(st.st_mode)) {
    jsonPath = path + "/tokenizer.json";
    dir = path;
  } else if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) {
    Expected<GgufFile> gguf = GgufFile::open(path);
    if (!gguf)
      return gguf.error();
    return fromGguf(*gguf);
  } else {
    char head[sizeof plan::kMagic] = {};
    if (std::ifstream in(path, std::ios::binary); in.read(head, sizeof head) &&
                                                 std::equal(head, head + sizeof head, plan::kMagic))
      return fromPlan(path); // a plan: the tokenizer it carries
    size_t slash = path.rfind('/');
    dir = slash == std::string::npos ? std::string(".") : path.substr(0, slash);
  }
  Expected<std::string> text = readWholeFile(jsonPath);
  if (!text)
    return text.error();
  // The companions that exist beside it.
  std::string companions[std::size(kHfTokenizerFiles)];
  HfTokenizerFiles files;
  for (size_t k = 0; k < std::size(kHfTokenizerFiles); ++k) {
    const std::string file = dir + "/" + kHfTokenizerFiles[k].name;
    if (::stat(file.c_str(), &st) != 0)
      continue;
    Expected<std::string> c = readWholeFile(file);
    if (!c)
      return c.error();
    companions[k] = std::move(*c);
    files.*kHfTokenizerFiles[k].field = companions[k];
  }
  return fromTokenizerJson(*text, files, jsonPath);
}

Expected<std::unique_ptr<Tokenizer>> Tokenizer::fromPlan(const std::string &planPath) {
  Expected<plan::PlanFile> file = plan::PlanFile::open(planPath);
  if (!file)
    return file.error();
  Expected<plan::PlanMetadata> meta = plan::readMetadata(*file);
  if (!meta)
    return meta.error();
  const plan::Section *main = nullptr;
  HfTokenizerFiles files;
  for (const plan::Section &section : file->sections()) {
    if (section.kind != plan::SectionKind::Tokenizer)
      continue;
    const HfTokenizerFile *companion = nullptr;
    for (const HfTokenizerFile &f : kHfTokenizerFiles)
      if (section.name == f.name)
        companion = &f;
    if (companion)
      files.*companion->field = section.text();
    else if (!main)
      main = &section;
  }
  if (!main)
    return Error(ErrorCode::NotFound,
                 planPath + ": the plan carries no tokenizer; give one with --tokenizer FILE "
                            "(tokenizer.json or the model's .gguf)");
  // The plan's bytes are copied by the loaders: `file` may close afterwards.
  return fromPlanSection(meta->tokenizerFormat, main->text(), planPath + ": " + main->name,
                         files);
}

} // namespace modelrt
