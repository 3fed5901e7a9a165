// GPT-2: learned position embeddings, pre-norm LayerNorm with bias, one fused QKV
// projection (Conv1D, stored [in, out]), multi-head attention and a GELU MLP; the LM head
// is tied to the token embedding. Weight names are those of transformers' GPT2LMHeadModel.
#include "compiler/frontend/ModuleBuilder.h"

#include <cmath>

using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;

void modelc::frontend::buildGpt2(ModuleBuilder &b) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const int64_t d = c.hiddenSize, ff = c.intermediateSize;

  FlatSymbolRefAttr wte = b.weight("wte", {c.vocabSize, d}, "transformer.wte.weight");
  FlatSymbolRefAttr wpe = b.weight("wpe", {c.maxPositions, d}, "transformer.wpe.weight");
  ForwardArgs args = b.beginForward();
  Value tokens =
      ob.create<llm::EmbeddingOp>(b.loc(), b.activation(d), args.tokenIds, wte, IntegerAttr());
  Value positions =
      ob.create<llm::EmbeddingOp>(b.loc(), b.activation(d), args.positions, wpe, IntegerAttr());
  Value x = b.add(tokens, positions);

  auto gelu = b.geluApproximation();

  for (int64_t i = 0; i < c.numLayers; ++i) {
    std::string prefix = ("h." + llvm::Twine(i) + ".").str();
    b.setScope(("h." + llvm::Twine(i)).str());
    // Conv1D weights are [in, out]: declared [out, in] and marked transposed.
    auto conv = [&](llvm::StringRef name, int64_t in, int64_t out) {
      return b.weight(prefix + name.str() + ".weight", {out, in},
                      "transformer." + prefix + name.str() + ".weight", /*transposed=*/true);
    };
    auto vec = [&](llvm::StringRef name, int64_t n) {
      return b.weight(prefix + name.str(), {n}, "transformer." + prefix + name.str());
    };

    Value h = b.layerNorm(x, vec("ln_1.weight", d), vec("ln_1.bias", d));
    Value qkv = b.linear(h, conv("attn.c_attn", d, 3 * d), 3 * d, vec("attn.c_attn.bias", 3 * d));
    auto split = ob.create<llm::SplitOp>(
        b.loc(), TypeRange{b.activation(d), b.activation(d), b.activation(d)}, qkv);
    Value attn = ob.create<llm::AttentionOp>(
        b.loc(), b.activation(d), split.getResult(0), split.getResult(1), split.getResult(2),
        args.batch, ob.getI64IntegerAttr(i), ob.getI64IntegerAttr(c.numHeads),
        ob.getI64IntegerAttr(c.numHeads), ob.getI64IntegerAttr(c.headDim),
        ob.getF64FloatAttr(1.0 / std::sqrt(double(c.headDim))), IntegerAttr(), FloatAttr(),
        FlatSymbolRefAttr(), IntegerAttr(), UnitAttr(), IntegerAttr(), UnitAttr());
    x = b.add(x, b.linear(attn, conv("attn.c_proj", d, d), d, vec("attn.c_proj.bias", d)));

    h = b.layerNorm(x, vec("ln_2.weight", d), vec("ln_2.bias", d));
    Value up = b.linear(h, conv("mlp.c_fc", d, ff), ff, vec("mlp.c_fc.bias", ff));
    Value act = ob.create<llm::GeluOp>(b.loc(), up.getType(), up, gelu);
    x = b.add(x, b.linear(act, conv("mlp.c_proj", ff, d), d, vec("mlp.c_proj.bias", d)));
  }

  b.setScope("head");
  Value rows = ob.create<llm::GatherTokensOp>(b.loc(), x.getType(), x, args.sampleRows);
  Value normed = b.layerNorm(rows, b.weight("ln_f.weight", {d}, "transformer.ln_f.weight"),
                             b.weight("ln_f.bias", {d}, "transformer.ln_f.bias"));
  if (b.endWithPooling(normed, wte))
    return;
  auto logitsType = RankedTensorType::get({ShapedType::kDynamic, c.vocabSize}, ob.getF32Type());
  b.endForward(ob.create<llm::LogitsOp>(b.loc(), logitsType, normed, wte));
}
