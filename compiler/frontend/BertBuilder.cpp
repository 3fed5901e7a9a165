// BERT and RoBERTa encoders (transformers' BertModel, RobertaModel): the sum of token,
// learned position and token-type embeddings (type 0: one text) through a LayerNorm, then
// layers of bidirectional multi-head attention and a GELU MLP, each block's output added
// to its input and LayerNorm-ed after (post-norm). An embedding plan has no head: it pools
// the last layer's states. A classification plan (BertForSequenceClassification,
// RobertaForSequenceClassification) ends with the classifier's logits of every row, the
// first of which the runtime pools: BERT's pooler (dense, tanh) then its classifier, or
// RoBERTa's classification head (dense, tanh, out_proj). Weight names are BertModel's
// ("embeddings.", "encoder.layer.<i>.", "pooler."), behind the checkpoint's prefix
// ("bert.", "roberta.") if any; the classifiers' own ("classifier.") are not.
#include "compiler/frontend/ModuleBuilder.h"

#include <cmath>

using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;

void modelc::frontend::buildBert(ModuleBuilder &b) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const int64_t d = c.hiddenSize, ff = c.intermediateSize;
  auto norm = [&](Value x, const std::string &name) {
    return b.layerNorm(x, b.weight(name + ".weight", {d}, name + ".weight"),
                       b.weight(name + ".bias", {d}, name + ".bias"));
  };

  FlatSymbolRefAttr words =
      b.weight("embeddings.word_embeddings", {c.vocabSize, d}, "embeddings.word_embeddings.weight");
  // RoBERTa's positions start at padding_idx + 1: its table's rows from there on.
  FlatSymbolRefAttr positions = b.weight(
      "embeddings.position_embeddings", {c.maxPositions, d},
      "embeddings.position_embeddings.weight", false,
      c.positionOffset > 0 ? std::optional(std::pair(c.positionOffset, c.maxPositions))
                           : std::nullopt);
  // A classifier that takes token types looks each row's up; otherwise every row is type 0,
  // whose row is added to all (a table of one row is read as that row).
  const bool typed = b.spec().classify() && b.spec().classifier.tokenTypes > 0;
  FlatSymbolRefAttr types =
      typed ? b.weight("embeddings.token_type_embeddings", {c.typeVocabSize, d},
                       "embeddings.token_type_embeddings.weight")
            : b.weight("embeddings.token_type_embeddings", {d},
                       "embeddings.token_type_embeddings.weight", false,
                       c.typeVocabSize > 1 ? std::optional(std::pair<int64_t, int64_t>(0, 1))
                                           : std::nullopt);
  // Both pick rows of their tables on purpose (the rest are other positions and types).
  for (auto [weight, picks] : {std::pair(positions, c.positionOffset > 0),
                               std::pair(types, !typed && c.typeVocabSize > 1)})
    if (Operation *w = b.lookup(weight); w && picks)
      w->setAttr("llm.picked_rows", ob.getUnitAttr());

  ForwardArgs args = b.beginForward();
  Value x = b.add(
      ob.create<llm::EmbeddingOp>(b.loc(), b.activation(d), args.tokenIds, words, IntegerAttr()),
      ob.create<llm::EmbeddingOp>(b.loc(), b.activation(d), args.positions, positions,
                                  IntegerAttr()));
  x = typed ? b.add(x, ob.create<llm::EmbeddingOp>(b.loc(), b.activation(d), args.tokenTypes,
                                                   types, IntegerAttr()))
            : Value(ob.create<llm::BiasAddOp>(b.loc(), x.getType(), x, types));
  x = norm(x, "embeddings.LayerNorm");

  auto gelu = b.geluApproximation();
  for (int64_t i = 0; i < c.numLayers; ++i) {
    const std::string prefix = "encoder.layer." + std::to_string(i) + ".";
    b.setScope("encoder.layer." + std::to_string(i));
    auto linear = [&](const std::string &name, int64_t in, int64_t out, Value input) {
      return b.linear(input, b.weight(prefix + name + ".weight", {out, in}, prefix + name + ".weight"),
                      out, b.weight(prefix + name + ".bias", {out}, prefix + name + ".bias"));
    };
    Value q = linear("attention.self.query", d, d, x);
    Value k = linear("attention.self.key", d, d, x);
    Value v = linear("attention.self.value", d, d, x);
    Value attn = ob.create<llm::AttentionOp>(
        b.loc(), b.activation(d), q, k, v, args.batch, ob.getI64IntegerAttr(i),
        ob.getI64IntegerAttr(c.numHeads), ob.getI64IntegerAttr(c.numHeads),
        ob.getI64IntegerAttr(c.headDim), ob.getF64FloatAttr(1.0 / std::sqrt(double(c.headDim))),
        IntegerAttr(), FloatAttr(), FlatSymbolRefAttr(), IntegerAttr(), UnitAttr(), IntegerAttr(),
        ob.getUnitAttr());
    x = norm(b.add(x, linear("attention.output.dense", d, d, attn)),
             prefix + "attention.output.LayerNorm");
    Value up = linear("intermediate.dense", d, ff, x);
    Value act = ob.create<llm::GeluOp>(b.loc(), up.getType(), up, gelu);
    x = norm(b.add(x, linear("output.dense", ff, d, act)), prefix + "output.LayerNorm");
  }

  b.setScope("head");
  Value rows = ob.create<llm::GatherTokensOp>(b.loc(), x.getType(), x, args.sampleRows);
  if (!b.spec().classify()) {
    b.endWithPooling(rows, words);
    return;
  }
  const int64_t labels = b.spec().classifier.columns();
  const bool roberta = c.positionOffset > 0; // RoBERTa's layout (XLM-RoBERTa's too)
  FlatSymbolRefAttr dense =
      roberta ? b.headWeight("classifier.dense.weight", {d, d}, "classifier.dense.weight")
              : b.weight("pooler.dense.weight", {d, d}, "pooler.dense.weight");
  FlatSymbolRefAttr denseBias =
      roberta ? b.headWeight("classifier.dense.bias", {d}, "classifier.dense.bias")
              : b.weight("pooler.dense.bias", {d}, "pooler.dense.bias");
  const std::string out = roberta ? "classifier.out_proj" : "classifier";
  FlatSymbolRefAttr head = b.headWeight(out + ".weight", {labels, d}, out + ".weight");
  FlatSymbolRefAttr headBias = b.headWeight(out + ".bias", {labels}, out + ".bias");
  Value h = b.linear(rows, dense, d, denseBias);
  h = ob.create<llm::SoftcapOp>(b.loc(), h.getType(), h, ob.getF64FloatAttr(1.0)); // tanh
  b.endForward(b.linear(h, head, labels, headBias));
}
