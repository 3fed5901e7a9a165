#include "compiler/frontend/ModelConfig.h"

#include "compiler/frontend/JsonFields.h"

#include "llvm/ADT/StringSwitch.h"

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
  case Architecture::Gpt2:
    return "gpt2";
  }
  return "unknown";
}

const char *const modelc::frontend::kSupportedModelTypes = "llama, mistral, qwen2, qwen3, gpt2";

std::optional<Architecture> modelc::frontend::architectureFromModelType(StringRef modelType) {
  return StringSwitch<std::optional<Architecture>>(modelType)
      .Cases("llama", "mistral", Architecture::Llama)
      .Case("qwen2", Architecture::Qwen2)
      .Case("qwen3", Architecture::Qwen3)
      .Case("gpt2", Architecture::Gpt2)
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
            .Case("Qwen2ForCausalLM", "qwen2")
            .Case("Qwen3ForCausalLM", "qwen3")
            .Case("GPT2LMHeadModel", "gpt2")
            .Default(arch->str());
  if (Error e = fields.takeError())
    return std::move(e);
  return unsupported(where, prefix, "model_type",
                     "missing (and no 'architectures' to infer it from)");
}

void parseRopeScaling(JsonFields &fields, ModelConfig &config) {
  const json::Object *scaling = fields.optionalObject("rope_scaling");
  if (!scaling)
    return;
  JsonFields sub = fields.nested(*scaling, "rope_scaling");
  std::optional<std::string> type = sub.optionalString("rope_type");
  if (!type)
    type = sub.optionalString("type");
  if (!type || *type == "default") {
    fields.absorb(sub);
    return;
  }
  if (*type != "llama3") {
    sub.fail("rope_type", "'" + *type + "' is not supported (supported: default, llama3)");
    fields.absorb(sub);
    return;
  }
  Llama3RopeScaling s;
  s.factor = sub.optionalPositiveNumber("factor").value_or(s.factor);
  s.lowFreqFactor = sub.optionalPositiveNumber("low_freq_factor").value_or(s.lowFreqFactor);
  s.highFreqFactor = sub.optionalPositiveNumber("high_freq_factor").value_or(s.highFreqFactor);
  s.originalMaxPosition =
      sub.optionalPositiveInt("original_max_position_embeddings").value_or(s.originalMaxPosition);
  if (sub.failed()) {
    fields.absorb(sub);
    return;
  }
  config.ropeScaling = s;
}

Error parseLlamaLike(JsonFields &fields, ModelConfig &c) {
  c.vocabSize = fields.requirePositiveInt("vocab_size");
  c.hiddenSize = fields.requirePositiveInt("hidden_size");
  c.intermediateSize = fields.requirePositiveInt("intermediate_size");
  c.numLayers = fields.requirePositiveInt("num_hidden_layers");
  c.numHeads = fields.requirePositiveInt("num_attention_heads");
  c.numKvHeads = fields.optionalPositiveInt("num_key_value_heads").value_or(c.numHeads);
  c.maxPositions = fields.optionalPositiveInt("max_position_embeddings").value_or(2048);
  c.normEps = fields.optionalPositiveNumber("rms_norm_eps").value_or(1e-6);
  c.ropeTheta = fields.optionalPositiveNumber("rope_theta").value_or(10000.0);
  c.tieEmbeddings = fields.optionalBool("tie_word_embeddings").value_or(false);
  c.activation = fields.optionalString("hidden_act").value_or("silu");
  if (c.activation != "silu")
    fields.fail("hidden_act", "'" + c.activation + "' is not supported (supported: silu)");
  if (fields.optionalBool("mlp_bias").value_or(false))
    fields.fail("mlp_bias", "biases on the MLP projections are not supported");
  if (c.architecture == Architecture::Qwen2 || c.architecture == Architecture::Qwen3) {
    // Qwen2 always has Q, K, V biases; Qwen3 says (none by default) and normalizes each
    // query and key head instead. A sliding window only where use_sliding_window says so.
    c.attentionBias = c.architecture == Architecture::Qwen2 ||
                      fields.optionalBool("attention_bias").value_or(false);
    c.qkNorm = c.architecture == Architecture::Qwen3;
    if (fields.optionalBool("use_sliding_window").value_or(false))
      c.slidingWindow = fields.optionalPositiveInt("sliding_window");
  } else {
    c.attentionBias = fields.optionalBool("attention_bias").value_or(false);
    c.slidingWindow = fields.optionalPositiveInt("sliding_window");
  }
  if (fields.has("head_dim"))
    c.headDim = fields.requirePositiveInt("head_dim");
  else if (c.numHeads > 0 && c.hiddenSize % c.numHeads != 0)
    fields.fail("num_attention_heads",
                Twine(c.numHeads) + " does not divide hidden_size " + Twine(c.hiddenSize));
  else if (c.numHeads > 0)
    c.headDim = c.hiddenSize / c.numHeads;
  double partial = fields.optionalPositiveNumber("partial_rotary_factor").value_or(1.0);
  c.rotaryDim = static_cast<int64_t>(c.headDim * partial);
  parseRopeScaling(fields, c);
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

} // namespace

Expected<ModelConfig> modelc::frontend::parseHuggingFaceConfig(const json::Object &object,
                                                               StringRef where,
                                                               StringRef fieldPrefix) {
  JsonFields fields(object, where, fieldPrefix.rtrim('.'));
  ModelConfig config;
  Expected<std::string> type = modelTypeOf(fields, object, where, fieldPrefix);
  if (!type)
    return type.takeError();
  config.modelType = *type;
  std::optional<Architecture> arch = architectureFromModelType(*type);
  if (!arch)
    return unsupported(where, fieldPrefix, "model_type",
                       "unsupported architecture '" + *type +
                           "' (supported: " + kSupportedModelTypes + ")");
  config.architecture = *arch;

  Error error = config.architecture == Architecture::Gpt2 ? parseGpt2(fields, config)
                                                          : parseLlamaLike(fields, config);
  if (error)
    return std::move(error);
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
  bool gpt2 = c.architecture == Architecture::Gpt2;
  StringRef headsField = gpt2 ? "n_head" : "num_attention_heads";
  if (c.numKvHeads > c.numHeads || c.numHeads % c.numKvHeads != 0)
    return fail("num_key_value_heads",
                Twine(c.numKvHeads) + " does not divide num_attention_heads " + Twine(c.numHeads));
  if (c.headDim <= 0 || c.headDim > 1024)
    return fail(gpt2 ? "n_embd" : "head_dim",
                "head dimension " + Twine(c.headDim) + " is outside [1, 1024]");
  if (gpt2 && c.numHeads * c.headDim != c.hiddenSize)
    return fail(headsField, Twine(c.numHeads) + " heads of " + Twine(c.headDim) +
                                " do not make hidden size " + Twine(c.hiddenSize));
  if (!gpt2 && (c.rotaryDim <= 0 || c.rotaryDim % 2 != 0 || c.rotaryDim > c.headDim))
    return fail("partial_rotary_factor",
                "rotary dimension " + Twine(c.rotaryDim) + " must be even and in [2, head_dim]");
  if (c.ropeScaling && c.ropeScaling->highFreqFactor <= c.ropeScaling->lowFreqFactor)
    return fail("rope_scaling.high_freq_factor", "must be greater than low_freq_factor");
  if (c.ropeScaling && c.ropeScaling->factor < 1.0)
    return fail("rope_scaling.factor", "must be at least 1");
  return Error::success();
}
