// The state behind a Tokenizer, filled by the loaders (Load.cpp) and used by Tokenizer.cpp.
#pragma once

#include "runtime/tokenize/PreTokenizer.h"
#include "runtime/tokenize/Precompiled.h"
#include "runtime/tokenize/Tokenizer.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>

namespace modelrt {

struct Tokenizer::Impl {
  Kind kind = Kind::ByteLevelBpe;
  std::vector<std::string> text;  // vocabulary strings as stored
  std::vector<std::string> bytes; // what each token decodes to
  std::vector<TokenAttr> attr;
  std::vector<float> scores; // SentencePiece scores (merge priority when useScores)
  std::unordered_map<std::string, int32_t> ids;
  // Merge rank and result of the pair (left id << 32 | right id).
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;
  bool useScores = false;      // SentencePiece: merge the adjacent pair whose join scores best
  bool ignoreMerges = false;   // HF BPE ignore_merges: a piece already in the vocab is kept whole
  bool byteFallback = false;   // unknown characters become <0xXX> tokens
  bool addPrefixSpace = false; // byte-level: prepend a space to text not starting with one
  // SentencePiece: how a "▁" is prepended to each run of text (between special tokens), and
  // stripped again on decode. Prepend: always, to every run (GGUF add_space_prefix, HF
  // Prepend normalizer); MetaspaceFirst/Always: HF Metaspace, only to a run not already
  // starting with a space, the first run only or every run.
  enum class SpacePrefix { None, Prepend, MetaspaceFirst, MetaspaceAlways };
  SpacePrefix spmPrefix = SpacePrefix::None;
  PreTokenizer pre;
  // WordPiece (Kind::WordPiece): BERT's normalizer (tokenizers' BertNormalizer; off: the text
  // as it is), then words split at white space with each punctuation character a word of its
  // own (BertPreTokenizer), each word the longest vocabulary pieces from its start, the later
  // ones written with `subwordPrefix`; a word that cannot be covered, or longer than
  // maxWordChars characters, is the unknown token.
  struct BertNormalizer {
    bool on = false, cleanText = true, chineseChars = true, stripAccents = false,
         lowercase = true;
  } bert;
  // Unigram (Kind::Unigram): the normalizer's steps in order; then words split at white
  // space (whitespaceSplit: HF WhitespaceSplit), each word given spmPrefix's "▁" and split
  // before each "▁" (pre: HF Metaspace with split); then each piece the path of vocabulary
  // pieces of the best total score (pieceScores, log-probabilities), a character no piece
  // covers scoring unkScore, and consecutive such characters fused into one unknown token.
  struct NormalizerStep {
    enum class Op { Precompiled, Replace, RegexReplace, Strip, Prepend } op;
    std::string from, to; // Replace: from -> to; RegexReplace: matches -> to; Prepend: to
    std::shared_ptr<const CharsMap> charsMap;
    std::shared_ptr<const PreTokenizer> regex;
    bool left = false, right = false; // Strip: which ends lose their white space
  };
  std::vector<NormalizerStep> normalizer;
  bool whitespaceSplit = false;
  bool metaspacePre = false; // a Metaspace pre-tokenizer: spaces become "▁", spmPrefix applies
  std::vector<double> pieceScores;
  double unkScore = 0;
  // The lattice's pieces (inLattice, each text's id as `ids` has it) as a trie over their
  // bytes (finish()): walking a text from a position meets every piece that starts there,
  // shortest first.
  struct PieceTrie {
    struct Node {
      int32_t id = -1;             // the piece that ends here, or -1
      uint32_t edges = 0, count = 0; // its children: labels/targets [edges, edges + count)
    };
    std::vector<Node> nodes;
    std::vector<uint8_t> labels; // each node's edge bytes, sorted
    std::vector<uint32_t> targets;
    void build(std::vector<std::pair<std::string_view, int32_t>> pieces);
    // Calls found(length, id) for each piece `text` starts with, shortest first.
    template <typename F> void prefixes(std::string_view text, F found) const {
      uint32_t node = 0;
      for (size_t k = 0; k < text.size() && !nodes.empty(); ++k) {
        const Node &n = nodes[node];
        const uint8_t *begin = labels.data() + n.edges, *end = begin + n.count;
        const uint8_t c = static_cast<uint8_t>(text[k]);
        const uint8_t *it = std::lower_bound(begin, end, c);
        if (it == end || *it != c)
          return;
        node = targets[n.edges + static_cast<size_t>(it - begin)];
        if (nodes[node].id >= 0)
          found(k + 1, nodes[node].id);
      }
    }
  } pieceTrie;
  // A GGUF UGM vocabulary, run by that format's conventions instead: its own normalizer (the
  // charsmap's longest match, spaces written "▁", one before the first run of text
  // (spmPrefix Prepend) or, with removeExtraWhitespaces, before every run, the spaces
  // between runs then dropped), no pre-tokenizer, user-defined pieces scoring 0 and unused
  // ones in the lattice, unkScore from normal pieces only, and each run of unknown
  // characters one unknown token.
  bool ggufUgm = false;
  bool removeExtraWhitespaces = false;
  std::shared_ptr<const CharsMap> ugmCharsMap;
  // Whether a token is a piece of the Unigram lattice: normal pieces (ggufUgm: also
  // user-defined and unused ones); never control or unknown tokens.
  bool inLattice(int32_t id) const {
    return attr[id] == TokenAttr::Normal ||
           (ggufUgm && (attr[id] == TokenAttr::UserDefined || attr[id] == TokenAttr::Unused));
  }
  std::string subwordPrefix = "##";
  size_t maxWordChars = 100;
  size_t longestPiece = 0; // characters of the longest piece (finish()): no longer one is tried
  int32_t byteIds[256]; // token of each byte (byte-level alphabet or <0xXX>), -1 if none
  int32_t bos = -1, eos = -1, pad = -1, unk = -1;
  std::vector<int32_t> ends; // end-of-answer tokens; finish() adds eos first, drops repeats
  bool addBos = false, addEos = false;
  // What addEos appends: eos, or the token a post-processor template appends where that is
  // another than tokenizer_config.json's eos_token (as transformers appends it); -1: eos.
  int32_t appendedEos = -1;
  // A post-processor's pair template: token ids, kPairFirst / kPairSecond where the two
  // texts go; empty: none (encodePair adds each text's specials as encode does).
  static constexpr int32_t kPairFirst = -2, kPairSecond = -3;
  std::vector<int32_t> pairTemplate;
  std::vector<int32_t> pairTemplateTypes; // each item's type id (TemplateProcessing's type_id)
  std::string chatTemplate;
  std::vector<int32_t> specials; // Control and UserDefined tokens, longest text first

  mutable std::mutex cacheMutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  Impl();
  // Derives bytes, ids, byteIds and specials from text/attr; checks special ids; puts eos
  // first in ends and drops repeats.
  Status finish(const std::string &name);
  int32_t size() const { return static_cast<int32_t>(text.size()); }
};

// The reversible byte <-> printable-character map of byte-level BPE vocabularies.
const std::string &byteLevelChar(uint8_t byte);
// The byte a byte-level character stands for, or -1.
int byteLevelByte(uint32_t codepoint);

} // namespace modelrt
