// LFM2 (Liquid AI): a pre-norm decoder whose layers mix tokens either by grouped-query
// attention (per-head query/key RMSNorms before RoPE) or by a gated short convolution:
// in_proj gives B, C and x; B * x is convolved per feature over the request's last
// conv_L_cache tokens (llm.causal_conv1d, whose window of earlier inputs is the request's
// recurrent state); C times that goes through out_proj. Every layer then has a SiLU-gated
// MLP (feed_forward.w1 / w3 / w2). Weight names are Hugging Face's.
#include "compiler/frontend/ModuleBuilder.h"

using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;

void modelc::frontend::buildLfm2(ModuleBuilder &b) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const int64_t d = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;

  auto [embed, args, x] = b.beginDecoder();

  int64_t attentionLayers = 0, states = 0;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    const std::string prefix = b.beginLayer(i);
    const LayerWeights w{b, i};

    Value h = b.rmsNorm(x, w("operator_norm", {d}, "operator_norm.weight"));
    Value out;
    if (c.isConvLayer(i)) {
      // in_proj's rows: B, then C, then x (three linears that llm-merge-linears joins back).
      auto part = [&](llvm::StringRef name, int64_t index) {
        FlatSymbolRefAttr bias =
            c.convBias ? w(("conv." + name + "_bias").str(), {d}, "conv.in_proj.bias",
                           std::make_pair(index * d, d))
                       : FlatSymbolRefAttr();
        return b.linear(h,
                        w(("conv." + name + "_proj").str(), {d, d}, "conv.in_proj.weight",
                          std::make_pair(index * d, d)),
                        d, bias);
      };
      Value gateB = part("b", 0), gateC = part("c", 1), input = part("x", 2);
      Value bx = ob.create<llm::MulOp>(b.loc(), input.getType(), gateB, input);
      // The depthwise kernel is stored [D, 1, K].
      Value conv = ob.create<llm::CausalConv1dOp>(
          b.loc(), bx.getType(), bx, args.batch, ob.getI64IntegerAttr(states++),
          ob.getI64IntegerAttr(c.convKernel),
          w("conv.conv", {d, c.convKernel}, "conv.conv.weight"),
          c.convBias ? w("conv.conv_bias", {d}, "conv.conv.bias") : FlatSymbolRefAttr(),
          StringAttr());
      Value y = ob.create<llm::MulOp>(b.loc(), conv.getType(), gateC, conv);
      out = b.linear(y, w("conv.out_proj", {d, d}, "conv.out_proj.weight"), d,
                     c.convBias ? w("conv.out_bias", {d}, "conv.out_proj.bias")
                                : FlatSymbolRefAttr());
    } else {
      Value qs = b.linear(h, w("attn.q_proj", {q, d}, "self_attn.q_proj.weight"), q);
      Value ks = b.linear(h, w("attn.k_proj", {kv, d}, "self_attn.k_proj.weight"), kv);
      Value vs = b.linear(h, w("attn.v_proj", {kv, d}, "self_attn.v_proj.weight"), kv);
      // Each head RMS-normalized and scaled (q_layernorm / k_layernorm), then rotated.
      qs = b.headRope(qs, args.positions, c.numHeads, c.headDim, c.rotaryDim,
                      w("attn.q_norm", {c.headDim}, "self_attn.q_layernorm.weight"));
      ks = b.headRope(ks, args.positions, c.numKvHeads, c.headDim, c.rotaryDim,
                      w("attn.k_norm", {c.headDim}, "self_attn.k_layernorm.weight"));
      Value attn = b.attention(qs, ks, vs, args.batch, attentionLayers++);
      out = b.linear(attn, w("attn.o_proj", {d, q}, "self_attn.out_proj.weight"), d);
    }
    x = b.add(x, out);

    h = b.rmsNorm(x, w("ffn_norm", {d}, "ffn_norm.weight"));
    // LFM2-MoE's sparse layers: experts chosen by sigmoid scores (feed_forward.gate, the
    // choice biased by feed_forward.expert_bias), feed_forward.experts.E.w1 / w3 / w2.
    x = b.add(x, buildFeedForward(b, h, i, prefix, "feed_forward.w1.weight",
                                  "feed_forward.w3.weight", "feed_forward.w2.weight"));
  }
  b.endWithHead(x, b.weight("norm", {d}, "model.embedding_norm.weight"), embed);
}
