#include "compiler/frontend/ModelConfig.h"

#include "compiler/frontend/JsonFields.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <algorithm>
#include <cmath>

using namespace llvm;
using namespace modelc::frontend;

StringRef modelc::frontend::architectureName(Architecture arch) {
  switch (arch) {
  case Architecture::Llama:
    return "llama";
  case Architecture::Qwen2:
    return "qwen2";
  case Architecture::Qwen3:
    return "qwen3";
  case Architecture::Phi3:
    return "phi3";
  case Architecture::Olmo2:
    return "olmo2";
  case Architecture::Olmoe:
    return "olmoe";
  case Architecture::Granite:
    return "granite";
  case Architecture::Gpt2:
    return "gpt2";
  case Architecture::Gemma:
    return "gemma";
  case Architecture::Gemma2:
    return "gemma2";
  case Architecture::Gemma3:
    return "gemma3";
  case Architecture::GptOss:
    return "gpt-oss";
  case Architecture::Glm4:
    return "glm4";
  case Architecture::Lfm2:
    return "lfm2";
  case Architecture::Qwen35:
    return "qwen3_5";
  case Architecture::GraniteHybrid:
    return "granitemoehybrid";
  case Architecture::Bert:
    return "bert";
  }
  return "unknown";
}

const char *const modelc::frontend::kSupportedModelTypes =
    "llama, mistral, mixtral, smollm3, qwen2, qwen2_moe, qwen3, qwen3_moe, phi3, olmo2, olmo3, "
    "olmoe, granite, granitemoe, gemma, gemma2, gemma3_text, gpt_oss, glm4, glm4_moe, "
    "deepseek_v2, deepseek_v3, minimax_m2, ernie4_5, ernie4_5_moe, seed_oss, exaone4, "
    "glm4_moe_lite, mistral4, solar_open, hunyuan_v1_dense, hunyuan_v1_moe, dots1, exaone_moe, cohere2, "
    "granitemoehybrid, lfm2, lfm2_moe, lfm2_vl, qwen3_next, qwen3_5_text, qwen3_5, qwen3_5_moe_text, qwen3_5_moe, llama4, llama4_text, "
    "ministral3, mistral3, gemma3, qwen3_vl, qwen3_vl_moe, qwen2_5_vl, qwen2_vl, gpt2, "
    "bert, roberta, xlm-roberta, camembert (encoders: embeddings and classifiers)";

std::optional<Architecture> modelc::frontend::architectureFromModelType(StringRef modelType) {
  return StringSwitch<std::optional<Architecture>>(modelType)
      .Cases("llama", "mistral", "mixtral", "smollm3", "glm4_moe", Architecture::Llama)
      .Case("solar_open", Architecture::Llama) // GLM-4.5's mixture under Llama's attention
      .Cases("hunyuan_v1_dense", "hunyuan_v1_moe", Architecture::Llama)
      .Cases("deepseek_v2", "deepseek_v3", "minimax_m2", Architecture::Llama)
      .Cases("glm4_moe_lite", "mistral4", Architecture::Llama) // DeepSeek-V3's attention
      .Cases("ernie4_5", "ernie4_5_moe", "seed_oss", "exaone4", Architecture::Llama)
      .Case("exaone_moe", Architecture::Llama)
      .Case("cohere2", Architecture::Llama)
      .Cases("llama4_text", "ministral3", Architecture::Llama)
      .Cases("qwen2", "qwen2_moe", "qwen2moe", Architecture::Qwen2) // qwen2moe: GGUF's name
      .Cases("qwen3", "qwen3_moe", "qwen3moe", Architecture::Qwen3) // qwen3moe: GGUF's name
      .Case("dots1", Architecture::Qwen3) // Qwen3's attention, DeepSeek-V3's mixture
      .Case("phi3", Architecture::Phi3)
      .Cases("olmo2", "olmo3", Architecture::Olmo2)
      .Case("olmoe", Architecture::Olmoe)
      .Cases("granite", "granitemoe", Architecture::Granite)
      .Case("gpt2", Architecture::Gpt2)
      .Cases("bert", "roberta", "xlm-roberta", "camembert", Architecture::Bert)
      .Cases("gpt_oss", "gpt-oss", Architecture::GptOss) // gpt-oss: GGUF's name
      .Case("glm4", Architecture::Glm4)
      .Cases("lfm2", "lfm2_moe", Architecture::Lfm2)
      .Case("granitemoehybrid", Architecture::GraniteHybrid)
      .Cases("qwen3_5_text", "qwen3_5_moe_text", "qwen3_next", Architecture::Qwen35)
      .Case("gemma", Architecture::Gemma)
      .Case("gemma2", Architecture::Gemma2)
      .Cases("gemma3_text", "gemma3", Architecture::Gemma3) // gemma3: GGUF's name
      .Default(std::nullopt);
}

namespace {

Error unsupported(StringRef where, StringRef prefix, StringRef field, const Twine &problem) {
  return createStringError(inconvertibleErrorCode(),
                           where + ": field '" + prefix + field + "': " + problem);
}

// The model_type, or the first of "architectures" mapped to one.
Expected<std::string> modelTypeOf(JsonFields &fields, const json::Object &config, StringRef where,
                                  StringRef prefix) {
  if (std::optional<std::string> type = fields.optionalString("model_type"))
    return *type;
  if (const json::Array *archs = config.getArray("architectures"))
    if (!archs->empty())
      if (std::optional<StringRef> arch = archs->front().getAsString())
        return StringSwitch<std::string>(*arch)
            .Case("LlamaForCausalLM", "llama")
            .Case("MistralForCausalLM", "mistral")
            .Case("MixtralForCausalLM", "mixtral")
            .Case("Qwen3MoeForCausalLM", "qwen3_moe")
            .Case("Qwen2MoeForCausalLM", "qwen2_moe")
            .Case("OlmoeForCausalLM", "olmoe")
            .Case("Qwen2ForCausalLM", "qwen2")
            .Case("Qwen3ForCausalLM", "qwen3")
            .Case("Phi3ForCausalLM", "phi3")
            .Case("Olmo2ForCausalLM", "olmo2")
            .Case("Olmo3ForCausalLM", "olmo3")
            .Case("SmolLM3ForCausalLM", "smollm3")
            .Case("Glm4ForCausalLM", "glm4")
            .Case("Glm4MoeForCausalLM", "glm4_moe")
            .Case("SolarOpenForCausalLM", "solar_open")
            .Case("HunYuanDenseV1ForCausalLM", "hunyuan_v1_dense")
            .Case("HunYuanMoEV1ForCausalLM", "hunyuan_v1_moe")
            .Case("Dots1ForCausalLM", "dots1")
            .Case("DeepseekV2ForCausalLM", "deepseek_v2")
            .Case("DeepseekV3ForCausalLM", "deepseek_v3")
            .Case("Glm4MoeLiteForCausalLM", "glm4_moe_lite")
            .Case("Mistral4ForCausalLM", "mistral4")
            .Case("MiniMaxM2ForCausalLM", "minimax_m2")
            .Case("Ernie4_5ForCausalLM", "ernie4_5")
            .Case("Ernie4_5_MoeForCausalLM", "ernie4_5_moe")
            .Case("SeedOssForCausalLM", "seed_oss")
            .Case("Exaone4ForCausalLM", "exaone4")
            .Case("ExaoneMoeForCausalLM", "exaone_moe")
            .Case("Cohere2ForCausalLM", "cohere2")
            .Case("Lfm2ForCausalLM", "lfm2")
            .Case("Lfm2VlForConditionalGeneration", "lfm2_vl")
            .Case("Lfm2MoeForCausalLM", "lfm2_moe")
            .Case("GraniteMoeHybridForCausalLM", "granitemoehybrid")
            .Case("Qwen3_5ForCausalLM", "qwen3_5_text")
            .Case("Qwen3NextForCausalLM", "qwen3_next")
            .Case("Qwen3_5ForConditionalGeneration", "qwen3_5")
            .Case("Qwen3_5MoeForCausalLM", "qwen3_5_moe_text")
            .Case("Qwen3_5MoeForConditionalGeneration", "qwen3_5_moe")
            .Case("Llama4ForCausalLM", "llama4_text")
            .Case("Ministral3ForCausalLM", "ministral3")
            .Case("Llama4ForConditionalGeneration", "llama4")
            .Case("Mistral3ForConditionalGeneration", "mistral3")
            .Case("Gemma3ForConditionalGeneration", "gemma3")
            .Case("Qwen3VLForConditionalGeneration", "qwen3_vl")
            .Case("Qwen3VLMoeForConditionalGeneration", "qwen3_vl_moe")
            .Case("Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl")
            .Case("Qwen2VLForConditionalGeneration", "qwen2_vl")
            .Case("GraniteForCausalLM", "granite")
            .Case("GraniteMoeForCausalLM", "granitemoe")
            .Case("GPT2LMHeadModel", "gpt2")
            .Case("BertModel", "bert")
            .Case("RobertaModel", "roberta")
            .Case("XLMRobertaModel", "xlm-roberta")
            .Case("CamembertModel", "camembert")
            .Case("GptOssForCausalLM", "gpt_oss")
            .Case("GemmaForCausalLM", "gemma")
            .Case("Gemma2ForCausalLM", "gemma2")
            .Case("Gemma3ForCausalLM", "gemma3_text")
            .Default(arch->str());
  if (Error e = fields.takeError())
    return std::move(e);
  return unsupported(where, prefix, "model_type",
                     "missing (and no 'architectures' to infer it from)");
}

// One RoPE description: Hugging Face's rope_scaling (transformers 4) or rope_parameters
// (transformers 5, which also holds rope_theta). Types: default, linear, llama3.
struct RopeSpec {
  std::optional<double> theta;
  std::optional<Llama3RopeScaling> llama3;
  std::optional<double> linearFactor;
  // longrope (Phi-3; "su" is its old name).
  std::optional<std::vector<double>> shortFactors, longFactors;
  std::optional<double> factor, attentionFactor;
  std::optional<int64_t> originalMaxPositions;
  std::optional<double> partialRotaryFactor; // transformers 5 keeps it here
  // yarn (factor, attentionFactor and originalMaxPositions above as well).
  bool yarn = false;
  std::optional<double> betaFast, betaSlow, mscale, mscaleAllDim;
  bool truncate = true;
  // Ministral 3's attention temperature (llama_4_scaling_beta, over
  // original_max_position_embeddings positions).
  std::optional<double> llama4ScalingBeta;
  // Hunyuan's "dynamic" type with an alpha: NTK scaling that only stretches the base,
  // theta * alpha^(d / (d - 2)) for d rotated features.
  std::optional<double> ntkAlpha;
};

void parseRopeObject(JsonFields &fields, const json::Object &object, StringRef key,
                     RopeSpec &rope) {
  JsonFields sub = fields.nested(object, key);
  if (std::optional<double> theta = sub.optionalPositiveNumber("rope_theta"))
    rope.theta = theta;
  if (std::optional<double> partial = sub.optionalPositiveNumber("partial_rotary_factor"))
    rope.partialRotaryFactor = partial;
  // (A beta of 0 is no temperature: Mistral Medium 3.5's configs carry one.)
  if (std::optional<double> beta = sub.optionalNonNegativeNumber("llama_4_scaling_beta"))
    rope.llama4ScalingBeta = beta;
  // What the attention temperature is counted in, whatever the type (YaRN's and
  // LongRoPE's original context too).
  rope.originalMaxPositions = sub.optionalPositiveInt("original_max_position_embeddings");
  std::optional<std::string> type = sub.optionalString("rope_type");
  if (!type)
    type = sub.optionalString("type");
  if (type && *type == "linear") {
    std::optional<double> factor = sub.optionalPositiveNumber("factor");
    if (!factor || *factor < 1.0)
      sub.fail("factor", "a linear rope_type needs a factor of at least 1");
    else
      rope.linearFactor = factor;
  } else if (type && *type == "llama3") {
    Llama3RopeScaling s;
    s.factor = sub.optionalPositiveNumber("factor").value_or(s.factor);
    s.lowFreqFactor = sub.optionalPositiveNumber("low_freq_factor").value_or(s.lowFreqFactor);
    s.highFreqFactor = sub.optionalPositiveNumber("high_freq_factor").value_or(s.highFreqFactor);
    s.originalMaxPosition =
        sub.optionalPositiveInt("original_max_position_embeddings").value_or(s.originalMaxPosition);
    rope.llama3 = s;
  } else if (type && (*type == "longrope" || *type == "su")) {
    // Each list must be there, with positive finite values (lengths are checked against
    // the rotary dimension once it is known).
    auto factors = [&](StringRef key) {
      std::optional<std::vector<double>> values = sub.optionalNumberArray(key);
      if (!values || values->empty())
        sub.fail(key, "longrope needs a list of rescale factors here");
      else
        for (size_t k = 0; k < values->size(); ++k)
          if (!((*values)[k] > 0.0 && (*values)[k] < 1e30))
            sub.fail(key, "value " + Twine(k) + " must be positive");
      return values.value_or(std::vector<double>());
    };
    rope.shortFactors = factors("short_factor");
    rope.longFactors = factors("long_factor");
    rope.factor = sub.optionalPositiveNumber("factor");
    rope.attentionFactor = sub.optionalPositiveNumber("attention_factor");
    rope.originalMaxPositions = sub.optionalPositiveInt("original_max_position_embeddings");
  } else if (type && *type == "yarn") {
    rope.yarn = true;
    rope.factor = sub.optionalPositiveNumber("factor");
    rope.attentionFactor = sub.optionalPositiveNumber("attention_factor");
    rope.originalMaxPositions = sub.optionalPositiveInt("original_max_position_embeddings");
    rope.betaFast = sub.optionalPositiveNumber("beta_fast");
    rope.betaSlow = sub.optionalPositiveNumber("beta_slow");
    rope.mscale = sub.optionalPositiveNumber("mscale");
    rope.mscaleAllDim = sub.optionalPositiveNumber("mscale_all_dim");
    rope.truncate = sub.optionalBool("truncate").value_or(true);
  } else if (type && *type == "mrope") {
    // Qwen2-VL's multimodal RoPE: its sections rotate by a token's time, height and width
    // positions, one and the same for text, so a text-only prompt gets the plain rotation.
  } else if (type && *type == "dynamic" && sub.has("alpha")) {
    rope.ntkAlpha = sub.optionalPositiveNumber("alpha");
  } else if (type && *type != "default") {
    sub.fail("rope_type", "'" + *type +
                              "' is not supported (supported: default, linear, llama3, longrope, "
                              "yarn; dynamic with an alpha for hunyuan_v1_dense and hunyuan_v1_moe)");
  }
  fields.absorb(sub);
}

// The model's RoPE: rope_theta and rope_scaling, or rope_parameters. Gemma 3's
// rope_parameters hold one description per layer type ("full_attention",
// "sliding_attention"); `layerType` picks one (the whole object otherwise).
// Precedence as transformers': rope_scaling over rope_parameters, and the top-level
// rope_theta only where neither gives one. rope_scaling describes the global layers.
// `thetaKey`: the top-level field that gives the base where neither does.
RopeSpec parseRope(JsonFields &fields, StringRef layerType = "",
                   StringRef thetaKey = "rope_theta") {
  RopeSpec rope;
  if (const json::Object *params = fields.optionalObject("rope_parameters")) {
    JsonFields sub = fields.nested(*params, "rope_parameters");
    if (layerType.empty())
      parseRopeObject(fields, *params, "rope_parameters", rope);
    else if (const json::Object *typed = sub.optionalObject(layerType))
      parseRopeObject(sub, *typed, layerType, rope);
    fields.absorb(sub);
  }
  if (layerType.empty() || layerType == "full_attention")
    if (const json::Object *scaling = fields.optionalObject("rope_scaling"))
      parseRopeObject(fields, *scaling, "rope_scaling", rope);
  if (!rope.theta)
    rope.theta = fields.optionalPositiveNumber(thetaKey);
  return rope;
}

// `fields` reads original_max_position_embeddings where rope_scaling does not hold it.
void applyRope(JsonFields &fields, const RopeSpec &rope, ModelConfig &c, double defaultTheta) {
  c.ropeTheta = rope.theta.value_or(defaultTheta);
  c.ropeScaling = rope.llama3;
  c.ropeLinearFactor = rope.linearFactor;
  if (!rope.shortFactors || !rope.longFactors)
    return;
  // transformers' longrope: factor = max / original positions unless given; attention
  // factor sqrt(1 + ln(factor) / ln(original)) unless given (1 for factor <= 1). Phi-3's
  // config copies its top-level original_max_position_embeddings (default 4096) over the
  // scaling's; other models read the scaling's first.
  c.ropeShortFactors = *rope.shortFactors;
  c.ropeLongFactors = *rope.longFactors;
  std::optional<int64_t> topLevel = fields.optionalPositiveInt("original_max_position_embeddings");
  c.ropeOriginalMaxPositions =
      c.architecture == Architecture::Phi3
          ? topLevel.value_or(4096)
          : rope.originalMaxPositions.value_or(topLevel.value_or(c.maxPositions));
  double original = double(c.ropeOriginalMaxPositions);
  double factor = rope.factor.value_or(double(c.maxPositions) / original);
  c.ropeMagnitude = rope.attentionFactor.value_or(
      factor <= 1.0 ? 1.0 : std::sqrt(1.0 + std::log(factor) / std::log(original)));
}

// Ministral 3's and Mistral 4's attention temperature (rope parameters'
// llama_4_scaling_beta): every layer's queries times
// 1 + beta * log(1 + floor(p / original_max_position_embeddings)).
void applyQueryTemperature(JsonFields &fields, const RopeSpec &rope, ModelConfig &c) {
  if (!rope.llama4ScalingBeta || *rope.llama4ScalingBeta == 0.0)
    return;
  StringRef key = fields.has("rope_scaling") ? "rope_scaling" : "rope_parameters";
  if (c.modelType != "ministral3" && c.modelType != "mistral4")
    fields.fail(key, "llama_4_scaling_beta is not supported for " + c.modelType);
  else if (!rope.originalMaxPositions)
    fields.fail(key, "llama_4_scaling_beta needs original_max_position_embeddings");
  else {
    c.temperatureFloor = *rope.originalMaxPositions;
    c.temperatureScale = *rope.llama4ScalingBeta;
    c.temperatureEveryLayer = true;
  }
}

// Gemma's builders take no YaRN: refused rather than ignored.
const RopeSpec &noYarn(JsonFields &fields, const RopeSpec &rope) {
  if (rope.yarn)
    fields.fail("rope_scaling", "yarn is not supported for Gemma");
  return rope;
}

// The YaRN parameters of a config's RoPE description.
void applyYarn(JsonFields &fields, const RopeSpec &rope, ModelConfig &c) {
  std::optional<int64_t> original = rope.originalMaxPositions;
  if (!original)
    original = fields.optionalPositiveInt("original_max_position_embeddings");
  if (!original) {
    fields.fail("rope_scaling", "yarn needs original_max_position_embeddings");
    return;
  }
  YarnParams p;
  p.factor = rope.factor.value_or(double(c.maxPositions) / double(*original));
  p.originalMaxPositions = *original;
  p.attentionFactor = rope.attentionFactor;
  p.mscale = rope.mscale;
  p.mscaleAllDim = rope.mscaleAllDim;
  p.betaFast = rope.betaFast.value_or(32.0);
  p.betaSlow = rope.betaSlow.value_or(1.0);
  p.truncate = rope.truncate;
  setYarn(c, p);
}

} // namespace

// YaRN as transformers computes it (_compute_yarn_parameters): pair i's frequency blends
// the interpolated theta^(-2i/d) / factor and the original by a linear ramp between the
// correction dimensions of beta_fast and beta_slow rotations; cos and sin are multiplied by
// the attention factor (0.1 ln(factor) + 1 unless given). Expressed as one frequency divisor
// per pair and a magnitude, the same at every context length.
void modelc::frontend::setYarn(ModelConfig &c, const YarnParams &p) {
  const int64_t pairs = c.rotaryDim / 2;
  const double base = c.ropeTheta, dim = double(c.rotaryDim), factor = p.factor;
  auto getMscale = [](double scale, double m) {
    return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
  };
  double attention = p.attentionFactor.value_or(
      p.mscale && p.mscaleAllDim ? getMscale(factor, *p.mscale) / getMscale(factor, *p.mscaleAllDim)
                                 : getMscale(factor, 1.0));
  auto correctionDim = [&](double rotations) {
    return dim * std::log(double(p.originalMaxPositions) / (rotations * 2.0 * M_PI)) /
           (2.0 * std::log(base));
  };
  double low = correctionDim(p.betaFast);
  double high = correctionDim(p.betaSlow);
  if (p.truncate) {
    low = std::floor(low);
    high = std::ceil(high);
  }
  low = std::max(low, 0.0);
  high = std::min(high, dim - 1.0);
  if (low == high)
    high += 0.001;
  std::vector<double> divisors(static_cast<size_t>(pairs));
  for (int64_t i = 0; i < pairs; ++i) {
    double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
    double extrapolation = 1.0 - ramp; // weight of the original frequency
    divisors[static_cast<size_t>(i)] = 1.0 / ((1.0 - extrapolation) / factor + extrapolation);
  }
  c.ropeShortFactors = divisors;
  c.ropeLongFactors = divisors;
  c.ropeOriginalMaxPositions = p.originalMaxPositions;
  c.ropeMagnitude = attention;
}

void modelc::frontend::setArchitectureTraits(ModelConfig &c) {
  const Architecture a = c.architecture;
  c.qkNorm = a == Architecture::Qwen3 || a == Architecture::Gemma3;
  c.fusedProjections = a == Architecture::Phi3;
  c.fusedGateUp = a == Architecture::Phi3 || a == Architecture::Glm4;
  c.inputNorms = a != Architecture::Olmo2;
  c.outputNorms = a == Architecture::Olmo2 || a == Architecture::Gemma2 ||
                  a == Architecture::Gemma3 || a == Architecture::Glm4;
  c.ropeInterleaved = a == Architecture::Glm4; // GLM's pairs (2i, 2i + 1)
  c.qkNormFullWidth = a == Architecture::Olmo2 || a == Architecture::Olmoe;
  c.scaleEmbeddings = isGemma(a);
  if (a == Architecture::GptOss) {
    // Every layer's attention has sinks; its experts have biases, are weighted by the
    // softmax of the chosen logits (rounded to the activation type), and use the clamped
    // SwiGLU (alpha 1.702, limit 7 unless a config.json says otherwise).
    c.attentionSinks = c.expertBiases = true;
    c.normalizeTopK = c.roundRoutingWeights = true;
    c.swigluAlpha = 1.702;
    c.swigluLimit = 7.0;
  }
}

namespace {

// The sizes every decoder with Llama's field names has.
void parseDecoderSizes(JsonFields &fields, ModelConfig &c, int64_t defaultMaxPositions) {
  c.vocabSize = fields.requirePositiveInt("vocab_size");
  c.hiddenSize = fields.requirePositiveInt("hidden_size");
  c.intermediateSize = fields.requirePositiveInt("intermediate_size");
  c.numLayers = fields.requirePositiveInt("num_hidden_layers");
  c.numHeads = fields.requirePositiveInt("num_attention_heads");
  c.numKvHeads = fields.optionalPositiveInt("num_key_value_heads").value_or(c.numHeads);
  c.maxPositions =
      fields.optionalPositiveInt("max_position_embeddings").value_or(defaultMaxPositions);
  c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-6);
}

// transformers' layer_types (sliding_attention / full_attention per layer) into
// slidingLayers; false when the config has none.
bool parseLayerTypes(JsonFields &fields, ModelConfig &c) {
  std::optional<std::vector<std::string>> types = fields.optionalStringArray("layer_types");
  if (!types)
    return false;
  if (static_cast<int64_t>(types->size()) != c.numLayers)
    fields.fail("layer_types",
                "has " + Twine(types->size()) + " entries for " + Twine(c.numLayers) + " layers");
  for (const std::string &t : *types) {
    if (t != "sliding_attention" && t != "full_attention")
      fields.fail("layer_types", "'" + t + "' is not sliding_attention or full_attention");
    c.slidingLayers.push_back(t == "sliding_attention");
  }
  return true;
}

// The gated MLP's activation (SiLU only) and no biases on its projections.
void readSiluMlp(JsonFields &fields, ModelConfig &c) {
  c.activation = fields.optionalString("hidden_act").value_or("silu");
  if (c.activation != "silu")
    fields.fail("hidden_act", "'" + c.activation + "' is not supported (supported: silu)");
  if (fields.optionalBool("mlp_bias").value_or(false))
    fields.fail("mlp_bias", "biases on the MLP projections are not supported");
}

// A mixture's counts: at most 4096 experts (`expertsKey`), no more chosen per token
// (`perTokenKey`) than there are.
void checkExpertCounts(JsonFields &fields, const ModelConfig &c, StringRef expertsKey,
                       StringRef perTokenKey) {
  if (c.numExperts > 4096)
    fields.fail(expertsKey, Twine(c.numExperts) + " experts: at most 4096 are supported");
  if (c.expertsPerToken > c.numExperts)
    fields.fail(perTokenKey,
                Twine(c.expertsPerToken) + " is more than the " + Twine(c.numExperts) + " experts");
}

// DeepSeek-style experts (GLM-4.5's, DeepSeek's): their counts against the routing groups,
// and the first `dense` layers dense.
// mlp_layer_types: "dense" or "sparse" a layer (GLM-4.7-Flash, K-EXAONE); when absent, the
// first layer alone dense if `firstDenseByDefault`, else denseLayers as they are.
void readMlpLayerTypes(JsonFields &fields, ModelConfig &c, bool firstDenseByDefault) {
  std::optional<std::vector<std::string>> types = fields.optionalStringArray("mlp_layer_types");
  if (types && static_cast<int64_t>(types->size()) != c.numLayers) {
    fields.fail("mlp_layer_types",
                "has " + Twine(types->size()) + " entries for " + Twine(c.numLayers) + " layers");
    return;
  }
  if (!types && !firstDenseByDefault)
    return;
  for (size_t i = 0; i < c.denseLayers.size(); ++i) {
    const std::string type = types ? (*types)[i] : i == 0 ? "dense" : "sparse";
    if (type != "dense" && type != "sparse")
      fields.fail("mlp_layer_types", "'" + type + "' is not dense or sparse");
    c.denseLayers[i] = type == "dense";
  }
}

void checkRoutedExperts(JsonFields &fields, ModelConfig &c, int64_t dense,
                        StringRef expertsKey = "n_routed_experts") {
  checkExpertCounts(fields, c, expertsKey, "num_experts_per_tok");
  if (c.numExperts % c.routingGroups || (c.routingGroups > 1 && c.numExperts / c.routingGroups < 2))
    fields.fail("n_group", Twine(c.routingGroups) + " groups of " + Twine(c.numExperts) +
                               " experts: each group needs two or more");
  else if (c.routingTopGroups > c.routingGroups ||
           c.expertsPerToken > c.routingTopGroups * (c.numExperts / c.routingGroups))
    fields.fail("topk_group", Twine(c.routingTopGroups) + " of " + Twine(c.routingGroups) +
                                  " groups cannot hold " + Twine(c.expertsPerToken) + " experts");
  c.denseLayers.assign(static_cast<size_t>(std::max<int64_t>(c.numLayers, 0)), false);
  for (int64_t i = 0; i < std::min(dense, c.numLayers); ++i)
    c.denseLayers[static_cast<size_t>(i)] = true;
}

// The sparse MLP blocks of Mixtral, Qwen3-MoE, OLMoE and GraniteMoE, with transformers'
// defaults.
// GLM-4.5's (glm4_moe, DeepSeek-V3's routing): n_routed_experts of moe_intermediate_size,
// n_shared_experts as one unscaled shared MLP, sigmoid scores with a choice-only correction
// bias, choice within topk_group of n_group groups, weights renormalized (norm_topk_prob)
// and times routed_scaling_factor, dense MLPs in the first first_k_dense_replace layers.
// Defaults are Glm4MoeConfig's.
// K-EXAONE's (exaone_moe) names them num_experts and num_shared_experts, and may list its
// dense layers in mlp_layer_types.
void parseGlm4MoeExperts(JsonFields &fields, ModelConfig &c) {
  const bool exaone = c.modelType == "exaone_moe";
  const StringRef expertsKey = exaone ? "num_experts" : "n_routed_experts",
                  sharedKey = exaone ? "num_shared_experts" : "n_shared_experts";
  c.numExperts = fields.optionalPositiveInt(expertsKey).value_or(128);
  c.expertsPerToken = fields.optionalPositiveInt("num_experts_per_tok").value_or(8);
  c.expertIntermediateSize = fields.optionalPositiveInt("moe_intermediate_size").value_or(1408);
  const int64_t shared = fields.mentions(sharedKey)
                             ? fields.optionalNonNegativeInt(sharedKey).value_or(0)
                             : 1;
  c.sharedExpertIntermediateSize = shared * c.expertIntermediateSize;
  c.normalizeTopK = fields.optionalBool("norm_topk_prob").value_or(true);
  c.roundRoutingWeights = false; // f32 weights times the experts' outputs
  c.sigmoidRouting = c.scoreCorrectionBias = true;
  c.routingGroups = fields.optionalPositiveInt("n_group").value_or(1);
  c.routingTopGroups = fields.optionalPositiveInt("topk_group").value_or(1);
  c.routedScale = fields.optionalPositiveNumber("routed_scaling_factor").value_or(1.0);
  // Solar Open has no dense layers (its config class has no first_k_dense_replace).
  checkRoutedExperts(fields, c,
                     c.modelType == "solar_open" ? 0
                     : fields.mentions("first_k_dense_replace")
                         ? fields.optionalNonNegativeInt("first_k_dense_replace").value_or(0)
                         : 1,
                     expertsKey);
  if (exaone)
    readMlpLayerTypes(fields, c, false);
}

// MiniMax-M2: every layer's MLP num_local_experts experts of intermediate_size (Mixtral's
// names, block_sparse_moe.experts.E.w1/w2/w3), num_experts_per_tok of them chosen by sigmoid
// scores plus block_sparse_moe.e_score_correction_bias, their weights renormalized; no
// shared experts. Defaults are MiniMaxM2Config's.
void parseMiniMaxExperts(JsonFields &fields, ModelConfig &c) {
  c.numExperts = fields.optionalPositiveInt("num_local_experts").value_or(256);
  c.expertsPerToken = fields.optionalPositiveInt("num_experts_per_tok").value_or(8);
  c.expertIntermediateSize = c.intermediateSize;
  c.normalizeTopK = true;
  c.roundRoutingWeights = false;
  c.sigmoidRouting = c.scoreCorrectionBias = true;
  if (std::optional<std::string> scoring = fields.optionalString("scoring_func");
      scoring && *scoring != "sigmoid")
    fields.fail("scoring_func", "'" + *scoring + "' is not supported for minimax_m2 (sigmoid)");
  if (fields.optionalBool("use_routing_bias").value_or(true) == false)
    fields.fail("use_routing_bias", "false is not supported (the checkpoints have the bias)");
  if (fields.optionalPositiveInt("shared_intermediate_size").value_or(0) > 0)
    fields.fail("shared_intermediate_size", "shared experts are not supported for minimax_m2");
  checkExpertCounts(fields, c, "num_local_experts", "num_experts_per_tok");
}

// ERNIE 4.5's mixtures: moe_num_experts (or num_experts) of moe_intermediate_size, moe_k (or
// num_experts_per_tok) chosen by softmax probability plus mlp.moe_statics'
// e_score_correction_bias (choice only), the chosen probabilities renormalized;
// moe_num_shared_experts shared ones as one unscaled MLP; sparse where (layer + 1) is a
// multiple of moe_layer_interval between moe_layer_start_index and moe_layer_end_index
// (-1: the last layer). Defaults are Ernie4_5_MoeConfig's.
void parseErnieExperts(JsonFields &fields, ModelConfig &c) {
  // The key this config uses, of ERNIE's and transformers' names.
  auto used = [&](StringRef key, StringRef alias) -> StringRef {
    return fields.has(key) || !fields.has(alias) ? key : alias;
  };
  const StringRef expertsKey = used("moe_num_experts", "num_experts"),
                  perTokenKey = used("moe_k", "num_experts_per_tok");
  c.numExperts = fields.optionalPositiveInt(expertsKey).value_or(64);
  c.expertsPerToken = fields.optionalPositiveInt(perTokenKey).value_or(6);
  c.expertIntermediateSize = fields.optionalPositiveInt("moe_intermediate_size").value_or(1536);
  const int64_t shared = fields.mentions("moe_num_shared_experts")
                             ? fields.optionalNonNegativeInt("moe_num_shared_experts").value_or(0)
                             : 2;
  c.sharedExpertIntermediateSize = shared * c.expertIntermediateSize;
  c.normalizeTopK = true;
  c.roundRoutingWeights = false;
  c.scoreCorrectionBias = true;
  checkExpertCounts(fields, c, expertsKey, perTokenKey);
  const int64_t start = fields.optionalNonNegativeInt("moe_layer_start_index").value_or(1);
  const int64_t interval = fields.optionalPositiveInt("moe_layer_interval").value_or(1);
  int64_t end = fields.optionalIntFromMinusOne("moe_layer_end_index").value_or(-1);
  if (end == -1)
    end = c.numLayers - 1;
  c.denseLayers.assign(static_cast<size_t>(std::max<int64_t>(c.numLayers, 0)), true);
  for (int64_t i = 0; i < c.numLayers; ++i)
    c.denseLayers[static_cast<size_t>(i)] = !((i + 1) % interval == 0 && i >= start && i <= end);
}

// Hunyuan's mixture (hunyuan_v1_moe) on every layer: num_experts experts of
// intermediate_size (transformers builds them so; a list of one value a layer is read when
// they are all equal), moe_topk of them by softmax probability, renormalized and kept in
// f32, beside a shared MLP of intermediate_size (mlp.shared_mlp) added unscaled. Defaults are
// HunYuanMoEV1Config's.
void parseHunyuanExperts(JsonFields &fields, ModelConfig &c) {
  auto perLayer = [&](StringRef key, int64_t fallback) -> int64_t {
    if (!fields.isArray(key))
      return fields.optionalPositiveInt(key).value_or(fallback);
    if (std::optional<std::vector<double>> values = fields.optionalNumberArray(key)) {
      if (values->empty() || llvm::any_of(*values, [&](double v) { return v != values->front(); }) ||
          !(values->front() >= 1.0) || values->front() != std::floor(values->front()))
        fields.fail(key, "a list of different (or non-positive) values a layer is not supported");
      else
        return static_cast<int64_t>(values->front());
    }
    return fallback;
  };
  c.numExperts = perLayer("num_experts", 1);
  c.expertsPerToken = perLayer("moe_topk", 1);
  c.expertIntermediateSize = c.sharedExpertIntermediateSize = c.intermediateSize;
  c.normalizeTopK = true;
  c.roundRoutingWeights = false;
  checkExpertCounts(fields, c, "num_experts", "moe_topk");
}

// Qwen3-MoE's (and Qwen3-Next's) dense layers: a dense MLP (intermediate_size) in
// mlp_only_layers and wherever (layer + 1) is not a multiple of decoder_sparse_step.
void readQwenDenseLayers(JsonFields &fields, ModelConfig &c) {
  int64_t step = fields.optionalPositiveInt("decoder_sparse_step").value_or(1);
  c.denseLayers.assign(static_cast<size_t>(std::max<int64_t>(c.numLayers, 0)), false);
  for (int64_t i = 0; i < c.numLayers; ++i)
    c.denseLayers[static_cast<size_t>(i)] = (i + 1) % step != 0;
  if (std::optional<std::vector<double>> dense = fields.optionalNumberArray("mlp_only_layers"))
    for (double layer : *dense) {
      if (layer < 0 || layer >= double(c.numLayers) || layer != std::floor(layer))
        fields.fail("mlp_only_layers", (layer == std::floor(layer) && std::abs(layer) < 1e15
                                            ? std::to_string(static_cast<int64_t>(layer))
                                            : std::to_string(layer)) +
                                           " is not a layer index below " +
                                           std::to_string(c.numLayers));
      else
        c.denseLayers[static_cast<size_t>(layer)] = true;
    }
}

void parseExperts(JsonFields &fields, ModelConfig &c) {
  if (c.modelType == "glm4_moe" || c.modelType == "solar_open" || c.modelType == "dots1" ||
      c.modelType == "exaone_moe")
    return parseGlm4MoeExperts(fields, c);
  if (c.modelType == "ernie4_5_moe")
    return parseErnieExperts(fields, c);
  if (c.modelType == "hunyuan_v1_moe")
    return parseHunyuanExperts(fields, c);
  if (c.modelType == "minimax_m2")
    return parseMiniMaxExperts(fields, c);
  // Qwen2-MoE is Qwen3-MoE's layout (its defaults differ) plus a shared expert.
  const bool mixtral = c.modelType == "mixtral", qwen2 = c.modelType == "qwen2_moe",
             qwen = c.modelType == "qwen3_moe" || qwen2, granite = c.modelType == "granitemoe";
  if (!mixtral && !qwen && !granite && c.architecture != Architecture::Olmoe)
    return;
  // transformers reads either name (an attribute_map); the model's own first.
  StringRef expertsKey = mixtral || granite ? "num_local_experts" : "num_experts";
  if (!fields.has(expertsKey) &&
      fields.has(mixtral || granite ? "num_experts" : "num_local_experts"))
    expertsKey = mixtral || granite ? "num_experts" : "num_local_experts";
  c.numExperts = fields.optionalPositiveInt(expertsKey)
                     .value_or(mixtral || granite ? 8
                               : qwen2            ? 60
                               : qwen             ? 128
                                                  : 64);
  c.expertsPerToken = fields.optionalPositiveInt("num_experts_per_tok")
                          .value_or(mixtral || granite ? 2
                                    : qwen2            ? 4
                                                       : 8);
  checkExpertCounts(fields, c, expertsKey, "num_experts_per_tok");
  c.expertIntermediateSize =
      qwen ? fields.optionalPositiveInt("moe_intermediate_size").value_or(qwen2 ? 1408 : 768)
           : c.intermediateSize;
  if (qwen2) // 0 (or null): no shared expert
    c.sharedExpertIntermediateSize =
        fields.mentions("shared_expert_intermediate_size")
            ? fields.optionalPositiveInt("shared_expert_intermediate_size").value_or(0)
            : 5632;
  // Mixtral always renormalizes and keeps the weights in f32; GraniteMoE takes the softmax
  // of the chosen logits (the same weights) and rounds them, as Qwen3-MoE and OLMoE do.
  c.normalizeTopK = mixtral || granite || fields.optionalBool("norm_topk_prob").value_or(false);
  c.roundRoutingWeights = !mixtral;
  if (qwen)
    readQwenDenseLayers(fields, c);
}

// A quantized checkpoint's quantization_config. compressed-tensors' pack-quantized
// weight-only integers (symmetric 4 or 8 bits, per channel, group or tensor; what
// llm-compressor writes for W4A16 / W8A16) are read dequantized by the weight store
// (WeightSource), as are its float-quantized FP8 weights (per tensor, channel or block).
// gpt-oss's official MXFP4 experts (`*_blocks` / `*_scales`, [out, in])
// stay blocks in the plan. GPTQ's 4- and 8-bit linears (AutoGPTQ's v1 format), AWQ's and
// fine-grained FP8 ones (transformers' `fp8`: E4M3 codes with a scale per block) are read
// by the weight store too. FP8 checkpoints' activation quantization is not done: the
// activations stay f32 (what transformers computes on a CPU, dequantizing). Anything else is
// refused by name, before a weight is looked for.
void parseQuantization(JsonFields &fields, ModelConfig &c) {
  const json::Object *quant = fields.optionalObject("quantization_config");
  if (!quant)
    return;
  JsonFields sub = fields.nested(*quant, "quantization_config");
  const std::string method = sub.optionalString("quant_method").value_or("?");
  if (method == "mxfp4" && c.architecture == Architecture::GptOss) {
    c.mxfp4Experts = true;
  } else if (method == "fp8") {
    const std::string fmt = sub.optionalString("fmt").value_or("e4m3");
    const std::string activations = sub.optionalString("activation_scheme").value_or("dynamic");
    if (fmt != "e4m3")
      sub.fail("fmt", "'" + fmt + "' is not supported (supported: e4m3)");
    else if (activations != "dynamic" && activations != "static")
      sub.fail("activation_scheme",
               "'" + activations + "' is not supported (supported: dynamic, static)");
    if (std::optional<std::vector<double>> block = sub.optionalNumberArray("weight_block_size"))
      if (block->size() != 2 || !std::all_of(block->begin(), block->end(), [](double v) {
            return v >= 1 && v == std::floor(v);
          }))
        sub.fail("weight_block_size", "must be two positive integers");
  } else if (method == "compressed-tensors") {
    const std::string format = sub.optionalString("format").value_or("?");
    auto knownFormat = [](StringRef f) { return f == "pack-quantized" || f == "float-quantized"; };
    if (!knownFormat(format))
      sub.fail("format", "'" + format +
                             "' is not supported (supported: pack-quantized, float-quantized)");
    for (StringRef key : {"kv_cache_scheme", "sparsity_config", "transform_config"}) {
      const json::Value *v = quant->get(key);
      const json::Object *o = v ? v->getAsObject() : nullptr;
      if (v && v->kind() != json::Value::Null && !(o && o->empty()))
        sub.fail(key, "is not supported (weight-only quantization only)");
    }
    const json::Object *groups = sub.optionalObject("config_groups");
    if (!groups || groups->empty())
      sub.fail("config_groups", "missing");
    for (const auto &[name, value] : groups ? *groups : json::Object()) {
      const json::Object *group = value.getAsObject();
      if (!group) {
        sub.fail("config_groups." + name.str(), "must be an object");
        continue;
      }
      JsonFields g = sub.nested(*group, "config_groups." + name.str());
      if (g.has("format") && !knownFormat(g.optionalString("format").value_or("?")))
        g.fail("format", "'" + g.optionalString("format").value_or("?") +
                             "' is not supported (supported: pack-quantized, float-quantized)");
      const json::Object *weights = g.optionalObject("weights");
      bool floatWeights = false;
      if (!weights) {
        g.fail("weights", "missing");
      } else {
        JsonFields w = g.nested(*weights, "weights");
        const int64_t bits = w.optionalPositiveInt("num_bits").value_or(0);
        const std::string type = w.optionalString("type").value_or("int");
        const std::string strategy = w.optionalString("strategy").value_or("?");
        floatWeights = type == "float";
        if (type != "int" && type != "float")
          w.fail("type", "'" + type + "' weights are not supported (supported: int, float)");
        else if (floatWeights && bits != 8)
          w.fail("num_bits", Twine(bits) + "-bit float weights are not supported (supported: 8)");
        else if (!floatWeights && bits != 4 && bits != 8)
          w.fail("num_bits", Twine(bits) + " bits are not supported (supported: 4, 8)");
        else if (!w.optionalBool("symmetric").value_or(true))
          w.fail("symmetric", "asymmetric weights (zero points) are not supported");
        else if (!floatWeights && strategy != "group" && strategy != "channel" &&
                 strategy != "tensor")
          w.fail("strategy", "'" + strategy +
                                 "' is not supported (supported: group, channel, tensor)");
        else if (floatWeights && strategy != "block" && strategy != "channel" &&
                 strategy != "tensor")
          w.fail("strategy", "'" + strategy +
                                 "' is not supported for float weights (supported: block, "
                                 "channel, tensor)");
        else if (w.optionalBool("dynamic").value_or(false))
          w.fail("dynamic", "dynamic weight scales are not supported");
        else if (w.has("actorder") && w.optionalString("actorder") == "group")
          w.fail("actorder", "act-order groups (weight_g_idx) are not supported");
        if (strategy == "group")
          c.quantGroupSize = w.optionalPositiveInt("group_size").value_or(0);
        g.absorb(w);
      }
      // FP8 weights' activation quantization (FP8 per token or tensor) is not done: the
      // activations stay f32. Integer schemes' (W8A8) is refused.
      if (const json::Object *in = g.optionalObject("input_activations"); in && floatWeights) {
        JsonFields a = g.nested(*in, "input_activations");
        if (a.optionalString("type").value_or("?") != "float" ||
            a.optionalPositiveInt("num_bits").value_or(0) != 8)
          a.fail("type", "only FP8 activations are accepted beside FP8 weights");
        g.absorb(a);
      } else if (g.has("input_activations")) {
        g.fail("input_activations", "activation quantization is not supported for integer "
                                    "weights (weight-only schemes, W4A16 and W8A16, are)");
      }
      if (g.has("output_activations"))
        g.fail("output_activations", "output activation quantization is not supported");
      sub.absorb(g);
    }
  } else if (method == "gptq") {
    // AutoGPTQ's format (v1: zeros stored minus 1), as GPTQModel and optimum write it.
    const int64_t bits = sub.optionalPositiveInt("bits").value_or(0);
    const std::string format = sub.optionalString("checkpoint_format").value_or("gptq");
    if (bits != 4 && bits != 8)
      sub.fail("bits", Twine(bits) + " bits are not supported (supported: 4, 8)");
    else if (format != "gptq")
      sub.fail("checkpoint_format", "'" + format + "' is not supported (supported: gptq)");
    c.quantGroupSize = sub.has("group_size") ? sub.optionalPositiveInt("group_size").value_or(0)
                                             : 0; // -1: per channel
  } else if (method == "awq") {
    // AutoAWQ's GEMM format (as GPTQModel writes it too).
    const int64_t bits = sub.optionalPositiveInt("bits").value_or(
        sub.optionalPositiveInt("w_bit").value_or(4));
    const std::string version = sub.optionalString("version").value_or("gemm");
    const std::string backend = sub.optionalString("backend").value_or("autoawq");
    if (bits != 4)
      sub.fail("bits", Twine(bits) + " bits are not supported (supported: 4)");
    else if (StringRef(version).lower() != "gemm")
      sub.fail("version", "'" + version + "' is not supported (supported: gemm)");
    else if (!sub.optionalBool("zero_point").value_or(true))
      sub.fail("zero_point", "AWQ without zero points is not supported");
    else if (backend != "autoawq")
      sub.fail("backend", "'" + backend + "' packing is not supported (supported: autoawq)");
    c.quantGroupSize = sub.optionalPositiveInt("group_size").value_or(
        sub.optionalPositiveInt("q_group_size").value_or(0));
  } else {
    sub.fail("quant_method",
             "'" + method + "' weights are not supported (supported: compressed-tensors " +
                 "pack-quantized and float-quantized, gptq, awq, fp8" +
                 (c.architecture == Architecture::GptOss ? ", mxfp4" : "") +
                 "; or a dequantized checkpoint)");
  }
  fields.absorb(sub);
}

// SmolLM3: RoPE only on the layers no_rope_layers marks 1 (by default all but every
// no_rope_layer_interval-th, 4th); a sliding window only where use_sliding_window says so, on
// the layers layer_types names (by default the NoPE ones), as transformers' SmolLM3Config.
// no_rope_layers (1: RoPE, 0: none, one per layer), else every no_rope_layer_interval-th
// layer (4) without RoPE; `emptyIsDefault`: an empty list is the default (Llama 4's).
void readNoRopeLayers(JsonFields &fields, ModelConfig &c, bool emptyIsDefault) {
  const size_t layers = static_cast<size_t>(std::max<int64_t>(c.numLayers, 0));
  c.noRopeLayers.assign(layers, false);
  std::optional<std::vector<double>> rope = fields.optionalNumberArray("no_rope_layers");
  if (rope && rope->empty() && emptyIsDefault)
    rope.reset();
  if (rope) {
    if (rope->size() != layers)
      fields.fail("no_rope_layers",
                  Twine(rope->size()) + " entries for " + Twine(c.numLayers) + " layers");
    for (size_t i = 0; i < std::min(layers, rope->size()); ++i) {
      if ((*rope)[i] != 0 && (*rope)[i] != 1)
        fields.fail("no_rope_layers", "entries must be 0 (no RoPE) or 1 (RoPE)");
      c.noRopeLayers[i] = (*rope)[i] == 0;
    }
  } else {
    const int64_t interval = fields.optionalPositiveInt("no_rope_layer_interval").value_or(4);
    for (size_t i = 0; i < layers; ++i)
      c.noRopeLayers[i] = (int64_t(i) + 1) % interval == 0;
  }
}

void parseSmolLM3Layers(JsonFields &fields, ModelConfig &c) {
  readNoRopeLayers(fields, c, false);
  const std::optional<int64_t> window = fields.optionalPositiveInt("sliding_window");
  if (!fields.optionalBool("use_sliding_window").value_or(false) || !window)
    return;
  c.slidingWindow = window;
  if (!parseLayerTypes(fields, c))
    c.slidingLayers = c.noRopeLayers;
}

Error parseLlamaLike(JsonFields &fields, ModelConfig &c) {
  const bool smol = c.modelType == "smollm3";
  // Solar Open: GLM-4.5's mixture on every layer, Llama's attention (every feature of a head
  // rotated, no query/key norms); its other defaults are inserted by withClassDefaults.
  const bool solar = c.modelType == "solar_open";
  const bool glm4 = c.architecture == Architecture::Glm4,
             glm4Moe = c.modelType == "glm4_moe" || solar;
  parseDecoderSizes(fields, c,
                    c.architecture == Architecture::Phi3 ? 4096
                    : smol                               ? 32768
                    : glm4 || glm4Moe                    ? 131072
                                                         : 2048);
  if ((smol || glm4 || glm4Moe) && !fields.mentions("num_key_value_heads")) // their defaults
    c.numKvHeads = smol ? 4 : glm4 ? 2 : 8;
  if (glm4Moe) { // Glm4MoeConfig: eps 1e-5, per-head q/k norms when use_qk_norm
    c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-5);
    c.qkNorm = !solar && fields.optionalBool("use_qk_norm").value_or(false);
  }
  if (glm4)
    c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1.5625e-7);
  // ERNIE 4.5: Ernie4_5Config's defaults; every head rotated in interleaved pairs (GLM's
  // style over the whole head); use_bias would put biases on every projection, refused.
  const bool ernie = StringRef(c.modelType).starts_with("ernie4_5");
  if (ernie) {
    if (!fields.has("max_position_embeddings"))
      c.maxPositions = 131072;
    c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-5);
    if (!fields.mentions("num_key_value_heads"))
      c.numKvHeads = c.modelType == "ernie4_5" ? 2 : 4;
    if (fields.optionalBool("use_bias").value_or(false))
      fields.fail("use_bias", "biases on every projection are not supported");
  }
  const bool seed = c.modelType == "seed_oss";
  if (seed && !fields.has("max_position_embeddings"))
    c.maxPositions = 524288;
  const bool ministral3 = c.modelType == "ministral3"; // its defaults: withClassDefaults
  // Hunyuan (dense): each query and key head RMS-normalized after RoPE; NTK alpha scaling.
  // The model's own code can share keys and values across layers (use_cla), which
  // transformers does not build: refused.
  const bool hunyuan = StringRef(c.modelType).starts_with("hunyuan_v1");
  if (hunyuan) {
    c.qkNormAfterRope = true;
    if (fields.optionalBool("use_cla").value_or(false))
      fields.fail("use_cla", "cross-layer attention (keys and values shared across layers) is "
                             "not supported");
  }
  const bool minimax = c.modelType == "minimax_m2";
  if (minimax) {
    // MiniMax-M2: an RMSNorm over the whole query projection and one over the keys (its
    // qk_norm_type per_layer), as OLMo 2's; every layer full attention (attn_type_list 1;
    // MiniMax-01's lightning attention, 0, is not built).
    c.qkNormFullWidth = true;
    if (std::optional<std::string> kind = fields.optionalString("qk_norm_type");
        kind && *kind != "per_layer")
      fields.fail("qk_norm_type", "'" + *kind + "' is not supported (per_layer)");
    if (std::optional<std::vector<double>> types = fields.optionalNumberArray("attn_type_list"))
      for (double t : *types)
        if (t != 1.0) {
          fields.fail("attn_type_list", "only full attention (1) is supported");
          break;
        }
    if (!fields.has("max_position_embeddings"))
      c.maxPositions = 196608;
  }
  // transformers' defaults where they differ from Llama's.
  if (c.architecture == Architecture::Olmo2 || c.architecture == Architecture::Olmoe ||
      c.modelType == "mixtral")
    c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-5);
  if (!fields.has("max_position_embeddings"))
    c.maxPositions = c.modelType == "mixtral"                ? 131072
                     : c.modelType == "qwen3_moe"            ? 32768
                     : c.architecture == Architecture::Olmoe ? 4096
                                                             : c.maxPositions;
  if (c.architecture == Architecture::Olmoe && fields.has("clip_qkv"))
    fields.fail("clip_qkv", "clamping the Q, K and V projections is not supported");
  parseExperts(fields, c);
  if (c.architecture == Architecture::Granite) { // transformers' defaults: 1
    c.embeddingMultiplier = fields.optionalPositiveNumber("embedding_multiplier");
    c.residualMultiplier = fields.optionalPositiveNumber("residual_multiplier");
    c.logitsScaling = fields.optionalPositiveNumber("logits_scaling");
    c.attentionScale = fields.optionalPositiveNumber("attention_multiplier").value_or(1.0);
  }
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(smol || ernie);
  if (ernie)
    c.ropeInterleaved = true;
  readSiluMlp(fields, c);
  // Qwen2 always has Q, K, V biases (no output bias). Elsewhere attention_bias also puts a
  // bias on o_proj, which modelc does not build: refused rather than dropped. (Phi-3's
  // config has no such field.)
  // GLM-4 has them unless attention_bias is false (and never on o_proj).
  c.attentionBias =
      (c.architecture == Architecture::Qwen2 &&
       (c.modelType != "qwen2_moe" || fields.optionalBool("qkv_bias").value_or(true))) ||
      (c.architecture == Architecture::Glm4 &&
       fields.optionalBool("attention_bias").value_or(true)) ||
      (glm4Moe && fields.optionalBool("attention_bias").value_or(false)) ||
      (seed && fields.optionalBool("attention_bias").value_or(true));
  // Seed-OSS: Q, K, V biases (attention_bias, default true) and an o_proj bias apart
  // (attention_out_bias, default false); MLP biases (mlp_bias) are refused below, as for all.
  if (seed)
    c.outputBias = fields.optionalBool("attention_out_bias").value_or(false);
  if (c.architecture != Architecture::Qwen2 && c.architecture != Architecture::Phi3 &&
      c.architecture != Architecture::Glm4 && !glm4Moe && !seed &&
      fields.optionalBool("attention_bias").value_or(false))
    fields.fail("attention_bias", "biases on the attention projections (o_proj's too) are not "
                                  "supported for " +
                                      c.modelType);
  if (c.architecture == Architecture::Qwen2 || c.architecture == Architecture::Qwen3) {
    // Qwen3 normalizes each query and key head. A sliding window only where
    // use_sliding_window says so (4096 unless given; null: none), on the layers layer_types
    // names, else from max_window_layers (28) on; Qwen3-MoE's on every layer.
    // dots.llm1 has no use_sliding_window: its window (4096; null: none) is on the layers
    // layer_types names, else from max_window_layers (62) on.
    const bool dots = c.modelType == "dots1";
    if (dots) {
      c.slidingWindow = fields.mentions("sliding_window")
                            ? fields.optionalPositiveInt("sliding_window")
                            : std::optional<int64_t>(4096);
      if (c.slidingWindow && !parseLayerTypes(fields, c)) {
        int64_t bound = fields.optionalPositiveInt("max_window_layers").value_or(62);
        for (int64_t i = 0; i < c.numLayers; ++i)
          c.slidingLayers.push_back(i >= bound);
      }
    } else if (fields.optionalBool("use_sliding_window").value_or(false)) {
      c.slidingWindow = fields.mentions("sliding_window")
                            ? fields.optionalPositiveInt("sliding_window")
                            : std::optional<int64_t>(4096);
      if (c.modelType != "qwen3_moe" && c.slidingWindow && !parseLayerTypes(fields, c)) {
        // Qwen2-MoE: every other layer (0, 2, ...) below max_window_layers instead.
        int64_t bound = fields.optionalPositiveInt("max_window_layers").value_or(28);
        for (int64_t i = 0; i < c.numLayers; ++i)
          c.slidingLayers.push_back(c.modelType == "qwen2_moe" ? (i + 1) % 2 && i < bound
                                                               : i >= bound);
      }
    }
  } else if (c.modelType == "smollm3") {
    parseSmolLM3Layers(fields, c);
  } else if (c.modelType == "cohere2") {
    // Cohere 2 (Command R7B, Command A): LayerNorms without bias (layer_norm_eps), one
    // before each parallel block; RoPE in
    // interleaved pairs on the sliding_window layers (layer_types, else three of every
    // sliding_window_pattern, 4), none on the others (nor anywhere without a window); the
    // logits times logit_scale.
    c.layerNorms = c.parallelBlock = true;
    c.normEps = fields.optionalPositiveNumber("layer_norm_eps").value_or(1e-5);
    c.ropeInterleaved = true;
    c.logitsScaling = 1.0 / fields.optionalPositiveNumber("logit_scale").value_or(0.0625);
    c.slidingWindow = fields.mentions("sliding_window")
                          ? fields.optionalPositiveInt("sliding_window")
                          : std::optional<int64_t>(4096);
    if (!parseLayerTypes(fields, c)) {
      int64_t pattern = fields.optionalPositiveInt("sliding_window_pattern").value_or(4);
      for (int64_t i = 0; i < c.numLayers; ++i)
        c.slidingLayers.push_back((i + 1) % pattern != 0);
    }
    for (int64_t i = 0; i < c.numLayers; ++i)
      c.noRopeLayers.push_back(!c.slidingWindow || !c.isSlidingLayer(i));
    if (!c.slidingWindow)
      c.slidingLayers.clear();
  } else if (c.modelType == "exaone4" || c.modelType == "exaone_moe") {
    // EXAONE 4: OLMo 2's norms (none before the blocks, one of each block's output) with
    // Qwen3's per-head query and key norms; sliding_window (4096; null: none) on the layers
    // layer_types names, else where (layer + 1) is not a multiple of sliding_window_pattern
    // (4); with a window the full-attention layers have no RoPE (their head norms stay).
    // K-EXAONE (exaone_moe) keeps the attention but OLMoE's norms, before each block.
    c.inputNorms = c.modelType == "exaone_moe";
    c.outputNorms = !c.inputNorms;
    c.qkNorm = true;
    c.slidingWindow = fields.mentions("sliding_window")
                          ? fields.optionalPositiveInt("sliding_window")
                          : std::optional<int64_t>(4096);
    if (c.slidingWindow && !parseLayerTypes(fields, c)) {
      int64_t pattern = 4;
      if (fields.has("sliding_window_pattern") &&
          !(pattern = fields.optionalPositiveInt("sliding_window_pattern").value_or(0)))
        fields.fail("sliding_window_pattern", "expected a positive integer (or layer_types)");
      for (int64_t i = 0; pattern > 0 && i < c.numLayers; ++i)
        c.slidingLayers.push_back((i + 1) % pattern != 0);
    }
    if (c.slidingWindow)
      for (int64_t i = 0; i < c.numLayers; ++i)
        c.noRopeLayers.push_back(!c.isSlidingLayer(i));
  } else if (c.modelType == "olmo3") {
    // OLMo 3: sliding_window (4096; null: none) on the layers layer_types names, by default
    // three of every four.
    c.slidingWindow = fields.mentions("sliding_window")
                          ? fields.optionalPositiveInt("sliding_window")
                          : std::optional<int64_t>(4096);
    if (c.slidingWindow && !parseLayerTypes(fields, c))
      for (int64_t i = 0; i < c.numLayers; ++i)
        c.slidingLayers.push_back((i + 1) % 4 != 0);
  } else if (c.modelType == "mistral" || c.modelType == "mixtral" || ministral3 ||
             c.architecture == Architecture::Phi3) {
    // Only Mistral's, Mixtral's, Ministral 3's and Phi-3's attention use sliding_window
    // (Llama, OLMo 2, OLMoE and Granite configs may carry one they ignore).
    c.slidingWindow = fields.optionalPositiveInt("sliding_window");
  }
  if (fields.has("head_dim"))
    c.headDim = fields.requirePositiveInt("head_dim");
  else if (glm4 || c.modelType == "minimax_m2" || c.modelType == "ernie4_5" || seed)
    c.headDim = 128; // their configs' default, whatever the width
  else if (c.numHeads > 0 && c.hiddenSize % c.numHeads != 0)
    fields.fail("num_attention_heads",
                Twine(c.numHeads) + " does not divide hidden_size " + Twine(c.hiddenSize));
  else if (c.numHeads > 0)
    c.headDim = c.hiddenSize / c.numHeads;
  // OLMo 3 scales only its full-attention layers' RoPE (rope_parameters per layer type, or
  // rope_scaling): its sliding-window layers keep the plain rotation of the same theta.
  const bool olmo3 = c.modelType == "olmo3";
  RopeSpec rope = parseRope(fields, olmo3 ? "full_attention" : "");
  if (olmo3) {
    RopeSpec local = parseRope(fields, "sliding_attention");
    if (local.llama3 || local.linearFactor || local.shortFactors || local.yarn)
      fields.fail("rope_parameters", "scaled RoPE on sliding-window layers is not supported");
    const double theta = rope.theta.value_or(500000.0);
    if (c.slidingWindow && (local.theta.value_or(theta) != theta || rope.llama3 ||
                            rope.linearFactor || rope.shortFactors || rope.yarn))
      c.localRopeTheta = local.theta.value_or(theta);
  }
  // GLM-4 rotates half of each head unless told otherwise; MiniMax-M2's checkpoints give
  // rotary_dim (features) instead of the factor.
  double partial =
      fields.optionalPositiveNumber("partial_rotary_factor")
          .value_or(rope.partialRotaryFactor.value_or((glm4 || glm4Moe) && !solar ? 0.5 : 1.0));
  c.rotaryDim = static_cast<int64_t>(c.headDim * partial);
  if (c.modelType == "minimax_m2" && fields.has("rotary_dim") &&
      !fields.has("partial_rotary_factor") && !rope.partialRotaryFactor)
    c.rotaryDim = fields.requirePositiveInt("rotary_dim");
  applyRope(fields, rope, c,
            c.modelType == "mixtral"      ? 1000000.0
            : c.modelType == "smollm3"    ? 2000000.0
            : c.modelType == "minimax_m2" ? 5000000.0
            : ernie                       ? 500000.0
            : olmo3                       ? 500000.0
                                          : 10000.0);
  if (rope.yarn && c.architecture == Architecture::Phi3) // transformers reads it as longrope
    fields.fail("rope_scaling", "yarn is not supported for phi3");
  else if (rope.yarn)
    applyYarn(fields, rope, c);
  applyQueryTemperature(fields, rope, c);
  if (rope.ntkAlpha) {
    StringRef key = fields.has("rope_scaling") ? "rope_scaling" : "rope_parameters";
    if (!hunyuan)
      fields.fail(key, "dynamic RoPE with an alpha is supported for hunyuan_v1_dense and "
                        "hunyuan_v1_moe only");
    else if (c.headDim <= 2)
      fields.fail("head_dim", "NTK alpha scaling needs more than 2 features a head");
    else
      c.ropeTheta *= std::pow(*rope.ntkAlpha, double(c.headDim) / double(c.headDim - 2));
  }
  if ((!c.ropeShortFactors.empty() || !c.ropeLongFactors.empty()) &&
      (static_cast<int64_t>(c.ropeShortFactors.size()) * 2 != c.rotaryDim ||
       c.ropeLongFactors.size() != c.ropeShortFactors.size()))
    fields.fail(fields.has("rope_scaling") ? "rope_scaling" : "rope_parameters",
                "short_factor and long_factor need rotary_dim / 2 = " + Twine(c.rotaryDim / 2) +
                    " values each, got " + Twine(c.ropeShortFactors.size()) + " and " +
                    Twine(c.ropeLongFactors.size()));
  return fields.takeError();
}

// DeepSeek-V2 and V3 (and V3's descendants: R1, Kimi K2, Moonlight): multi-head latent
// attention and a mixture of experts with shared experts, the first first_k_dense_replace
// layers dense. Attention: queries through q_proj, or through the low-rank q_a_proj, its
// RMSNorm and q_b_proj (q_lora_rank); keys and values from one latent of kv_lora_rank
// features (kv_a_proj_with_mqa, its RMSNorm, kv_b_proj), each head's key being its
// qk_nope_head_dim features and qk_rope_head_dim rotated ones that all heads share, its
// value v_head_dim features; rotated in interleaved pairs (V2 always, V3 unless
// rope_interleave is false), scaled by qk_head_dim^-0.5 times YaRN's mscale_all_dim
// correction squared. Routing: V2's softmax, greedy or group_limited_greedy (groups scored
// by their best expert), weights unnormalized unless norm_topk_prob; V3's sigmoid with a
// correction bias (noaux_tc: groups scored by their best two). Defaults are transformers'.
Error parseDeepseek(JsonFields &fields, ModelConfig &c) {
  // GLM-4.7-Flash (glm4_moe_lite) is DeepSeek-V3 with its dense layers in mlp_layer_types;
  // Mistral 4 routes by softmax within groups, without the correction bias, and has the
  // attention temperature. Their defaults are inserted by withClassDefaults.
  const bool glmLite = c.modelType == "glm4_moe_lite", mistral4 = c.modelType == "mistral4";
  const bool v3 = c.modelType == "deepseek_v3" || glmLite || mistral4;
  parseDecoderSizes(fields, c, v3 ? 4096 : 2048);
  c.qLoraRank = fields.mentions("q_lora_rank") ? fields.optionalPositiveInt("q_lora_rank").value_or(0)
                                               : 1536;
  c.kvLoraRank = fields.optionalPositiveInt("kv_lora_rank").value_or(512);
  c.qkNopeHeadDim = fields.optionalPositiveInt("qk_nope_head_dim").value_or(128);
  c.rotaryDim = fields.optionalPositiveInt("qk_rope_head_dim").value_or(64);
  c.valueHeadDim = fields.optionalPositiveInt("v_head_dim").value_or(128);
  c.headDim = c.qkNopeHeadDim + c.rotaryDim; // head_dim in a config.json is the rotated part
  if (c.numKvHeads != c.numHeads)
    fields.fail("num_key_value_heads", "multi-head latent attention has as many key and value "
                                       "heads as query heads (" +
                                           Twine(c.numHeads) + ")");
  c.ropeInterleaved = !v3 || fields.optionalBool("rope_interleave").value_or(true);
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(false);
  readSiluMlp(fields, c);
  if (fields.optionalBool("attention_bias").value_or(false))
    fields.fail("attention_bias", "biases on the attention projections are not supported");
  if (fields.optionalPositiveInt("moe_layer_freq").value_or(1) != 1)
    fields.fail("moe_layer_freq", "only every layer past first_k_dense_replace may be sparse "
                                  "(moe_layer_freq 1)");

  // The experts.
  c.numExperts = fields.optionalPositiveInt("n_routed_experts").value_or(v3 ? 256 : 64);
  std::optional<int64_t> perToken = fields.optionalPositiveInt("num_experts_per_tok");
  if (!perToken && !v3)
    fields.fail("num_experts_per_tok", "DeepSeek-V2 needs the number of experts per token");
  c.expertsPerToken = perToken.value_or(8);
  c.expertIntermediateSize =
      fields.optionalPositiveInt("moe_intermediate_size").value_or(v3 ? 2048 : 1407);
  const int64_t shared = fields.mentions("n_shared_experts")
                             ? fields.optionalNonNegativeInt("n_shared_experts").value_or(0)
                             : v3 ? 1 : 2;
  c.sharedExpertIntermediateSize = shared * c.expertIntermediateSize;
  c.normalizeTopK = fields.optionalBool("norm_topk_prob").value_or(v3);
  if (!v3 && c.normalizeTopK) // every DeepSeek-V2 config says false
    fields.fail("norm_topk_prob", "is not supported for deepseek_v2 (transformers ignores it; "
                                  "DeepSeek's own code renormalizes instead of scaling)");
  c.routedScale = fields.optionalPositiveNumber("routed_scaling_factor").value_or(v3 ? 2.5 : 1.0);
  // Mistral 4's router has neither (softmax scores; groups scored by their best two).
  const std::string method = mistral4 ? "noaux_tc"
                                      : fields.optionalString("topk_method").value_or(
                                            v3 ? "noaux_tc" : "greedy");
  const std::string scoring = mistral4 ? "sigmoid"
                                       : fields.optionalString("scoring_func").value_or(
                                             v3 ? "sigmoid" : "softmax");
  if (v3 ? method != "noaux_tc" : method != "greedy" && method != "group_limited_greedy")
    fields.fail("topk_method", "'" + method + "' is not supported for " + c.modelType +
                                   " (supported: " +
                                   (v3 ? "noaux_tc" : "greedy, group_limited_greedy") + ")");
  if (scoring != (v3 ? "sigmoid" : "softmax"))
    fields.fail("scoring_func", "'" + scoring + "' is not supported for " + c.modelType +
                                    " (supported: " + (v3 ? "sigmoid" : "softmax") + ")");
  c.sigmoidRouting = c.scoreCorrectionBias = v3 && !mistral4;
  if (mistral4)
    c.expertLayout = ModelConfig::ExpertLayout::StackedOutIn;
  if (v3 || method == "group_limited_greedy") {
    c.routingGroups = fields.optionalPositiveInt("n_group").value_or(v3 ? 8 : 1);
    c.routingTopGroups = fields.optionalPositiveInt("topk_group").value_or(v3 ? 4 : 1);
    c.routingGroupTop = v3 ? 2 : 1;
  }
  checkRoutedExperts(fields, c,
                     glmLite ? 0
                             : fields.optionalNonNegativeInt("first_k_dense_replace")
                                   .value_or(v3 ? 3 : 0));
  if (glmLite)
    readMlpLayerTypes(fields, c, true);

  // RoPE, and YaRN's correction of the attention scale.
  RopeSpec rope = parseRope(fields);
  applyRope(fields, rope, c, 10000.0);
  StringRef ropeKey = fields.has("rope_scaling") ? "rope_scaling" : "rope_parameters";
  if (rope.llama3 || rope.linearFactor || rope.shortFactors)
    fields.fail(ropeKey, "only default and yarn RoPE are supported for " + c.modelType);
  // A partial_rotary_factor (transformers 5 keeps the config's in the rope parameters) must
  // rotate qk_rope_head_dim: Mistral 4's is a share of the whole head (its head_dim), the
  // others' of qk_rope_head_dim (their head_dim), so 1.
  const int64_t partOf = mistral4 ? c.headDim : c.rotaryDim;
  if (rope.partialRotaryFactor &&
      std::lround(*rope.partialRotaryFactor * double(partOf)) != c.rotaryDim)
    fields.fail(ropeKey, "partial_rotary_factor " + std::to_string(*rope.partialRotaryFactor) +
                             " does not rotate qk_rope_head_dim (" + Twine(c.rotaryDim) +
                             ") of the " + Twine(partOf) + " features it is a share of");
  applyQueryTemperature(fields, rope, c);
  double scale = 1.0 / std::sqrt(double(c.headDim));
  if (rope.yarn) {
    applyYarn(fields, rope, c);
    const double factor = rope.factor.value_or(1.0);
    if (rope.mscaleAllDim && factor > 1.0) {
      const double m = 0.1 * *rope.mscaleAllDim * std::log(factor) + 1.0;
      scale *= m * m;
    }
  }
  c.attentionScale = scale;
  return fields.takeError();
}

// Llama 4's language model (llama4_text: Llama4ForCausalLM). Every fourth layer
// (no_rope_layers, else no_rope_layer_interval) has no RoPE and attends to every earlier
// position, its queries scaled by the attention temperature (attn_temperature_tuning:
// floor_scale, attn_scale); the others rotate whole heads in interleaved pairs, normalize
// queries and keys without a weight (use_qk_norm) and attend within their chunk of
// attention_chunk_size positions (layer_types says which chunk). The MLP of the layers
// moe_layers (else every interleave_moe_layer_step-th) is num_local_experts experts of
// intermediate_size, the top num_experts_per_tok by sigmoid score, each seeing its input
// times its score, plus an unscaled shared expert of the same size; the other layers' MLP
// has intermediate_size_mlp features. Defaults are Llama4TextConfig's.
Error parseLlama4(JsonFields &fields, ModelConfig &c) {
  parseDecoderSizes(fields, c, 131072);
  if (!fields.mentions("num_key_value_heads"))
    c.numKvHeads = 8;
  c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-5);
  if (fields.has("head_dim"))
    c.headDim = fields.requirePositiveInt("head_dim");
  else if (fields.mentions("head_dim") && c.numHeads > 0) // null: the width over the heads
    c.headDim = c.hiddenSize / c.numHeads;
  else
    c.headDim = 128;
  c.rotaryDim = c.headDim;
  c.ropeInterleaved = true;
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(false);
  readSiluMlp(fields, c);
  if (fields.optionalBool("attention_bias").value_or(false))
    fields.fail("attention_bias", "biases on the attention projections are not supported");

  // Layers: which rotate, which attend within chunks.
  readNoRopeLayers(fields, c, true);
  c.attentionChunkSize = fields.mentions("attention_chunk_size")
                             ? fields.optionalPositiveInt("attention_chunk_size")
                             : std::optional<int64_t>(8192);
  const size_t layers = static_cast<size_t>(std::max<int64_t>(c.numLayers, 0));
  if (std::optional<std::vector<std::string>> types = fields.optionalStringArray("layer_types")) {
    if (types->size() != layers)
      fields.fail("layer_types",
                  "has " + Twine(types->size()) + " entries for " + Twine(c.numLayers) + " layers");
    for (const std::string &t : *types) {
      if (t != "chunked_attention" && t != "full_attention")
        fields.fail("layer_types", "'" + t + "' is not chunked_attention or full_attention");
      else if (t == "chunked_attention" && !c.attentionChunkSize)
        fields.fail("layer_types", "chunked_attention needs an attention_chunk_size");
      c.chunkedLayers.push_back(t == "chunked_attention");
    }
  } else {
    for (size_t i = 0; i < layers; ++i)
      c.chunkedLayers.push_back(c.attentionChunkSize && !c.noRopeLayers[i]);
  }
  c.qkUnitNorm = fields.optionalBool("use_qk_norm").value_or(true);
  if (fields.optionalFlag("attn_temperature_tuning").value_or(true)) {
    c.temperatureFloor = fields.optionalPositiveInt("floor_scale").value_or(8192);
    c.temperatureScale = fields.optionalPositiveNumber("attn_scale").value_or(0.1);
    c.temperatureOffset = 1;
  }

  // The experts.
  c.numExperts = fields.optionalPositiveInt("num_local_experts").value_or(16);
  c.expertsPerToken = fields.optionalPositiveInt("num_experts_per_tok").value_or(1);
  checkExpertCounts(fields, c, "num_local_experts", "num_experts_per_tok");
  c.expertIntermediateSize = c.sharedExpertIntermediateSize = c.intermediateSize;
  c.intermediateSize = fields.optionalPositiveInt("intermediate_size_mlp").value_or(16384);
  c.sigmoidRouting = c.expertInputScaling = true;
  c.expertLayout = ModelConfig::ExpertLayout::StackedInOut;
  c.denseLayers.assign(layers, true);
  if (std::optional<std::vector<double>> moe = fields.optionalNumberArray("moe_layers")) {
    for (double l : *moe)
      if (l != std::floor(l) || l < 0 || l >= double(c.numLayers))
        fields.fail("moe_layers", "entries must be layer indices below " + Twine(c.numLayers));
      else
        c.denseLayers[static_cast<size_t>(l)] = false;
  } else {
    const int64_t step = fields.optionalPositiveInt("interleave_moe_layer_step").value_or(1);
    for (int64_t i = step - 1; i < c.numLayers; i += step)
      c.denseLayers[static_cast<size_t>(i)] = false;
  }

  RopeSpec rope = parseRope(fields);
  applyRope(fields, rope, c, 500000.0);
  if (rope.yarn || rope.shortFactors)
    fields.fail(fields.has("rope_scaling") ? "rope_scaling" : "rope_parameters",
                "only default, linear and llama3 RoPE are supported for llama4_text");
  return fields.takeError();
}

// Gemma, Gemma 2 and Gemma 3 (text): RMSNorm weights stored as w - 1, embeddings scaled by
// sqrt(hidden_size), a GELU-gated MLP. Gemma 2 adds a norm of each block's output, local
// (sliding-window) layers alternating with global ones, the attention scale
// query_pre_attn_scalar^-0.5 and soft-capped attention scores and logits; Gemma 3 drops the
// caps for per-head query/key norms, five local layers to a global one, and its own RoPE
// on local layers. Defaults are transformers'.
Error parseGemma(JsonFields &fields, ModelConfig &c) {
  const bool gemma2 = c.architecture == Architecture::Gemma2;
  const bool gemma3 = c.architecture == Architecture::Gemma3;
  parseDecoderSizes(fields, c, gemma3 ? 131072 : 8192);
  c.headDim = fields.optionalPositiveInt("head_dim").value_or(256);
  c.rotaryDim = c.headDim;
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(true);
  c.normWeightOffset = 1.0;
  // Gemma 2 and 3 read hidden_activation; Gemma reads hidden_act (hidden_activation in
  // older configs), where the legacy "gelu" meant the tanh form.
  const bool gemma1 = !gemma2 && !gemma3;
  StringRef actKey =
      gemma1 && !fields.has("hidden_activation") ? "hidden_act" : "hidden_activation";
  std::string act = fields.optionalString(actKey).value_or("gelu_pytorch_tanh");
  if (act == "gelu_pytorch_tanh" || act == "gelu_new" || (act == "gelu" && gemma1))
    c.activation = "gelu_tanh";
  else if (act == "gelu")
    c.activation = "gelu";
  else
    fields.fail(actKey, "'" + act + "' is not supported (supported: gelu_pytorch_tanh, gelu)");
  if (fields.optionalBool("attention_bias").value_or(false))
    fields.fail("attention_bias", "biases on the attention projections are not supported");
  if (fields.optionalBool("use_bidirectional_attention").value_or(false))
    fields.fail("use_bidirectional_attention", "only causal attention is supported");
  if (gemma1) {
    applyRope(fields, noYarn(fields, parseRope(fields)), c, 10000.0);
    return fields.takeError();
  }

  c.attentionScale =
      1.0 / std::sqrt(fields.optionalPositiveNumber("query_pre_attn_scalar").value_or(256.0));
  // Gemma 2 soft-caps (50 and 30 unless the config says otherwise; null: none); Gemma 3
  // does not.
  auto softcap = [&](StringRef key, double gemma2Default) -> std::optional<double> {
    std::optional<double> cap = fields.optionalPositiveNumber(key);
    if (!cap && gemma2 && !fields.mentions(key))
      cap = gemma2Default;
    return cap;
  };
  c.attentionSoftcap = softcap("attn_logit_softcapping", 50.0);
  c.finalSoftcap = softcap("final_logit_softcapping", 30.0);
  if (fields.mentions("sliding_window") && !fields.has("sliding_window"))
    fields.fail("sliding_window", "null: Gemma 2 and 3 need their local layers' window");
  c.slidingWindow = fields.optionalPositiveInt("sliding_window").value_or(4096);
  if (!parseLayerTypes(fields, c)) {
    // Gemma 2 alternates whatever sliding_window_pattern says (transformers ignores it).
    int64_t pattern = gemma3 ? fields.optionalPositiveInt("sliding_window_pattern").value_or(6) : 2;
    for (int64_t i = 0; i < c.numLayers; ++i)
      c.slidingLayers.push_back((i + 1) % pattern != 0);
  }
  if (gemma2) { // one RoPE for every layer
    applyRope(fields, noYarn(fields, parseRope(fields)), c, 10000.0);
    return fields.takeError();
  }
  // Global layers: rope_theta (10^6) and rope_scaling; local ones: rope_local_base_freq
  // (10^4), unscaled. Or rope_parameters per layer type.
  RopeSpec global = parseRope(fields, "full_attention");
  applyRope(fields, noYarn(fields, global), c, 1000000.0);
  RopeSpec local = parseRope(fields, "sliding_attention", "rope_local_base_freq");
  if (local.llama3 || local.linearFactor || local.shortFactors || local.yarn)
    fields.fail("rope_parameters", "scaled RoPE on sliding-window layers is not supported");
  c.localRopeTheta = local.theta.value_or(10000.0);
  return fields.takeError();
}

// gpt-oss: a mixture of experts in every layer (a router with a bias; the softmax of the
// top-k logits; experts with biases and the clamped SwiGLU), attention with biases on all
// four projections and a learned sink per head, sliding-window layers alternating with
// full ones, YaRN. Defaults are transformers' (GptOssConfig).
Error parseGptOss(JsonFields &fields, ModelConfig &c) {
  parseDecoderSizes(fields, c, 131072);
  if (!fields.mentions("num_key_value_heads")) // GptOssConfig's default (null: the heads)
    c.numKvHeads = 8;
  c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-5);
  c.headDim = fields.optionalPositiveInt("head_dim").value_or(64);
  c.rotaryDim = c.headDim;
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(false);
  c.attentionBias = c.outputBias = fields.optionalBool("attention_bias").value_or(true);
  // Experts: intermediate_size features each, num_local_experts (or num_experts).
  StringRef expertsKey = fields.has("num_local_experts") || !fields.has("num_experts")
                             ? "num_local_experts"
                             : "num_experts";
  c.numExperts = fields.optionalPositiveInt(expertsKey).value_or(128);
  c.expertsPerToken = fields.optionalPositiveInt("num_experts_per_tok").value_or(4);
  checkExpertCounts(fields, c, expertsKey, "num_experts_per_tok");
  c.expertIntermediateSize = c.intermediateSize;
  c.swigluAlpha = fields.optionalPositiveNumber("swiglu_alpha").value_or(*c.swigluAlpha);
  c.swigluLimit = fields.optionalPositiveNumber("swiglu_limit").value_or(*c.swigluLimit);
  // Sliding-window layers: layer_types, else even layers (0, 2, ...) of sliding_window (128).
  c.slidingWindow = fields.mentions("sliding_window")
                        ? fields.optionalPositiveInt("sliding_window")
                        : std::optional<int64_t>(128);
  if (!parseLayerTypes(fields, c))
    for (int64_t i = 0; i < c.numLayers; ++i)
      c.slidingLayers.push_back((i + 1) % 2 != 0);
  // RoPE: YaRN (factor 32 over 4096 positions, beta 32 / 1, not truncated) unless given.
  RopeSpec rope;
  if (fields.has("rope_parameters") || fields.has("rope_scaling")) {
    rope = parseRope(fields);
  } else {
    rope.yarn = true;
    rope.factor = 32.0;
    rope.betaFast = 32.0;
    rope.betaSlow = 1.0;
    rope.truncate = false;
    rope.originalMaxPositions = 4096;
    rope.theta = fields.optionalPositiveNumber("rope_theta");
  }
  applyRope(fields, rope, c, 150000.0);
  if (rope.yarn)
    applyYarn(fields, rope, c);
  return fields.takeError();
}

Error parseGpt2(JsonFields &fields, ModelConfig &c) {
  c.vocabSize = fields.requirePositiveInt("vocab_size");
  c.hiddenSize = fields.requirePositiveInt("n_embd");
  c.numLayers = fields.requirePositiveInt("n_layer");
  c.numHeads = fields.requirePositiveInt("n_head");
  c.numKvHeads = c.numHeads;
  c.maxPositions = fields.requirePositiveInt("n_positions");
  c.intermediateSize = fields.optionalPositiveInt("n_inner").value_or(4 * c.hiddenSize);
  c.normEps = fields.optionalPositiveNumber("layer_norm_epsilon").value_or(1e-5);
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(true);
  if (!c.tieEmbeddings)
    fields.fail("tie_word_embeddings", "GPT-2 without tied embeddings is not supported");
  std::string act = fields.optionalString("activation_function").value_or("gelu_new");
  if (act == "gelu_new" || act == "gelu_pytorch_tanh")
    c.activation = "gelu_tanh";
  else if (act == "gelu")
    c.activation = "gelu";
  else
    fields.fail("activation_function",
                "'" + act + "' is not supported (supported: gelu_new, gelu_pytorch_tanh, gelu)");
  if (c.numHeads > 0 && c.hiddenSize % c.numHeads != 0)
    fields.fail("n_head", Twine(c.numHeads) + " does not divide n_embd " + Twine(c.hiddenSize));
  else if (c.numHeads > 0)
    c.headDim = c.hiddenSize / c.numHeads;
  return fields.takeError();
}

// BERT and RoBERTa encoders (transformers' BertModel, RobertaModel): learned absolute
// positions (RoBERTa's from padding_idx + 1 on), token-type embeddings, post-norm
// LayerNorms, a GELU MLP, bidirectional multi-head attention.
Error parseBert(JsonFields &fields, ModelConfig &c) {
  c.vocabSize = fields.requirePositiveInt("vocab_size");
  c.hiddenSize = fields.requirePositiveInt("hidden_size");
  c.numLayers = fields.requirePositiveInt("num_hidden_layers");
  c.numHeads = fields.requirePositiveInt("num_attention_heads");
  c.numKvHeads = c.numHeads;
  c.intermediateSize = fields.requirePositiveInt("intermediate_size");
  const int64_t positions = fields.requirePositiveInt("max_position_embeddings");
  c.typeVocabSize = fields.optionalPositiveInt("type_vocab_size").value_or(2);
  c.normEps = fields.optionalPositiveNumber("layer_norm_eps").value_or(1e-12);
  // RoBERTa's layout (XLM-R's and CamemBERT's, whose transformers classes are its copies).
  if (c.modelType == "roberta" || c.modelType == "xlm-roberta" || c.modelType == "camembert")
    c.positionOffset = fields.optionalNonNegativeInt("pad_token_id").value_or(1) + 1;
  c.maxPositions = positions - c.positionOffset;
  if (positions > 0 && c.maxPositions < 2)
    fields.fail("max_position_embeddings",
                Twine(positions) + " leaves no positions after pad_token_id + 1");
  std::string act = fields.optionalString("hidden_act").value_or("gelu");
  if (act == "gelu")
    c.activation = "gelu";
  else if (act == "gelu_new" || act == "gelu_pytorch_tanh")
    c.activation = "gelu_tanh";
  else
    fields.fail("hidden_act",
                "'" + act + "' is not supported (supported: gelu, gelu_new, gelu_pytorch_tanh)");
  std::string positionType = fields.optionalString("position_embedding_type").value_or("absolute");
  if (positionType != "absolute")
    fields.fail("position_embedding_type",
                "'" + positionType + "' is not supported (supported: absolute)");
  if (fields.optionalBool("is_decoder").value_or(false))
    fields.fail("is_decoder", "a BERT decoder is not supported (encoders only)");
  if (c.numHeads > 0 && c.hiddenSize % c.numHeads != 0)
    fields.fail("num_attention_heads",
                Twine(c.numHeads) + " does not divide hidden_size " + Twine(c.hiddenSize));
  else if (c.numHeads > 0)
    c.headDim = c.hiddenSize / c.numHeads;
  return fields.takeError();
}

} // namespace

// Multimodal checkpoints whose language model modelc compiles: the model its text_config
// describes, its tensors under language_model.*; the vision tower and projector are not read.
struct MultimodalWrapper {
  StringRef modelType;   // the checkpoint's
  StringRef defaultText; // text_config's model_type when it names none
  // text_config's model types, each with the model type modelc reads it as.
  std::initializer_list<std::pair<StringRef, StringRef>> textTypes;
  StringRef weightPrefix;  // ModelConfig::weightPrefix
  StringRef decoderPrefix; // ModelConfig::decoderPrefix
  // Whether the head is the embedding, as transformers decides it: text_config's flag
  // (Llama 4: the head is the language model's own), the checkpoint's top-level flag
  // (default `tiedByDefault`), or either (Qwen2-VL's, for configs saved before v5).
  enum class Tie { Text, Top, Either } tie = Tie::Top;
  bool tiedByDefault = false;
  // The released configs keep the language model's fields at the top level (Qwen2-VL,
  // Qwen2.5-VL): read there when there is no text_config.
  bool textAtTopLevel = false;
  // The text config class's defaults where they differ from those of the type it is read
  // as (Qwen3-VL's head_dim 128 and RoPE base 500000, ...).
  std::initializer_list<std::pair<StringRef, double>> textDefaults = {};
};
using Tie = MultimodalWrapper::Tie;
const MultimodalWrapper kMultimodalWrappers[] = {
    // Llama4ForConditionalGeneration
    {"llama4", "llama4_text", {{"llama4_text", "llama4_text"}}, "language_model.", "", Tie::Text},
    // Mistral Small 3.1+, Ministral 3, Mistral 4
    {"mistral3",
     "mistral",
     {{"mistral", "mistral"}, {"ministral3", "ministral3"}, {"mistral4", "mistral4"}},
     "language_model.",
     "",
     Tie::Top,
     true},
    // Gemma 3 (4B and up)
    {"gemma3", "gemma3_text", {{"gemma3_text", "gemma3_text"}}, "language_model.", "", Tie::Top,
     true},
    // Qwen3-VL, dense and MoE: Qwen3's and Qwen3-MoE's decoders under model.language_model.
    {"qwen3_vl", "qwen3_vl_text", {{"qwen3_vl_text", "qwen3"}}, "", "model.language_model.",
     Tie::Top, false, false,
     {{"vocab_size", 151936}, {"hidden_size", 4096}, {"intermediate_size", 22016},
      {"num_hidden_layers", 32}, {"num_attention_heads", 32}, {"num_key_value_heads", 32},
      {"head_dim", 128}, {"max_position_embeddings", 128000}, {"rope_theta", 500000}}},
    {"qwen3_vl_moe", "qwen3_vl_moe_text", {{"qwen3_vl_moe_text", "qwen3_moe"}}, "",
     "model.language_model.", Tie::Top, false, false,
     {{"vocab_size", 151936}, {"hidden_size", 2048}, {"intermediate_size", 5632},
      {"num_hidden_layers", 24}, {"num_attention_heads", 16}, {"num_key_value_heads", 16},
      {"max_position_embeddings", 128000}, {"moe_intermediate_size", 1408},
      {"num_experts_per_tok", 4}, {"num_experts", 60}, {"rope_theta", 500000}}},
    // Qwen3.5: its own hybrid decoder (Gated DeltaNet and gated attention) under
    // model.language_model.
    // LFM2-VL: LFM2's decoder under model.language_model., the head tied unless told.
    {"lfm2_vl", "lfm2", {{"lfm2", "lfm2"}}, "", "model.language_model.", Tie::Top, true},
    {"qwen3_5", "qwen3_5_text", {{"qwen3_5_text", "qwen3_5_text"}}, "", "model.language_model.",
     Tie::Top, false},
    {"qwen3_5_moe", "qwen3_5_moe_text", {{"qwen3_5_moe_text", "qwen3_5_moe_text"}}, "",
     "model.language_model.", Tie::Top, false},
    // Qwen2-VL and Qwen2.5-VL: Qwen2's decoder under Qwen2's names.
    {"qwen2_5_vl", "qwen2_5_vl_text", {{"qwen2_5_vl_text", "qwen2"}}, "", "", Tie::Either, false,
     true, {{"max_window_layers", 80}, {"rope_theta", 1000000}}},
    {"qwen2_vl", "qwen2_vl_text", {{"qwen2_vl_text", "qwen2"}}, "", "", Tie::Either, false, true,
     {{"max_window_layers", 80}, {"rope_theta", 1000000}}},
};

static Expected<ModelConfig> parseLanguageModelOf(const MultimodalWrapper &wrapper,
                                                  const json::Object &object, StringRef where,
                                                  StringRef fieldPrefix) {
  const json::Object *text = object.getObject("text_config");
  if (!text && !wrapper.textAtTopLevel)
    return unsupported(where, fieldPrefix, "text_config",
                       "missing: " + wrapper.modelType + " describes its language model there");
  if (object.get("quantization_config"))
    return unsupported(where, fieldPrefix, "quantization_config",
                       "quantized " + wrapper.modelType + " checkpoints are not supported yet");
  json::Object languageModel = text ? *text : object;
  if (!text) {
    languageModel.erase("vision_config");
    languageModel.erase("model_type");
    languageModel.erase("architectures");
  }
  std::optional<StringRef> inner = text ? text->getString("model_type") : std::nullopt;
  const auto *known = llvm::find_if(wrapper.textTypes, [&](const auto &t) {
    return t.first == inner.value_or(wrapper.defaultText);
  });
  if (known == wrapper.textTypes.end()) {
    SmallVector<StringRef> names;
    for (const auto &t : wrapper.textTypes)
      names.push_back(t.first);
    return unsupported(where, fieldPrefix, "text_config.model_type",
                       "'" + *inner + "' is not the language model of " + wrapper.modelType +
                           " (" + llvm::join(names, ", ") + ")");
  }
  languageModel["model_type"] = known->second;
  // (Not where the config gives the value under another name: the RoPE base in its
  // parameters, the expert count as num_local_experts, as transformers 5 saves it.)
  for (auto [key, value] : wrapper.textDefaults)
    if (!languageModel.get(key) &&
        !(key == "rope_theta" &&
          (languageModel.get("rope_parameters") || languageModel.get("rope_scaling"))) &&
        !(key == "num_experts" && languageModel.get("num_local_experts")))
      languageModel[key] = value;
  // Qwen3-VL-MoE's head_dim is the width over the heads when not given (Qwen3-MoE's: 128).
  if (wrapper.modelType == "qwen3_vl_moe" && !languageModel.get("head_dim")) {
    std::optional<int64_t> width = languageModel.getInteger("hidden_size");
    std::optional<int64_t> heads = languageModel.getInteger("num_attention_heads");
    if (width && heads && *heads > 0)
      languageModel["head_dim"] = *width / *heads;
  }
  // Qwen3-VL has no sliding-window attention (its MoE config clears sliding_window).
  if (StringRef(wrapper.modelType).starts_with("qwen3_vl"))
    languageModel.erase("use_sliding_window");
  // The head tied to the embeddings as transformers decides it.
  auto flag = [](const json::Object &o) { return o.getBoolean("tie_word_embeddings"); };
  std::optional<bool> top = text ? flag(object) : std::nullopt, own = flag(languageModel);
  if (wrapper.tie == Tie::Top)
    languageModel["tie_word_embeddings"] = top.value_or(wrapper.tiedByDefault);
  else if (wrapper.tie == Tie::Either)
    languageModel["tie_word_embeddings"] = top.value_or(false) || own.value_or(false);
  Expected<ModelConfig> config =
      parseHuggingFaceConfig(languageModel, where, (fieldPrefix + (text ? "text_config." : "")).str());
  if (config) {
    config->weightPrefix = wrapper.weightPrefix.str();
    config->decoderPrefix = wrapper.decoderPrefix.str();
    if (wrapper.modelType == "qwen3_vl_moe") { // experts stacked as Llama 4's, renormalized
      config->expertLayout = ModelConfig::ExpertLayout::StackedInOut;
      config->normalizeTopK = true; // whatever norm_topk_prob says (its config has none)
    }
  }
  return config;
}

// Ministral 3's and Mistral 4's default RoPE: YaRN (beta_fast 32, beta_slow 1, mscale and
// mscale_all_dim 1) and the attention temperature of beta 0.1.
static json::Object mistralYarn(double theta, double factor, int64_t originalPositions) {
  return json::Object{{"rope_type", "yarn"},  {"rope_theta", theta},
                      {"factor", factor},     {"original_max_position_embeddings", originalPositions},
                      {"beta_fast", 32.0},    {"beta_slow", 1.0},
                      {"mscale", 1.0},        {"mscale_all_dim", 1.0},
                      {"llama_4_scaling_beta", 0.1}};
}

// The sizes a config class gives defaults for: the config's where it names them.
struct DecoderDefaults {
  int64_t vocab, hidden, layers, heads, kvHeads, maxPositions;
};
static void readDecoderSizes(JsonFields &fields, ModelConfig &c, const DecoderDefaults &d) {
  c.vocabSize = fields.optionalPositiveInt("vocab_size").value_or(d.vocab);
  c.hiddenSize = fields.optionalPositiveInt("hidden_size").value_or(d.hidden);
  c.numLayers = fields.optionalPositiveInt("num_hidden_layers").value_or(d.layers);
  c.numHeads = fields.optionalPositiveInt("num_attention_heads").value_or(d.heads);
  c.numKvHeads = fields.optionalPositiveInt("num_key_value_heads").value_or(d.kvHeads);
  c.maxPositions = fields.optionalPositiveInt("max_position_embeddings").value_or(d.maxPositions);
}

// layer_types of a hybrid model: each layer `mixer` (true) or full_attention (false), at
// least one of the latter; nullopt when the config has none.
static std::optional<std::vector<bool>> readHybridLayers(JsonFields &fields, const ModelConfig &c,
                                                         StringRef mixer) {
  std::optional<std::vector<std::string>> types = fields.optionalStringArray("layer_types");
  if (!types)
    return std::nullopt;
  if (static_cast<int64_t>(types->size()) != c.numLayers)
    fields.fail("layer_types",
                "has " + Twine(types->size()) + " entries for " + Twine(c.numLayers) + " layers");
  std::vector<bool> kinds;
  for (const std::string &t : *types) {
    if (t != mixer && t != "full_attention")
      fields.fail("layer_types", "'" + t + "' is not " + mixer + " or full_attention");
    kinds.push_back(t == mixer);
  }
  return kinds;
}

// LFM2 (Lfm2Config): attention layers (full_attention in layer_types, else the indices in
// full_attn_idxs, else every layer) with per-head query/key RMSNorms before RoPE, the others
// short convolutions of conv_L_cache taps; the MLP's width adjusted as the config class
// does (two thirds of block_ff_dim, times block_ffn_dim_multiplier, rounded up to a multiple
// of block_multiple_of); norm_eps; tied embeddings unless tie_embedding says otherwise.
static Error parseLfm2(JsonFields &fields, ModelConfig &c) {
  const bool moe = c.modelType == "lfm2_moe";
  readDecoderSizes(fields, c, {65536, moe ? 2048 : 2560, 32, 32, 8, 128000});
  c.normEps = fields.optionalPositiveNumber("norm_eps").value_or(1e-5);
  // LFM2-MoE (Lfm2MoeConfig: LFM2-8B-A1B's sizes): the first num_dense_layers MLPs dense
  // (intermediate_size as is), the others num_experts experts chosen by sigmoid scores plus
  // expert_bias (use_expert_bias), renormalized with 1e-6 added to the sum
  // (norm_topk_prob), times routed_scaling_factor; each expert a tensor of its own.
  if (moe) {
    c.intermediateSize = fields.optionalPositiveInt("intermediate_size").value_or(7168);
    c.numExperts = fields.optionalPositiveInt("num_experts").value_or(32);
    c.expertsPerToken = fields.optionalPositiveInt("num_experts_per_tok").value_or(4);
    checkExpertCounts(fields, c, "num_experts", "num_experts_per_tok");
    c.expertIntermediateSize = fields.optionalPositiveInt("moe_intermediate_size").value_or(1792);
    c.sigmoidRouting = true;
    c.scoreCorrectionBias = fields.optionalBool("use_expert_bias").value_or(true);
    c.normalizeTopK = fields.optionalBool("norm_topk_prob").value_or(true);
    c.routingNormEpsilon = 1e-6;
    c.routedScale = fields.optionalPositiveNumber("routed_scaling_factor").value_or(1.0);
    const int64_t dense = fields.optionalNonNegativeInt("num_dense_layers").value_or(2);
    for (int64_t i = 0; i < c.numLayers; ++i)
      c.denseLayers.push_back(i < dense);
  }
  int64_t ff = moe ? c.intermediateSize
                   : fields.optionalPositiveInt("block_ff_dim")
                         .value_or(fields.optionalPositiveInt("intermediate_size").value_or(12288));
  if (!moe && fields.optionalBool("block_auto_adjust_ff_dim").value_or(true)) {
    ff = 2 * ff / 3;
    // null: no multiplier and no rounding (the config class's None).
    const bool hasMultiplier = !fields.mentions("block_ffn_dim_multiplier") ||
                               fields.has("block_ffn_dim_multiplier");
    if (hasMultiplier) {
      const double multiplier =
          fields.optionalPositiveNumber("block_ffn_dim_multiplier").value_or(1.0);
      const int64_t multiple = fields.optionalPositiveInt("block_multiple_of").value_or(256);
      ff = static_cast<int64_t>(multiplier * double(ff));
      ff = multiple * ((ff + multiple - 1) / multiple);
    }
  }
  c.intermediateSize = ff;
  c.headDim = fields.optionalPositiveInt("head_dim").value_or(c.hiddenSize / c.numHeads);
  c.rotaryDim = c.headDim;
  c.qkNorm = true;
  c.tieEmbeddings = fields.optionalBool("tie_embedding")
                        .value_or(fields.optionalBool("tie_word_embeddings").value_or(true));
  c.convKernel = fields.optionalPositiveInt("conv_L_cache").value_or(3);
  if (c.convKernel < 2 || c.convKernel > 64)
    fields.fail("conv_L_cache", "expected 2 to 64 taps, got " + Twine(c.convKernel));
  c.convBias = fields.optionalBool("conv_bias").value_or(false);
  if (std::optional<std::vector<bool>> kinds = readHybridLayers(fields, c, "conv")) {
    c.convLayers = std::move(*kinds);
  } else if (std::optional<std::vector<double>> idx = fields.optionalNumberArray("full_attn_idxs")) {
    c.convLayers.assign(static_cast<size_t>(c.numLayers), true);
    for (double i : *idx) {
      if (i < 0 || i >= double(c.numLayers) || i != std::floor(i)) {
        fields.fail("full_attn_idxs", "expected layer indices in [0, " + Twine(c.numLayers) + ")");
        break;
      }
      c.convLayers[static_cast<size_t>(i)] = false;
    }
  }
  if (std::count(c.convLayers.begin(), c.convLayers.end(), false) == 0 && !c.convLayers.empty())
    fields.fail("layer_types", "no attention layer: at least one is needed");
  applyRope(fields, parseRope(fields), c, 1000000.0);
  return fields.takeError();
}

// Qwen3.5 (Qwen3_5TextConfig, after Qwen3NextConfig): linear_attention layers (Gated
// DeltaNet) and full_attention ones (layer_types, else every full_attention_interval-th,
// 4), the latter with a sigmoid gate on their output, per-head zero-centered RMSNorms of
// queries and keys and RoPE on partial_rotary_factor (0.25) of each head; every RMSNorm
// but the linear layers' gated one zero-centered (1 + w). Multimodal RoPE sections rotate
// text as plain RoPE.
static Error parseQwen35(JsonFields &fields, ModelConfig &c) {
  // Qwen3.5's mixtures (Qwen3_5MoeTextConfig: Qwen3.5-35B-A3B's sizes): every layer's MLP
  // a sparse block, the experts stacked [out, in] as released (mlp.experts.gate_up_proj
  // [E, 2I, D], down_proj [E, D, I]), softmax routing renormalized over the chosen, a shared
  // expert scaled by sigmoid(shared_expert_gate).
  const bool moe = c.modelType == "qwen3_5_moe_text", next = c.modelType == "qwen3_next";
  // Qwen3-Next (Qwen3NextConfig: Qwen3-Next-80B-A3B's sizes): the same layers, its linear
  // attention's projections interleaved by key head (in_proj_qkvz, in_proj_ba), each expert
  // a tensor of its own as released, dense MLPs where decoder_sparse_step and
  // mlp_only_layers say (Qwen3-MoE's rule).
  if (moe || next) {
    readDecoderSizes(fields, c, {next ? 151936 : 248320, 2048, next ? 48 : 40, 16, 2, 32768});
    c.numExperts = fields.optionalPositiveInt("num_experts").value_or(next ? 512 : 256);
    c.expertsPerToken = fields.optionalPositiveInt("num_experts_per_tok").value_or(next ? 10 : 8);
    checkExpertCounts(fields, c, "num_experts", "num_experts_per_tok");
    c.expertIntermediateSize = fields.optionalPositiveInt("moe_intermediate_size").value_or(512);
    c.sharedExpertIntermediateSize =
        fields.optionalPositiveInt("shared_expert_intermediate_size").value_or(512);
    c.normalizeTopK = !next || fields.optionalBool("norm_topk_prob").value_or(true);
    c.roundRoutingWeights = true;
    if (next) {
      c.intermediateSize = fields.optionalPositiveInt("intermediate_size").value_or(5632);
      readQwenDenseLayers(fields, c);
    } else {
      c.intermediateSize = c.expertIntermediateSize; // no dense MLP
      c.expertLayout = ModelConfig::ExpertLayout::StackedOutIn;
    }
  } else {
    readDecoderSizes(fields, c, {248320, 4096, 32, 16, 4, 32768});
    c.intermediateSize = fields.optionalPositiveInt("intermediate_size").value_or(12288);
  }
  c.headDim = fields.optionalPositiveInt("head_dim").value_or(256);
  c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-6);
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(false);
  c.normWeightOffset = 1.0;
  c.qkNorm = c.attentionOutputGate = true;
  readSiluMlp(fields, c);
  if (fields.optionalBool("attention_bias").value_or(false))
    fields.fail("attention_bias", "biases on the attention projections are not supported");
  c.convKernel = fields.optionalPositiveInt("linear_conv_kernel_dim").value_or(4);
  if (c.convKernel < 2 || c.convKernel > 64)
    fields.fail("linear_conv_kernel_dim", "expected 2 to 64 taps, got " + Twine(c.convKernel));
  c.deltaKeyHeads = fields.optionalPositiveInt("linear_num_key_heads").value_or(16);
  c.deltaValueHeads = fields.optionalPositiveInt("linear_num_value_heads").value_or(32);
  c.deltaKeyHeadDim = fields.optionalPositiveInt("linear_key_head_dim").value_or(128);
  c.deltaValueHeadDim = fields.optionalPositiveInt("linear_value_head_dim").value_or(128);
  if (c.deltaValueHeads % c.deltaKeyHeads != 0)
    fields.fail("linear_num_value_heads", Twine(c.deltaValueHeads) +
                                              " is not a multiple of linear_num_key_heads " +
                                              Twine(c.deltaKeyHeads));
  if (c.deltaKeyHeadDim > 1024 || c.deltaValueHeadDim > 1024)
    fields.fail("linear_key_head_dim", "linear attention head dims must be at most 1024");
  if (std::optional<std::vector<bool>> kinds = readHybridLayers(fields, c, "linear_attention")) {
    c.deltaLayers = std::move(*kinds);
  } else {
    const int64_t interval = fields.optionalPositiveInt("full_attention_interval").value_or(4);
    for (int64_t i = 0; i < c.numLayers; ++i)
      c.deltaLayers.push_back((i + 1) % interval != 0);
  }
  if (std::count(c.deltaLayers.begin(), c.deltaLayers.end(), false) == 0)
    fields.fail("layer_types", "no full_attention layer: at least one is needed");
  RopeSpec rope = parseRope(fields);
  if (rope.llama3 || rope.linearFactor || rope.shortFactors || rope.yarn || rope.ntkAlpha)
    fields.fail("rope_parameters", "only the default (and multimodal) RoPE is supported for "
                                   "Qwen3.5");
  applyRope(fields, rope, c, 10000.0);
  const double partial = fields.optionalPositiveNumber("partial_rotary_factor")
                             .value_or(rope.partialRotaryFactor.value_or(0.25));
  c.rotaryDim = static_cast<int64_t>(double(c.headDim) * partial);
  return fields.takeError();
}

// Granite 4.0-H (GraniteMoeHybridConfig): Mamba 2 layers (layer_types or layers_block_type:
// mamba / linear_attention) and attention layers (attention / full_attention; RoPE only when
// position_embedding_type is "rope"), Granite's multipliers, a mixture of
// num_local_experts (GraniteMoE's stacked input_linear / output_linear; 0: none) beside a
// dense shared MLP in every layer.
static Error parseGraniteHybrid(JsonFields &fields, ModelConfig &c) {
  readDecoderSizes(fields, c, {32000, 4096, 32, 32, 0, 2048});
  if (c.numKvHeads == 0) // None: every head its own
    c.numKvHeads = c.numHeads;
  c.intermediateSize = fields.optionalPositiveInt("intermediate_size").value_or(11008);
  c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-6);
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(false);
  c.headDim = c.hiddenSize / c.numHeads;
  c.rotaryDim = c.headDim;
  readSiluMlp(fields, c);
  if (fields.optionalBool("attention_bias").value_or(false))
    fields.fail("attention_bias", "biases on the attention projections are not supported");
  c.embeddingMultiplier = fields.optionalPositiveNumber("embedding_multiplier").value_or(1.0);
  c.residualMultiplier = fields.optionalPositiveNumber("residual_multiplier").value_or(1.0);
  c.logitsScaling = fields.optionalPositiveNumber("logits_scaling").value_or(1.0);
  c.attentionScale = fields.optionalPositiveNumber("attention_multiplier").value_or(1.0);
  c.numExperts = fields.has("num_local_experts") ? fields.optionalNonNegativeInt("num_local_experts").value_or(0) : 8;
  if (c.numExperts > 0) {
    c.expertsPerToken = fields.optionalPositiveInt("num_experts_per_tok").value_or(2);
    checkExpertCounts(fields, c, "num_local_experts", "num_experts_per_tok");
    c.expertIntermediateSize = c.intermediateSize;
    c.normalizeTopK = c.roundRoutingWeights = true;
  }
  c.sharedMlpSize = fields.optionalPositiveInt("shared_intermediate_size").value_or(1024);
  c.mambaHeads = fields.optionalPositiveInt("mamba_n_heads").value_or(128);
  c.mambaGroups = fields.optionalPositiveInt("mamba_n_groups").value_or(1);
  c.mambaStateSize = fields.optionalPositiveInt("mamba_d_state").value_or(256);
  c.convKernel = fields.optionalPositiveInt("mamba_d_conv").value_or(4);
  c.convBias = fields.optionalBool("mamba_conv_bias").value_or(true);
  const int64_t inner = fields.optionalPositiveInt("mamba_expand").value_or(2) * c.hiddenSize;
  c.mambaHeadDim = fields.optionalPositiveInt("mamba_d_head").value_or(inner / c.mambaHeads);
  if (c.mambaHeadDim * c.mambaHeads != inner)
    fields.fail("mamba_d_head", Twine(c.mambaHeads) + " heads of " + Twine(c.mambaHeadDim) +
                                    " do not make mamba_expand * hidden_size = " + Twine(inner));
  if (c.mambaHeads % c.mambaGroups != 0)
    fields.fail("mamba_n_groups", Twine(c.mambaGroups) + " does not divide mamba_n_heads " +
                                      Twine(c.mambaHeads));
  if (c.mambaGroups != 1)
    fields.fail("mamba_n_groups", "only one group (one RMSNorm over the whole gated output) is "
                                  "supported, got " + Twine(c.mambaGroups));
  if (c.convKernel < 2 || c.convKernel > 64)
    fields.fail("mamba_d_conv", "expected 2 to 64 taps, got " + Twine(c.convKernel));
  if (fields.optionalBool("mamba_proj_bias").value_or(false))
    fields.fail("mamba_proj_bias", "biases on the Mamba projections are not supported");
  if (std::optional<std::vector<double>> limit = fields.optionalNumberArray("time_step_limit"))
    if (limit->size() != 2 || (*limit)[0] != 0.0 || !std::isinf((*limit)[1]))
      fields.fail("time_step_limit", "only (0, inf) is supported");
  std::optional<std::vector<std::string>> types = fields.optionalStringArray("layer_types");
  StringRef typesKey = "layer_types";
  if (!types) {
    types = fields.optionalStringArray("layers_block_type");
    typesKey = "layers_block_type";
  }
  if (types) {
    if (static_cast<int64_t>(types->size()) != c.numLayers)
      fields.fail(typesKey,
                  "has " + Twine(types->size()) + " entries for " + Twine(c.numLayers) + " layers");
    for (const std::string &t : *types) {
      const bool mamba = t == "mamba" || t == "linear_attention";
      if (!mamba && t != "attention" && t != "full_attention")
        fields.fail(typesKey, "'" + t + "' is not mamba or attention");
      c.mambaLayers.push_back(mamba);
    }
  } else {
    c.mambaLayers.assign(static_cast<size_t>(c.numLayers), true);
  }
  if (std::count(c.mambaLayers.begin(), c.mambaLayers.end(), false) == 0)
    fields.fail(typesKey, "no attention layer: models of Mamba layers alone are not supported yet");
  // Without RoPE (Granite 4.0-H's default) the attention layers see positions only through
  // the Mamba layers.
  const std::optional<std::string> position = fields.optionalString("position_embedding_type");
  if (position && *position != "rope" && *position != "nope")
    fields.fail("position_embedding_type", "'" + *position + "' is not rope or nope");
  if (position != "rope")
    c.noRopeLayers.assign(static_cast<size_t>(c.numLayers), true);
  applyRope(fields, parseRope(fields), c, 10000.0);
  return fields.takeError();
}

// Config classes whose released checkpoints leave sizes to the class's defaults (Gemma 3's
// multimodal text_config names only what differs from Gemma3TextConfig's; Ministral 3's may
// omit its YaRN): those defaults (transformers'), where the config does not mention the
// field; none when nothing is missing.
static std::optional<json::Object> withClassDefaults(StringRef type, const json::Object &object) {
  // A null RoPE description is none: transformers gives such a config its class's default.
  auto given = [&](StringRef key) {
    const json::Value *v = object.get(key);
    return v && !(v->kind() == json::Value::Null &&
                  (key == "rope_parameters" || key == "rope_scaling"));
  };
  const bool ropeGiven = given("rope_parameters") || given("rope_scaling");
  json::Object defaults;
  if (type == "gemma3_text")
    defaults = json::Object{{"vocab_size", 262208},       {"hidden_size", 2304},
                            {"intermediate_size", 9216},  {"num_hidden_layers", 26},
                            {"num_attention_heads", 8},   {"num_key_value_heads", 4}};
  else if (type == "ministral3") {
    defaults = json::Object{{"vocab_size", 131072},         {"hidden_size", 4096},
                            {"intermediate_size", 14336},   {"num_hidden_layers", 34},
                            {"num_attention_heads", 32},    {"num_key_value_heads", 8},
                            {"head_dim", 128},              {"max_position_embeddings", 262144},
                            {"rms_norm_eps", 1e-5}};
    if (!ropeGiven)
      defaults["rope_parameters"] = mistralYarn(1000000.0, 16.0, 16384);
  }
  else if (type == "cohere2")
    defaults = json::Object{{"vocab_size", 256000},       {"hidden_size", 8192},
                            {"intermediate_size", 22528}, {"num_hidden_layers", 40},
                            {"num_attention_heads", 64},  {"max_position_embeddings", 8192},
                            {"tie_word_embeddings", true}};
  else if (type == "exaone_moe") // K-EXAONE
    defaults = json::Object{{"vocab_size", 102400},        {"hidden_size", 4096},
                            {"intermediate_size", 16384},  {"num_hidden_layers", 32},
                            {"num_attention_heads", 32},   {"num_key_value_heads", 32},
                            {"max_position_embeddings", 2048}, {"rms_norm_eps", 1e-5},
                            {"moe_intermediate_size", 1024}, {"num_experts", 64},
                            {"num_experts_per_tok", 8},    {"num_shared_experts", 1},
                            {"routed_scaling_factor", 2.5}, {"first_k_dense_replace", 1}};
  else if (type == "dots1") // dots.llm1: its mixture's defaults where GLM-4.5's differ
    defaults = json::Object{{"vocab_size", 152064},        {"hidden_size", 4608},
                            {"intermediate_size", 10944},  {"moe_intermediate_size", 1408},
                            {"num_hidden_layers", 62},     {"num_attention_heads", 32},
                            {"max_position_embeddings", 2048}, {"rms_norm_eps", 1e-6},
                            {"norm_topk_prob", false},     {"first_k_dense_replace", 0},
                            {"routed_scaling_factor", 1.0}, {"n_group", 1},
                            {"topk_group", 1}};
  else if (type == "hunyuan_v1_dense" || type == "hunyuan_v1_moe")
    defaults = json::Object{{"vocab_size", 290943},      {"hidden_size", 4096},
                            {"intermediate_size", 11008}, {"num_hidden_layers", 32},
                            {"num_attention_heads", 32},  {"max_position_embeddings", 2048},
                            {"rms_norm_eps", 1e-5}};
  else if (type == "solar_open") {
    defaults = json::Object{
        {"vocab_size", 196608},      {"hidden_size", 4096},        {"num_hidden_layers", 48},
        {"num_attention_heads", 64}, {"num_key_value_heads", 8},   {"head_dim", 128},
        {"max_position_embeddings", 131072}, {"rms_norm_eps", 1e-5}, {"moe_intermediate_size", 1280},
        {"num_experts_per_tok", 8},  {"n_shared_experts", 1},      {"n_routed_experts", 128},
        {"routed_scaling_factor", 1.0}, {"n_group", 1},            {"topk_group", 1},
        {"rope_theta", 1000000.0}};
    // No dense MLP: intermediate_size is the experts' (read for nothing else).
    const json::Value *moe = object.get("moe_intermediate_size");
    defaults["intermediate_size"] = moe ? *moe : json::Value(1280);
  } else if (type == "glm4_moe_lite") // GLM-4.7-Flash
    defaults = json::Object{
        {"vocab_size", 154880},      {"hidden_size", 2048},       {"intermediate_size", 10240},
        {"moe_intermediate_size", 1536}, {"num_hidden_layers", 47}, {"num_attention_heads", 20},
        {"num_key_value_heads", 20}, {"n_shared_experts", 1},     {"n_routed_experts", 64},
        {"routed_scaling_factor", 1.8}, {"kv_lora_rank", 512},   {"q_lora_rank", 768},
        {"qk_rope_head_dim", 64},    {"v_head_dim", 256},         {"qk_nope_head_dim", 192},
        {"n_group", 1},              {"topk_group", 1},           {"num_experts_per_tok", 4},
        {"max_position_embeddings", 202752}, {"rms_norm_eps", 1e-5}};
  else if (type == "mistral4") {
    defaults = json::Object{
        {"vocab_size", 131072},      {"hidden_size", 4096},       {"intermediate_size", 12288},
        {"moe_intermediate_size", 2048}, {"num_hidden_layers", 36}, {"num_attention_heads", 32},
        {"num_key_value_heads", 32}, {"n_shared_experts", 1},     {"n_routed_experts", 128},
        {"routed_scaling_factor", 1.0}, {"kv_lora_rank", 256},   {"q_lora_rank", 1024},
        {"qk_rope_head_dim", 64},    {"v_head_dim", 128},         {"qk_nope_head_dim", 64},
        {"n_group", 1},              {"topk_group", 1},           {"num_experts_per_tok", 4},
        {"first_k_dense_replace", 0}, {"max_position_embeddings", 1048576},
        {"rms_norm_eps", 1e-6}};
    if (!ropeGiven)
      defaults["rope_parameters"] = mistralYarn(10000.0, 128.0, 8192);
  }
  std::optional<json::Object> filled;
  for (auto &[key, value] : defaults)
    if (!given(key)) {
      if (!filled)
        filled = object;
      (*filled)[key] = value;
    }
  return filled;
}

Expected<ModelConfig> modelc::frontend::parseHuggingFaceConfig(const json::Object &object,
                                                               StringRef where,
                                                               StringRef fieldPrefix) {
  JsonFields fields(object, where, fieldPrefix.rtrim('.'));
  ModelConfig config;
  Expected<std::string> type = modelTypeOf(fields, object, where, fieldPrefix);
  if (!type)
    return type.takeError();
  if (*type == "qwen3moe" || *type == "qwen2moe") // GGUF's names; transformers' have a '_'
    return unsupported(where, fieldPrefix, "model_type",
                       "'" + *type + "' is GGUF's name for " +
                           (*type == "qwen3moe" ? "Qwen3-MoE" : "Qwen2-MoE") +
                           "; a config.json says '" + type->substr(0, 5) + "_moe'");
  for (const MultimodalWrapper &wrapper : kMultimodalWrappers)
    if (*type == wrapper.modelType)
      return parseLanguageModelOf(wrapper, object, where, fieldPrefix);
  if (std::optional<json::Object> filled = withClassDefaults(*type, object))
    return parseHuggingFaceConfig(*filled, where, fieldPrefix);
  config.modelType = *type;
  std::optional<Architecture> arch = architectureFromModelType(*type);
  if (!arch)
    return unsupported(where, fieldPrefix, "model_type",
                       "unsupported architecture '" + *type +
                           "' (supported: " + kSupportedModelTypes + ")");
  config.architecture = *arch;
  setArchitectureTraits(config);
  parseQuantization(fields, config); // its error comes with the architecture's fields

  Error error = config.architecture == Architecture::Gpt2     ? parseGpt2(fields, config)
                : config.architecture == Architecture::Bert   ? parseBert(fields, config)
                : config.architecture == Architecture::GptOss ? parseGptOss(fields, config)
                : isGemma(config.architecture)                ? parseGemma(fields, config)
                : StringRef(config.modelType).starts_with("deepseek_v") ||
                        config.modelType == "glm4_moe_lite" || config.modelType == "mistral4"
                    ? parseDeepseek(fields, config)
                : config.modelType == "llama4_text" ? parseLlama4(fields, config)
                : config.architecture == Architecture::Lfm2 ? parseLfm2(fields, config)
                : config.architecture == Architecture::Qwen35 ? parseQwen35(fields, config)
                : config.architecture == Architecture::GraniteHybrid
                    ? parseGraniteHybrid(fields, config)
                                                    : parseLlamaLike(fields, config);
  if (error)
    return std::move(error);
  if (isGemma(config.architecture) &&
      (!config.ropeShortFactors.empty() || !config.ropeLongFactors.empty()))
    return unsupported(where, fieldPrefix, "rope_scaling", "longrope is not supported for Gemma");
  if (Error e = validateConfig(config, where, fieldPrefix))
    return std::move(e);
  return config;
}

Error modelc::frontend::validateConfig(const ModelConfig &c, StringRef where,
                                       StringRef fieldPrefix) {
  auto fail = [&](StringRef field, const Twine &problem) {
    return createStringError(inconvertibleErrorCode(),
                             where + ": field '" + fieldPrefix + field + "': " + problem);
  };
  // Groups of a quantized checkpoint that straddle a matrix's inputs (their count rounded up)
  // are not read: the group size must divide every quantized matrix's input features.
  if (c.quantGroupSize > 0)
    for (auto [what, size] : {std::pair<StringRef, int64_t>{"hidden_size", c.hiddenSize},
                              {"intermediate_size", c.intermediateSize},
                              {"the attention heads' width", c.numHeads * c.headDim},
                              {"the experts' intermediate size", c.expertIntermediateSize},
                              {"the shared expert's intermediate size",
                               c.sharedExpertIntermediateSize},
                              {"kv_lora_rank", c.kvLoraRank},
                              {"q_lora_rank", c.qLoraRank},
                              {"the value heads' width", c.numHeads * c.valueHeadDim}})
      if (size > 0 && size % c.quantGroupSize != 0)
        return fail("quantization_config.group_size",
                    Twine(c.quantGroupSize) + " does not divide " + what + " " + Twine(size) +
                        ": groups that straddle a matrix's end are not supported");
  // Learned positions, heads that make the hidden size: GPT-2 and the encoders.
  bool gpt2 = c.architecture == Architecture::Gpt2 || c.architecture == Architecture::Bert;
  StringRef headsField = c.architecture == Architecture::Gpt2 ? "n_head" : "num_attention_heads";
  if (c.numKvHeads > c.numHeads || c.numHeads % c.numKvHeads != 0)
    return fail("num_key_value_heads",
                Twine(c.numKvHeads) + " does not divide num_attention_heads " + Twine(c.numHeads));
  if (c.headDim <= 0 || c.headDim > 1024)
    return fail(c.architecture == Architecture::Gpt2 ? "n_embd"
                : gpt2                                 ? "hidden_size"
                                                       : "head_dim",
                "head dimension " + Twine(c.headDim) + " is outside [1, 1024]");
  if (gpt2 && c.numHeads * c.headDim != c.hiddenSize)
    return fail(headsField, Twine(c.numHeads) + " heads of " + Twine(c.headDim) +
                                " do not make hidden size " + Twine(c.hiddenSize));
  if (!gpt2 && (c.rotaryDim <= 0 || c.rotaryDim % 2 != 0 || c.rotaryDim > c.headDim))
    return fail("partial_rotary_factor",
                "rotary dimension " + Twine(c.rotaryDim) + " must be even and in [2, head_dim]");
  if (c.ropeScaling && c.ropeScaling->highFreqFactor < c.ropeScaling->lowFreqFactor)
    return fail("rope_scaling.high_freq_factor", "must not be less than low_freq_factor");
  if (c.ropeScaling && c.ropeScaling->factor < 1.0)
    return fail("rope_scaling.factor", "must be at least 1");
  if (c.ropeLinearFactor && *c.ropeLinearFactor < 1.0)
    return fail("rope_scaling.factor", "must be at least 1");
  if (!c.slidingLayers.empty() && static_cast<int64_t>(c.slidingLayers.size()) != c.numLayers)
    return fail("layer_types",
                Twine(c.slidingLayers.size()) + " entries for " + Twine(c.numLayers) + " layers");
  return Error::success();
}
