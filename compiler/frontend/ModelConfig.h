// The hyperparameters of a model, normalized from whichever format described them
// (a Hugging Face config.json, a model.json manifest, or GGUF metadata).
#pragma once

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace modelc::frontend {

enum class Architecture {
  Llama,
  Qwen2,
  Qwen3,
  Phi3,
  Olmo2,
  Olmoe,
  Granite,
  Gpt2,
  Gemma,
  Gemma2,
  Gemma3,
  GptOss,
  Glm4,
  Lfm2,
  Qwen35,
  GraniteHybrid,
  Bert // encoders: BERT, RoBERTa (bidirectional attention; embedding plans only)
};

llvm::StringRef architectureName(Architecture arch);
inline bool isGemma(Architecture a) {
  return a == Architecture::Gemma || a == Architecture::Gemma2 || a == Architecture::Gemma3;
}

// The builder for a Hugging Face model_type or GGUF general.architecture, if there is one.
std::optional<Architecture> architectureFromModelType(llvm::StringRef modelType);
// For error messages: every model_type modelc compiles, comma-separated (llama4, mistral3 and
// gemma3 among them: the language models of multimodal checkpoints).
extern const char *const kSupportedModelTypes;

struct Llama3RopeScaling {
  double factor = 8.0;
  double lowFreqFactor = 1.0;
  double highFreqFactor = 4.0;
  int64_t originalMaxPosition = 8192;
};

struct ModelConfig {
  Architecture architecture = Architecture::Llama;
  std::string modelType; // as the source named it: "llama", "mistral", "qwen2", "qwen3", ...
  // Before every tensor name of a Hugging Face checkpoint: "language_model." for the
  // language model of a multimodal one (Llama4ForConditionalGeneration).
  std::string weightPrefix;
  // In place of the leading "model." of a tensor name (the head's stays):
  // "model.language_model." for Qwen3-VL's language model.
  std::string decoderPrefix;
  // The decoder's tensors without the leading "model." (a checkpoint of the bare decoder, as
  // sentence-transformers saves embedding models: "embed_tokens.weight", "layers.0. ...").
  bool bareDecoderNames = false;
  // How the experts are stored (Hugging Face checkpoints): one tensor each (Mixtral, Qwen3-MoE,
  // DeepSeek), or stacked in experts.gate_up_proj and experts.down_proj, [in, out] (Llama 4,
  // Qwen3-VL-MoE: [E, D, 2I], [E, I, D]) or [out, in] (Mistral 4: [E, 2I, D], [E, D, I]).
  enum class ExpertLayout { PerExpert, StackedInOut, StackedOutIn };
  ExpertLayout expertLayout = ExpertLayout::PerExpert;
  int64_t vocabSize = 0;
  int64_t hiddenSize = 0;
  int64_t intermediateSize = 0;
  int64_t numLayers = 0;
  int64_t numHeads = 0;
  int64_t numKvHeads = 0;
  int64_t headDim = 0;
  int64_t maxPositions = 0;
  // Encoders (BERT, RoBERTa): the token-type embeddings' rows (row 0 is every token's), and
  // the first position's row in the position table (RoBERTa's padding_idx + 1; maxPositions
  // counts the rows after it).
  int64_t typeVocabSize = 0;
  int64_t positionOffset = 0;
  double normEps = 1e-5;
  bool tieEmbeddings = false;
  bool attentionBias = false;    // bias on the Q, K and V projections (Qwen2)
  bool outputBias = false;       // and on the attention's output projection (gpt-oss)
  bool attentionSinks = false;   // a learned extra softmax logit per head (gpt-oss)
  bool qkNorm = false;           // RMSNorm of each query and key head before RoPE (Qwen3)
  bool qkNormAfterRope = false;  // ... after it instead (Hunyuan: query_/key_layernorm)
  bool fusedProjections = false; // qkv_proj, one tensor (Phi-3)
  bool fusedGateUp = false;      // gate_up_proj, one tensor, gate rows first (Phi-3, GLM-4)
  // "silu", "gelu_tanh" or "gelu": the gated MLP's activation (Llama family, Gemma) or
  // GPT-2's MLP activation.
  std::string activation = "silu";
  std::optional<int64_t> slidingWindow;
  // Which layers use slidingWindow (Gemma 3's five local layers to one global); empty:
  // all of them.
  std::vector<bool> slidingLayers;
  // Gemma: added to every RMSNorm weight (Hugging Face files store w - 1; a GGUF file
  // holds w), embeddings scaled by sqrt(hidden_size), attention scaled by
  // query_pre_attn_scalar^-0.5 rather than head_dim^-0.5, and (Gemma 2, 3) an RMSNorm of
  // each block's output before its residual add.
  double normWeightOffset = 0.0;
  bool scaleEmbeddings = false;
  std::optional<double> attentionScale;
  // Norms: before each block (all but OLMo 2), and of each block's output before its
  // residual add (Gemma 2/3, OLMo 2, GLM-4).
  bool inputNorms = true;
  bool outputNorms = false;
  // Cohere 2: every norm a LayerNorm without bias (mean subtracted) instead of RMSNorm, and
  // one norm before each layer whose attention and MLP both read it, their outputs added to
  // the residual together (a parallel block).
  bool layerNorms = false;
  bool parallelBlock = false;
  // OLMo 2: one RMSNorm over the whole query projection and one over the key projection
  // (q_norm [heads * head_dim], k_norm [kv_heads * head_dim]), before RoPE.
  bool qkNormFullWidth = false;
  // Granite: embeddings times embeddingMultiplier, each block's output times
  // residualMultiplier before its residual add, logits divided by logitsScaling (all in
  // f32, as multiplications by Python numbers; the attention scale is attentionScale).
  std::optional<double> embeddingMultiplier, residualMultiplier, logitsScaling;
  // Gemma 2: attention scores and final logits soft-capped at cap * tanh(x / cap).
  std::optional<double> attentionSoftcap, finalSoftcap;
  // Rotary embeddings (not used by GPT-2's learned positions).
  double ropeTheta = 10000.0;
  int64_t rotaryDim = 0;
  bool ropeInterleaved = false;
  std::optional<Llama3RopeScaling> ropeScaling;
  std::optional<double> ropeLinearFactor; // Hugging Face's "linear" rope type
  // LongRoPE (Phi-3): one rescale factor per rotated pair for contexts up to
  // ropeOriginalMaxPositions (short) and past them (long), and the attention factor that
  // multiplies cos and sin. Which set a plan takes follows its max_seq_len.
  std::vector<double> ropeShortFactors, ropeLongFactors;
  int64_t ropeOriginalMaxPositions = 0;
  double ropeMagnitude = 1.0;
  // Sliding-window layers' RoPE where it differs (Gemma 3: theta 10000; OLMo 3: the same theta;
  // both unscaled).
  std::optional<double> localRopeTheta;
  // Layers without rotary embeddings (SmolLM3's NoPE layers); empty: every layer has them.
  std::vector<bool> noRopeLayers;
  // Llama 4: the chunkedLayers attend only within their chunk of attentionChunkSize
  // positions; the RoPE layers' queries and keys RMS-normalized without a weight
  // (qkUnitNorm, its L2 norm); the queries of layers without RoPE multiplied by
  // 1 + temperatureScale * log(1 + floor((p + temperatureOffset) / temperatureFloor))
  // (0: not; Ministral 3: every layer's, temperatureEveryLayer).
  std::optional<int64_t> attentionChunkSize;
  std::vector<bool> chunkedLayers;
  bool qkUnitNorm = false;
  int64_t temperatureFloor = 0, temperatureOffset = 0;
  double temperatureScale = 0.0;
  bool temperatureEveryLayer = false;
  // Multi-head latent attention (DeepSeek-V2/V3) when kvLoraRank > 0: queries through a
  // rank-qLoraRank bottleneck (0: one q_proj), keys and values from a kvLoraRank latent.
  // Each key head is qkNopeHeadDim features plus rotaryDim rotated ones shared by all heads
  // (headDim, their sum); each value head valueHeadDim features.
  int64_t qLoraRank = 0, kvLoraRank = 0, qkNopeHeadDim = 0, valueHeadDim = 0;
  // GGUF: kv_b_proj as llama.cpp's newer converter splits it, attn_k_b [H, kvLoraRank,
  // qkNopeHeadDim] (each head's key rows, transposed) and attn_v_b [H, valueHeadDim,
  // kvLoraRank]; older files hold attn_kv_b as the checkpoint does.
  bool splitKvB = false;

  // Mixture of experts (Mixtral, Qwen3-MoE, OLMoE, GraniteMoE): numExperts > 0 gives every layer
  // but those denseLayers marks a sparse MLP block: a router linear, then expertsPerToken of
  // numExperts SiLU-gated MLPs of expertIntermediateSize per token. normalizeTopK: the
  // chosen experts' weights divided by their sum (Mixtral; Qwen3-MoE and OLMoE's
  // norm_topk_prob); roundRoutingWeights: rounded to the activation type (Qwen3-MoE, OLMoE).
  int64_t numExperts = 0, expertsPerToken = 0, expertIntermediateSize = 0;
  bool normalizeTopK = false, roundRoutingWeights = false;
  // Qwen2-MoE: a shared expert (a dense SiLU-gated MLP of this many features) beside the
  // routed ones, scaled per token by sigmoid(shared_expert_gate(x)); 0: none.
  int64_t sharedExpertIntermediateSize = 0;
  std::vector<bool> denseLayers; // Qwen3-MoE's mlp_only_layers and decoder_sparse_step
  // DeepSeek-V3-style routing (GLM-4.5): sigmoid scores, a choice-only correction bias
  // (mlp.gate.e_score_correction_bias), the choice limited to the routingTopGroups best of
  // routingGroups expert groups (> 1), the weights times routedScale.
  // A group's score: the sum of its routingGroupTop best scores (DeepSeek-V2's softmax
  // routing: its best one).
  bool sigmoidRouting = false, scoreCorrectionBias = false;
  int64_t routingGroups = 1, routingTopGroups = 1, routingGroupTop = 2;
  std::optional<double> routedScale;
  // Added to the chosen weights' sum when they are renormalized (none: llm.moe's default;
  // LFM2-MoE's 1e-6).
  std::optional<double> routingNormEpsilon;
  // gpt-oss: biases on the router and on each expert's projections, and the clamped SwiGLU
  // (up + 1) * g * sigmoid(swigluAlpha * g), g = min(gate, swigluLimit), up clamped to
  // [-swigluLimit, swigluLimit].
  bool expertBiases = false;
  std::optional<double> swigluAlpha, swigluLimit;
  // Llama 4: each chosen expert's input scaled by its weight, outputs summed unweighted.
  bool expertInputScaling = false;
  // gpt-oss's official checkpoints: experts as MXFP4 pairs stored [out, in] (not transposed).
  bool mxfp4Experts = false;
  // LFM2: the layers whose mixer is a short convolution instead of attention (in_proj's B,
  // C and x; B x convolved per feature over the request's last convKernel tokens; times C;
  // out_proj), with a bias on those three projections and the convolution if convBias.
  std::vector<bool> convLayers;
  int64_t convKernel = 0;
  bool convBias = false;

  // Qwen3.5 (Gated DeltaNet): the layers whose mixer is linear attention (the others
  // attend, with a sigmoid gate on their output from the second half of each q_proj head):
  // in_proj_qkv convolved (convKernel taps, SiLU), split into deltaKeyHeads query and key
  // heads of deltaKeyHeadDim and deltaValueHeads value heads of deltaValueHeadDim, run
  // through the gated delta rule, each head RMS-normalized and gated by silu(in_proj_z).
  std::vector<bool> deltaLayers;
  int64_t deltaKeyHeads = 0, deltaValueHeads = 0, deltaKeyHeadDim = 0, deltaValueHeadDim = 0;
  bool attentionOutputGate = false;

  // Granite 4.0-H (Mamba 2): the layers whose mixer is a Mamba 2 block (in_proj's gate, then
  // x, B and C convolved (convKernel taps, convBias, SiLU), then dt per head; the selective
  // scan of mambaHeads heads of mambaHeadDim over mambaStateSize states in mambaGroups groups;
  // times silu(gate), RMS-normalized; out_proj); a dense shared MLP of sharedMlpSize beside
  // the experts (or alone).
  std::vector<bool> mambaLayers;
  int64_t mambaHeads = 0, mambaHeadDim = 0, mambaGroups = 0, mambaStateSize = 0;
  int64_t sharedMlpSize = 0;

  // A quantized checkpoint's group size (inputs sharing a scale), 0 when per channel or none:
  // it must divide every quantized matrix's input features.
  int64_t quantGroupSize = 0;

  bool isMoeLayer(int64_t layer) const {
    return numExperts > 0 &&
           !(layer < int64_t(denseLayers.size()) && denseLayers[static_cast<size_t>(layer)]);
  }
  bool usesRope(int64_t layer) const {
    return !(layer < int64_t(noRopeLayers.size()) && noRopeLayers[static_cast<size_t>(layer)]);
  }
  bool isChunkedLayer(int64_t layer) const {
    return attentionChunkSize && layer < int64_t(chunkedLayers.size()) && chunkedLayers[layer];
  }
  bool isMambaLayer(int64_t layer) const {
    return layer < int64_t(mambaLayers.size()) && mambaLayers[static_cast<size_t>(layer)];
  }
  bool isDeltaLayer(int64_t layer) const {
    return layer < int64_t(deltaLayers.size()) && deltaLayers[static_cast<size_t>(layer)];
  }
  bool isConvLayer(int64_t layer) const {
    return layer < int64_t(convLayers.size()) && convLayers[static_cast<size_t>(layer)];
  }
  bool isSlidingLayer(int64_t layer) const {
    return slidingWindow && (slidingLayers.empty() ||
                             (layer < int64_t(slidingLayers.size()) && slidingLayers[layer]));
  }
};

// Reads a Hugging Face config.json object. `where` names the file (and field path) in
// errors: "models/x/config.json: field 'num_attention_heads': ...".
// `fieldPrefix` is prepended to field names when the config is nested ("config.").
llvm::Expected<ModelConfig> parseHuggingFaceConfig(const llvm::json::Object &config,
                                                   llvm::StringRef where,
                                                   llvm::StringRef fieldPrefix = "");

// What the architecture alone fixes, whatever file describes the model: Qwen3's and Gemma
// 3's per-head q/k norms, Phi-3's fused projections, OLMo 2's and Gemma 2/3's norm layout,
// Gemma's scaled embeddings, gpt-oss's sinks and experts (biases, routing, the clamped SwiGLU's
// defaults). (Hugging Face's and GGUF's readers both start from it.)
void setArchitectureTraits(ModelConfig &config);

// YaRN RoPE scaling (transformers' "yarn" rope type), as frequency divisors and a magnitude
// (setYarn; c's ropeTheta and rotaryDim must be set).
struct YarnParams {
  double factor = 1.0;
  int64_t originalMaxPositions = 0;
  std::optional<double> attentionFactor, mscale, mscaleAllDim;
  double betaFast = 32.0, betaSlow = 1.0;
  bool truncate = true; // the correction range rounded out to whole dimensions
};
void setYarn(ModelConfig &c, const YarnParams &p);

// Checks the relations between hyperparameters (heads divide the hidden size, KV heads
// divide heads, ...). Every builder relies on them.
llvm::Error validateConfig(const ModelConfig &config, llvm::StringRef where,
                           llvm::StringRef fieldPrefix = "");

} // namespace modelc::frontend
