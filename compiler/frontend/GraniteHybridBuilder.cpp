// Granite 4.0-H (granitemoehybrid): a pre-norm decoder whose layers mix tokens either by a
// Mamba 2 block or by attention (RoPE only if the config asks), each followed by a mixture
// of experts (GraniteMoE's) plus a dense shared MLP, or by the shared MLP alone; Granite's
// multipliers on the embeddings, each block's output and the logits.
//   - Mamba 2: in_proj's rows are the gate, then x, B and C (convolved per feature over the
//     request's last mamba_d_conv tokens with a bias and SiLU: llm.causal_conv1d, its window
//     a recurrent state), then dt per head; llm.ssm_scan (a P x N state per head, a second
//     recurrent state); times silu(gate); an RMSNorm; out_proj.
// Weight names are Hugging Face's.
#include "compiler/frontend/ModuleBuilder.h"

using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;

void modelc::frontend::buildGraniteHybrid(ModuleBuilder &b) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const int64_t d = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  const int64_t inner = c.mambaHeads * c.mambaHeadDim, bc = c.mambaGroups * c.mambaStateSize,
                convDim = inner + 2 * bc, shared = c.sharedMlpSize;
  // Granite's multipliers: f32 factors, as transformers multiplies by Python numbers.
  auto multiply = [&](Value v, std::optional<double> factor) -> Value {
    if (!factor || *factor == 1.0)
      return v;
    return ob.create<llm::ScaleOp>(b.loc(), v.getType(), v, ob.getF64FloatAttr(*factor),
                                   ob.getUnitAttr());
  };

  auto [embed, args, embedded] = b.beginDecoder();
  Value x = multiply(embedded, c.embeddingMultiplier);

  int64_t attentionLayers = 0, states = 0;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    const std::string prefix = b.beginLayer(i);
    const LayerWeights w{b, i};

    Value h = b.rmsNorm(x, w("input_norm", {d}, "input_layernorm.weight"));
    Value out;
    if (c.isMambaLayer(i)) {
      const std::string inProj = "mamba.in_proj.weight";
      Value gate = b.linear(h, w("mamba.gate_proj", {inner, d}, inProj, std::make_pair(0, inner)),
                            inner);
      Value xbc = b.linear(
          h, w("mamba.xbc_proj", {convDim, d}, inProj, std::make_pair(inner, convDim)), convDim);
      Value dt = b.linear(h,
                          w("mamba.dt_proj", {c.mambaHeads, d}, inProj,
                            std::make_pair(inner + convDim, c.mambaHeads)),
                          c.mambaHeads);
      // The depthwise kernel is stored [conv_dim, 1, K].
      Value conv = ob.create<llm::CausalConv1dOp>(
          b.loc(), xbc.getType(), xbc, args.batch, ob.getI64IntegerAttr(states++),
          ob.getI64IntegerAttr(c.convKernel),
          w("mamba.conv", {convDim, c.convKernel}, "mamba.conv1d.weight"),
          c.convBias ? w("mamba.conv_bias", {convDim}, "mamba.conv1d.bias") : FlatSymbolRefAttr(),
          ob.getStringAttr("silu"));
      auto parts = ob.create<llm::SplitOp>(
          b.loc(), TypeRange{b.activation(inner), b.activation(bc), b.activation(bc)}, conv);
      Value y = ob.create<llm::SsmScanOp>(
          b.loc(), b.activation(inner), parts.getResult(0), dt, parts.getResult(1),
          parts.getResult(2), args.batch, ob.getI64IntegerAttr(states++),
          ob.getI64IntegerAttr(c.mambaHeads), ob.getI64IntegerAttr(c.mambaHeadDim),
          ob.getI64IntegerAttr(c.mambaGroups), ob.getI64IntegerAttr(c.mambaStateSize),
          w("mamba.a_log", {c.mambaHeads}, "mamba.A_log"),
          w("mamba.dt_bias", {c.mambaHeads}, "mamba.dt_bias"),
          w("mamba.d", {c.mambaHeads}, "mamba.D"));
      // Gated first, then normalized (one group: the whole row).
      Value act = ob.create<llm::SiluOp>(b.loc(), gate.getType(), gate);
      Value gated = ob.create<llm::MulOp>(b.loc(), y.getType(), y, act);
      Value normed = b.rmsNorm(gated, w("mamba.norm", {inner}, "mamba.norm.weight"));
      out = b.linear(normed, w("mamba.out_proj", {d, inner}, "mamba.out_proj.weight"), d);
    } else {
      Value qs = b.linear(h, w("attn.q_proj", {q, d}, "self_attn.q_proj.weight"), q);
      Value ks = b.linear(h, w("attn.k_proj", {kv, d}, "self_attn.k_proj.weight"), kv);
      Value vs = b.linear(h, w("attn.v_proj", {kv, d}, "self_attn.v_proj.weight"), kv);
      if (c.usesRope(i)) {
        qs = b.headRope(qs, args.positions, c.numHeads, c.headDim, c.rotaryDim);
        ks = b.headRope(ks, args.positions, c.numKvHeads, c.headDim, c.rotaryDim);
      }
      Value attn = b.attention(qs, ks, vs, args.batch, attentionLayers++, *c.attentionScale);
      out = b.linear(attn, w("attn.o_proj", {d, q}, "self_attn.o_proj.weight"), d);
    }
    x = b.add(x, multiply(out, c.residualMultiplier));

    h = b.rmsNorm(x, w("post_attention_norm", {d}, "post_attention_layernorm.weight"));
    // shared_mlp.input_linear: the gate's rows, then the up rows.
    const std::string sharedIn = "shared_mlp.input_linear.weight";
    Value mlp = b.siluMlp(h, w("shared.gate_proj", {shared, d}, sharedIn, std::make_pair(0, shared)),
                          w("shared.up_proj", {shared, d}, sharedIn, std::make_pair(shared, shared)),
                          w("shared.down_proj", {d, shared}, "shared_mlp.output_linear.weight"),
                          shared);
    if (c.numExperts > 0)
      mlp = b.add(buildMixtureOfExperts(b, h, i, prefix), mlp);
    x = b.add(x, multiply(mlp, c.residualMultiplier));
  }

  b.setScope("head");
  Value rows = ob.create<llm::GatherTokensOp>(b.loc(), x.getType(), x, args.sampleRows);
  Value normed = b.rmsNorm(rows, b.weight("norm", {d}, "model.norm.weight"));
  if (b.endWithPooling(normed, embed))
    return;
  FlatSymbolRefAttr head =
      c.tieEmbeddings ? embed : b.weight("lm_head", {c.vocabSize, d}, "lm_head.weight");
  auto logitsType = RankedTensorType::get({ShapedType::kDynamic, c.vocabSize}, ob.getF32Type());
  Value logits = ob.create<llm::LogitsOp>(b.loc(), logitsType, normed, head);
  // Granite divides its logits by logits_scaling.
  b.endForward(multiply(logits, 1.0 / *c.logitsScaling));
}
