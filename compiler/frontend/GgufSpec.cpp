// A GGUF file as a model: hyperparameters from its metadata ("<arch>.block_count", ...),
// weights and tokenizer from the same file.
#include "compiler/frontend/ModelSpec.h"

#include "runtime/formats/Dequantize.h"
#include "runtime/formats/Gguf.h"

#include "llvm/Support/Path.h"

#include <cmath>

using namespace llvm;
using namespace modelc::frontend;

namespace {

// Reads GGUF metadata keys into a ModelConfig, remembering the first problem.
class MetadataReader {
public:
  MetadataReader(const modelrt::GgufFile &file, std::string arch)
      : file_(file), arch_(std::move(arch)) {}

  int64_t requirePositive(StringRef suffix) {
    std::optional<int64_t> v = optionalPositive(suffix);
    if (!v && !error_)
      error_ = "metadata '" + key(suffix) + "': missing";
    return v.value_or(0);
  }
  std::optional<int64_t> optionalPositive(StringRef suffix) {
    std::string k = key(suffix);
    if (!file_.find(k))
      return std::nullopt;
    modelrt::Expected<uint64_t> v = file_.getUInt(k);
    if (!v || *v == 0 || *v > (uint64_t(1) << 40)) {
      fail(k, v ? "expected a positive integer, got " + std::to_string(*v) : v.error().message());
      return std::nullopt;
    }
    return static_cast<int64_t>(*v);
  }
  std::optional<double> optionalPositiveFloat(StringRef suffix) {
    std::string k = key(suffix);
    if (!file_.find(k))
      return std::nullopt;
    modelrt::Expected<double> v = file_.getFloat(k);
    if (!v || !(*v > 0.0)) {
      fail(k, v ? "expected a positive number" : v.error().message());
      return std::nullopt;
    }
    return *v;
  }
  std::optional<std::string> optionalString(StringRef suffix) {
    std::string k = key(suffix);
    if (!file_.find(k))
      return std::nullopt;
    modelrt::Expected<std::string> v = file_.getString(k);
    if (!v) {
      fail(k, v.error().message());
      return std::nullopt;
    }
    return *v;
  }
  void fail(const std::string &k, const std::string &problem) {
    if (!error_)
      error_ = "metadata '" + k + "': " + problem;
  }
  void failTensor(const std::string &name, const std::string &problem) {
    if (!error_)
      error_ = "tensor '" + name + "': " + problem;
  }
  Error takeError(StringRef path) {
    if (!error_)
      return Error::success();
    return createStringError(inconvertibleErrorCode(), path + ": " + *error_);
  }

private:
  std::string key(StringRef suffix) const { return arch_ + "." + suffix.str(); }

  const modelrt::GgufFile &file_;
  std::string arch_;
  std::optional<std::string> error_;
};


// A tensor of per-pair RoPE frequency divisors (rotary_dim / 2 positive finite values), if
// the file holds it.
std::optional<std::vector<double>> ropeFactorTensor(const modelrt::GgufFile &file,
                                                    MetadataReader &meta, const ModelConfig &c,
                                                    const std::string &arch,
                                                    const std::string &name) {
  const modelrt::TensorInfo *t = file.findTensor(name);
  if (!t)
    return std::nullopt;
  if (c.rotaryDim % 2 != 0) {
    meta.fail(arch + ".rope.dimension_count",
              std::to_string(c.rotaryDim) + " is odd: rotated features come in pairs");
    return std::nullopt;
  }
  if (t->shape.size() != 1 || t->shape[0] != uint64_t(c.rotaryDim / 2)) {
    meta.failTensor(name, "expected rotary_dim / 2 = " + std::to_string(c.rotaryDim / 2) +
                              " factors in one dimension");
    return std::nullopt;
  }
  modelrt::Expected<std::vector<float>> values = modelrt::dequantizeToF32(*t);
  if (!values) {
    meta.failTensor(name, values.error().message());
    return std::nullopt;
  }
  std::vector<double> factors;
  for (float v : *values) {
    if (!std::isfinite(v) || !(v > 0.0f)) {
      meta.failTensor(name, "factor " + std::to_string(factors.size()) +
                                " is not a positive finite number");
      return std::nullopt;
    }
    factors.push_back(v);
  }
  return factors;
}

// RoPE scaling as llama.cpp writes it, for the architectures without their own reading:
// - rope_freqs [rotary_dim / 2]: each pair's frequency divided by its factor (Llama 3.1's
//   scaling, which llama.cpp's converter turns into these divisors; llama.cpp applies them
//   at every context length, as transformers' llama3 rope does);
// - rope_factors_short / rope_factors_long: LongRoPE (Phi-3, Phi-3.5, Phi-4-mini), the long
//   set past rope.scaling.original_context_length, cos and sin times rope.scaling.attn_factor
//   (absent in older conversions: then transformers' sqrt(1 + ln(s) / ln(original)), s the
//   context length over the original);
// - rope.scaling.type yarn (Qwen2.5/Qwen3's long-context configs, OLMo 3): factor, original
//   context and beta_fast / beta_slow, the magnitude rope.scaling.attn_factor (transformers'
//   attention_factor) or else 0.1 ln(factor) + 1, the correction range rounded out as
//   llama.cpp's ggml_rope_yarn_corr_dims does;
// - linear: positions divided by the factor.
void readRopeScaling(const modelrt::GgufFile &file, MetadataReader &meta, ModelConfig &c,
                     const std::string &arch) {
  std::optional<std::string> type = meta.optionalString("rope.scaling.type");
  std::optional<double> factor = meta.optionalPositiveFloat("rope.scaling.factor");
  std::optional<int64_t> original = meta.optionalPositive("rope.scaling.original_context_length");
  // transformers' attention_factor: attn_factor, or yarn_attn_factor in newer conversions.
  std::optional<double> attnFactor = meta.optionalPositiveFloat("rope.scaling.attn_factor");
  if (!attnFactor)
    attnFactor = meta.optionalPositiveFloat("rope.scaling.yarn_attn_factor");
  if (std::optional<double> ext = meta.optionalPositiveFloat("rope.scaling.yarn_ext_factor");
      ext && *ext != 1.0) {
    meta.fail(arch + ".rope.scaling.yarn_ext_factor", "only 1 (YaRN's own blend) is supported");
    return;
  }
  std::optional<std::vector<double>> freqs = ropeFactorTensor(file, meta, c, arch, "rope_freqs.weight");
  std::optional<std::vector<double>> shortFactors =
      ropeFactorTensor(file, meta, c, arch, "rope_factors_short.weight");
  std::optional<std::vector<double>> longFactors =
      ropeFactorTensor(file, meta, c, arch, "rope_factors_long.weight");
  const bool divisors = freqs || shortFactors || longFactors;
  if (type && *type != "none" && *type != "linear" && *type != "yarn" &&
      !(*type == "longrope" && shortFactors)) {
    meta.fail(arch + ".rope.scaling.type",
              "'" + *type + "' is not supported (supported: none, linear, yarn; longrope with "
                            "rope_factors_short/long tensors)");
    return;
  }
  if (divisors && type && (*type == "linear" || *type == "yarn")) {
    meta.fail(arch + ".rope.scaling.type", "'" + *type +
                                               "' beside per-frequency factor tensors: one "
                                               "scaling or the other, not both");
    return;
  }
  if (freqs && (shortFactors || longFactors)) {
    meta.failTensor("rope_freqs.weight",
                    "beside rope_factors_short/long: one set of factors or the other");
    return;
  }
  if (freqs) {
    c.ropeShortFactors = c.ropeLongFactors = *freqs;
    c.ropeOriginalMaxPositions = c.maxPositions;
    c.ropeMagnitude = attnFactor.value_or(1.0);
    return;
  }
  if (shortFactors || longFactors) {
    if (!shortFactors || !longFactors) {
      meta.failTensor(shortFactors ? "rope_factors_long.weight" : "rope_factors_short.weight",
                      "missing (LongRoPE needs both sets of factors)");
      return;
    }
    c.ropeShortFactors = *shortFactors;
    c.ropeLongFactors = *longFactors;
    c.ropeOriginalMaxPositions = original.value_or(c.maxPositions);
    double scale = double(c.maxPositions) / double(c.ropeOriginalMaxPositions);
    c.ropeMagnitude = attnFactor.value_or(
        scale <= 1.0 ? 1.0
                     : std::sqrt(1.0 + std::log(scale) /
                                           std::log(double(c.ropeOriginalMaxPositions))));
    return;
  }
  if (attnFactor && attnFactor != 1.0 && type != "yarn") {
    meta.fail(arch + ".rope.scaling.attn_factor", "not read without LongRoPE or YaRN yet");
    return;
  }
  if (type == "linear" && factor && *factor > 1.0) {
    c.ropeLinearFactor = factor;
  } else if (type == "yarn") {
    if (file.find(arch + ".rope.scaling.yarn_log_multiplier")) {
      meta.fail(arch + ".rope.scaling.yarn_log_multiplier", "not read yet");
      return;
    }
    YarnParams yarn;
    yarn.originalMaxPositions = original.value_or(c.maxPositions);
    yarn.factor =
        factor.value_or(double(c.maxPositions) / double(yarn.originalMaxPositions));
    yarn.betaFast = meta.optionalPositiveFloat("rope.scaling.yarn_beta_fast").value_or(32.0);
    yarn.betaSlow = meta.optionalPositiveFloat("rope.scaling.yarn_beta_slow").value_or(1.0);
    yarn.attentionFactor = attnFactor; // transformers' attention_factor, in place of 0.1 ln s + 1
    setYarn(c, yarn);
  }
}

// A count of `arch`.`suffix`, 0 if absent.
int64_t optionalCount(const modelrt::GgufFile &file, MetadataReader &meta, const std::string &arch,
                      const char *suffix) {
  std::string k = arch + "." + suffix;
  if (!file.find(k))
    return 0;
  modelrt::Expected<uint64_t> v = file.getUInt(k);
  if (!v || *v > (uint64_t(1) << 20)) {
    meta.fail(k, v ? "expected a count, got " + std::to_string(*v) : v.error().message());
    return 0;
  }
  return int64_t(*v);
}

// A mixture's counts: at most 4096 experts, no more used per token than there are.
bool checkExpertCounts(MetadataReader &meta, const ModelConfig &c, const std::string &arch) {
  if (c.numExperts <= 4096 && c.expertsPerToken <= c.numExperts)
    return true;
  meta.fail(arch + ".expert_used_count",
            std::to_string(c.expertsPerToken) + " of " + std::to_string(c.numExperts) +
                " experts (at most 4096, and no more used than there are)");
  return false;
}

// DeepSeek's kind of mixture (DeepSeek-V2/V3, GLM-4.5, GLM-4.7-Flash) as llama.cpp writes
// it: experts past leading_dense_block_count (expert_count, expert_used_count,
// expert_feed_forward_length, expert_shared_count shared ones as one MLP), scored by softmax
// (expert_gating_func 1, or absent unless the file has GLM-4.7-Flash's 47 or 48 blocks and
// 154880 tokens, as llama.cpp reads it) or sigmoid with exp_probs_b (2), chosen within expert_group_used_count of
// expert_group_count groups (absent: none, as llama.cpp reads such a file; a group scored as
// transformers does: by its best expert under softmax, its best two under sigmoid), weights
// renormalized by expert_weights_norm and times expert_weights_scale.
void readSigmoidOrSoftmaxExperts(const modelrt::GgufFile &file, MetadataReader &meta,
                                 ModelConfig &c, const std::string &arch) {
  auto count = [&](const char *suffix) { return optionalCount(file, meta, arch, suffix); };
  c.numExperts = meta.requirePositive("expert_count");
  c.expertsPerToken = meta.requirePositive("expert_used_count");
  c.expertIntermediateSize = meta.requirePositive("expert_feed_forward_length");
  c.sharedExpertIntermediateSize = count("expert_shared_count") * c.expertIntermediateSize;
  int64_t gating = count("expert_gating_func");
  if (gating > 2)
    meta.fail(arch + ".expert_gating_func",
              std::to_string(gating) + " is not supported (1: softmax, 2: sigmoid)");
  // GLM-4.7-Flash's files (deepseek2) leave it out; llama.cpp knows them by their shape.
  if (gating == 0 && arch == "deepseek2" && (c.numLayers == 47 || c.numLayers == 48) &&
      c.vocabSize == 154880)
    gating = 2;
  c.sigmoidRouting = gating == 2;
  const int64_t dense = count("leading_dense_block_count");
  // The correction bias wherever the file has it (llama.cpp applies it to either scoring).
  c.scoreCorrectionBias =
      dense < c.numLayers &&
      file.findTensor("blk." + std::to_string(dense) + ".exp_probs_b.bias") != nullptr;
  c.normalizeTopK = false;
  if (file.find(arch + ".expert_weights_norm")) {
    modelrt::Expected<bool> norm = file.getBool(arch + ".expert_weights_norm");
    if (!norm)
      meta.fail(arch + ".expert_weights_norm", norm.error().message());
    c.normalizeTopK = norm && *norm;
  }
  c.routedScale = meta.optionalPositiveFloat("expert_weights_scale").value_or(1.0);
  c.routingGroups = std::max<int64_t>(count("expert_group_count"), 1);
  c.routingTopGroups = std::max<int64_t>(count("expert_group_used_count"), 1);
  c.routingGroupTop = c.sigmoidRouting ? 2 : 1;
  const bool counted = checkExpertCounts(meta, c, arch);
  if (counted && (c.numExperts % c.routingGroups ||
                  (c.routingGroups > 1 && c.numExperts / c.routingGroups < 2)))
    meta.fail(arch + ".expert_group_count", std::to_string(c.routingGroups) + " groups of " +
                                                std::to_string(c.numExperts) +
                                                " experts: each group needs two or more");
  else if (counted && (c.routingTopGroups > c.routingGroups ||
                       c.expertsPerToken > c.routingTopGroups * (c.numExperts / c.routingGroups)))
    meta.fail(arch + ".expert_group_used_count",
              std::to_string(c.routingTopGroups) + " of " + std::to_string(c.routingGroups) +
                  " groups cannot hold " + std::to_string(c.expertsPerToken) + " experts");
  c.denseLayers.assign(size_t(std::max<int64_t>(c.numLayers, 0)), false);
  for (int64_t i = 0; i < std::min(dense, c.numLayers); ++i)
    c.denseLayers[size_t(i)] = true;
}

// ERNIE 4.5's mixture as llama.cpp writes it (ernie4_5-moe): expert_count experts of
// expert_feed_forward_length, expert_used_count chosen by softmax probability plus exp_probs_b
// (choice only; [1, E] read as [E]), renormalized; sparse from leading_dense_block_count on
// wherever (layer + 1) is a multiple of interleave_moe_layer_step; the shared experts one MLP
// of ffn_gate_shexp's rows (llama.cpp's expert_shared_feed_forward_length is not its size
// in general).
void readErnieExperts(const modelrt::GgufFile &file, MetadataReader &meta, ModelConfig &c,
                      const std::string &arch) {
  c.numExperts = meta.requirePositive("expert_count");
  c.expertsPerToken = meta.requirePositive("expert_used_count");
  c.expertIntermediateSize = meta.requirePositive("expert_feed_forward_length");
  c.normalizeTopK = true;
  c.roundRoutingWeights = false;
  checkExpertCounts(meta, c, arch);
  const int64_t start = optionalCount(file, meta, arch, "leading_dense_block_count");
  const int64_t step =
      std::max<int64_t>(optionalCount(file, meta, arch, "interleave_moe_layer_step"), 1);
  c.denseLayers.assign(size_t(std::max<int64_t>(c.numLayers, 0)), true);
  int64_t first = -1;
  for (int64_t i = 0; i < c.numLayers; ++i)
    if (i >= start && (i + 1) % step == 0) {
      c.denseLayers[size_t(i)] = false;
      first = first < 0 ? i : first;
    }
  if (first < 0)
    return;
  const std::string blk = "blk." + std::to_string(first) + ".";
  c.scoreCorrectionBias = file.findTensor(blk + "exp_probs_b.bias") != nullptr;
  if (const modelrt::TensorInfo *shared = file.findTensor(blk + "ffn_gate_shexp.weight"))
    c.sharedExpertIntermediateSize =
        shared->shape.size() == 2 ? static_cast<int64_t>(shared->shape[0]) : 0;
}

// Which layers slide: attention.sliding_window_pattern, one bool a layer, where the file has
// it; else three of every four (EXAONE 4's and OLMo 3's default, llama.cpp's fixed pattern).
void readSlidingLayers(const modelrt::GgufFile &file, MetadataReader &meta, ModelConfig &c,
                       const std::string &arch) {
  const std::string key = arch + ".attention.sliding_window_pattern";
  if (const modelrt::GgufValue *v = file.find(key)) {
    if (v->type != modelrt::GgufType::Array || v->elemType != modelrt::GgufType::Bool ||
        v->count != uint64_t(c.numLayers)) {
      meta.fail(key, "expected one bool a layer (" + std::to_string(c.numLayers) + ")");
      return;
    }
    for (uint64_t i = 0; i < v->count; ++i)
      c.slidingLayers.push_back(v->raw[i] != 0);
    return;
  }
  for (int64_t i = 0; i < c.numLayers; ++i)
    c.slidingLayers.push_back((i + 1) % 4 != 0);
}

// EXAONE 4 as llama.cpp writes it (exaone4): OLMo 2's output norms (post_attention_norm,
// post_ffw_norm) with per-head attn_q_norm / attn_k_norm, rotate-half pairs unpermuted; with
// attention.sliding_window, the layers attention.sliding_window_pattern marks (one bool a
// layer; absent: three of every four) slide and the others have no RoPE.
void readExaone4(const modelrt::GgufFile &file, MetadataReader &meta, ModelConfig &c,
                 const std::string &arch) {
  c.modelType = "exaone4";
  c.inputNorms = false;
  c.outputNorms = c.qkNorm = true;
  c.slidingWindow = meta.optionalPositive("attention.sliding_window");
  if (!c.slidingWindow)
    return;
  readSlidingLayers(file, meta, c, arch);
  for (int64_t i = 0; i < c.numLayers; ++i)
    c.noRopeLayers.push_back(!c.isSlidingLayer(i));
}

// DeepSeek-V2 and V3 as llama.cpp writes them (deepseek2): multi-head latent attention with
// q_lora_rank (absent: one attn_q) and kv_lora_rank from attention.*, a head's key and
// value widths from key_length_mla / value_length_mla (newer files, whose key_length and
// value_length describe the latent llama.cpp caches, head_count_kv 1) or key_length /
// value_length (older ones), the rotated part rope.dimension_count, rotated in interleaved
// pairs; kv_b_proj as attn_kv_b (older) or split into attn_k_b / attn_v_b (newer). Experts
// as readSigmoidOrSoftmaxExperts reads them (softmax: V2, sigmoid: V3). YaRN from
// rope.scaling.* with yarn_log_multiplier = 0.1 mscale_all_dim: the attention scale
// (nope + rope)^-0.5 times (1 + yarn_log_multiplier ln factor)^2, cos and sin unscaled (a file
// keeps no mscale apart from mscale_all_dim; every DeepSeek config has them equal). The
// attention temperature where attention.temperature_scale says (Mistral Large 3).
void readDeepseek2(const modelrt::GgufFile &file, MetadataReader &meta, ModelConfig &c,
                   const std::string &arch) {
  c.numKvHeads = c.numHeads;
  c.qLoraRank = meta.optionalPositive("attention.q_lora_rank").value_or(0);
  c.kvLoraRank = meta.requirePositive("attention.kv_lora_rank");
  c.rotaryDim = meta.requirePositive("rope.dimension_count");
  c.splitKvB = file.findTensor("blk.0.attn_k_b.weight") != nullptr;
  std::optional<int64_t> keyMla = meta.optionalPositive("attention.key_length_mla");
  std::optional<int64_t> valueMla = meta.optionalPositive("attention.value_length_mla");
  c.headDim = keyMla ? *keyMla : meta.requirePositive("attention.key_length");
  c.valueHeadDim = valueMla ? *valueMla : meta.requirePositive("attention.value_length");
  if (c.headDim <= c.rotaryDim)
    meta.fail(arch + ".attention.key_length" + (keyMla ? "_mla" : ""),
              std::to_string(c.headDim) + " leaves no unrotated key features beside the " +
                  std::to_string(c.rotaryDim) + " rotated ones");
  c.qkNopeHeadDim = c.headDim - c.rotaryDim;
  c.ropeInterleaved = true;
  for (auto [key, value] : {std::pair<const char *, int64_t>{"attention.q_lora_rank", c.qLoraRank},
                            {"attention.kv_lora_rank", c.kvLoraRank},
                            {"attention.key_length", c.headDim},
                            {"attention.value_length", c.valueHeadDim}})
    if (value > (int64_t(1) << 20))
      meta.fail(arch + "." + key, std::to_string(value) + " features: at most 2^20");

  readSigmoidOrSoftmaxExperts(file, meta, c, arch);
  c.modelType = c.sigmoidRouting ? "deepseek_v3" : "deepseek_v2";
  if (!c.sigmoidRouting && c.normalizeTopK)
    meta.fail(arch + ".expert_weights_norm",
              "true with softmax scores is not supported (DeepSeek-V2 never renormalizes)");

  double scale = 1.0 / std::sqrt(double(std::max<int64_t>(c.headDim, 1)));
  std::optional<std::string> type = meta.optionalString("rope.scaling.type");
  if (type == "yarn") {
    YarnParams yarn;
    yarn.originalMaxPositions =
        meta.optionalPositive("rope.scaling.original_context_length").value_or(c.maxPositions);
    yarn.factor = meta.optionalPositiveFloat("rope.scaling.factor")
                      .value_or(double(c.maxPositions) / double(yarn.originalMaxPositions));
    std::string k = arch + ".rope.scaling.yarn_log_multiplier";
    double logMultiplier = 0.0;
    if (file.find(k)) {
      modelrt::Expected<double> v = file.getFloat(k);
      if (!v || !(*v >= 0.0))
        meta.fail(k, v ? "expected a non-negative number" : v.error().message());
      else
        logMultiplier = *v;
    }
    yarn.mscale = yarn.mscaleAllDim = logMultiplier / 0.1;
    yarn.betaFast = meta.optionalPositiveFloat("rope.scaling.yarn_beta_fast").value_or(32.0);
    yarn.betaSlow = meta.optionalPositiveFloat("rope.scaling.yarn_beta_slow").value_or(1.0);
    setYarn(c, yarn);
    if (yarn.factor > 1.0) {
      const double m = logMultiplier * std::log(yarn.factor) + 1.0;
      scale *= m * m;
    }
  } else if (type && *type != "none") {
    meta.fail(arch + ".rope.scaling.type",
              "'" + *type + "' is not supported for deepseek2 (supported: yarn, none)");
  }
  c.attentionScale = scale;
  if (file.findTensor("rope_freqs.weight"))
    meta.failTensor("rope_freqs.weight", "per-frequency RoPE factors are not read for deepseek2");
  // Mistral Large 3's attention temperature (llama.cpp: attention.temperature_scale over
  // attention.temperature_length positions, no offset) on every layer's whole query.
  std::optional<double> temperature = meta.optionalPositiveFloat("attention.temperature_scale");
  std::optional<int64_t> length = meta.optionalPositive("attention.temperature_length");
  if (temperature && !length)
    meta.fail(arch + ".attention.temperature_length",
              "missing: attention.temperature_scale needs the positions it counts in");
  else if (temperature) {
    c.temperatureScale = *temperature;
    c.temperatureFloor = *length;
    c.temperatureEveryLayer = true;
  }
}
// Llama 4 as llama.cpp reads it (llama4): feed_forward_length is the dense layers' MLP,
// expert_count experts (0: none, MobileLLM-R1) of expert_feed_forward_length on every
// interleave_moe_layer_step-th layer, expert_used_count chosen by sigmoid score, each seeing
// its input times its score, beside a shared expert of the same size (ffn_*_shexp). What
// llama.cpp fixes: unless attention.sliding_window is 0 (then every layer rotated and full),
// every fourth layer has no RoPE, attends to everything and scales its queries by the
// attention temperature (floor 8192, scale 0.1) while the others attend within chunks of
// 8192 positions; queries and keys L2-normalized except with 128 experts (Maverick); whole
// heads rotated in interleaved pairs, Q and K as the checkpoint has them.
void readLlama4(const modelrt::GgufFile &file, MetadataReader &meta, ModelConfig &c,
                const std::string &arch) {
  c.modelType = "llama4_text";
  c.numExperts = optionalCount(file, meta, arch, "expert_count");
  const int64_t step = meta.requirePositive("interleave_moe_layer_step");
  c.denseLayers.assign(size_t(std::max<int64_t>(c.numLayers, 0)), true);
  if (c.numExperts > 0) {
    c.expertsPerToken = meta.requirePositive("expert_used_count");
    c.expertIntermediateSize = c.sharedExpertIntermediateSize =
        meta.requirePositive("expert_feed_forward_length");
    c.sigmoidRouting = c.expertInputScaling = true;
    c.expertLayout = ModelConfig::ExpertLayout::StackedInOut; // its experts' branch (GGUF names)
    checkExpertCounts(meta, c, arch);
    for (int64_t i = step - 1; step > 0 && i < c.numLayers; i += step)
      c.denseLayers[size_t(i)] = false;
  }
  c.qkUnitNorm = c.numExperts != 128;
  const std::string window = arch + ".attention.sliding_window";
  if (file.find(window)) {
    modelrt::Expected<uint64_t> w = file.getUInt(window);
    if (!w)
      meta.fail(window, w.error().message());
    else if (*w == 0)
      return; // every layer rotated, full attention, no temperature
  }
  c.attentionChunkSize = 8192;
  c.temperatureFloor = 8192;
  c.temperatureScale = 0.1;
  c.temperatureOffset = 1;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    c.noRopeLayers.push_back((i + 1) % 4 == 0);
    c.chunkedLayers.push_back((i + 1) % 4 != 0);
  }
}

} // namespace

// llama.cpp's rerankers (pooling_type 4, rank; convert_hf_to_gguf.py of Qwen3-Reranker): a
// classifier cls.output.weight over the last token of qwen3 models, its rows' labels in
// <arch>.classifier.output_labels, and a "rerank" template with {query} and {document}.
// Two rows are a true and a false token's ("yes", "no"), whose softmax's first is the score:
// the one label of a two-way softmax (vLLM's from_2_way_softmax over the rows swapped).
// What modelc cannot rank with goes to classifierError.
static void readGgufRanker(const modelrt::GgufFile &file, const std::string &arch, StringRef path,
                           ModelSpec &spec) {
  spec.task = "classify";
  const modelrt::TensorInfo *out = file.findTensor("cls.output.weight");
  auto bad = [&](const Twine &problem) {
    spec.classifierError = (path + ": a reranker (pooling_type 4): " + problem).str();
  };
  if (arch != "qwen3" && arch != "bert")
    return bad("llama.cpp ranks " + arch + " models by their first token; modelc's classifiers "
               "read the last token, as llama.cpp's qwen3 rerankers do");
  if (!out || out->shape.size() != 2 || out->shape[0] < 1)
    return bad("no classifier matrix cls.output.weight");
  const bool bert = arch == "bert";
  // A BERT-family cross-encoder: BERT's pooler, or RoBERTa's and XLM-R's dense layer, as
  // "cls"; tanh; the classifier as "cls.output"; pooled at the first token, as the Hugging
  // Face checkpoints are (BertBuilder declares the head). A qwen3 ranker: the classifier
  // alone, at the last token.
  for (const char *name : {"cls.weight", "cls.bias", "cls.output.bias"})
    if (bert && !file.findTensor(name))
      return bad(Twine("no ") + name + " (a head without the dense layer and the biases that "
                                        "BERT's and RoBERTa's heads have is not supported)");
  if (!bert && file.findTensor("cls.weight"))
    return bad("a dense layer cls.weight before the classifier is not supported");
  if (!bert && file.findTensor("cls.output.bias"))
    return bad("a classifier bias cls.output.bias is not supported");
  const int64_t rows = int64_t(out->shape[0]);
  std::vector<std::string> labels;
  if (auto names = file.getStringArray(arch + ".classifier.output_labels"); names)
    for (std::string_view name : *names)
      labels.emplace_back(name);
  if (!labels.empty() && int64_t(labels.size()) != rows)
    return bad("classifier.output_labels names " + Twine(labels.size()) +
               " labels for cls.output.weight's " + Twine(rows) + " rows");
  for (int64_t i = int64_t(labels.size()); i < rows; ++i)
    labels.push_back("LABEL_" + std::to_string(i));
  // Without a rerank template, the tokenizer's own pair (llama.cpp puts its EOS or SEP
  // between them).
  modelrt::plan::Classifier &k = spec.classifier;
  k = {};
  if (auto tmpl = file.getString("tokenizer.chat_template.rerank"); tmpl)
    k.pairTemplate = *tmpl;
  spec.classifierHead = "cls.output.weight";
  if (rows == 2 && !bert) {
    k.twoWaySoftmax = true;
    k.labels = {labels[0]};
    k.activation = k.scoreActivation = modelrt::plan::Classifier::Activation::Sigmoid;
    spec.classifierHeadRows = {1, 0};
    return;
  }
  // sentence-transformers' CrossEncoder: sigmoid of one label, else softmax (llama.cpp's
  // rank score is the logit: use_activation false).
  k.labels = labels;
  k.activation = k.scoreActivation = rows == 1 ? modelrt::plan::Classifier::Activation::Sigmoid
                                               : modelrt::plan::Classifier::Activation::Softmax;
}

Expected<ModelSpec> modelc::frontend::loadGgufSpec(StringRef path) {
  modelrt::Expected<modelrt::GgufFile> file = modelrt::GgufFile::open(path.str());
  if (!file)
    return createStringError(inconvertibleErrorCode(), file.error().message());
  modelrt::Expected<std::string> arch = file->getString("general.architecture");
  if (!arch)
    return createStringError(inconvertibleErrorCode(),
                             path + ": metadata 'general.architecture': " + arch.error().message());

  ModelSpec spec;
  spec.origin = path.str();
  modelrt::Expected<std::string> name = file->getString("general.name");
  spec.name = name ? *name : sys::path::stem(path).str();
  spec.weights.format = WeightSource::Format::Gguf;
  spec.weights.path = path.str();
  if (file->find("tokenizer.ggml.model"))
    spec.tokenizer = {"gguf", path.str()};

  // llama.cpp's embedding files (convert_hf_to_gguf.py of a sentence-transformers model)
  // say how to pool: 1 mean, 2 cls, 3 last (0 none; 4 rank: a reranker's score).
  if (const modelrt::GgufValue *pooling = file->find(*arch + ".pooling_type"); pooling) {
    // One modelc cannot pool (a reranker's 4) fails embedding plans only (validateSpec).
    modelrt::Expected<uint64_t> type = file->getUInt(*arch + ".pooling_type");
    if (type && *type == 4)
      readGgufRanker(*file, *arch, path, spec);
    if (!type || *type > 3) {
      spec.poolingError = path.str() + ": metadata '" + *arch + ".pooling_type': " +
                          (type ? std::to_string(*type) +
                                      " is not supported (1 mean, 2 cls, 3 last; or choose one "
                                      "with --pooling)"
                                : type.error().message());
      spec.poolingModeOnly = true;
    }
    else if (*type > 0) {
      spec.task = "embed";
      spec.pooling.type = *type == 1   ? PoolingSpec::Type::Mean
                          : *type == 2 ? PoolingSpec::Type::Cls
                                       : PoolingSpec::Type::Last;
    }
  }

  ModelConfig &c = spec.config;
  c.modelType = *arch;
  // deepseek2: llama.cpp's name for DeepSeek-V2 and V3 (and V3's descendants); glm4moe for
  // GLM-4.5 / 4.6's mixtures (DeepSeek-V3's routing).
  const bool deepseek = *arch == "deepseek2", glm4Moe = *arch == "glm4moe";
  // ERNIE 4.5: llama.cpp's ernie4_5 and ernie4_5-moe.
  const bool ernie = *arch == "ernie4_5" || *arch == "ernie4_5-moe";
  const bool minimax = *arch == "minimax-m2", seed = *arch == "seed_oss", llama4 = *arch == "llama4";
  std::optional<Architecture> builder = deepseek || glm4Moe || ernie || minimax || seed || llama4
                                            ? Architecture::Llama
                                            : architectureFromModelType(*arch);
  // Architectures read from Hugging Face directories only (their GGUF layouts are not read).
  // (Names llama.cpp does not write but modelc knows as Hugging Face model_types are refused
  // too, rather than read as some other layout.)
  if (llvm::is_contained({"olmo3", "minimax_m2", "ernie4_5_moe", "llama4_text", "ministral3",
                          "mistral3", // llama.cpp's Ministral 3 (YaRN, the temperature)
                          "deepseek_v2", "deepseek_v3", "glm4_moe", "glm4_moe_lite", "mistral4",
                          "solar_open", "hunyuan_v1_dense", "hunyuan_v1_moe", "exaone_moe",
                          "dots1", // llama.cpp's dots.llm1 files too (its mixture not read)
                          "qwen3_vl", "qwen3_vl_moe", "qwen2_5_vl", "qwen2_vl",
                          "cohere2", // llama.cpp's Cohere 2 files too (not read yet)
                          "qwen3_5_text", "qwen3_5", "qwen3_5_moe_text", "qwen3_5_moe",
                          "qwen3_next", "granitemoehybrid", "lfm2_vl", "lfm2_moe",
                          "roberta", "xlm-roberta", "camembert"}, // llama.cpp writes these as other archs
                         *arch))
    return createStringError(inconvertibleErrorCode(),
                             path + ": metadata 'general.architecture': '" + *arch +
                                 "' is read from Hugging Face directories, not GGUF files, yet");
  if (!builder)
    return createStringError(inconvertibleErrorCode(),
                             path +
                                 ": metadata 'general.architecture': unsupported architecture '" +
                                 *arch + "' (supported: " + kSupportedModelTypes + ")");
  c.architecture = *builder;
  setArchitectureTraits(c);

  MetadataReader meta(*file, *arch);
  c.numLayers = meta.requirePositive("block_count");
  if (c.numLayers > 65536) {
    meta.fail(*arch + ".block_count", std::to_string(c.numLayers) + " blocks: at most 65536");
    c.numLayers = 0;
  }
  // Multi-token-prediction layers (GLM-4.5's NextN) follow the model's own in the file; they
  // are not read.
  if (int64_t nextn = optionalCount(*file, meta, *arch, "nextn_predict_layers")) {
    if (nextn >= c.numLayers)
      meta.fail(*arch + ".nextn_predict_layers",
                std::to_string(nextn) + " of the " + std::to_string(c.numLayers) +
                    " blocks leaves none for the model");
    else
      c.numLayers -= nextn;
  }
  c.hiddenSize = meta.requirePositive("embedding_length");
  c.intermediateSize = meta.requirePositive("feed_forward_length");
  c.maxPositions = meta.requirePositive("context_length");
  c.numHeads = meta.requirePositive("attention.head_count");
  // LFM2: attention.head_count_kv per layer, 0 for its short-convolution layers (llama.cpp
  // tells them apart so); the KV heads are the attention layers' one count.
  if (c.architecture == Architecture::Lfm2) {
    if (modelrt::Expected<std::vector<int64_t>> kv =
            file->getIntArray(*arch + ".attention.head_count_kv")) {
      if (static_cast<int64_t>(kv->size()) != c.numLayers)
        meta.fail(*arch + ".attention.head_count_kv",
                  std::to_string(kv->size()) + " entries for " + std::to_string(c.numLayers) +
                      " blocks");
      for (int64_t n : *kv) {
        if (n < 0 || (n > 0 && c.numKvHeads > 0 && n != c.numKvHeads))
          meta.fail(*arch + ".attention.head_count_kv",
                    "attention layers must share one positive count of KV heads");
        c.convLayers.push_back(n == 0);
        if (n > 0)
          c.numKvHeads = n;
      }
      if (c.numKvHeads == 0)
        meta.fail(*arch + ".attention.head_count_kv", "no attention layer: at least one is needed");
    } else {
      c.numKvHeads = meta.optionalPositive("attention.head_count_kv").value_or(c.numHeads);
    }
  } else {
    c.numKvHeads = meta.optionalPositive("attention.head_count_kv").value_or(c.numHeads);
  }
  if (std::optional<int64_t> vocab = meta.optionalPositive("vocab_size")) {
    c.vocabSize = *vocab;
  } else if (modelrt::Expected<std::vector<std::string_view>> tokens =
                 file->getStringArray("tokenizer.ggml.tokens")) {
    c.vocabSize = static_cast<int64_t>(tokens->size());
  } else {
    meta.fail(*arch + ".vocab_size", "missing, and no tokenizer.ggml.tokens to count");
  }
  if (c.numHeads > 0)
    c.headDim = meta.optionalPositive("attention.key_length").value_or(c.hiddenSize / c.numHeads);
  if (c.architecture == Architecture::Gpt2) {
    c.normEps = meta.optionalPositiveFloat("attention.layer_norm_epsilon").value_or(1e-5);
    c.activation = "gelu_tanh";
    c.tieEmbeddings = !file->findTensor("output.weight");
  } else if (c.architecture == Architecture::Bert) {
    // llama.cpp's BERT (convert_hf_to_gguf.py of a BertModel, or of an XLM-R: its position
    // table starts at position 0): post-norm LayerNorms, the exact GELU of the checkpoint
    // (llama.cpp computes a tanh approximation), bidirectional attention; an embedding model,
    // or a cross-encoder (pooling_type 4: readGgufRanker), whose token types are all 0 as
    // llama.cpp gives them.
    c.normEps = meta.optionalPositiveFloat("attention.layer_norm_epsilon").value_or(1e-12);
    c.activation = "gelu";
    if (modelrt::Expected<bool> causal = file->getBool(*arch + ".attention.causal");
        causal && *causal)
      meta.fail(*arch + ".attention.causal", "true: a BERT decoder is not supported");
    const modelrt::TensorInfo *types = file->findTensor("token_types.weight");
    c.typeVocabSize = types && types->shape.size() == 2 ? int64_t(types->shape[0]) : 0;
    if (!types)
      meta.fail("token_types.weight", "missing: a BERT file has token-type embeddings");
    if (!spec.classify())
      spec.task = "embed";
    modelrt::Expected<uint64_t> pooling = file->getUInt(*arch + ".pooling_type");
    if (!pooling || *pooling == 0) // absent or none: [CLS], as vLLM pools BERT by default
      spec.pooling.type = PoolingSpec::Type::Cls;
  } else {
    c.normEps = meta.optionalPositiveFloat("attention.layer_norm_rms_epsilon").value_or(1e-5);
    c.ropeTheta = meta.optionalPositiveFloat("rope.freq_base").value_or(10000.0);
    c.rotaryDim = meta.optionalPositive("rope.dimension_count").value_or(c.headDim);
    c.tieEmbeddings = !file->findTensor("output.weight");
    // GLM-4 and GLM-4.5: Q, K and V biases unless the file has none.
    c.attentionBias = c.architecture == Architecture::Qwen2 ||
                      ((c.architecture == Architecture::Glm4 || glm4Moe) &&
                       file->findTensor("blk.0.attn_q.bias"));
    // llama.cpp's converter permutes Llama's (and Granite's) Q and K rows for GPT-J-style
    // (interleaved) rotation, which GLM-4 has already; the others (GLM-4.5 among them) keep
    // the rotate-half layout.
    const bool exaone4 = *arch == "exaone4";
    // (ERNIE 4.5's interleaved pairs are the checkpoint's own.)
    c.ropeInterleaved =
        (c.architecture == Architecture::Llama && !glm4Moe && !exaone4 && !minimax && !seed) ||
                        c.architecture == Architecture::Granite ||
                        c.architecture == Architecture::Glm4;
    if (exaone4)
      readExaone4(*file, meta, c, *arch);
    if (seed) {
      // Seed-OSS (seed_oss): Q, K, V biases and an o_proj bias where the file has them,
      // rotate-half pairs, the MLP's input norm named post_attention_norm.
      c.modelType = "seed_oss";
      c.attentionBias = file->findTensor("blk.0.attn_q.bias") != nullptr;
      c.outputBias = file->findTensor("blk.0.attn_output.bias") != nullptr;
    }
    if (minimax) {
      // MiniMax-M2 (minimax-m2): full-width Q and K norms, rotate-half pairs on
      // rope.dimension_count features, every layer's experts chosen by sigmoid scores plus
      // exp_probs_b and renormalized (fixed by the architecture, as llama.cpp builds it).
      c.modelType = "minimax_m2";
      c.qkNormFullWidth = true;
      readSigmoidOrSoftmaxExperts(*file, meta, c, *arch);
      if (optionalCount(*file, meta, *arch, "expert_gating_func") == 1)
        meta.fail(*arch + ".expert_gating_func", "softmax scores are not supported for minimax-m2");
      c.sigmoidRouting = c.normalizeTopK = true;
      c.roundRoutingWeights = false;
    }
    if (ernie) {
      c.modelType = *arch == "ernie4_5" ? "ernie4_5" : "ernie4_5_moe";
      if (*arch == "ernie4_5-moe")
        readErnieExperts(*file, meta, c, *arch);
    }
    if (llama4)
      readLlama4(*file, meta, c, *arch);
    if (glm4Moe) { // per-head Q and K norms where the file has them (use_qk_norm)
      c.modelType = "glm4_moe";
      c.qkNorm = file->findTensor("blk.0.attn_q_norm.weight") != nullptr;
      readSigmoidOrSoftmaxExperts(*file, meta, c, *arch);
    }
    // LFM2: per-head Q/K norms, rotate-half RoPE (no permuted rows), the short
    // convolutions' taps (shortconv.l_cache); feed_forward_length is the MLP's width as is.
    if (c.architecture == Architecture::Lfm2) {
      c.ropeInterleaved = false;
      c.qkNorm = true;
      c.convKernel = meta.optionalPositive("shortconv.l_cache").value_or(3);
      if (c.convKernel < 2 || c.convKernel > 64)
        meta.fail(*arch + ".shortconv.l_cache", "expected 2 to 64 taps");
      // Biases on the convolution layers' projections if the first of them has any.
      for (int64_t i = 0; i < c.numLayers; ++i)
        if (c.isConvLayer(i)) {
          c.convBias =
              file->findTensor("blk." + std::to_string(i) + ".shortconv.in_proj.bias") != nullptr;
          break;
        }
    }
    // SmolLM3: no RoPE on every fourth layer, a step llama.cpp fixes (no metadata key).
    if (*arch == "smollm3")
      for (int64_t i = 0; i < c.numLayers; ++i)
        c.noRopeLayers.push_back((i + 1) % 4 == 0);
    if (c.architecture == Architecture::Granite) {
      c.embeddingMultiplier = meta.optionalPositiveFloat("embedding_scale");
      c.residualMultiplier = meta.optionalPositiveFloat("residual_scale");
      c.logitsScaling = meta.optionalPositiveFloat("logit_scale");
      // llama.cpp: 1/sqrt(head_dim) unless the file gives one.
      c.attentionScale = meta.optionalPositiveFloat("attention.scale")
                             .value_or(1.0 / std::sqrt(double(std::max<int64_t>(c.headDim, 1))));
      if (file->find(*arch + ".rope.scaling.finetuned"))
        if (modelrt::Expected<bool> rope = file->getBool(*arch + ".rope.scaling.finetuned");
            rope && !*rope)
          meta.fail(*arch + ".rope.scaling.finetuned",
                    "false (no RoPE, in llama.cpp's reading) is not supported");
    }
    if (isGemma(c.architecture)) {
      // llama.cpp's converter stores Gemma's norm weights as w (Hugging Face: w - 1) and
      // keeps the rotate-half layout; its loader fixes what the metadata does not say:
      // GELU (tanh), embeddings times sqrt(n_embd); for Gemma 2 local layers alternating
      // with global ones, for Gemma 3 five local layers to a global one with RoPE base
      // 10000; the attention scale 1/sqrt(key_length), or 1/sqrt(n_embd / n_head) for the
      // 27B models (46 blocks in Gemma 2, 62 in Gemma 3).
      const bool gemma3 = c.architecture == Architecture::Gemma3;
      c.activation = "gelu_tanh";
      c.tieEmbeddings = !file->findTensor("output.weight");
      if (c.architecture != Architecture::Gemma) {
        c.slidingWindow = meta.optionalPositive("attention.sliding_window").value_or(4096);
        for (int64_t i = 0; i < c.numLayers; ++i)
          c.slidingLayers.push_back((i + 1) % (gemma3 ? 6 : 2) != 0);
        c.attentionScale = c.numLayers == (gemma3 ? 62 : 46) && c.numHeads > 0
                               ? 1.0 / std::sqrt(double(c.hiddenSize / c.numHeads))
                               : 1.0 / std::sqrt(double(c.headDim));
      }
      if (c.architecture == Architecture::Gemma2) {
        c.attentionSoftcap = meta.optionalPositiveFloat("attn_logit_softcapping").value_or(50.0);
        c.finalSoftcap = meta.optionalPositiveFloat("final_logit_softcapping").value_or(30.0);
      } else if (gemma3) { // none unless the file says so
        c.attentionSoftcap = meta.optionalPositiveFloat("attn_logit_softcapping");
        c.finalSoftcap = meta.optionalPositiveFloat("final_logit_softcapping");
      }
      if (gemma3) {
        c.ropeTheta = meta.optionalPositiveFloat("rope.freq_base").value_or(1000000.0);
        c.localRopeTheta = 10000.0;
        // A factor without a type is linear, as llama.cpp reads it.
        std::string type = meta.optionalString("rope.scaling.type").value_or("linear");
        std::optional<double> factor = meta.optionalPositiveFloat("rope.scaling.factor");
        if (type == "linear" && factor && *factor != 1.0)
          c.ropeLinearFactor = factor;
        else if (type != "linear" && type != "none")
          meta.fail(*arch + ".rope.scaling.type",
                    "'" + type + "' is not supported (supported: linear)");
      }
    }
    if (c.architecture == Architecture::Olmo2) {
      // llama.cpp writes OLMo 3 as olmo2 with attention.sliding_window: three sliding-window
      // layers to a full one (its fixed pattern), RoPE scaling on the full layers only.
      if (std::optional<int64_t> window = meta.optionalPositive("attention.sliding_window")) {
        c.modelType = "olmo3";
        c.slidingWindow = window;
        readSlidingLayers(*file, meta, c, *arch);
        c.localRopeTheta = c.ropeTheta;
      }
    }
    if (c.architecture == Architecture::Phi3) {
      // One attn_qkv tensor and ffn_up holding gate then up rows (fusedProjections), as in
      // Hugging Face's files.
      c.slidingWindow = meta.optionalPositive("attention.sliding_window");
    }
    // Mixtures of experts: Mixtral (written as llama), Qwen3-MoE and OLMoE, each kind of
    // expert matrix stacked in one 3-D tensor (ffn_gate_exps, ffn_up_exps, ffn_down_exps).
    // Renormalizing the chosen experts' weights is fixed by architecture, as in llama.cpp;
    // Qwen3-MoE, OLMoE and GraniteMoE round them to the activation type, as transformers
    // does.
    // An expert_count of 0 is a dense model (llama.cpp's reading).
    if (deepseek)
      readDeepseek2(*file, meta, c, *arch);
    std::optional<int64_t> experts;
    if (modelrt::Expected<uint64_t> n = file->getUInt(*arch + ".expert_count");
        !deepseek && !glm4Moe && !ernie && !minimax && !llama4 && (!n || *n != 0))
      experts = meta.optionalPositive("expert_count"); // absent, malformed (an error) or > 0
    if (experts) {
      const bool olmoe = c.architecture == Architecture::Olmoe;
      c.modelType = *arch == "llama"      ? "mixtral"
                    : *arch == "qwen3moe" ? "qwen3_moe"
                    : *arch == "qwen2moe" ? "qwen2_moe"
                                          : *arch;
      c.numExperts = *experts;
      c.expertsPerToken = meta.requirePositive("expert_used_count");
      // Each expert's size: the metadata's, else the stacked gate tensor's [E, I, D].
      const modelrt::TensorInfo *gates = file->findTensor("blk.0.ffn_gate_exps.weight");
      c.expertIntermediateSize =
          meta.optionalPositive("expert_feed_forward_length")
              .value_or(gates && gates->shape.size() == 3 ? static_cast<int64_t>(gates->shape[1])
                                                          : c.intermediateSize);
      c.normalizeTopK = !olmoe && *arch != "qwen2moe"; // fixed by architecture, as llama.cpp
      // Qwen2-MoE's shared expert (ffn_{gate,up,down}_shexp, its gate ffn_gate_inp_shexp).
      // Its size: the metadata's, else the ffn_gate_shexp tensor's rows (older conversions
      // write no key; llama.cpp falls back to feed_forward_length).
      if (*arch == "qwen2moe") {
        const modelrt::TensorInfo *shexp = file->findTensor("blk.0.ffn_gate_shexp.weight");
        c.sharedExpertIntermediateSize =
            meta.optionalPositive("expert_shared_feed_forward_length")
                .value_or(shexp && shexp->shape.size() == 2 ? static_cast<int64_t>(shexp->shape[0])
                                                            : 0);
      }
      // llama.cpp writes GraniteMoE with shared experts (granitemoeshared) as granitemoe too.
      if (*arch != "qwen2moe" && (file->find(*arch + ".expert_shared_feed_forward_length") ||
                                  file->findTensor("blk.0.ffn_gate_shexp.weight")))
        meta.fail(*arch + ".expert_shared_feed_forward_length",
                  "shared experts (GraniteMoeShared) are not supported yet");
      c.roundRoutingWeights = *arch != "llama";
      checkExpertCounts(meta, c, *arch);
      if (!file->findTensor("blk.0.ffn_gate_exps.weight") &&
          file->findTensor("blk.0.ffn_gate.0.weight"))
        meta.fail("blk.0.ffn_gate.0.weight",
                  "experts as one tensor each (an old Mixtral conversion) are not supported: "
                  "convert the model again with llama.cpp's convert_hf_to_gguf.py");
    } else if (*arch == "qwen3moe" || *arch == "qwen2moe" || *arch == "olmoe" ||
               *arch == "granitemoe" || *arch == "gpt-oss") {
      meta.fail(*arch + ".expert_count", "missing");
    }
    // gpt-oss (llama.cpp's layout: gate and up experts apart, [out, in], with biases
    // ffn_*_exps.bias; attn_sinks; post_attention_norm before the experts): what llama.cpp
    // fixes by architecture (biases on every attention projection, even layers local, the
    // clamped SwiGLU with alpha 1.702 and limit 7) and YaRN from rope.scaling.*, without
    // rounding its correction range (transformers' truncate: false for gpt-oss).
    if (c.architecture == Architecture::GptOss) {
      c.attentionBias = c.outputBias = file->findTensor("blk.0.attn_q.bias") != nullptr;
      c.slidingWindow = meta.optionalPositive("attention.sliding_window").value_or(128);
      for (int64_t i = 0; i < c.numLayers; ++i)
        c.slidingLayers.push_back(i % 2 == 0);
      c.ropeTheta = meta.optionalPositiveFloat("rope.freq_base").value_or(150000.0);
      std::string type = meta.optionalString("rope.scaling.type").value_or("none");
      if (type == "yarn") {
        YarnParams yarn;
        yarn.factor = meta.optionalPositiveFloat("rope.scaling.factor").value_or(32.0);
        yarn.originalMaxPositions =
            meta.optionalPositive("rope.scaling.original_context_length").value_or(4096);
        yarn.truncate = false;
        setYarn(c, yarn);
      } else if (type != "none") {
        meta.fail(*arch + ".rope.scaling.type",
                  "'" + type + "' is not supported for gpt-oss (supported: yarn, none)");
      }
    }
    // Gemma 3 and gpt-oss read their RoPE scaling above; the others here.
    if (c.architecture != Architecture::Gemma3 && c.architecture != Architecture::GptOss &&
        !deepseek)
      readRopeScaling(*file, meta, c, *arch);
    else if (file->findTensor("rope_freqs.weight"))
      meta.failTensor("rope_freqs.weight", "per-frequency RoPE factors are not read for '" +
                                               *arch + "'");
  }
  if (Error e = meta.takeError(path))
    return std::move(e);
  if (c.numHeads > 0 && c.architecture == Architecture::Gpt2 && c.hiddenSize % c.numHeads != 0)
    return createStringError(inconvertibleErrorCode(),
                             path + ": metadata 'gpt2.attention.head_count': " + Twine(c.numHeads) +
                                 " does not divide embedding_length " + Twine(c.hiddenSize));
  if (Error e = validateConfig(c, path, (*arch + ".").c_str()))
    return std::move(e);
  return spec;
}
