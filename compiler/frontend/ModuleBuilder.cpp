#include "compiler/frontend/ModuleBuilder.h"
#include "compiler/frontend/Builders.h"
#include "compiler/frontend/WeightStore.h"

#include <cmath>

using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;

namespace {
Type dtypeToType(MLIRContext &context, llvm::StringRef dtype) {
  if (dtype == "f16")
    return Float16Type::get(&context);
  if (dtype == "bf16")
    return BFloat16Type::get(&context);
  return Float32Type::get(&context);
}
} // namespace

ModuleBuilder::ModuleBuilder(MLIRContext &context, const ModelSpec &spec)
    : spec_(spec), context_(context), builder_(&context),
      loc_(NameLoc::get(StringAttr::get(&context, spec.name))),
      elementType_(dtypeToType(context, spec.dtype)) {
  context.loadDialect<llm::LlmDialect, func::FuncDialect>();
  module_ = ModuleOp::create(loc_, spec.name);
  builder_.setInsertionPointToEnd(module_->getBody());
}

RankedTensorType ModuleBuilder::activation(int64_t width) const {
  return RankedTensorType::get({ShapedType::kDynamic, width}, elementType_);
}

FlatSymbolRefAttr ModuleBuilder::declare(llvm::StringRef symbol, llvm::ArrayRef<int64_t> shape,
                                         llvm::ArrayRef<llvm::StringRef> sources, bool transposed,
                                         llvm::ArrayRef<int64_t> slice, int64_t stride,
                                         bool finalNames) {
  if (!module_->lookupSymbol(symbol)) {
    OpBuilder::InsertionGuard guard(builder_);
    // Weights are declared before @forward, in first-use order.
    if (forward_)
      builder_.setInsertionPoint(forward_);
    else
      builder_.setInsertionPointToEnd(module_->getBody());
    ArrayAttr slices;
    if (!slice.empty())
      slices = builder_.getArrayAttr({builder_.getDenseI64ArrayAttr(slice)});
    // A multimodal checkpoint's language model: its tensors' names carry a prefix.
    SmallVector<std::string> names;
    for (StringRef source : sources) {
      if (spec_.weights.format == WeightSource::Format::Gguf || finalNames) {
        names.push_back(source.str());
        continue;
      }
      std::string name = source.str();
      if (!config().decoderPrefix.empty() && source.starts_with("model."))
        name = config().decoderPrefix + source.drop_front(6).str();
      else if (config().bareDecoderNames && source.starts_with("model."))
        name = source.drop_front(6).str();
      names.push_back(config().weightPrefix + name);
    }
    SmallVector<StringRef> refs(names.begin(), names.end());
    builder_.create<llm::WeightOp>(loc_, symbol, RankedTensorType::get(shape, elementType_),
                                   builder_.getStrArrayAttr(refs), transposed, slices,
                                   stride != 1 ? builder_.getI64IntegerAttr(stride) : IntegerAttr(),
                                   StringAttr());
  }
  return FlatSymbolRefAttr::get(&context_, symbol);
}

// GGUF's names of the norms around each block: Gemma 2/3's and OLMo 2's output norms, and
// gpt-oss's and Seed-OSS's MLP input norm, take post_attention_layernorm's GGUF name; GLM-4 keeps the
// usual one for its MLP input norm (its output norms have names of their own).
bool ModuleBuilder::ggufSandwichNames() const {
  return (config().outputNorms && config().architecture != Architecture::Glm4) ||
         config().architecture == Architecture::GptOss || config().modelType == "seed_oss";
}

FlatSymbolRefAttr ModuleBuilder::weight(llvm::StringRef symbol, llvm::ArrayRef<int64_t> shape,
                                        llvm::StringRef source, bool transposed,
                                        std::optional<std::pair<int64_t, int64_t>> rows) {
  // Builders name tensors as Hugging Face does. GGUF has its own names, and stores every
  // matrix [out, in] (llama.cpp's converter transposes GPT-2's Conv1D weights).
  std::string sourceName = source.str();
  if (spec_.weights.format == WeightSource::Format::Gguf) {
    sourceName = ggufTensorName(source, ggufSandwichNames());
    transposed = false;
  }
  SmallVector<int64_t> ranges;
  if (rows)
    ranges = {0, rows->first, rows->second};
  return declare(symbol, shape, {sourceName}, transposed, ranges);
}

FlatSymbolRefAttr ModuleBuilder::headWeight(llvm::StringRef symbol, llvm::ArrayRef<int64_t> shape,
                                            llvm::StringRef source) {
  const std::string name = spec_.weights.format == WeightSource::Format::Gguf
                               ? ggufTensorName(source, ggufSandwichNames())
                               : source.str();
  return declare(symbol, shape, {name}, false, {}, 1, /*finalNames=*/true);
}

FlatSymbolRefAttr ModuleBuilder::interleavedWeight(llvm::StringRef symbol,
                                                   llvm::ArrayRef<int64_t> shape,
                                                   llvm::StringRef source, bool transposed,
                                                   int64_t dim, int64_t phase,
                                                   llvm::StringRef ggufSource) {
  if (spec_.weights.format == WeightSource::Format::Gguf)
    return declare(symbol, shape, {ggufSource}, false, {});
  return declare(symbol, shape, {source}, transposed, {dim, phase, shape[dim]}, 2);
}

FlatSymbolRefAttr ModuleBuilder::stackedWeight(llvm::StringRef symbol,
                                               llvm::ArrayRef<int64_t> shape,
                                               llvm::ArrayRef<std::string> sources,
                                               llvm::StringRef ggufSource,
                                               llvm::ArrayRef<int64_t> rows, bool transposed) {
  SmallVector<std::string> names(sources.begin(), sources.end());
  if (spec_.weights.format == WeightSource::Format::Gguf) {
    transposed = false;
    if (!ggufSource.empty())
      return declare(symbol, shape, {ggufSource}, false, {});
    // Rows of one tensor, under its GGUF name.
    assert(sources.size() == 1 && "a GGUF tensor's rows come from one tensor");
    names = {sources.empty() ? std::string() : ggufTensorName(sources[0], ggufSandwichNames())};
  }
  SmallVector<int64_t> slice;
  if (!rows.empty()) {
    slice.push_back(0);
    slice.append(rows.begin(), rows.end());
  }
  SmallVector<StringRef> refs(names.begin(), names.end());
  return declare(symbol, shape, refs, transposed, slice);
}

ForwardArgs ModuleBuilder::beginForward() {
  auto ids = RankedTensorType::get({ShapedType::kDynamic}, builder_.getI32Type());
  // Logits, or an embedding plan's final hidden states.
  auto logits = RankedTensorType::get(
      {ShapedType::kDynamic, spec_.embed()      ? config().hiddenSize
                             : spec_.classify() ? spec_.classifier.columns()
                                                : config().vocabSize},
      builder_.getF32Type());
  // A classifier that takes token types (a BERT cross-encoder) has a fifth input.
  const bool typed = spec_.classify() && spec_.classifier.tokenTypes > 0;
  SmallVector<Type> inputs = {ids, ids, llm::BatchType::get(&context_), ids};
  if (typed)
    inputs.push_back(ids);
  auto type = builder_.getFunctionType(inputs, {logits});
  forward_ = builder_.create<func::FuncOp>(loc_, "forward", type);
  forward_.setArgAttr(0, "llm.name", builder_.getStringAttr("token_ids"));
  forward_.setArgAttr(1, "llm.name", builder_.getStringAttr("positions"));
  forward_.setArgAttr(2, "llm.name", builder_.getStringAttr("batch"));
  forward_.setArgAttr(3, "llm.name", builder_.getStringAttr("sample_rows"));
  if (typed)
    forward_.setArgAttr(4, "llm.name", builder_.getStringAttr("token_types"));
  Block *entry = forward_.addEntryBlock();
  builder_.setInsertionPointToStart(entry);
  return {entry->getArgument(0), entry->getArgument(1), entry->getArgument(2),
          entry->getArgument(3), typed ? Value(entry->getArgument(4)) : Value()};
}

void ModuleBuilder::endForward(Value logits) { builder_.create<func::ReturnOp>(loc_, logits); }

bool ModuleBuilder::endWithPooling(Value normed, FlatSymbolRefAttr embed) {
  if (spec_.embed()) {
    endForward(normed);
    return true;
  }
  if (!spec_.classify())
    return false;
  const ModelConfig &c = config();
  const int64_t columns = spec_.classifier.columns();
  FlatSymbolRefAttr head;
  if (!spec_.classifierHead.empty()) {
    SmallVector<int64_t> slice;
    if (!spec_.classifierHeadRows.empty()) {
      slice.push_back(0);
      for (int64_t row : spec_.classifierHeadRows)
        slice.append({row, 1});
    }
    head = declare("score", {columns, c.hiddenSize}, {StringRef(spec_.classifierHead)}, false,
                   slice, 1, /*finalNames=*/true);
    if (!slice.empty())
      module_->lookupSymbol(head.getAttr())->setAttr("llm.picked_rows", builder_.getUnitAttr());
  } else if (spec_.classifierTokenIds.empty()) {
    head = weight("score", {columns, c.hiddenSize}, "score.weight");
  } else {
    // The LM head's rows of the tokens, from the tied embedding table's source as declared,
    // or from lm_head.weight.
    SmallVector<int64_t> slice = {0};
    for (int64_t id : spec_.classifierTokenIds)
      slice.append({id, 1});
    auto table = module_->lookupSymbol<llm::WeightOp>(embed.getAttr());
    if (c.tieEmbeddings && table && table.getSources().size() == 1) {
      std::string source = cast<StringAttr>(table.getSources()[0]).str();
      head = declare("score", {columns, c.hiddenSize}, {StringRef(source)}, false, slice, 1,
                     /*finalNames=*/true);
    } else {
      std::string source = spec_.weights.format == WeightSource::Format::Gguf
                               ? ggufTensorName("lm_head.weight")
                               : "lm_head.weight";
      head = declare("score", {columns, c.hiddenSize}, {StringRef(source)}, false, slice);
    }
    module_->lookupSymbol(head.getAttr())->setAttr("llm.picked_rows", builder_.getUnitAttr());
  }
  auto type = RankedTensorType::get({ShapedType::kDynamic, columns}, builder_.getF32Type());
  endForward(builder_.create<llm::LogitsOp>(loc_, type, normed, head));
  return true;
}

std::string ModuleBuilder::beginLayer(int64_t layer) {
  setScope(("layers." + llvm::Twine(layer)).str());
  return ("layers." + llvm::Twine(layer) + ".").str();
}

FlatSymbolRefAttr ModuleBuilder::layerWeight(int64_t layer, llvm::StringRef name,
                                             llvm::ArrayRef<int64_t> shape,
                                             llvm::StringRef source,
                                             std::optional<std::pair<int64_t, int64_t>> rows) {
  return weight(("layers." + llvm::Twine(layer) + "." + name).str(), shape,
                layerName(layer, source), false, rows);
}

void ModuleBuilder::setScope(llvm::StringRef name) {
  loc_ = NameLoc::get(StringAttr::get(&context_, name));
}

Value ModuleBuilder::rmsNorm(Value x, FlatSymbolRefAttr weight, std::optional<double> eps) {
  double offset = config().normWeightOffset;
  return builder_.create<llm::RmsNormOp>(
      loc_, x.getType(), x, weight, builder_.getF64FloatAttr(eps.value_or(config().normEps)),
      offset != 0.0 ? builder_.getF64FloatAttr(offset) : FloatAttr());
}

llm::GeluApproximationAttr ModuleBuilder::geluApproximation() {
  return llm::GeluApproximationAttr::get(&context_, config().activation == "gelu"
                                                        ? llm::GeluApproximation::none
                                                        : llm::GeluApproximation::tanh);
}

Value ModuleBuilder::layerNorm(Value x, FlatSymbolRefAttr weight, FlatSymbolRefAttr bias) {
  return builder_.create<llm::LayerNormOp>(loc_, x.getType(), x, weight, bias,
                                           builder_.getF64FloatAttr(config().normEps));
}

Value ModuleBuilder::linear(Value x, FlatSymbolRefAttr weight, int64_t outFeatures,
                            FlatSymbolRefAttr bias) {
  return builder_.create<llm::LinearOp>(loc_, activation(outFeatures), x, weight, bias);
}

Value ModuleBuilder::add(Value a, Value b) {
  return builder_.create<llm::AddOp>(loc_, a.getType(), a, b);
}

void ModuleBuilder::setModuleAttributes() {
  const ModelConfig &c = config();
  OpBuilder &b = builder_;
  SmallVector<NamedAttribute> model = {
      b.getNamedAttr("name", b.getStringAttr(spec_.name)),
      b.getNamedAttr("architecture", b.getStringAttr(architectureName(c.architecture))),
      b.getNamedAttr("model_type", b.getStringAttr(c.modelType)),
      b.getNamedAttr("vocab_size", b.getI64IntegerAttr(c.vocabSize)),
      b.getNamedAttr("hidden_size", b.getI64IntegerAttr(c.hiddenSize)),
      b.getNamedAttr("num_layers", b.getI64IntegerAttr(c.numLayers)),
      b.getNamedAttr("num_heads", b.getI64IntegerAttr(c.numHeads)),
      b.getNamedAttr("num_kv_heads", b.getI64IntegerAttr(c.numKvHeads)),
      b.getNamedAttr("head_dim", b.getI64IntegerAttr(c.headDim)),
      b.getNamedAttr("max_position_embeddings", b.getI64IntegerAttr(c.maxPositions)),
  };
  SmallVector<NamedAttribute> weights = {
      b.getNamedAttr("format", b.getStringAttr(weightFormatName(spec_.weights.format)))};
  if (spec_.weights.format == WeightSource::Format::Random ||
      spec_.weights.format == WeightSource::Format::Dummy)
    weights.push_back(b.getNamedAttr("seed", b.getI64IntegerAttr(spec_.weights.seed)));
  else
    weights.push_back(b.getNamedAttr("path", b.getStringAttr(spec_.weights.path)));
  int64_t maxSeqLen = spec_.maxSeqLen ? spec_.maxSeqLen : c.maxPositions;
  SmallVector<NamedAttribute> target = {
      b.getNamedAttr("target", b.getStringAttr(spec_.target)),
      b.getNamedAttr("dtype", b.getStringAttr(spec_.dtype)),
      b.getNamedAttr("tp", b.getI64IntegerAttr(spec_.tensorParallel)),
      b.getNamedAttr("pp", b.getI64IntegerAttr(spec_.pipelineParallel)),
  };
  SmallVector<NamedAttribute> limits = {
      b.getNamedAttr("max_seq_len", b.getI64IntegerAttr(maxSeqLen)),
      b.getNamedAttr("max_num_seqs", b.getI64IntegerAttr(spec_.maxNumSeqs)),
      b.getNamedAttr("max_num_batched_tokens", b.getI64IntegerAttr(spec_.maxNumBatchedTokens)),
  };
  ModuleOp module = *module_;
  module->setAttr("llm.model", b.getDictionaryAttr(model));
  module->setAttr("llm.weights", b.getDictionaryAttr(weights));
  if (!spec_.tokenizer.format.empty())
    module->setAttr(
        "llm.tokenizer",
        b.getDictionaryAttr({b.getNamedAttr("format", b.getStringAttr(spec_.tokenizer.format)),
                             b.getNamedAttr("path", b.getStringAttr(spec_.tokenizer.path))}));
  module->setAttr("llm.target", b.getDictionaryAttr(target));
  module->setAttr("llm.limits", b.getDictionaryAttr(limits));
  // A classifier pools its logits at the last token, as they are.
  if (spec_.embed() || spec_.classify()) {
    const bool embed = spec_.embed();
    module->setAttr(
        "llm.pooling",
        b.getDictionaryAttr(
            {b.getNamedAttr("type", b.getStringAttr(modelrt::plan::poolingTypeName(
                                        embed ? spec_.pooling.type
                                        : c.architecture == Architecture::Bert
                                            ? modelrt::plan::Pooling::Type::Cls // [CLS], <s>
                                            : modelrt::plan::Pooling::Type::Last))),
             b.getNamedAttr("normalize", b.getBoolAttr(embed && spec_.pooling.normalize)),
             b.getNamedAttr("dimensions", b.getI64IntegerAttr(
                                              embed ? c.hiddenSize
                                                    : spec_.classifier.columns()))}));
  }
  if (spec_.classify()) {
    const modelrt::plan::Classifier &k = spec_.classifier;
    SmallVector<StringRef> labels(k.labels.begin(), k.labels.end());
    SmallVector<NamedAttribute> fields = {
        b.getNamedAttr("labels", b.getStrArrayAttr(labels)),
        b.getNamedAttr("activation", b.getStringAttr(modelrt::plan::activationName(k.activation))),
        b.getNamedAttr("score_activation",
                       b.getStringAttr(modelrt::plan::activationName(k.scoreActivation))),
        b.getNamedAttr("two_way_softmax", b.getBoolAttr(k.twoWaySoftmax)),
        b.getNamedAttr("pair_encoding", b.getBoolAttr(k.pairEncoding))};
    if (!k.pairTemplate.empty())
      fields.push_back(b.getNamedAttr("pair_template", b.getStringAttr(k.pairTemplate)));
    if (k.tokenTypes > 0)
      fields.push_back(b.getNamedAttr("token_types", b.getI64IntegerAttr(k.tokenTypes)));
    module->setAttr("llm.classifier", b.getDictionaryAttr(fields));
  }
}

Value ModuleBuilder::attention(Value q, Value k, Value v, Value batch, int64_t layer,
                               std::optional<double> scale) {
  const ModelConfig &c = config();
  OpBuilder &ob = builder_;
  return ob.create<llm::AttentionOp>(
      loc_, activation(c.numHeads * c.headDim), q, k, v, batch, ob.getI64IntegerAttr(layer),
      ob.getI64IntegerAttr(c.numHeads), ob.getI64IntegerAttr(c.numKvHeads),
      ob.getI64IntegerAttr(c.headDim),
      ob.getF64FloatAttr(scale.value_or(1.0 / std::sqrt(double(c.headDim)))), IntegerAttr(),
      FloatAttr(), FlatSymbolRefAttr(), IntegerAttr(), UnitAttr(), IntegerAttr(), UnitAttr());
}

Value ModuleBuilder::headRope(Value v, Value positions, int64_t heads, int64_t dim,
                              int64_t rotary, FlatSymbolRefAttr norm,
                              std::optional<double> normOffset) {
  const ModelConfig &c = config();
  OpBuilder &ob = builder_;
  return ob.create<llm::RopeOp>(
      loc_, v.getType(), v, positions, ob.getI64IntegerAttr(heads), ob.getI64IntegerAttr(dim),
      ob.getI64IntegerAttr(rotary), ob.getF64FloatAttr(c.ropeTheta), UnitAttr(),
      llm::Llama3RopeScalingAttr(), norm, norm ? ob.getF64FloatAttr(c.normEps) : FloatAttr(),
      normOffset ? ob.getF64FloatAttr(*normOffset) : FloatAttr(),
      rotary && c.ropeLinearFactor ? ob.getF64FloatAttr(*c.ropeLinearFactor) : FloatAttr(),
      DenseF64ArrayAttr(), FloatAttr(), IntegerAttr(), FloatAttr(), IntegerAttr());
}

ModuleBuilder::Decoder ModuleBuilder::beginDecoder() {
  const ModelConfig &c = config();
  Decoder dec;
  dec.embed = weight("embed_tokens", {c.vocabSize, c.hiddenSize}, "model.embed_tokens.weight");
  dec.args = beginForward();
  dec.x = builder_.create<llm::EmbeddingOp>(loc_, activation(c.hiddenSize), dec.args.tokenIds,
                                            dec.embed, IntegerAttr());
  return dec;
}

Value ModuleBuilder::siluMlp(Value x, FlatSymbolRefAttr gate, FlatSymbolRefAttr up,
                             FlatSymbolRefAttr down, int64_t ff) {
  Value g = linear(x, gate, ff);
  Value u = linear(x, up, ff);
  Value act = builder_.create<llm::SiluOp>(loc_, g.getType(), g);
  Value gated = builder_.create<llm::MulOp>(loc_, act.getType(), act, u);
  return linear(gated, down, config().hiddenSize);
}

void ModuleBuilder::endWithHead(Value x, FlatSymbolRefAttr norm, FlatSymbolRefAttr embed) {
  const ModelConfig &c = config();
  setScope("head");
  Value rows = builder_.create<llm::GatherTokensOp>(loc_, x.getType(), x, forward_.getArgument(3));
  Value normed = rmsNorm(rows, norm);
  if (endWithPooling(normed, embed))
    return;
  FlatSymbolRefAttr head =
      c.tieEmbeddings ? embed : weight("lm_head", {c.vocabSize, c.hiddenSize}, "lm_head.weight");
  auto logitsType =
      RankedTensorType::get({ShapedType::kDynamic, c.vocabSize}, builder_.getF32Type());
  endForward(builder_.create<llm::LogitsOp>(loc_, logitsType, normed, head));
}

OwningOpRef<ModuleOp> ModuleBuilder::finish() {
  setModuleAttributes();
  return std::move(module_);
}

OwningOpRef<ModuleOp> modelc::frontend::buildModule(MLIRContext &context, const ModelSpec &spec) {
  ModuleBuilder builder(context, spec);
  if (spec.config.architecture == Architecture::Gpt2)
    buildGpt2(builder);
  else if (spec.config.architecture == Architecture::Bert)
    buildBert(builder);
  else if (spec.config.architecture == Architecture::Lfm2)
    buildLfm2(builder);
  else if (spec.config.architecture == Architecture::Qwen35)
    buildQwen35(builder);
  else if (spec.config.architecture == Architecture::GraniteHybrid)
    buildGraniteHybrid(builder);
  else
    buildLlamaFamily(builder);
  return builder.finish();
}
