// The metadata section of a plan, parsed and checked against the rest of the file.
#pragma once

#include "runtime/formats/DType.h"
#include "runtime/plan/PlanFile.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace modelrt::plan {

// Where some of a matrix's rows come from (the metadata's "sources", in row order): rows
// and columns of the store's tensor `name` (its Hugging Face or GGUF name, as the plan's
// weightNames says; [sourceRows, sourceCols] in all), each a list of [offset, size] ranges in the matrix's [out, in] layout;
// a range with stride s keeps every s-th row (column) from its offset.
struct WeightSource {
  std::string name;
  int64_t sourceRows = 0, sourceCols = 0; // the whole source's shape, in that layout
  std::vector<int64_t> rows, cols;
  int64_t rowStride = 1, colStride = 1;
  int64_t numRows() const;
  int64_t numCols() const;
};

struct WeightEntry {
  std::string name;
  // Matrices only (empty: not recorded): the sources the rows come from, in order.
  std::vector<WeightSource> sources;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  uint64_t offset = 0; // in the weights section
  uint64_t size = 0;
  const uint8_t *data = nullptr; // into the mapped file (or dummy values, once filled)
  bool dummy = false; // "fill": "dummy": no bytes in the plan; fillDummyWeights makes them
};

// What the runtime needs to size its KV cache; the same for every layer.
struct KvCacheLayout {
  int64_t numLayers = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;      // of each key head
  int64_t valueHeadDim = 0; // of each value head (headDim unless the plan says otherwise)
  // Each value head is the first valueHeadDim features of its key head: no V cache apart.
  bool valuesInKeys = false;
};

// An embedding plan's pooling (metadata "pooling"; modelc --task embed): the program
// returns the final hidden states (`dimensions` wide) of the rows asked for, and the engine
// pools a request's rows into one vector: the last token's, the mean of all, or the first
// token's; with `normalize`, scaled to unit length.
struct Pooling {
  enum class Type { Last, Mean, Cls };
  Type type = Type::Last;
  bool normalize = true;
  int64_t dimensions = 0;
  // Whether every prompt row's state is needed (mean and cls), not only the last one's.
  bool needsAllRows() const { return type != Type::Last; }
};
const char *poolingTypeName(Pooling::Type type);
// "last", "mean" or "cls"; nullopt for another name.
std::optional<Pooling::Type> parsePoolingType(std::string_view name);

// A classification plan's head (metadata "classifier"; modelc --task classify): the plan
// also pools the last token without normalizing, so each request's vector is its last row's
// logits, one per column of the program's output, and these turn them into the labels'
// probabilities. vLLM's /classify, and /score and /rerank of a cross-encoder, read them.
struct Classifier {
  // How probabilities come from logits: softmax over the labels, each label's sigmoid, or
  // the logits as they are (a regression head's, or a head told so).
  enum class Activation { Softmax, Sigmoid, None };
  // The label names (config.json id2label, in index order).
  std::vector<std::string> labels;
  // /classify's (vLLM: by problem_type and the labels' count), and /score's (a
  // cross-encoder's: sentence-transformers' activation_fn where the model names one).
  Activation activation = Activation::Softmax;
  Activation scoreActivation = Activation::Softmax;
  // The program's two columns are the logits of a "false" and a "true" token of a language
  // model's head, and the one label's logit is true minus false (vLLM's from_2_way_softmax,
  // a yes/no reranker: its sigmoid is the softmax of the two tokens' logits at the true one).
  bool twoWaySoftmax = false;
  // Whether a query and a document become one prompt by the tokenizer's pair encoding
  // (a cross-encoder's; transformers' tokenizer(text, text_pair)), or as one text, the
  // document's after the query's (an LLM asked yes or no; vLLM's use_sep_token false).
  bool pairEncoding = true;
  // Set: a query and a document become this text with "{query}" and "{document}" replaced
  // (a GGUF file's rerank template; modelc --pair-template), tokenized as one prompt with
  // special tokens recognised; it wins over pairEncoding.
  std::string pairTemplate;
  // > 0: the program takes a token type (segment) per row, one of this many: a pair's query
  // is type 0 and its document type 1, as the tokenizer's pair template says.
  int64_t tokenTypes = 0;
  // The prompt text of a query and a document under pairTemplate.
  std::string applyPairTemplate(std::string_view query, std::string_view document) const;

  // The program's output width: the labels, or the two tokens.
  int64_t columns() const { return twoWaySoftmax ? 2 : int64_t(labels.size()); }
  // The labels' logits of a row of columns() values.
  std::vector<float> logits(const std::vector<float> &row) const;
  // Their probabilities (the activation applied unless `activate` is false).
  std::vector<float> probabilities(const std::vector<float> &row, bool activate = true) const;
  // A query-document pair's score: the one label's, by scoreActivation.
  float score(const std::vector<float> &row, bool activate = true) const;
};
const char *activationName(Classifier::Activation activation);
// "softmax", "sigmoid" or "none"; nullopt for another name.
std::optional<Classifier::Activation> parseActivation(std::string_view name);

struct PlanMetadata {
  std::string modelName;
  std::string architecture; // informational only: the runtime never branches on it
  int64_t vocabSize = 0;
  std::string target; // cpu or cuda
  std::string dtype;  // f32, f16 or bf16
  int64_t tensorParallel = 1;
  int64_t pipelineParallel = 1;
  int64_t maxSeqLen = 0;
  int64_t maxNumSeqs = 0;
  int64_t maxNumBatchedTokens = 0;
  KvCacheLayout kvCache;
  // Recurrent states each request keeps beside its KV cache (the program's causal_conv1d,
  // gated_delta_rule and ssm_scan ops, one each), per rank numbered from 0; 0: none. Such a plan
  // needs a state slot per running request (PagedChunk::stateSlot), and its states are
  // functions of every token before, so they cannot come from a prefix cache or be undone.
  int64_t numRecurrentStates = 0;
  // Set: an embedding plan; its program's output rows are `pooling->dimensions` wide.
  std::optional<Pooling> pooling;
  // Set: a classification plan (pooling is then the last token's, not normalized, its
  // dimensions the classifier's columns()).
  std::optional<Classifier> classifier;
  // The width of the program's output rows: the vocabulary (logits), or the embeddings'.
  int64_t outputWidth() const { return pooling ? pooling->dimensions : vocabSize; }
  bool hasRecurrentState() const { return numRecurrentStates > 0; }
  // The program's attention is bidirectional (an encoder's: metadata "bidirectional"; only
  // pooling plans): each prompt must run whole in one step, and never from a prefix cache.
  bool bidirectional = false;
  std::vector<WeightEntry> weights;
  // How sources are named ("huggingface" or "gguf"; empty: plans before sources), and the
  // names of every rank's matrices' sources.
  std::string weightNames;
  std::map<std::string, std::pair<int64_t, int64_t>> matrixSources; // name -> [rows, cols]
  std::string tokenizerFormat; // "tokenizer.json", or empty when the plan carries none
  std::string builtBy;         // "modelc <version>"
  std::shared_ptr<std::vector<uint8_t>> dummyStorage; // what fillDummyWeights made
};

// Block types a plan's weights may keep as the file held them (docs/plan-format.md; GGUF's,
// Q4_ZP for asymmetric 4-bit checkpoints and F8_E4M3_B32 for FP8 ones):
// the CPU executor's GEMM and row gathers read them without widening the plan to f32.
inline bool isKeptBlockType(DType d) {
  return d == DType::Q8_0 || d == DType::Q4_0 || d == DType::Q4_1 || d == DType::Q5_0 ||
         d == DType::Q5_1 || d == DType::Q2_K || d == DType::Q3_K || d == DType::Q4_K ||
         d == DType::Q5_K || d == DType::Q6_K || d == DType::IQ4_NL || d == DType::IQ4_XS ||
         d == DType::MXFP4 || d == DType::Q4_ZP || d == DType::F8E4M3_B32;
}

// The most ranks (tp x pp) a plan may have.
inline constexpr int64_t kMaxRanks = 256;

// Parses and validates the metadata: required fields present and positive, every weight
// (of every rank) inside its rank's weights section with size == elements * dtype size,
// names unique within a rank. `weights` holds rank `rank`'s, which must be a rank of the
// plan (tp x pp of them).
Expected<PlanMetadata> readMetadata(const PlanFile &plan, int64_t rank = 0);

// A plan file opened with one rank's metadata (whose weights point into the file's mapping,
// which moves with the file).
struct OpenedPlan {
  PlanFile file;
  PlanMetadata meta;
};
Expected<OpenedPlan> openPlan(const std::string &path, int64_t rank = 0);

// Gives the dummy weights (plans compiled with --dummy-weights, for benchmarks: vLLM's
// --load-format dummy) values: deterministic pseudo-random numbers by name and index,
// matrices uniform in +-1/sqrt(cols), vectors in 1 +- 0.1, in each entry's dtype. Executors
// call it at load; until then a dummy entry's `data` is null.
Status fillDummyWeights(PlanMetadata &meta);

} // namespace modelrt::plan
