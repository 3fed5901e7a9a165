#include "compiler/frontend/ModelSpec.h"

#include "compiler/frontend/JsonFields.h"

#include "runtime/formats/Safetensors.h"
#include "runtime/tokenize/Tokenizer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace llvm;
using namespace modelc::frontend;

StringRef modelc::frontend::weightFormatName(WeightSource::Format format) {
  switch (format) {
  case WeightSource::Format::Random:
    return "random";
  case WeightSource::Format::Safetensors:
    return "safetensors";
  case WeightSource::Format::Gguf:
    return "gguf";
  case WeightSource::Format::Dummy:
    return "dummy";
  }
  return "unknown";
}

namespace {

Error fieldError(StringRef where, StringRef field, const Twine &problem) {
  return createStringError(inconvertibleErrorCode(), where + ": field '" + field + "': " + problem);
}

// Paths in a manifest are relative to the manifest's directory.
std::string resolve(StringRef base, StringRef path) {
  if (sys::path::is_absolute(path))
    return path.str();
  SmallString<256> full(sys::path::parent_path(base));
  sys::path::append(full, path);
  sys::path::remove_dots(full, /*remove_dot_dot=*/true);
  return std::string(full);
}

Error requireExists(StringRef where, StringRef field, StringRef path) {
  if (!sys::fs::exists(path))
    return fieldError(where, field, "'" + path + "' does not exist");
  return Error::success();
}

// Qwen3-VL-MoE's stacked experts load in either orientation in transformers (its converter
// transposes them when the shapes say so): released checkpoints hold down_proj [E, I, D]
// ([in, out]), transformers 5 saves [E, D, I] ([out, in]). The first sparse layer's down_proj
// says which, else (I = D) its gate_up_proj ([E, D, 2I] against [E, 2I, D]); when neither
// can tell, the released orientation. Unreadable files are left to the binding, which names
// the problem.
void detectStackedExpertLayout(ModelConfig &c, StringRef dir) {
  if (c.expertLayout != ModelConfig::ExpertLayout::StackedInOut || c.decoderPrefix.empty())
    return;
  int64_t layer = 0;
  while (layer < c.numLayers && !c.isMoeLayer(layer))
    ++layer;
  modelrt::Expected<modelrt::SafetensorsModel> model = modelrt::SafetensorsModel::open(dir.str());
  if (layer == c.numLayers || !model)
    return;
  const std::string experts =
      c.weightPrefix + c.decoderPrefix + "layers." + std::to_string(layer) + ".mlp.experts.";
  // True when the tensor is [E, rows, cols] with rows != cols.
  auto outIn = [&](const char *name, int64_t rows, int64_t cols) {
    const modelrt::TensorInfo *t = model->findTensor(experts + name);
    return t && t->shape.size() == 3 && rows != cols && int64_t(t->shape[1]) == rows &&
           int64_t(t->shape[2]) == cols;
  };
  const int64_t d = c.hiddenSize, ff = c.expertIntermediateSize;
  if (outIn("down_proj", d, ff) || (ff == d && outIn("gate_up_proj", 2 * ff, d)))
    c.expertLayout = ModelConfig::ExpertLayout::StackedOutIn;
}

// A sentence-transformers directory's modules (modules.json): a Transformer, then a Pooling
// module (its config.json: one pooling_mode_* true), then perhaps Normalize. Returns false
// when there is no modules.json; an error names what cannot be computed (other pooling
// modes, Dense projections, include_prompt false).
Expected<bool> readSentenceTransformers(StringRef dir, PoolingSpec &pooling, bool &modeOnly) {
  SmallString<256> modulesPath(dir);
  sys::path::append(modulesPath, "modules.json");
  if (!sys::fs::exists(modulesPath))
    return false;
  Expected<json::Value> modules = readJsonFile(modulesPath);
  if (!modules)
    return modules.takeError();
  auto bad = [&](const Twine &where, const Twine &problem) {
    return createStringError(inconvertibleErrorCode(), where + ": " + problem);
  };
  const json::Array *list = modules->getAsArray();
  if (!list)
    return bad(modulesPath, "expected an array of modules");
  bool pooled = false;
  pooling.normalize = false;
  for (const json::Value &m : *list) {
    const json::Object *module = m.getAsObject();
    std::optional<StringRef> type = module ? module->getString("type") : std::nullopt;
    if (!type)
      return bad(modulesPath, "a module without a \"type\"");
    if (type->ends_with(".Transformer"))
      continue;
    if (type->ends_with(".Normalize")) {
      pooling.normalize = true;
      continue;
    }
    if (!type->ends_with(".Pooling"))
      return bad(modulesPath, "module '" + *type +
                                  "' is not supported (modelc pools and normalizes the "
                                  "decoder's hidden states: Transformer, Pooling, Normalize)");
    SmallString<256> configPath(dir);
    sys::path::append(configPath, module->getString("path").value_or(""), "config.json");
    Expected<json::Value> config = readJsonFile(configPath);
    if (!config)
      return config.takeError();
    const json::Object *c = config->getAsObject();
    if (!c)
      return bad(configPath, "expected a JSON object");
    if (c->getBoolean("include_prompt").value_or(true) == false)
      return bad(configPath, "include_prompt false (an instruction left out of the pooling) is "
                             "not supported");
    std::vector<std::string> modes;
    for (const auto &[key, value] : *c)
      if (StringRef(key).starts_with("pooling_mode_") && value.getAsBoolean().value_or(false))
        modes.push_back(StringRef(key).drop_front(13).str());
    if (modes.size() != 1 || !is_contained({"lasttoken", "mean_tokens", "cls_token"}, modes[0])) {
      modeOnly = true;
      return bad(configPath, "pooling mode " +
                                 (modes.empty() ? std::string("(none)") : join(modes, " + ")) +
                                 " is not supported (lasttoken, mean_tokens or cls_token; or "
                                 "choose one with --pooling)");
    }
    pooling.type = modes[0] == "lasttoken"     ? PoolingSpec::Type::Last
                   : modes[0] == "mean_tokens" ? PoolingSpec::Type::Mean
                                               : PoolingSpec::Type::Cls;
    pooled = true;
  }
  if (!pooled)
    return bad(modulesPath, "no Pooling module");
  return true;
}

// A sequence classifier's head as config.json describes it (transformers'
// GenericForSequenceClassification: score.weight [num_labels, hidden], no bias): its labels
// (id2label in index order, else num_labels "LABEL_<i>"), and the activations vLLM applies:
// /classify's by problem_type (regression none, multi-label sigmoid), else a sigmoid of one
// label and a softmax over more; /score's sentence-transformers' activation_fn (or the older
// sbert_ce_default_activation_function) where the config names one, else a sigmoid of one
// label (as CrossEncoder). A query and a document take the tokenizer's pair encoding unless
// use_sep_token (vLLM's, once use_pad_token) is false. Problems go to classifierError.
void readClassifier(const json::Object &config, StringRef where, ModelSpec &spec) {
  modelrt::plan::Classifier &k = spec.classifier;
  auto bad = [&](const Twine &problem) {
    if (spec.classifierError.empty())
      spec.classifierError = (where + ": " + problem).str();
  };
  if (const json::Object *labels = config.getObject("id2label")) {
    std::vector<std::string> names(labels->size());
    for (const auto &[key, value] : *labels) {
      unsigned index = 0;
      std::optional<StringRef> name = value.getAsString();
      if (StringRef(key).getAsInteger(10, index) || index >= names.size() || !name ||
          !names[index].empty())
        return bad("id2label must map 0 to num_labels - 1 to names, each once");
      names[index] = name->str();
    }
    k.labels = std::move(names);
  } else {
    int64_t n = config.getInteger("num_labels").value_or(2);
    if (n < 1 || n > 65536)
      return bad("num_labels must be 1 to 65536");
    for (int64_t i = 0; i < n; ++i)
      k.labels.push_back("LABEL_" + std::to_string(i));
  }
  using Activation = modelrt::plan::Classifier::Activation;
  std::optional<StringRef> problem = config.getString("problem_type");
  k.activation = problem == "regression"                   ? Activation::None
                 : problem == "multi_label_classification" ? Activation::Sigmoid
                 : k.labels.size() == 1                    ? Activation::Sigmoid
                                                           : Activation::Softmax;
  std::optional<StringRef> function;
  if (const json::Object *st = config.getObject("sentence_transformers"))
    function = st->getString("activation_fn");
  if (!function)
    function = config.getString("sbert_ce_default_activation_function");
  // (Scores need one label: more are refused by /score, whatever the activation.)
  k.scoreActivation = k.labels.size() == 1 ? Activation::Sigmoid : k.activation;
  if (function) {
    StringRef name = function->rsplit('.').second.empty() ? *function : function->rsplit('.').second;
    if (name == "Sigmoid")
      k.scoreActivation = Activation::Sigmoid;
    else if (name == "Identity")
      k.scoreActivation = Activation::None;
    else if (name == "Softmax")
      k.scoreActivation = Activation::Softmax;
    else
      bad("activation_fn '" + *function + "' is not Sigmoid, Softmax or Identity");
  }
  std::optional<bool> sep = config.getBoolean("use_sep_token");
  if (!sep)
    sep = config.getBoolean("use_pad_token");
  k.pairEncoding = sep.value_or(true);
}

// The Hugging Face directory layout: config.json, safetensors weights, tokenizer.json.
Expected<ModelSpec> loadHuggingFaceDir(StringRef dir) {
  SmallString<256> configPath(dir);
  sys::path::append(configPath, "config.json");
  Expected<json::Value> json = readJsonFile(configPath);
  if (!json)
    return json.takeError();
  const json::Object *object = json->getAsObject();
  if (!object)
    return createStringError(inconvertibleErrorCode(), configPath + ": expected a JSON object");
  Expected<ModelConfig> config = parseHuggingFaceConfig(*object, configPath);
  if (!config)
    return config.takeError();

  ModelSpec spec;
  spec.origin = dir.str();
  spec.name = sys::path::filename(sys::path::remove_leading_dotslash(dir)).str();
  spec.config = *config;
  spec.weights.format = WeightSource::Format::Safetensors;
  spec.weights.path = dir.str();
  SmallString<256> single(dir), index(dir), tokenizer(dir);
  sys::path::append(single, "model.safetensors");
  sys::path::append(index, "model.safetensors.index.json");
  if (!sys::fs::exists(single) && !sys::fs::exists(index))
    return createStringError(inconvertibleErrorCode(),
                             dir + ": no model.safetensors or model.safetensors.index.json");
  sys::path::append(tokenizer, "tokenizer.json");
  if (sys::fs::exists(tokenizer))
    spec.tokenizer = {"tokenizer.json", std::string(tokenizer)};
  detectStackedExpertLayout(spec.config, dir);
  // Embedding checkpoints: the bare decoder (its tensors without "model.", as
  // sentence-transformers saves Qwen3-Embedding), or an architecture "<Name>Model".
  // (Unreadable files are left to the binding, which names the problem.)
  modelrt::Expected<modelrt::SafetensorsModel> model = modelrt::SafetensorsModel::open(dir.str());
  if (model && !model->findTensor("model.embed_tokens.weight") &&
      model->findTensor("embed_tokens.weight"))
    spec.config.bareDecoderNames = true;
  // An encoder's tensors: BertModel's names, or behind the task model's prefix
  // (BertForMaskedLM's "bert.", RobertaForMaskedLM's "roberta.").
  const bool encoder = spec.config.architecture == Architecture::Bert;
  if (encoder && model && !model->findTensor("embeddings.word_embeddings.weight"))
    for (const std::string &prefix : {spec.config.modelType + ".", std::string("bert."),
                                      std::string("roberta.")}) // XLM-R's task models too
      if (model->findTensor(prefix + "embeddings.word_embeddings.weight")) {
        spec.config.weightPrefix = prefix;
        break;
      }
  // What cannot be pooled is an error only for an embedding plan (validateSpec).
  Expected<bool> sentenceTransformers =
      readSentenceTransformers(dir, spec.pooling, spec.poolingModeOnly);
  if (!sentenceTransformers)
    spec.poolingError = toString(sentenceTransformers.takeError());
  const bool pooled = sentenceTransformers ? *sentenceTransformers : !spec.poolingError.empty();
  // An encoder without sentence-transformers' modules: its [CLS] state, normalized (vLLM's
  // default for BERT).
  if (encoder && !pooled)
    spec.pooling.type = PoolingSpec::Type::Cls;
  // sentence-transformers' own limit on a text's tokens (all-MiniLM-L6-v2: 256 of 512
  // positions) is the plan's max_seq_len unless --max-seq-len says otherwise, as vLLM reads
  // it; its do_lower_case is not applied (the tokenizer's own normalizer is).
  SmallString<256> stConfig(dir);
  sys::path::append(stConfig, "sentence_bert_config.json");
  if (sys::fs::exists(stConfig)) {
    Expected<json::Value> st = readJsonFile(stConfig);
    if (!st)
      return st.takeError();
    const json::Object *o = st->getAsObject();
    std::optional<int64_t> limit = o ? o->getInteger("max_seq_length") : std::nullopt;
    if (limit && *limit > 0 && *limit < spec.config.maxPositions)
      spec.maxSeqLen = *limit;
    if (o && o->getBoolean("do_lower_case").value_or(false))
      llvm::errs() << "modelc: warning: " << stConfig
                   << ": do_lower_case is not applied (the tokenizer's own normalizer is)\n";
  }
  bool baseModel = false, classifier = false;
  if (const json::Array *archs = object->getArray("architectures"))
    if (!archs->empty())
      if (std::optional<StringRef> arch = archs->front().getAsString()) {
        baseModel = arch->ends_with("Model") && !arch->ends_with("LMHeadModel");
        classifier = arch->ends_with("ForSequenceClassification");
      }
  if (baseModel || (pooled && spec.config.bareDecoderNames) || encoder)
    spec.task = "embed";
  if (classifier) {
    spec.task = "classify";
    readClassifier(*object, configPath, spec);
    // BERT's second text is token type 1: its plan takes each token's type (RoBERTa has one).
    if (encoder && spec.config.typeVocabSize > 1)
      spec.classifier.tokenTypes = spec.config.typeVocabSize;
    if (model && model->findTensor(spec.config.weightPrefix + "score.bias") &&
        spec.classifierError.empty())
      spec.classifierError = (dir + ": a classifier bias score.bias is not supported").str();
  }
  return spec;
}

Expected<ModelSpec> loadManifest(StringRef path) {
  Expected<json::Value> json = readJsonFile(path);
  if (!json)
    return json.takeError();
  const json::Object *object = json->getAsObject();
  if (!object)
    return createStringError(inconvertibleErrorCode(), path + ": expected a JSON object");

  static const StringSet<> known = {"name",   "config",   "weights", "tokenizer", "dtype",
                                    "target", "parallel", "limits",  "$comment",  "$schema"};
  for (const auto &entry : *object)
    if (!known.contains(entry.first))
      return fieldError(path, entry.first, "unknown field (see docs/model-json.md)");

  ModelSpec spec;
  spec.origin = path.str();
  JsonFields fields(*object, path);
  spec.name = fields.optionalString("name").value_or(sys::path::stem(path).str());

  // config: inline Hugging Face hyperparameters, or a path to a config.json.
  const json::Value *config = object->get("config");
  if (!config)
    return fieldError(path, "config", "missing");
  if (std::optional<StringRef> configPath = config->getAsString()) {
    std::string full = resolve(path, *configPath);
    if (Error e = requireExists(path, "config", full))
      return std::move(e);
    Expected<json::Value> hf = readJsonFile(full);
    if (!hf)
      return hf.takeError();
    if (!hf->getAsObject())
      return createStringError(inconvertibleErrorCode(), full + ": expected a JSON object");
    Expected<ModelConfig> parsed = parseHuggingFaceConfig(*hf->getAsObject(), full);
    if (!parsed)
      return parsed.takeError();
    spec.config = *parsed;
  } else if (const json::Object *inline_ = config->getAsObject()) {
    Expected<ModelConfig> parsed = parseHuggingFaceConfig(*inline_, path, "config.");
    if (!parsed)
      return parsed.takeError();
    spec.config = *parsed;
  } else {
    return fieldError(path, "config", "expected an object or a path to config.json");
  }

  // weights
  if (const json::Object *weights = fields.optionalObject("weights")) {
    JsonFields w = fields.nested(*weights, "weights");
    std::string format = w.optionalString("format").value_or("");
    if (format == "random") {
      spec.weights.format = WeightSource::Format::Random;
      if (const json::Value *seed = weights->get("seed")) {
        std::optional<int64_t> n = seed->getAsInteger();
        if (!n || *n < 0)
          return fieldError(path, "weights.seed", "expected a non-negative integer");
        spec.weights.seed = static_cast<uint64_t>(*n);
      }
    } else if (format == "dummy") {
      spec.weights.format = WeightSource::Format::Dummy;
    } else if (format == "safetensors" || format == "gguf") {
      spec.weights.format =
          format == "gguf" ? WeightSource::Format::Gguf : WeightSource::Format::Safetensors;
      std::optional<std::string> weightPath = w.optionalString("path");
      if (Error e = w.takeError())
        return std::move(e);
      if (!weightPath)
        return fieldError(path, "weights.path", "missing");
      spec.weights.path = resolve(path, *weightPath);
      if (Error e = requireExists(path, "weights.path", spec.weights.path))
        return std::move(e);
      if (spec.weights.format == WeightSource::Format::Safetensors)
        detectStackedExpertLayout(spec.config, spec.weights.path);
    } else {
      if (Error e = w.takeError())
        return std::move(e);
      return fieldError(path, "weights.format",
                        "expected \"random\", \"dummy\", \"safetensors\" or \"gguf\", got \"" +
                            format + "\"");
    }
  } else if (fields.failed()) {
    return fields.takeError();
  } else {
    return fieldError(path, "weights", "missing");
  }

  // tokenizer (optional)
  if (const json::Object *tokenizer = fields.optionalObject("tokenizer")) {
    JsonFields t = fields.nested(*tokenizer, "tokenizer");
    spec.tokenizer.format = t.optionalString("format").value_or("");
    std::optional<std::string> tokPath = t.optionalString("path");
    if (Error e = t.takeError())
      return std::move(e);
    if (spec.tokenizer.format != "tokenizer.json" && spec.tokenizer.format != "gguf")
      return fieldError(path, "tokenizer.format", "expected \"tokenizer.json\" or \"gguf\"");
    if (!tokPath)
      return fieldError(path, "tokenizer.path", "missing");
    spec.tokenizer.path = resolve(path, *tokPath);
    if (Error e = requireExists(path, "tokenizer.path", spec.tokenizer.path))
      return std::move(e);
  }

  spec.dtype = fields.optionalString("dtype").value_or(spec.dtype);
  spec.target = fields.optionalString("target").value_or(spec.target);
  if (const json::Object *parallel = fields.optionalObject("parallel")) {
    JsonFields p = fields.nested(*parallel, "parallel");
    spec.tensorParallel = p.optionalPositiveInt("tp").value_or(1);
    spec.pipelineParallel = p.optionalPositiveInt("pp").value_or(1);
    if (Error e = p.takeError())
      return std::move(e);
  }
  if (const json::Object *limits = fields.optionalObject("limits")) {
    JsonFields l = fields.nested(*limits, "limits");
    spec.maxSeqLen = l.optionalPositiveInt("max_seq_len").value_or(0);
    spec.maxNumSeqs = l.optionalPositiveInt("max_num_seqs").value_or(spec.maxNumSeqs);
    spec.maxNumBatchedTokens =
        l.optionalPositiveInt("max_num_batched_tokens").value_or(spec.maxNumBatchedTokens);
    if (Error e = l.takeError())
      return std::move(e);
  }
  if (Error e = fields.takeError())
    return std::move(e);
  return spec;
}

} // namespace

Expected<ModelSpec> modelc::frontend::loadModelSpec(StringRef path) {
  if (!sys::fs::exists(path))
    return createStringError(inconvertibleErrorCode(), path + ": no such file or directory");
  if (sys::fs::is_directory(path))
    return loadHuggingFaceDir(path);
  if (path.ends_with(".gguf"))
    return frontend::loadGgufSpec(path);
  if (path.ends_with(".json"))
    return loadManifest(path);
  return createStringError(inconvertibleErrorCode(),
                           path + ": not a model: expected a .json manifest, a Hugging Face "
                                  "model directory or a .gguf file");
}

Error modelc::frontend::useClassifierTokens(ModelSpec &spec, ArrayRef<std::string> tokens,
                                            StringRef method) {
  auto fail = [](const Twine &problem) {
    return createStringError(inconvertibleErrorCode(), "--classifier-from-token: " + problem);
  };
  if (tokens.empty())
    return fail("name at least one token");
  if (!method.empty() && method != "from_2_way_softmax" && method != "no_post_processing")
    return fail("--classifier-method '" + method + "' is not from_2_way_softmax or "
                                                    "no_post_processing");
  const bool twoWay = method.empty() ? tokens.size() == 2 : method == "from_2_way_softmax";
  if (twoWay && tokens.size() != 2)
    return fail("from_2_way_softmax takes two tokens (false, then true), not " +
                Twine(tokens.size()));
  if (spec.tokenizer.format.empty())
    return fail("the model carries no tokenizer to look the tokens up in");
  modelrt::Expected<std::unique_ptr<modelrt::Tokenizer>> tokenizer =
      modelrt::Tokenizer::fromFile(spec.tokenizer.path);
  if (!tokenizer)
    return fail(tokenizer.error().message());
  spec.classifierTokens.assign(tokens.begin(), tokens.end());
  spec.classifierTokenIds.clear();
  for (const std::string &token : tokens) {
    const int32_t id = (*tokenizer)->tokenId(token);
    if (id < 0 || id >= spec.config.vocabSize)
      return fail("'" + token + "' is not a token of the vocabulary (tokens are written as the "
                                "vocabulary stores them)");
    spec.classifierTokenIds.push_back(id);
  }
  // vLLM's SequenceClassificationConfig: one label, the true token's, for the two-way
  // softmax; else a label per token. The prompt is one text, as a language model reads it.
  modelrt::plan::Classifier &k = spec.classifier;
  k = {};
  k.twoWaySoftmax = twoWay;
  k.labels = twoWay ? std::vector<std::string>{tokens[1]}
                    : std::vector<std::string>(tokens.begin(), tokens.end());
  k.activation = k.scoreActivation = k.labels.size() == 1
                                         ? modelrt::plan::Classifier::Activation::Sigmoid
                                         : modelrt::plan::Classifier::Activation::Softmax;
  k.pairEncoding = false;
  spec.classifierError.clear();
  spec.classifierHead.clear(); // a GGUF ranker's own head gives way
  spec.classifierHeadRows.clear();
  return Error::success();
}

Error modelc::frontend::validateSpec(const ModelSpec &spec) {
  auto fail = [&](StringRef option, const Twine &problem) {
    return createStringError(inconvertibleErrorCode(),
                             spec.origin + ": " + option + ": " + problem);
  };
  if (spec.dtype != "f32" && spec.dtype != "f16" && spec.dtype != "bf16")
    return fail("dtype", "'" + spec.dtype + "' is not one of f32, f16, bf16");
  if (spec.target != "cpu" && spec.target != "cuda")
    return fail("target", "'" + spec.target + "' is not one of cpu, cuda");
  const ModelConfig &c = spec.config;
  if (c.numKvHeads % spec.tensorParallel != 0 && spec.tensorParallel % c.numKvHeads != 0)
    return fail("tp", "tensor parallelism " + Twine(spec.tensorParallel) + " does not divide the " +
                          Twine(c.numKvHeads) + " KV heads");
  if (c.numHeads % spec.tensorParallel != 0)
    return fail("tp", "tensor parallelism " + Twine(spec.tensorParallel) + " does not divide the " +
                          Twine(c.numHeads) + " attention heads");
  // Dense MLPs' intermediate features (where a layer has one) and each expert's.
  bool dense = false;
  for (int64_t i = 0; i < c.numLayers && !dense; ++i)
    dense = !c.isMoeLayer(i);
  if (dense && c.intermediateSize % spec.tensorParallel != 0)
    return fail("tp", "tensor parallelism " + Twine(spec.tensorParallel) + " does not divide the " +
                          "MLP's " + Twine(c.intermediateSize) + " intermediate features");
  if (c.numExperts > 0 && c.expertIntermediateSize % spec.tensorParallel != 0)
    return fail("tp", "tensor parallelism " + Twine(spec.tensorParallel) + " does not divide " +
                          "each expert's " + Twine(c.expertIntermediateSize) +
                          " intermediate features");
  if (!spec.mlaCache.empty() && c.kvLoraRank == 0)
    return fail("mla-cache", "the model has no multi-head latent attention");
  if (spec.mlaCache == "latent" && spec.tensorParallel > 1)
    return fail("mla-cache", "a latent cache is not split over tensor-parallel ranks yet: "
                             "compile with --mla-cache=expanded");
  if (spec.pipelineParallel > c.numLayers)
    return fail("pp", "pipeline parallelism " + Twine(spec.pipelineParallel) + " exceeds the " +
                          Twine(c.numLayers) + " layers");
  if (spec.task != "generate" && spec.task != "embed" && spec.task != "classify")
    return fail("task", "'" + spec.task + "' is not generate, embed or classify");
  if (spec.embed() && !spec.poolingError.empty())
    return createStringError(inconvertibleErrorCode(), spec.poolingError);
  if (spec.classify() && !spec.classifierError.empty())
    return createStringError(inconvertibleErrorCode(), spec.classifierError);
  if (c.architecture == Architecture::Bert && !spec.embed() && !spec.classify())
    return fail("task", "'" + spec.task + "': " + c.modelType +
                            " is an encoder; modelc compiles it for embeddings (--task embed) "
                            "or, a sequence classifier, for classification");
  if (c.architecture == Architecture::Bert && spec.classify() &&
      (!spec.classifierTokenIds.empty() ||
       (spec.weights.format == WeightSource::Format::Gguf && spec.classifierHead.empty())))
    return fail("task", "an encoder's classifier comes from its <Name>ForSequenceClassification "
                        "checkpoint, or from a GGUF reranker's cls tensors (pooling_type 4); it "
                        "has no LM head to take rows of");
  if (spec.classify() && spec.classifier.tokenTypes > 0 &&
      (!spec.classifier.pairTemplate.empty() || !spec.classifier.pairEncoding))
    return fail("pair-template", "this cross-encoder's pairs carry token types (the document "
                                 "is type 1): they come from its tokenizer's pair encoding");
  if (spec.classify() && spec.classifier.labels.empty())
    return fail("task", "classify needs a sequence classifier (a checkpoint whose architecture "
                        "is <Name>ForSequenceClassification), or --classifier-from-token to "
                        "make one of the LM head's rows");
  if ((spec.embed() || spec.classify()) && (spec.target != "cpu" || spec.dtype != "f32"))
    return fail("task", Twine(spec.embed() ? "embedding" : "classification") +
                            " plans run on the CPU executor in f32 for now (this is --target " +
                            spec.target + " --dtype " + spec.dtype + ")");
  if (spec.maxSeqLen > c.maxPositions)
    return fail("max_seq_len", Twine(spec.maxSeqLen) + " exceeds the model's " +
                                   Twine(c.maxPositions) + " positions");
  return Error::success();
}
