// Everything modelc knows about a model before building IR: hyperparameters, where the
// weights and tokenizer come from, and the compile options (dtype, target, parallel
// layout, serving limits). Loaded from a model.json manifest, a Hugging Face model
// directory or a GGUF file.
#pragma once

#include "compiler/frontend/ModelConfig.h"
#include "runtime/plan/PlanMetadata.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace modelc::frontend {

struct WeightSource {
  // Dummy: no values in the plan, the runtime fills them at load (benchmarks only).
  enum class Format { Random, Safetensors, Gguf, Dummy };
  Format format = Format::Random;
  std::string path;  // file or directory; empty for Random
  uint64_t seed = 0; // Random only
};
llvm::StringRef weightFormatName(WeightSource::Format format);

struct TokenizerSource {
  std::string format; // "tokenizer.json", "gguf", or empty when the model has none
  std::string path;
};

// How an embedding plan pools a request's rows (the plan's own description, less its
// dimensions, which the builder fills in): from sentence-transformers' Pooling module,
// llama.cpp's pooling_type, or modelc's --pooling / --normalize.
using PoolingSpec = modelrt::plan::Pooling;

struct ModelSpec {
  std::string name;
  std::string origin; // the file modelc was given, for error messages
  ModelConfig config;
  WeightSource weights;
  TokenizerSource tokenizer;
  std::string dtype = "f32"; // compute and weight dtype: f32, f16, bf16
  // "native": matrices that a GGUF file holds in a block type the plan keeps
  // (plan::isKeptBlockType: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K-Q6_K, IQ4_NL, IQ4_XS, MXFP4; and
  // the weight store's Q4_ZP and F8_E4M3_B32 from quantized checkpoints) stay
  // in those blocks when the plan dtype is f32 (the runtime expands them exactly); "dense":
  // every weight in dtype.
  std::string weightFormat = "native";
  std::string target = "cpu"; // cpu or cuda
  int64_t tensorParallel = 1;
  int64_t pipelineParallel = 1;
  // Multi-head latent attention's KV cache (DeepSeek): "latent" (each token's latent and
  // rotated key features, the key rows of kv_b_proj folded into the queries and its value
  // rows applied after attention), "expanded" (every head's key and value), or empty: latent
  // on one rank, expanded over tensor-parallel ranks.
  std::string mlaCache;
  bool latentAttention() const {
    return config.kvLoraRank > 0 &&
           (mlaCache == "latent" || (mlaCache.empty() && tensorParallel == 1));
  }
  // "generate" (the program returns logits) or "embed" (vLLM's pooling runner: it returns
  // the final hidden states of the rows the runtime pools). Loaders set "embed" for an
  // embedding checkpoint (architectures naming a "<Name>Model"; a sentence-transformers
  // directory of a bare decoder; a GGUF file with a pooling_type 1-3); --task overrides.
  // "classify" (a sequence classifier: the program returns the logits of the classifier's
  // head at the last token; loaders set it for a "<Name>ForSequenceClassification"
  // checkpoint, and --task classify --classifier-from-token makes one of a language model's
  // head, as vLLM's classifier_from_token does).
  std::string task = "generate";
  bool embed() const { return task == "embed"; }
  bool classify() const { return task == "classify"; }
  // The head of a classification plan (its labels, activation and pair encoding).
  modelrt::plan::Classifier classifier;
  // The head's rows are these tokens' rows of the LM head (classifier_from_token), else
  // the checkpoint's score.weight.
  std::vector<std::string> classifierTokens;
  std::vector<int64_t> classifierTokenIds; // resolved by useClassifierTokens
  // Else the head's source as the store names it (empty: score.weight), and the rows it
  // picks of it in order (empty: all; llama.cpp's rerankers hold "yes" before "no").
  std::string classifierHead;
  std::vector<int64_t> classifierHeadRows;
  std::string classifierError; // why the files' classifier cannot be computed
  PoolingSpec pooling; // what the model's files say (else the last token, normalized)
  std::string poolingError; // why the files' pooling cannot be computed (an error if embed())
  bool poolingModeOnly = false; // the error is the pooling mode alone: --pooling replaces it
  int64_t maxSeqLen = 0; // 0: the model's max_position_embeddings
  int64_t maxNumSeqs = 64;
  int64_t maxNumBatchedTokens = 2048;
};

// Loads MODEL: a .json manifest, a directory with config.json, or a .gguf file.
llvm::Expected<ModelSpec> loadModelSpec(llvm::StringRef path);

// Loads a GGUF file's metadata as a model (GgufSpec.cpp).
llvm::Expected<ModelSpec> loadGgufSpec(llvm::StringRef path);

// Checks the compile options (dtype, target, parallel layout, limits) against the model.
llvm::Error validateSpec(const ModelSpec &spec);

// Makes `spec` a classifier of the LM head's rows of `tokens` (vLLM's classifier_from_token,
// looked up in the model's tokenizer): with `method` from_2_way_softmax (the default for two
// tokens: false, then true), one label whose logit is the true token's minus the false
// token's; with no_post_processing (the default otherwise), a label per token.
llvm::Error useClassifierTokens(ModelSpec &spec, llvm::ArrayRef<std::string> tokens,
                                llvm::StringRef method);

} // namespace modelc::frontend
