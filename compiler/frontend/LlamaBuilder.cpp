// The Llama family: pre-norm decoder with RMSNorm, rotary embeddings, grouped-query
// attention and a gated MLP. Covers Llama 2/3, SmolLM2, TinyLlama, SmolLM3 (no RoPE on
// every fourth layer), Mistral (sliding window), Qwen2 (bias on the Q, K, V projections),
// Qwen3 (an RMSNorm of each query and key head before RoPE), Gemma (norm weights plus one,
// scaled embeddings, a GELU-gated MLP), Gemma 2 (also a norm of each block's output, local
// layers, soft-capped scores and logits), Gemma 3 (query/key norms, local layers with their
// own RoPE, no caps), Phi-3 (fused QKV and gate/up tensors, LongRoPE), OLMo 2 (only output
// norms; the whole query and key projections RMS-normalized; OLMo 3 adds sliding-window
// layers whose RoPE is unscaled), Granite (multipliers on the embeddings, block outputs,
// attention and logits), GLM-4 (QKV biases, half of each head rotated in interleaved pairs,
// fused gate/up, norms of both blocks' outputs), and the mixtures of experts Mixtral,
// Qwen3-MoE, OLMoE, GraniteMoE, gpt-oss (a sparse MLP block: llm.moe; gpt-oss also has
// attention sinks and biases on every attention projection), GLM-4.5 and DeepSeek-V2/V3
// (multi-head latent attention), and Llama 4 (chunked attention on its RoPE layers, a
// temperature on the others' queries, top-1 experts that scale their input). Weight names
// are Hugging Face's.
#include "compiler/frontend/ModuleBuilder.h"

#include <cmath>

using namespace mlir;
using namespace modelc;
using namespace modelc::frontend;

namespace {

// `norm`: each head RMS-normalized and scaled by it first (Qwen3's q_norm / k_norm).
// `local`: a sliding-window layer, with its own RoPE where the model has one (Gemma 3).
// `headDim`: each head's features (0: the config's), the first rotaryDim of them rotated.
// `unitNorm`: each head RMS-normalized without a weight (Llama 4's L2 norm); `temperature`:
// the config's attention temperature applied after the rotation (Ministral 3's queries).
Value rope(ModuleBuilder &b, Value x, Value positions, int64_t heads, FlatSymbolRefAttr norm,
           bool local, int64_t headDim = 0, bool unitNorm = false, bool temperature = false) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const bool own = local && c.localRopeTheta;
  double theta = own ? *c.localRopeTheta : c.ropeTheta;
  FloatAttr linear =
      c.ropeLinearFactor && !own ? ob.getF64FloatAttr(*c.ropeLinearFactor) : FloatAttr();
  FloatAttr offset =
      norm && c.normWeightOffset != 0.0 ? ob.getF64FloatAttr(c.normWeightOffset) : FloatAttr();
  // LongRoPE: the long factors when the plan serves contexts past the original length
  // (as llama.cpp chooses by its context size), else the short ones. (YaRN's divisors
  // likewise.) Layers with their own RoPE take none.
  DenseF64ArrayAttr factors;
  FloatAttr magnitude;
  if (!c.ropeShortFactors.empty() && !own) {
    int64_t maxSeqLen = b.spec().maxSeqLen ? b.spec().maxSeqLen : c.maxPositions;
    factors = ob.getDenseF64ArrayAttr(maxSeqLen > c.ropeOriginalMaxPositions ? c.ropeLongFactors
                                                                             : c.ropeShortFactors);
    if (c.ropeMagnitude != 1.0)
      magnitude = ob.getF64FloatAttr(c.ropeMagnitude);
  }
  llm::Llama3RopeScalingAttr scaling;
  if (c.ropeScaling && !own)
    scaling = llm::Llama3RopeScalingAttr::get(ob.getContext(), llvm::APFloat(c.ropeScaling->factor),
                                              llvm::APFloat(c.ropeScaling->lowFreqFactor),
                                              llvm::APFloat(c.ropeScaling->highFreqFactor),
                                              c.ropeScaling->originalMaxPosition);
  return ob.create<llm::RopeOp>(
      b.loc(), x.getType(), x, positions, ob.getI64IntegerAttr(heads),
      ob.getI64IntegerAttr(headDim ? headDim : c.headDim), ob.getI64IntegerAttr(c.rotaryDim),
      ob.getF64FloatAttr(theta),
      c.ropeInterleaved ? ob.getUnitAttr() : UnitAttr(), scaling, norm,
      norm || unitNorm ? ob.getF64FloatAttr(c.normEps) : FloatAttr(), offset, linear, factors,
      magnitude, temperature ? ob.getI64IntegerAttr(c.temperatureFloor) : IntegerAttr(),
      temperature ? ob.getF64FloatAttr(c.temperatureScale) : FloatAttr(),
      temperature && c.temperatureOffset ? ob.getI64IntegerAttr(c.temperatureOffset)
                                         : IntegerAttr());
}

// The attention temperature: the queries (`heads` of `headDim` features; 0: the config's)
// times 1 + scale * log(1 + floor((p + offset) / floor)) (llm.rope rotating nothing). Llama
// 4's layers without RoPE; Mistral 4's latent queries, absorbed and rotated parts together.
Value temperature(ModuleBuilder &b, Value q, Value positions, int64_t heads = 0,
                  int64_t headDim = 0) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  return ob.create<llm::RopeOp>(
      b.loc(), q.getType(), q, positions, ob.getI64IntegerAttr(heads ? heads : c.numHeads),
      ob.getI64IntegerAttr(headDim ? headDim : c.headDim), ob.getI64IntegerAttr(0),
      ob.getF64FloatAttr(c.ropeTheta),
      UnitAttr(), llm::Llama3RopeScalingAttr(), FlatSymbolRefAttr(), FloatAttr(), FloatAttr(),
      FloatAttr(), DenseF64ArrayAttr(), FloatAttr(), ob.getI64IntegerAttr(c.temperatureFloor),
      ob.getF64FloatAttr(c.temperatureScale),
      c.temperatureOffset ? ob.getI64IntegerAttr(c.temperatureOffset) : IntegerAttr());
}

// Each head RMS-normalized and scaled by `norm`, unrotated (llm.rope with rotary_dim 0).
Value headNormOnly(ModuleBuilder &b, Value x, Value positions, int64_t heads,
                   FlatSymbolRefAttr norm) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  return ob.create<llm::RopeOp>(
      b.loc(), x.getType(), x, positions, ob.getI64IntegerAttr(heads),
      ob.getI64IntegerAttr(c.headDim), ob.getI64IntegerAttr(0), ob.getF64FloatAttr(c.ropeTheta),
      UnitAttr(), llm::Llama3RopeScalingAttr(), norm, ob.getF64FloatAttr(c.normEps),
      c.normWeightOffset != 0.0 ? ob.getF64FloatAttr(c.normWeightOffset) : FloatAttr(),
      FloatAttr(), DenseF64ArrayAttr(), FloatAttr(), IntegerAttr(), FloatAttr(), IntegerAttr());
}

// A sparse MLP block: the router's logits, then llm.moe over the experts' stacked weights
// (Mixtral names them block_sparse_moe.experts.E.w1/w3/w2, Qwen3-MoE and OLMoE
// mlp.experts.E.gate_proj/up_proj/down_proj; GGUF stacks each kind in one tensor).
Value mixtureOfExperts(ModuleBuilder &b, Value h, int64_t layer, const std::string &prefix) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  // MiniMax-M2 names its experts as Mixtral does.
  // LFM2-MoE names its experts as Mixtral does, under feed_forward.
  const bool lfm2 = c.modelType == "lfm2_moe";
  const bool mixtral = c.modelType == "mixtral" || c.modelType == "minimax_m2" || lfm2,
             granite = c.modelType == "granitemoe" || c.modelType == "granitemoehybrid";
  const int64_t d = c.hiddenSize, experts = c.numExperts, ff = c.expertIntermediateSize;
  const std::string block = lfm2                ? "feed_forward."
                            : mixtral || granite ? "block_sparse_moe."
                                                 : "mlp.";
  auto gguf = [&](llvm::StringRef kind, llvm::StringRef what = "weight") {
    return ("blk." + llvm::Twine(layer) + "." + kind + "." + what).str();
  };
  if (c.architecture == Architecture::GptOss) {
    // gpt-oss: a router with a bias; each expert's gate and up features interleaved in
    // gate_up_proj [E, D, 2I] (gate even, up odd) and down_proj [E, I, D], stored [in, out]
    // (MXFP4 checkpoints: [E, 2I, D] and [E, D, I]),
    // with biases gate_up_proj_bias [E, 2I] and down_proj_bias [E, D]. GGUF keeps gate and up
    // apart, [out, in].
    Value logits = b.linear(
        h, b.weight(prefix + "moe.router", {experts, d}, layerName(layer, "mlp.router.weight")),
        experts,
        b.weight(prefix + "moe.router_bias", {experts}, layerName(layer, "mlp.router.bias")));
    auto part = [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape, llvm::StringRef source,
                    bool transposed, int64_t dim, int64_t phase, llvm::StringRef ggufName) {
      return b.interleavedWeight(prefix + name.str(), shape,
                                 layerName(layer, "mlp.experts." + source.str()), transposed, dim,
                                 phase, ggufName);
    };
    auto whole = [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape, llvm::StringRef source,
                     bool transposed, llvm::StringRef ggufName) {
      if (b.spec().weights.format == WeightSource::Format::Gguf)
        return b.stackedWeight(prefix + name.str(), shape, {}, ggufName);
      return b.weight(prefix + name.str(), shape, layerName(layer, "mlp.experts." + source.str()),
                      transposed);
    };
    // Declared in this order (not as call arguments, whose order C++ leaves open). MXFP4
    // checkpoints hold the experts [out, in] already (their `_blocks` / `_scales` pairs,
    // which the weight store reads as MXFP4 tensors of these names).
    const bool transposed = !c.mxfp4Experts;
    FlatSymbolRefAttr gate = part("moe.gate", {experts * ff, d}, "gate_up_proj", transposed, 0, 0,
                                  gguf("ffn_gate_exps"));
    FlatSymbolRefAttr up = part("moe.up", {experts * ff, d}, "gate_up_proj", transposed, 0, 1,
                                gguf("ffn_up_exps"));
    FlatSymbolRefAttr down =
        whole("moe.down", {experts * d, ff}, "down_proj", transposed, gguf("ffn_down_exps"));
    FlatSymbolRefAttr gateBias = part("moe.gate_bias", {experts, ff}, "gate_up_proj_bias", false,
                                      1, 0, gguf("ffn_gate_exps", "bias"));
    FlatSymbolRefAttr upBias = part("moe.up_bias", {experts, ff}, "gate_up_proj_bias", false, 1,
                                    1, gguf("ffn_up_exps", "bias"));
    FlatSymbolRefAttr downBias = whole("moe.down_bias", {experts, d}, "down_proj_bias", false,
                                       gguf("ffn_down_exps", "bias"));
    return ob.create<llm::MoeOp>(
        b.loc(), h.getType(), h, logits, Value(), Value(), gate, up, down,
        ob.getI64IntegerAttr(experts), ob.getI64IntegerAttr(c.expertsPerToken), ob.getUnitAttr(),
        ob.getUnitAttr(), gateBias, upBias, downBias, ob.getF64FloatAttr(*c.swigluAlpha),
        ob.getF64FloatAttr(*c.swigluLimit), UnitAttr(), FlatSymbolRefAttr(), IntegerAttr(),
        IntegerAttr(), FloatAttr(), IntegerAttr(), UnitAttr(), FloatAttr());
  }
  const bool llama4 = c.expertInputScaling, hunyuan = c.modelType == "hunyuan_v1_moe";
  FlatSymbolRefAttr router =
      b.weight(prefix + "moe.router", {experts, d},
               layerName(layer, llama4    ? "feed_forward.router.weight"
                                : granite ? block + "router.layer.weight"
                                : hunyuan ? "mlp.gate.wg.weight"
                                          : block + "gate.weight"));
  Value logits = b.linear(h, router, experts);
  if (granite) {
    // GraniteMoE stacks its experts in 3-D tensors: input_linear [E, 2I, D] (each expert's
    // gate rows, then its up rows) and output_linear [E, D, I].
    std::string in = layerName(layer, block + "input_linear.weight");
    SmallVector<int64_t> gateRows, upRows;
    for (int64_t e = 0; e < experts; ++e) {
      gateRows.append({2 * e * ff, ff});
      upRows.append({2 * e * ff + ff, ff});
    }
    FlatSymbolRefAttr gate = b.stackedWeight(prefix + "moe.gate", {experts * ff, d}, {in},
                                             gguf("ffn_gate_exps"), gateRows);
    FlatSymbolRefAttr up = b.stackedWeight(prefix + "moe.up", {experts * ff, d}, {in},
                                           gguf("ffn_up_exps"), upRows);
    FlatSymbolRefAttr down =
        b.stackedWeight(prefix + "moe.down", {experts * d, ff},
                        {layerName(layer, block + "output_linear.weight")}, gguf("ffn_down_exps"));
    return ob.create<llm::MoeOp>(
        b.loc(), h.getType(), h, logits, Value(), Value(), gate, up, down,
        ob.getI64IntegerAttr(experts), ob.getI64IntegerAttr(c.expertsPerToken), ob.getUnitAttr(),
        ob.getUnitAttr(), FlatSymbolRefAttr(), FlatSymbolRefAttr(), FlatSymbolRefAttr(),
        FloatAttr(), FloatAttr(), UnitAttr(), FlatSymbolRefAttr(), IntegerAttr(), IntegerAttr(),
        FloatAttr(), IntegerAttr(), UnitAttr(), FloatAttr());
  }
  auto stack = [&](llvm::StringRef name, llvm::StringRef hf, llvm::StringRef mixtralName,
                   llvm::StringRef gguf, llvm::ArrayRef<int64_t> shape) {
    std::vector<std::string> sources;
    for (int64_t e = 0; e < experts; ++e)
      sources.push_back(layerName(layer, block + "experts." + std::to_string(e) + "." +
                                             (mixtral ? mixtralName : hf).str() + ".weight"));
    return b.stackedWeight(prefix + name.str(), shape, sources,
                           ("blk." + llvm::Twine(layer) + "." + gguf + ".weight").str());
  };
  // Qwen2-MoE's shared expert: a dense SiLU-gated MLP of every token beside the routed ones
  // (ordinary linears, so its GEMMs merge with the router's and its gate is generated code),
  // scaled per token by sigmoid(shared_expert_gate(x)) inside llm.moe. GLM-4.5's
  // (mlp.shared_experts, n_shared_experts of them as one MLP) is added unscaled.
  auto w = [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape, llvm::StringRef source) {
    return b.weight(prefix + name.str(), shape, layerName(layer, source));
  };
  // DeepSeek's, ERNIE 4.5's and Llama 4's (feed_forward.shared_expert) likewise.
  // Hunyuan's (mlp.shared_mlp) likewise.
  const bool glm = c.modelType == "glm4_moe" || c.modelType == "solar_open" ||
                   c.modelType == "dots1" || c.modelType == "exaone_moe" ||
                   c.modelType == "ernie4_5_moe" || hunyuan ||
                   c.kvLoraRank > 0 || llama4;
  Value shared, sharedGate;
  if (const int64_t sf = c.sharedExpertIntermediateSize; sf > 0) {
    const std::string s = llama4    ? "feed_forward.shared_expert."
                          : hunyuan ? "mlp.shared_mlp."
                          : glm     ? "mlp.shared_experts."
                                    : "mlp.shared_expert.";
    Value g = b.linear(h, w("moe.shared.gate_proj", {sf, d}, s + "gate_proj.weight"), sf);
    Value u = b.linear(h, w("moe.shared.up_proj", {sf, d}, s + "up_proj.weight"), sf);
    Value act = ob.create<llm::SiluOp>(b.loc(), g.getType(), g);
    Value gated = ob.create<llm::MulOp>(b.loc(), act.getType(), act, u);
    shared = b.linear(gated, w("moe.shared.down_proj", {d, sf}, s + "down_proj.weight"), d);
    if (!glm)
      sharedGate = b.linear(h, w("moe.shared.gate", {1, d}, "mlp.shared_expert_gate.weight"), 1);
  }
  FlatSymbolRefAttr gate, up, down;
  if (c.expertLayout != ModelConfig::ExpertLayout::PerExpert) {
    // Llama 4 stacks its experts in feed_forward.experts.gate_up_proj [E, D, 2I] (each
    // expert's gate columns, then its up columns) and down_proj [E, I, D], stored [in, out].
    // Qwen3-VL-MoE's mlp.experts likewise. Mistral 4's checkpoints are as transformers saves
    // them (no conversion reads another layout): mlp.experts.gate_up_proj [E, 2I, D] (gate
    // rows, then up rows) and down_proj [E, D, I], [out, in].
    const bool inOut = c.expertLayout == ModelConfig::ExpertLayout::StackedInOut;
    const std::string experts3d =
        layerName(layer, llama4 ? "feed_forward.experts." : "mlp.experts.");
    SmallVector<int64_t> gateRows, upRows;
    for (int64_t e = 0; e < experts; ++e) {
      gateRows.append({2 * e * ff, ff});
      upRows.append({2 * e * ff + ff, ff});
    }
    gate = b.stackedWeight(prefix + "moe.gate", {experts * ff, d}, {experts3d + "gate_up_proj"},
                           gguf("ffn_gate_exps"), gateRows, inOut);
    up = b.stackedWeight(prefix + "moe.up", {experts * ff, d}, {experts3d + "gate_up_proj"},
                         gguf("ffn_up_exps"), upRows, inOut);
    down = b.stackedWeight(prefix + "moe.down", {experts * d, ff}, {experts3d + "down_proj"},
                           gguf("ffn_down_exps"), {}, inOut);
  } else {
    gate = stack("moe.gate", "gate_proj", "w1", "ffn_gate_exps", {experts * ff, d});
    up = stack("moe.up", "up_proj", "w3", "ffn_up_exps", {experts * ff, d});
    down = stack("moe.down", "down_proj", "w2", "ffn_down_exps", {experts * d, ff});
  }
  FlatSymbolRefAttr scoreBias =
      c.scoreCorrectionBias
          ? w("moe.score_bias", {experts},
              lfm2                              ? "feed_forward.expert_bias"
              : mixtral                         ? "block_sparse_moe.e_score_correction_bias"
              : c.modelType == "ernie4_5_moe" ? "mlp.moe_statics.e_score_correction_bias"
              : c.modelType == "exaone_moe"   ? "mlp.e_score_correction_bias" // K-EXAONE's
                                                : "mlp.gate.e_score_correction_bias")
          : FlatSymbolRefAttr();
  return ob.create<llm::MoeOp>(
      b.loc(), h.getType(), h, logits, shared, sharedGate, gate, up, down,
      ob.getI64IntegerAttr(experts), ob.getI64IntegerAttr(c.expertsPerToken),
      c.normalizeTopK ? ob.getUnitAttr() : UnitAttr(),
      c.roundRoutingWeights ? ob.getUnitAttr() : UnitAttr(), FlatSymbolRefAttr(),
      FlatSymbolRefAttr(), FlatSymbolRefAttr(), FloatAttr(), FloatAttr(),
      c.sigmoidRouting ? ob.getUnitAttr() : UnitAttr(), scoreBias,
      c.routingGroups > 1 ? ob.getI64IntegerAttr(c.routingGroups) : IntegerAttr(),
      c.routingGroups > 1 ? ob.getI64IntegerAttr(c.routingTopGroups) : IntegerAttr(),
      c.routedScale && *c.routedScale != 1.0 ? ob.getF64FloatAttr(*c.routedScale) : FloatAttr(),
      c.routingGroups > 1 && c.routingGroupTop != 2 ? ob.getI64IntegerAttr(c.routingGroupTop)
                                                    : IntegerAttr(),
      c.expertInputScaling ? ob.getUnitAttr() : UnitAttr(),
      c.routingNormEpsilon ? ob.getF64FloatAttr(*c.routingNormEpsilon) : FloatAttr());
}

// DeepSeek's multi-head latent attention, as transformers computes it: each head's key is
// its qk_nope features from the latent (kv_b_proj) and the qk_rope rotated features all
// heads share (the last of kv_a_proj_with_mqa's outputs); its value v_head_dim features from
// the latent. Every head's query and key rows are reordered to [rotated, not rotated] (the
// weights' rows permuted at compile time, which no dot product notices), so llm.rope turns
// the first features of each head.
Value latentAttention(ModuleBuilder &b, Value h, int64_t layer, const std::string &prefix,
                      const ForwardArgs &args) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const int64_t d = c.hiddenSize, heads = c.numHeads, nope = c.qkNopeHeadDim,
                rot = c.rotaryDim, qd = c.headDim, vd = c.valueHeadDim, r = c.kvLoraRank;
  auto w = [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape, llvm::StringRef source) {
    return b.weight(prefix + name.str(), shape, layerName(layer, source));
  };
  // Rows [first, first + count) of each head's `stride` rows, head by head.
  auto headRows = [&](llvm::StringRef name, llvm::StringRef source, int64_t cols, int64_t stride,
                      llvm::ArrayRef<std::pair<int64_t, int64_t>> parts) {
    SmallVector<int64_t> rows;
    int64_t count = 0;
    for (int64_t hh = 0; hh < heads; ++hh)
      for (auto [first, n] : parts) {
        rows.append({hh * stride + first, n});
        count += n;
      }
    return b.stackedWeight(prefix + name.str(), {count, cols}, {layerName(layer, source)}, "",
                           rows);
  };
  const std::pair<int64_t, int64_t> rotated{nope, rot}, plain{0, nope};
  // The latent norms keep RMSNorm's default epsilon whatever rms_norm_eps says, as
  // transformers builds them (DeepseekV3RMSNorm(kv_lora_rank)).
  constexpr double kLatentEps = 1e-6;
  // The query rows of each head (`parts`: ranges of its qd rows), from q_proj or q_b_proj.
  Value qIn = h;
  int64_t qInWidth = d;
  if (c.qLoraRank > 0) {
    qIn = b.linear(h, w("attn.q_a_proj", {c.qLoraRank, d}, "self_attn.q_a_proj.weight"),
                   c.qLoraRank);
    qIn = b.rmsNorm(qIn, w("attn.q_a_norm", {c.qLoraRank}, "self_attn.q_a_layernorm.weight"),
                    kLatentEps);
    qInWidth = c.qLoraRank;
  }
  auto query = [&](llvm::StringRef name, llvm::ArrayRef<std::pair<int64_t, int64_t>> parts,
                   int64_t width) {
    const bool lora = c.qLoraRank > 0;
    return b.linear(qIn,
                    headRows((lora ? "attn.q_b_proj" : "attn.q_proj") + name.str(),
                             lora ? "self_attn.q_b_proj.weight" : "self_attn.q_proj.weight",
                             qInWidth, qd, parts),
                    heads * width);
  };
  Value kva = b.linear(
      h, w("attn.kv_a_proj", {r + rot, d}, "self_attn.kv_a_proj_with_mqa.weight"), r + rot);
  auto parts = ob.create<llm::SplitOp>(b.loc(), TypeRange{b.activation(r), b.activation(rot)}, kva);
  Value latent = b.rmsNorm(
      parts.getResult(0), w("attn.kv_a_norm", {r}, "self_attn.kv_a_layernorm.weight"), kLatentEps);
  Value shared = rope(b, parts.getResult(1), args.positions, 1, FlatSymbolRefAttr(), false, rot);
  // kv_b_proj's per-head blocks as llama.cpp's converter splits them (GGUF): each head's key
  // block [R, nope] (its rows transposed) and its value block [vd, R].
  auto splitBlock = [&](llvm::StringRef kind, int64_t rows, int64_t cols) {
    return b.stackedWeight(prefix + "attn." + kind.str(), {heads * rows, cols}, {},
                           ("blk." + llvm::Twine(layer) + ".attn_" + kind + ".weight").str());
  };
  auto valueRows = [&] {
    return c.splitKvB ? splitBlock("v_b", vd, r)
                      : headRows("attn.kv_b_proj.v", "self_attn.kv_b_proj.weight", r, nope + vd,
                                 {{nope, vd}});
  };
  if (b.spec().latentAttention()) {
    // One KV head of [latent, rotated] features whose first ones, the latent, are also its
    // value (nothing cached apart): each head's query is its plain features times its key
    // rows of kv_b_proj (q W_k: the latent's side of q . k) and its rotated ones, and its
    // output the attention over latents times its value rows of kv_b_proj.
    Value qr = rope(b, query(".rot", {rotated}, rot), args.positions, heads, FlatSymbolRefAttr(),
                    false, rot);
    Value qn = query(".nope", {plain}, nope);
    Value absorbed =
        c.splitKvB
            ? ob.create<llm::HeadLinearOp>(b.loc(), b.activation(heads * r), qn,
                                           splitBlock("k_b", r, nope),
                                           ob.getI64IntegerAttr(heads), UnitAttr())
            : ob.create<llm::HeadLinearOp>(
                  b.loc(), b.activation(heads * r), qn,
                  headRows("attn.kv_b_proj.k", "self_attn.kv_b_proj.weight", r, nope + vd,
                           {plain}),
                  ob.getI64IntegerAttr(heads), ob.getUnitAttr());
    Value q = ob.create<llm::ConcatOp>(b.loc(), b.activation(heads * (r + rot)),
                                       ValueRange{absorbed, qr}, ob.getI64IntegerAttr(heads),
                                       DenseI64ArrayAttr());
    if (c.temperatureFloor > 0) // a factor of the row's, through the absorption unchanged
      q = temperature(b, q, args.positions, heads, r + rot);
    Value k = ob.create<llm::ConcatOp>(b.loc(), b.activation(r + rot),
                                       ValueRange{latent, shared}, ob.getI64IntegerAttr(1),
                                       DenseI64ArrayAttr());
    Value attn = ob.create<llm::AttentionOp>(
        b.loc(), b.activation(heads * r), q, k, k, args.batch, ob.getI64IntegerAttr(layer),
        ob.getI64IntegerAttr(heads), ob.getI64IntegerAttr(1), ob.getI64IntegerAttr(r + rot),
        ob.getF64FloatAttr(*c.attentionScale), IntegerAttr(), FloatAttr(), FlatSymbolRefAttr(),
        ob.getI64IntegerAttr(r), ob.getUnitAttr(), IntegerAttr(), UnitAttr());
    Value out = ob.create<llm::HeadLinearOp>(b.loc(), b.activation(heads * vd), attn,
                                             valueRows(), ob.getI64IntegerAttr(heads),
                                             UnitAttr());
    return b.linear(out, w("attn.o_proj", {d, heads * vd}, "self_attn.o_proj.weight"), d);
  }
  Value q = rope(b, query("", {rotated, plain}, qd), args.positions, heads, FlatSymbolRefAttr(),
                 false, qd, false, c.temperatureFloor > 0);
  // Each head's keys: the latent times its key rows (from llama.cpp's split blocks, the
  // latent repeated for every head and each block used transposed).
  Value keys =
      c.splitKvB
          ? ob.create<llm::HeadLinearOp>(
                  b.loc(), b.activation(heads * nope),
                  ob.create<llm::ConcatOp>(b.loc(), b.activation(heads * r), ValueRange{latent},
                                           ob.getI64IntegerAttr(heads),
                                           ob.getDenseI64ArrayAttr({0})),
                  splitBlock("k_b", r, nope), ob.getI64IntegerAttr(heads), ob.getUnitAttr())
                .getResult()
          : b.linear(latent,
                     headRows("attn.kv_b_proj.k", "self_attn.kv_b_proj.weight", r, nope + vd,
                              {plain}),
                     heads * nope);
  Value values = b.linear(latent, valueRows(), heads * vd);
  Value k = ob.create<llm::ConcatOp>(b.loc(), b.activation(heads * qd), ValueRange{shared, keys},
                                     ob.getI64IntegerAttr(heads), ob.getDenseI64ArrayAttr({0}));
  Value attn = ob.create<llm::AttentionOp>(
      b.loc(), b.activation(heads * vd), q, k, values, args.batch, ob.getI64IntegerAttr(layer),
      ob.getI64IntegerAttr(heads), ob.getI64IntegerAttr(heads), ob.getI64IntegerAttr(qd),
      ob.getF64FloatAttr(*c.attentionScale), IntegerAttr(), FloatAttr(), FlatSymbolRefAttr(),
      ob.getI64IntegerAttr(vd), UnitAttr(), IntegerAttr(), UnitAttr());
  return b.linear(attn, w("attn.o_proj", {d, heads * vd}, "self_attn.o_proj.weight"), d);
}

} // namespace

Value modelc::frontend::buildMixtureOfExperts(ModuleBuilder &b, Value h, int64_t layer,
                                              const std::string &prefix) {
  return mixtureOfExperts(b, h, layer, prefix);
}

Value modelc::frontend::buildFeedForward(ModuleBuilder &b, Value h, int64_t layer,
                                         const std::string &prefix, llvm::StringRef gate,
                                         llvm::StringRef up, llvm::StringRef down) {
  if (b.config().isMoeLayer(layer))
    return mixtureOfExperts(b, h, layer, prefix);
  const int64_t d = b.config().hiddenSize, ff = b.config().intermediateSize;
  const LayerWeights w{b, layer};
  return b.siluMlp(h, w("mlp.gate_proj", {ff, d}, gate), w("mlp.up_proj", {ff, d}, up),
                   w("mlp.down_proj", {d, ff}, down), ff);
}

void modelc::frontend::buildLlamaFamily(ModuleBuilder &b) {
  const ModelConfig &c = b.config();
  OpBuilder &ob = b.builder();
  const int64_t d = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim,
                ff = c.intermediateSize;

  auto [embed, args, x] = b.beginDecoder();
  if (c.scaleEmbeddings)
    x = ob.create<llm::ScaleOp>(b.loc(), x.getType(), x,
                                ob.getF64FloatAttr(std::sqrt(double(c.hiddenSize))), UnitAttr());
  // Granite's multipliers: f32 factors, as transformers multiplies by Python numbers.
  auto multiply = [&](Value v, std::optional<double> factor) -> Value {
    if (!factor)
      return v;
    return ob.create<llm::ScaleOp>(b.loc(), v.getType(), v, ob.getF64FloatAttr(*factor),
                                   ob.getUnitAttr());
  };
  x = multiply(x, c.embeddingMultiplier);

  for (int64_t i = 0; i < c.numLayers; ++i) {
    std::string prefix = ("layers." + llvm::Twine(i) + ".").str();
    b.setScope(("layers." + llvm::Twine(i)).str());
    auto w = [&](llvm::StringRef name, llvm::ArrayRef<int64_t> shape, llvm::StringRef source) {
      return b.weight(prefix + name.str(), shape, layerName(i, source));
    };
    auto bias = [&](llvm::StringRef name, int64_t n, llvm::StringRef source) {
      return c.attentionBias ? w(name, {n}, source) : FlatSymbolRefAttr();
    };
    // Phi-3 keeps Q, K and V (and gate and up) in one tensor each, GLM-4 gate and up: the
    // weights are its row ranges (llm-merge-linears joins them back into one GEMM).
    auto part = [&](llvm::StringRef name, int64_t first, int64_t rows, llvm::StringRef fused,
                    llvm::StringRef own) {
      const bool mlp = fused.starts_with("mlp.");
      if (!(mlp ? c.fusedGateUp : c.fusedProjections))
        return w(name, {rows, d}, own);
      return b.weight(prefix + name.str(), {rows, d}, layerName(i, fused), false,
                      std::make_pair(first, rows));
    };

    // Llama 4 names its MLP feed_forward.
    const std::string mlp = c.expertInputScaling ? "feed_forward." : "mlp.";
    auto denseMlp = [&](Value in) {
      Value gate = b.linear(
          in, part("mlp.gate_proj", 0, ff, "mlp.gate_up_proj.weight", mlp + "gate_proj.weight"),
          ff);
      Value up = b.linear(
          in, part("mlp.up_proj", ff, ff, "mlp.gate_up_proj.weight", mlp + "up_proj.weight"), ff);
      Value act = c.activation == "silu"
                      ? ob.create<llm::SiluOp>(b.loc(), gate.getType(), gate).getResult()
                      : ob.create<llm::GeluOp>(b.loc(), gate.getType(), gate, b.geluApproximation())
                            .getResult();
      Value gated = ob.create<llm::MulOp>(b.loc(), act.getType(), act, up);
      return b.linear(gated, w("mlp.down_proj", {d, ff}, mlp + "down_proj.weight"), d);
    };

    // Attention block (OLMo 2 has no input norms, only output norms).
    Value h = !c.inputNorms  ? x
              : c.layerNorms ? b.layerNorm(x, w("input_norm", {d}, "input_layernorm.weight"),
                                           FlatSymbolRefAttr())
                             : b.rmsNorm(x, w("input_norm", {d}, "input_layernorm.weight"));
    if (c.kvLoraRank > 0) { // DeepSeek: latent attention, then the (sparse) MLP below
      x = b.add(x, latentAttention(b, h, i, prefix, args));
      h = b.rmsNorm(x, w("post_attention_norm", {d}, "post_attention_layernorm.weight"));
      Value out = c.isMoeLayer(i) ? mixtureOfExperts(b, h, i, prefix) : denseMlp(h);
      x = b.add(x, out);
      continue;
    }
    Value qs = b.linear(
        h, part("attn.q_proj", 0, q, "self_attn.qkv_proj.weight", "self_attn.q_proj.weight"), q,
        bias("attn.q_bias", q, "self_attn.q_proj.bias"));
    Value ks = b.linear(
        h, part("attn.k_proj", q, kv, "self_attn.qkv_proj.weight", "self_attn.k_proj.weight"), kv,
        bias("attn.k_bias", kv, "self_attn.k_proj.bias"));
    Value vs = b.linear(
        h, part("attn.v_proj", q + kv, kv, "self_attn.qkv_proj.weight", "self_attn.v_proj.weight"),
        kv, bias("attn.v_bias", kv, "self_attn.v_proj.bias"));
    auto headNorm = [&](llvm::StringRef name, llvm::StringRef source) {
      return c.qkNorm ? w(name, {c.headDim}, source) : FlatSymbolRefAttr();
    };
    // OLMo 2 normalizes the whole query and key projections instead (one RMS over all heads).
    if (c.qkNormFullWidth) {
      qs = b.rmsNorm(qs, w("attn.q_norm", {q}, "self_attn.q_norm.weight"));
      ks = b.rmsNorm(ks, w("attn.k_norm", {kv}, "self_attn.k_norm.weight"));
    }
    const bool local = c.isSlidingLayer(i);
    if (!c.usesRope(i) && c.qkNorm) { // EXAONE 4's NoPE layers: the head norms alone
      qs = headNormOnly(b, qs, args.positions, c.numHeads,
                        headNorm("attn.q_norm", "self_attn.q_norm.weight"));
      ks = headNormOnly(b, ks, args.positions, c.numKvHeads,
                        headNorm("attn.k_norm", "self_attn.k_norm.weight"));
    } else if (c.qkNormAfterRope) { // Hunyuan: each head rotated, then RMS-normalized
      qs = headNormOnly(b, rope(b, qs, args.positions, c.numHeads, FlatSymbolRefAttr(), local),
                        args.positions, c.numHeads,
                        w("attn.q_norm", {c.headDim}, "self_attn.query_layernorm.weight"));
      ks = headNormOnly(b, rope(b, ks, args.positions, c.numKvHeads, FlatSymbolRefAttr(), local),
                        args.positions, c.numKvHeads,
                        w("attn.k_norm", {c.headDim}, "self_attn.key_layernorm.weight"));
    } else if (c.usesRope(i)) { // SmolLM3's NoPE layers (the architecture has no head norms)
      qs = rope(b, qs, args.positions, c.numHeads,
                headNorm("attn.q_norm", "self_attn.q_norm.weight"), local, 0, c.qkUnitNorm,
                c.temperatureFloor > 0 && c.temperatureEveryLayer);
      ks = rope(b, ks, args.positions, c.numKvHeads,
                headNorm("attn.k_norm", "self_attn.k_norm.weight"), local, 0, c.qkUnitNorm);
    }
    if (!c.usesRope(i) && c.temperatureFloor > 0) // Llama 4's NoPE layers
      qs = temperature(b, qs, args.positions);
    IntegerAttr window = local ? ob.getI64IntegerAttr(*c.slidingWindow) : IntegerAttr();
    IntegerAttr chunk =
        c.isChunkedLayer(i) ? ob.getI64IntegerAttr(*c.attentionChunkSize) : IntegerAttr();
    double scale = c.attentionScale.value_or(1.0 / std::sqrt(double(c.headDim)));
    FloatAttr softcap = c.attentionSoftcap ? ob.getF64FloatAttr(*c.attentionSoftcap) : FloatAttr();
    FlatSymbolRefAttr sinks =
        c.attentionSinks ? w("attn.sinks", {c.numHeads}, "self_attn.sinks") : FlatSymbolRefAttr();
    Value attn = ob.create<llm::AttentionOp>(
        b.loc(), b.activation(q), qs, ks, vs, args.batch, ob.getI64IntegerAttr(i),
        ob.getI64IntegerAttr(c.numHeads), ob.getI64IntegerAttr(c.numKvHeads),
        ob.getI64IntegerAttr(c.headDim), ob.getF64FloatAttr(scale), window, softcap, sinks,
        IntegerAttr(), UnitAttr(), chunk, UnitAttr());
    Value out = b.linear(attn, w("attn.o_proj", {d, q}, "self_attn.o_proj.weight"), d,
                         c.outputBias ? w("attn.o_bias", {d}, "self_attn.o_proj.bias")
                                      : FlatSymbolRefAttr());
    // With output norms (Gemma 2/3, OLMo 2) post_attention_layernorm normalizes the block's
    // output and pre_feedforward_layernorm (if any) the MLP's input; elsewhere
    // post_attention_layernorm is the MLP's input norm. GLM-4 names its output norms
    // post_self_attn_layernorm and post_mlp_layernorm, and its MLP's input norm
    // post_attention_layernorm.
    const bool glm = c.architecture == Architecture::Glm4;
    if (c.outputNorms)
      out = b.rmsNorm(out, w("attn.output_norm", {d},
                             glm ? "post_self_attn_layernorm.weight"
                                 : "post_attention_layernorm.weight"));
    if (c.parallelBlock) { // Cohere 2: the MLP reads the same norm; both outputs join x
      x = b.add(b.add(x, out), denseMlp(h));
      continue;
    }
    x = b.add(x, multiply(out, c.residualMultiplier));

    // Gated MLP block.
    h = !c.inputNorms ? x
        : c.outputNorms && !glm
            ? b.rmsNorm(x, w("mlp_input_norm", {d}, "pre_feedforward_layernorm.weight"))
            : b.rmsNorm(x, w("post_attention_norm", {d}, "post_attention_layernorm.weight"));
    out = c.isMoeLayer(i) ? mixtureOfExperts(b, h, i, prefix) : denseMlp(h);
    if (c.outputNorms)
      out = b.rmsNorm(out, w("mlp.output_norm", {d},
                             glm ? "post_mlp_layernorm.weight" : "post_feedforward_layernorm.weight"));
    x = b.add(x, multiply(out, c.residualMultiplier));
  }

  // Only the rows that sample go through the final norm and the LM head.
  b.setScope("head");
  Value rows = ob.create<llm::GatherTokensOp>(b.loc(), x.getType(), x, args.sampleRows);
  Value normed = c.layerNorms
                     ? b.layerNorm(rows, b.weight("norm", {d}, "model.norm.weight"),
                                   FlatSymbolRefAttr())
                     : b.rmsNorm(rows, b.weight("norm", {d}, "model.norm.weight"));
  if (b.endWithPooling(normed, embed))
    return;
  FlatSymbolRefAttr head =
      c.tieEmbeddings ? embed : b.weight("lm_head", {c.vocabSize, d}, "lm_head.weight");
  auto logitsType = RankedTensorType::get({ShapedType::kDynamic, c.vocabSize}, ob.getF32Type());
  Value logits = ob.create<llm::LogitsOp>(b.loc(), logitsType, normed, head);
  // Granite divides its logits by logits_scaling: a multiplication by the reciprocal, the
  // same bits when the scaling is a power of two (Granite's 8 and 16).
  if (c.logitsScaling)
    logits = multiply(logits, 1.0 / *c.logitsScaling);
  if (c.finalSoftcap)
    logits =
        ob.create<llm::SoftcapOp>(b.loc(), logitsType, logits, ob.getF64FloatAttr(*c.finalSoftcap));
  b.endForward(logits);
}
