// The Llama family: pre-norm decoder with RMSNorm, rotary embeddings, grouped-query
// attention and a gated MLP. Covers Llama 2/3, SmolLM2, TinyLlama, Mistral (sliding
// window), Qwen2 (bias on the Q, K, V projections), Qwen3 (an RMSNorm of each query and
// key head before RoPE), Gemma (norm weights plus one, scaled embeddings, a GELU-gated MLP),
// Gemma 2 (also a norm of each block's output, local layers, soft-capped scores and logits)
// and Gemma 3 (query/key norms, local layers with their own RoPE, no caps). Weight names are
// Hugging Face's.
#include "compiler/frontend/ModuleBuilder.h"

#include <cmath>

using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;

namespace {

std::string layerName(int64_t layer, llvm::StringRef rest) {
  return ("model.layers." + llvm::Twine(layer) + "." + rest).str();
}

// `norm`: each head RMS-normalized and scaled by it first (Qwen3's q_norm / k_norm).
// `local`: a sliding-window layer, with its own RoPE where the model has one (Gemma 3).
Value rope(ModuleBuilder &b, Value x, Value positions, int64_t heads, FlatSymbolRefAttr norm,
           bool local) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const bool own = local && c.localRopeTheta;
  double theta = own ? *c.localRopeTheta : c.ropeTheta;
  FloatAttr linear =
      c.ropeLinearFactor && !own ? ob.getF64FloatAttr(*c.ropeLinearFactor) : FloatAttr();
  FloatAttr offset =
      norm && c.normWeightOffset != 0.0 ? ob.getF64FloatAttr(c.normWeightOffset) : FloatAttr();
  llm::Llama3RopeScalingAttr scaling;
  if (c.ropeScaling && !own)
    scaling = llm::Llama3RopeScalingAttr::get(ob.getContext(), llvm::APFloat(c.ropeScaling->factor),
                                              llvm::APFloat(c.ropeScaling->lowFreqFactor),
                                              llvm::APFloat(c.ropeScaling->highFreqFactor),
                                              c.ropeScaling->originalMaxPosition);
  return ob.create<llm::RopeOp>(b.loc(), x.getType(), x, positions, ob.getI64IntegerAttr(heads),
                                ob.getI64IntegerAttr(c.headDim), ob.getI64IntegerAttr(c.rotaryDim),
                                ob.getF64FloatAttr(theta),
                                c.ropeInterleaved ? ob.getUnitAttr() : UnitAttr(), scaling, norm,
                                norm ? ob.getF64FloatAttr(c.normEps) : FloatAttr(), offset, linear);
}

} // namespace

void modelc::frontend::buildLlamaFamily(ModuleBuilder &b) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const int64_t d = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim,
                ff = c.intermediateSize;

  FlatSymbolRefAttr embed = b.weight("embed_tokens", {c.vocabSize, d}, "model.embed_tokens.weight");
  ForwardArgs args = b.beginForward();
  Value x =
      ob.create<llm::EmbeddingOp>(b.loc(), b.activation(d), args.tokenIds, embed, IntegerAttr());
  if (c.scaleEmbeddings)
    x = ob.create<llm::ScaleOp>(b.loc(), x.getType(), x,
                                ob.getF64FloatAttr(std::sqrt(double(c.hiddenSize))));

  for (int64_t i = 0; i < c.numLayers; ++i) {
    std::string prefix = ("layers." + llvm::Twine(i) + ".").str();
    b.setScope(("layers." + llvm::Twine(i)).str());
    auto w = [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape, llvm::StringRef source) {
      return b.weight(prefix + name.str(), shape, layerName(i, source));
    };
    auto bias = [&](llvm::StringRef name, int64_t n, llvm::StringRef source) {
      return c.attentionBias ? w(name, {n}, source) : FlatSymbolRefAttr();
    };

    // Attention block.
    Value h = b.rmsNorm(x, w("input_norm", {d}, "input_layernorm.weight"));
    Value qs = b.linear(h, w("attn.q_proj", {q, d}, "self_attn.q_proj.weight"), q,
                        bias("attn.q_bias", q, "self_attn.q_proj.bias"));
    Value ks = b.linear(h, w("attn.k_proj", {kv, d}, "self_attn.k_proj.weight"), kv,
                        bias("attn.k_bias", kv, "self_attn.k_proj.bias"));
    Value vs = b.linear(h, w("attn.v_proj", {kv, d}, "self_attn.v_proj.weight"), kv,
                        bias("attn.v_bias", kv, "self_attn.v_proj.bias"));
    auto headNorm = [&](llvm::StringRef name, llvm::StringRef source) {
      return c.qkNorm ? w(name, {c.headDim}, source) : FlatSymbolRefAttr();
    };
    const bool local = c.isSlidingLayer(i);
    qs = rope(b, qs, args.positions, c.numHeads, headNorm("attn.q_norm", "self_attn.q_norm.weight"),
              local);
    ks = rope(b, ks, args.positions, c.numKvHeads,
              headNorm("attn.k_norm", "self_attn.k_norm.weight"), local);
    IntegerAttr window = local ? ob.getI64IntegerAttr(*c.slidingWindow) : IntegerAttr();
    double scale = c.attentionScale.value_or(1.0 / std::sqrt(double(c.headDim)));
    FloatAttr softcap = c.attentionSoftcap ? ob.getF64FloatAttr(*c.attentionSoftcap) : FloatAttr();
    Value attn = ob.create<llm::AttentionOp>(
        b.loc(), b.activation(q), qs, ks, vs, args.batch, ob.getI64IntegerAttr(i),
        ob.getI64IntegerAttr(c.numHeads), ob.getI64IntegerAttr(c.numKvHeads),
        ob.getI64IntegerAttr(c.headDim), ob.getF64FloatAttr(scale), window, softcap);
    Value out = b.linear(attn, w("attn.o_proj", {d, q}, "self_attn.o_proj.weight"), d);
    // Gemma 2/3's sandwich: post_attention_layernorm normalizes the block's output and
    // pre_feedforward_layernorm the MLP's input; elsewhere post_attention_layernorm is the
    // MLP's input norm.
    if (c.sandwichNorms)
      out = b.rmsNorm(out, w("attn.output_norm", {d}, "post_attention_layernorm.weight"));
    x = b.add(x, out);

    // Gated MLP block.
    h = c.sandwichNorms
            ? b.rmsNorm(x, w("mlp_input_norm", {d}, "pre_feedforward_layernorm.weight"))
            : b.rmsNorm(x, w("post_attention_norm", {d}, "post_attention_layernorm.weight"));
    Value gate = b.linear(h, w("mlp.gate_proj", {ff, d}, "mlp.gate_proj.weight"), ff);
    Value up = b.linear(h, w("mlp.up_proj", {ff, d}, "mlp.up_proj.weight"), ff);
    Value act = c.activation == "silu"
                    ? ob.create<llm::SiluOp>(b.loc(), gate.getType(), gate).getResult()
                    : ob.create<llm::GeluOp>(b.loc(), gate.getType(), gate, b.geluApproximation())
                          .getResult();
    Value gated = ob.create<llm::MulOp>(b.loc(), act.getType(), act, up);
    out = b.linear(gated, w("mlp.down_proj", {d, ff}, "mlp.down_proj.weight"), d);
    if (c.sandwichNorms)
      out = b.rmsNorm(out, w("mlp.output_norm", {d}, "post_feedforward_layernorm.weight"));
    x = b.add(x, out);
  }

  // Only the rows that sample go through the final norm and the LM head.
  b.setScope("head");
  Value rows = ob.create<llm::GatherTokensOp>(b.loc(), x.getType(), x, args.sampleRows);
  Value normed = b.rmsNorm(rows, b.weight("norm", {d}, "model.norm.weight"));
  FlatSymbolRefAttr head =
      c.tieEmbeddings ? embed : b.weight("lm_head", {c.vocabSize, d}, "lm_head.weight");
  auto logitsType = RankedTensorType::get({ShapedType::kDynamic, c.vocabSize}, ob.getF32Type());
  Value logits = ob.create<llm::LogitsOp>(b.loc(), logitsType, normed, head);
  if (c.finalSoftcap)
    logits =
        ob.create<llm::SoftcapOp>(b.loc(), logitsType, logits, ob.getF64FloatAttr(*c.finalSoftcap));
  b.endForward(logits);
}
