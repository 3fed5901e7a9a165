// Qwen3.5: a pre-norm decoder (zero-centered RMSNorms, 1 + w) whose layers mix tokens
// either by Gated DeltaNet linear attention or by gated attention, each followed by a
// SiLU-gated MLP.
//   - Linear attention: in_proj_qkv convolved per feature over the request's last
//     linear_conv_kernel_dim tokens (SiLU; llm.causal_conv1d, its window a recurrent
//     state), split into queries, keys and values; llm.gated_delta_rule with beta and the
//     decay from in_proj_b and in_proj_a (a second recurrent state: a matrix per value
//     head); each value head RMS-normalized by `norm` and gated by silu(in_proj_z);
//     out_proj.
//   - Attention: each q_proj head is the query's features then its output gate's; per-head
//     q_norm / k_norm, RoPE on the first rotary_dim features; the attention's output times
//     sigmoid(gate) before o_proj.
// Weight names are Hugging Face's (Qwen3_5ForCausalLM; the multimodal checkpoint's under
// model.language_model.). Qwen3-Next is the same model with its linear attention's
// projections interleaved by key head.
#include "compiler/frontend/ModuleBuilder.h"

using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;

void modelc::frontend::buildQwen35(ModuleBuilder &b) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const int64_t d = c.hiddenSize, hd = c.headDim, q = c.numHeads * hd, kv = c.numKvHeads * hd;
  const int64_t kh = c.deltaKeyHeads, vh = c.deltaValueHeads, dk = c.deltaKeyHeadDim,
                dv = c.deltaValueHeadDim, keyDim = kh * dk, valueDim = vh * dv,
                convDim = 2 * keyDim + valueDim;

  auto [embed, args, x] = b.beginDecoder();

  // Each head of `v` RMS-normalized and scaled by `norm` (zero-centered: the config's weight
  // offset; or plain), then its first `rotary` features rotated (rotary 0: the norm alone).
  auto headNorm = [&](Value v, int64_t heads, int64_t dim, int64_t rotary, FlatSymbolRefAttr norm,
                      bool offset) {
    return b.headRope(v, args.positions, heads, dim, rotary, norm,
                      offset ? std::optional<double>(c.normWeightOffset) : std::nullopt);
  };

  const bool next = c.modelType == "qwen3_next";
  int64_t attentionLayers = 0, states = 0;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    const std::string prefix = b.beginLayer(i);
    const LayerWeights w{b, i};

    Value h = b.rmsNorm(x, w("input_norm", {d}, "input_layernorm.weight"));
    Value out;
    if (c.isDeltaLayer(i)) {
      FlatSymbolRefAttr qkvW, zW, bW, aW;
      if (next) {
        // Qwen3-Next's in_proj_qkvz holds, per key head g, its query and key, then the
        // value and z rows of its value heads (r = vh / kh of them); in_proj_ba per key
        // head its r b rows, then its r a rows. The rows are taken in head order.
        const int64_t r = vh / kh, group = 2 * dk + 2 * r * dv;
        SmallVector<int64_t> qkvRows, zRows, bRows, aRows;
        for (int64_t part : {0, 1})
          for (int64_t g = 0; g < kh; ++g)
            qkvRows.append({g * group + part * dk, dk});
        for (int64_t g = 0; g < kh; ++g)
          qkvRows.append({g * group + 2 * dk, r * dv});
        for (int64_t g = 0; g < kh; ++g) {
          zRows.append({g * group + 2 * dk + r * dv, r * dv});
          bRows.append({g * 2 * r, r});
          aRows.append({g * 2 * r + r, r});
        }
        const std::string qkvz = layerName(i, "linear_attn.in_proj_qkvz.weight"),
                          ba = layerName(i, "linear_attn.in_proj_ba.weight");
        qkvW = b.stackedWeight(prefix + "delta.in_proj_qkv", {convDim, d}, {qkvz}, "", qkvRows);
        zW = b.stackedWeight(prefix + "delta.in_proj_z", {valueDim, d}, {qkvz}, "", zRows);
        bW = b.stackedWeight(prefix + "delta.in_proj_b", {vh, d}, {ba}, "", bRows);
        aW = b.stackedWeight(prefix + "delta.in_proj_a", {vh, d}, {ba}, "", aRows);
      } else {
        qkvW = w("delta.in_proj_qkv", {convDim, d}, "linear_attn.in_proj_qkv.weight");
        zW = w("delta.in_proj_z", {valueDim, d}, "linear_attn.in_proj_z.weight");
        bW = w("delta.in_proj_b", {vh, d}, "linear_attn.in_proj_b.weight");
        aW = w("delta.in_proj_a", {vh, d}, "linear_attn.in_proj_a.weight");
      }
      Value mixed = b.linear(h, qkvW, convDim);
      Value z = b.linear(h, zW, valueDim);
      Value beta = b.linear(h, bW, vh);
      Value decay = b.linear(h, aW, vh);
      // The depthwise kernel is stored [conv_dim, 1, K].
      Value conv = ob.create<llm::CausalConv1dOp>(
          b.loc(), mixed.getType(), mixed, args.batch, ob.getI64IntegerAttr(states++),
          ob.getI64IntegerAttr(c.convKernel),
          w("delta.conv", {convDim, c.convKernel}, "linear_attn.conv1d.weight"),
          FlatSymbolRefAttr(), ob.getStringAttr("silu"));
      auto parts = ob.create<llm::SplitOp>(
          b.loc(), TypeRange{b.activation(keyDim), b.activation(keyDim), b.activation(valueDim)},
          conv);
      Value core = ob.create<llm::GatedDeltaRuleOp>(
          b.loc(), b.activation(valueDim), parts.getResult(0), parts.getResult(1),
          parts.getResult(2), decay, beta, args.batch, ob.getI64IntegerAttr(states++),
          ob.getI64IntegerAttr(kh), ob.getI64IntegerAttr(vh), ob.getI64IntegerAttr(dk),
          ob.getI64IntegerAttr(dv), w("delta.a_log", {vh}, "linear_attn.A_log"),
          w("delta.dt_bias", {vh}, "linear_attn.dt_bias"));
      // Each value head RMS-normalized by `norm` (a plain weight, not zero-centered), then
      // times silu(z).
      Value normed = headNorm(core, vh, dv, 0, w("delta.norm", {dv}, "linear_attn.norm.weight"),
                              false);
      Value gate = ob.create<llm::SiluOp>(b.loc(), z.getType(), z);
      Value gated = ob.create<llm::MulOp>(b.loc(), normed.getType(), normed, gate);
      out = b.linear(gated, w("delta.out_proj", {d, valueDim}, "linear_attn.out_proj.weight"), d);
    } else {
      // q_proj's rows, head by head: the query's hd, then the gate's hd.
      SmallVector<int64_t> queryRows, gateRows;
      for (int64_t hh = 0; hh < c.numHeads; ++hh) {
        queryRows.append({2 * hh * hd, hd});
        gateRows.append({2 * hh * hd + hd, hd});
      }
      const std::string qSource = layerName(i, "self_attn.q_proj.weight");
      Value qs = b.linear(h, b.stackedWeight(prefix + "attn.q_proj", {q, d}, {qSource}, "", queryRows),
                          q);
      Value ks = b.linear(h, w("attn.k_proj", {kv, d}, "self_attn.k_proj.weight"), kv);
      Value vs = b.linear(h, w("attn.v_proj", {kv, d}, "self_attn.v_proj.weight"), kv);
      Value gate = b.linear(
          h, b.stackedWeight(prefix + "attn.gate_proj", {q, d}, {qSource}, "", gateRows), q);
      qs = headNorm(qs, c.numHeads, hd, c.rotaryDim,
                    w("attn.q_norm", {hd}, "self_attn.q_norm.weight"), true);
      ks = headNorm(ks, c.numKvHeads, hd, c.rotaryDim,
                    w("attn.k_norm", {hd}, "self_attn.k_norm.weight"), true);
      Value attn = b.attention(qs, ks, vs, args.batch, attentionLayers++);
      Value sig = ob.create<llm::SigmoidOp>(b.loc(), gate.getType(), gate);
      Value gated = ob.create<llm::MulOp>(b.loc(), attn.getType(), attn, sig);
      out = b.linear(gated, w("attn.o_proj", {d, q}, "self_attn.o_proj.weight"), d);
    }
    x = b.add(x, out);

    h = b.rmsNorm(x, w("post_attention_norm", {d}, "post_attention_layernorm.weight"));
    // Qwen3.5's mixtures: softmax routing over mlp.gate, the experts stacked [out, in] in
    // mlp.experts.gate_up_proj / down_proj, a shared expert scaled by
    // sigmoid(shared_expert_gate).
    x = b.add(x, buildFeedForward(b, h, i, prefix, "mlp.gate_proj.weight", "mlp.up_proj.weight",
                                  "mlp.down_proj.weight"));
  }
  b.endWithHead(x, b.weight("norm", {d}, "model.norm.weight"), embed);
}
