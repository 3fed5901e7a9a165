#ifndef MODELC_LLM_OPS
#define MODELC_LLM_OPS

include "LlmDialect.td"
include "LlmTypes.td"
include "LlmAttrs.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

//===----------------------------------------------------------------------===//
// Base classes
//===----------------------------------------------------------------------===//

class Llm_Op<string mnemonic, list<Trait> traits = []>
    : Op<Llm_Dialect, mnemonic, traits>;

// Ops that work token by token on [T, D] activations. They never change the activation
// element type: every Llm_Activation operand and result shares one float type.
def Llm_SameActivationElementType : NativeOpTrait<"SameActivationElementType"> {
  let cppNamespace = "::modelc::llm::OpTrait";
}
class Llm_TokenwiseOp<string mnemonic, list<Trait> traits = []>
    : Llm_Op<mnemonic, !listconcat(traits, [Pure, Llm_SameActivationElementType])>;

// Ops that read weights name them by symbol; verifySymbolUses checks the shapes.
class Llm_WeightUserOp<string mnemonic, list<Trait> traits = []>
    : Llm_TokenwiseOp<mnemonic, !listconcat(traits,
        [DeclareOpInterfaceMethods<SymbolUserOpInterface>])>;

// Side-effect resources: the paged KV cache, each request's recurrent state and the
// pipeline's point-to-point channels.
def Llm_KvCacheResource : Resource<"::modelc::llm::KvCacheResource">;
def Llm_RecurrentStateResource : Resource<"::modelc::llm::RecurrentStateResource">;
def Llm_PipelineResource : Resource<"::modelc::llm::PipelineResource">;

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

def Llm_WeightOp : Llm_Op<"weight", [Symbol, HasParent<"::mlir::ModuleOp">]> {
  let summary = "A weight tensor bound to the weight store";
  let description = [{
    Declares a weight by name. `sources` are tensor names in the weight store (the
    model's safetensors or GGUF file, or a seeded random store); with several sources
    the tensors are concatenated along dimension 0, which is how merged QKV and
    gate/up projections are expressed without copying weights in the compiler.
    `transposed` says each source is stored as the transpose of `type`'s layout (GPT-2's
    Conv1D keeps `[in, out]`; `llm.linear` wants `[out, in]`); a stack of matrices (a 3-D
    source `[E, in, out]`) has each matrix transposed.

    `slices` (one entry per source) keeps part of a source: `array<i64: dim, offset0,
    size0, offset1, size1, ...>` takes those ranges along `dim` (of `type`'s layout, after
    any transpose) and concatenates them; an empty array keeps the whole source. This is
    how tensor parallelism gives each rank its shard of a weight (llm-partition). The
    weights that slice a source must together tile it (the parts of a fused tensor), unless
    one carries the discardable unit attribute `llm.picked_rows`: it picks rows on purpose
    (a classifier made of some tokens' rows of an LM head).

    `stride` spaces out what every range keeps: with `stride = s` the range `(offset,
    size)` keeps `size` elements `offset, offset + s, ..., offset + (size - 1) * s` of
    `dim`. This is how the even and odd rows of an interleaved tensor are read as two
    weights (gpt-oss keeps each expert's gate and up features alternating in one
    `gate_up_proj`).

    `storage` names the block type a GGUF file holds every source in, where a plan with
    f32 weights keeps those blocks as they are (`Q8_0`, `Q4_0`, `Q4_1`, `Q5_0`, `Q5_1`,
    `Q2_K` to `Q6_K`, `IQ4_NL`, `IQ4_XS`, `MXFP4`, and the weight store's `Q4_ZP` and
    `F8_E4M3_B32` for quantized checkpoints; set when the weights are bound). Linears merge only across weights of one
    storage type: a merged weight of two block types would have to be widened to f32.

    ```mlir
    llm.weight @layers.0.attn.q_proj : tensor<576x576xf16> = ["model.layers.0.self_attn.q_proj.weight"]
    llm.weight @layers.0.attn.o_proj : tensor<576x288xf16> = ["model.layers.0.self_attn.o_proj.weight"] slices [array<i64: 1, 288, 288>]
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<AnyStaticShapeTensor>:$type,
                       StrArrayAttr:$sources,
                       UnitAttr:$transposed,
                       OptionalAttr<TypedArrayAttrBase<DenseI64ArrayAttr, "slices">>:$slices,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$stride,
                       OptionalAttr<StrAttr>:$storage);
  let assemblyFormat = [{
    $sym_name `:` $type `=` $sources (`transposed` $transposed^)? (`slices` $slices^)?
    (`stride` $stride^)? (`storage` $storage^)? attr-dict
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    ::mlir::RankedTensorType getTensorType() {
      return ::llvm::cast<::mlir::RankedTensorType>(getType());
    }
    // Source `source`'s slice, [dim, offset, size, ...], or empty: the whole source.
    ::llvm::ArrayRef<int64_t> getSourceSlice(size_t source);
  }];
}

//===----------------------------------------------------------------------===//
// Token-wise ops
//===----------------------------------------------------------------------===//

def Llm_EmbeddingOp : Llm_WeightUserOp<"embedding"> {
  let summary = "Row lookup: result[t] = table[ids[t]]";
  let description = [{
    Looks up one row of `table` (`[V, D]`) per id. Used for token embeddings and for
    learned position embeddings (with the positions as ids). Ids out of `[0, V)` are
    rejected by the runtime before the iteration runs.

    With `vocab_offset` the table is a shard holding rows `vocab_offset ..
    vocab_offset + V` of the whole table: an id in that range gives its row, any other id
    a row of zeros (so that the sum over the ranks of a vocabulary-parallel embedding,
    `llm.all_reduce`, is the row; llm-partition).
  }];
  let arguments = (ins Llm_TokenVector:$ids, FlatSymbolRefAttr:$table,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$vocab_offset);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$ids `,` $table attr-dict `:` type($ids) `->` type($result)";
}

def Llm_RmsNormOp : Llm_WeightUserOp<"rms_norm", [SameOperandsAndResultType]> {
  let summary = "RMS normalization of each row, scaled by a weight";
  let description = [{
    `result[t] = input[t] / sqrt(mean(input[t]^2) + eps) * (weight_offset + weight)`,
    with the mean over the row. `weight` is `[D]`; `weight_offset` (0 when absent) is
    added to it in f32 (Gemma stores its norm weights as `w - 1`).
  }];
  let arguments = (ins Llm_Activation:$input, FlatSymbolRefAttr:$weight, F64Attr:$eps,
                       OptionalAttr<F64Attr>:$weight_offset);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Llm_LayerNormOp : Llm_WeightUserOp<"layer_norm", [SameOperandsAndResultType]> {
  let summary = "Layer normalization of each row with weight and (optional) bias";
  let description = [{
    `result[t] = (input[t] - mean) / sqrt(var + eps) * weight + bias`, mean and
    (biased) variance over the row. `weight` and `bias` are `[D]`; without `bias`, nothing
    is added (Cohere's LayerNorm).
  }];
  let arguments = (ins Llm_Activation:$input, FlatSymbolRefAttr:$weight,
                       OptionalAttr<FlatSymbolRefAttr>:$bias, F64Attr:$eps);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input `,` $weight (`,` $bias^)? attr-dict `:` type($result)";
  let hasVerifier = 1;
}

def Llm_LinearOp : Llm_WeightUserOp<"linear"> {
  let summary = "result = input * weight^T (+ bias)";
  let description = [{
    A fully connected layer over all tokens at once: `input` is `[T, K]`, `weight` is
    `[N, K]` (Hugging Face's `[out, in]`), the optional `bias` is `[N]`, the result is
    `[T, N]`. This is where selective batching pays: one GEMM per weight per iteration.
  }];
  let arguments = (ins Llm_Activation:$input, FlatSymbolRefAttr:$weight,
                       OptionalAttr<FlatSymbolRefAttr>:$bias);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? attr-dict `:` type($input) `->` type($result)
  }];
}

def Llm_HeadLinearOp : Llm_WeightUserOp<"head_linear"> {
  let summary = "A linear layer of each head: result head h = input head h * weight_h^T";
  let description = [{
    `input` is `[T, num_heads * K]`, `weight` `[num_heads * N, K]` (head `h`'s matrix is its
    rows `[h N, (h + 1) N)`), the result `[T, num_heads * N]`: a batch of small GEMMs, one
    per head, over all tokens. With `input_rows` each head's block is `[K, N]` instead (rows
    `[h K, (h + 1) K)`, result head `h` = input head `h` * `weight_h`): a checkpoint tensor's
    rows used transposed, as DeepSeek's latent attention folds kv_b_proj's key rows into the
    queries.
  }];
  let arguments = (ins Llm_Activation:$input, FlatSymbolRefAttr:$weight,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads, UnitAttr:$input_rows);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Llm_RopeOp : Llm_WeightUserOp<"rope", [AllTypesMatch<["input", "result"]>]> {
  let summary = "Rotary position embedding of each head";
  let description = [{
    Rotates the first `rotary_dim` features of each of `num_heads` heads of size
    `head_dim` by angle `position * theta^(-2i/rotary_dim)`. By default pairs are
    `(i, i + rotary_dim/2)` (Hugging Face's rotate_half); with `interleaved` they are
    `(2i, 2i+1)` (GPT-J, and GGUF Llama weights). `scaling` applies Llama 3.1's
    frequency-dependent scaling. Features past `rotary_dim` pass through (partial
    rotary). With `norm_weight` (an `llm.weight` of `[head_dim]`) and `norm_eps`, each
    head is first RMS-normalized over its `head_dim` features and scaled by the weight
    (plus `norm_weight_offset`, in f32, when given: Gemma 3), the result rounded to the
    activation type (Qwen3's q_norm and k_norm), then rotated. `linear_scaling` divides
    every frequency by its factor (positions interpolated: Hugging Face's "linear" RoPE).
    `frequency_factors` (`rotary_dim / 2` values) divides pair i's frequency by value i and
    `magnitude` multiplies the cos and sin of every rotation (LongRoPE: its rescale factors
    and attention factor). With `rotary_dim` 0 nothing is rotated: only the heads' norm
    applies (EXAONE 4's layers without RoPE keep their query and key norms).
    `norm_eps` without `norm_weight` normalizes each head with no weight (Llama 4's L2 norm
    of queries and keys, which transformers applies after the rotation: a rotation keeps
    each head's sum of squares, so normalizing first is the same function).
    With `temperature_floor` F and `temperature_scale` s every feature of a row at
    position p is multiplied, after everything else, by
    `1 + s * log(1 + floor((p + o) / F))` in f32, o being `temperature_offset` (0 when not
    given): Llama 4's attention temperature tuning of the queries of its layers without RoPE
    (o = 1), Ministral 3's of every layer's queries (`llama_4_scaling_beta`, o = 0).
  }];
  let arguments = (ins Llm_Activation:$input, Llm_TokenVector:$positions,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$rotary_dim,
                       F64Attr:$theta,
                       UnitAttr:$interleaved,
                       OptionalAttr<Llm_Llama3RopeScalingAttr>:$scaling,
                       OptionalAttr<FlatSymbolRefAttr>:$norm_weight,
                       OptionalAttr<F64Attr>:$norm_eps,
                       OptionalAttr<F64Attr>:$norm_weight_offset,
                       OptionalAttr<F64Attr>:$linear_scaling,
                       OptionalAttr<DenseF64ArrayAttr>:$frequency_factors,
                       OptionalAttr<F64Attr>:$magnitude,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$temperature_floor,
                       OptionalAttr<F64Attr>:$temperature_scale,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$temperature_offset);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input `,` $positions attr-dict `:` type($input) `,` type($positions)";
  let hasVerifier = 1;
}

def Llm_SiluOp : Llm_TokenwiseOp<"silu", [SameOperandsAndResultType]> {
  let summary = "x * sigmoid(x), element-wise";
  let arguments = (ins Llm_Activation:$input);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Llm_SigmoidOp : Llm_TokenwiseOp<"sigmoid", [SameOperandsAndResultType]> {
  let summary = "1 / (1 + exp(-x)), element-wise";
  let arguments = (ins Llm_Activation:$input);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Llm_GeluOp : Llm_TokenwiseOp<"gelu", [SameOperandsAndResultType]> {
  let summary = "GELU, element-wise, exact (erf) or tanh-approximated";
  let arguments = (ins Llm_Activation:$input, Llm_GeluApproximationAttr:$approximation);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Llm_ScaleOp : Llm_TokenwiseOp<"scale", [SameOperandsAndResultType]> {
  let summary = "x * factor, element-wise";
  let description = [{
    Multiplies every element by a constant, in f32. The factor is first rounded to the
    activation's element type, as Hugging Face's Gemma scales its embeddings
    (`embed_scale.to(dtype)`): `llm.scale %x {factor = 33.94...}` in bf16 multiplies
    by 34.0; with `f32_factor` it is rounded to f32 only, as a multiplication by a Python
    number is (Granite's multipliers).
  }];
  let arguments = (ins Llm_Activation:$input, F64Attr:$factor, UnitAttr:$f32_factor);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Llm_SoftcapOp : Llm_TokenwiseOp<"softcap", [SameOperandsAndResultType]> {
  let summary = "cap * tanh(x / cap), element-wise";
  let description = [{
    Soft-caps every element to (-cap, cap) (Gemma 2's final logits: divided by the cap,
    tanh, multiplied by the cap, in that order). With cap 1 it is tanh itself (an encoder
    classifier's pooler).
  }];
  let arguments = (ins Llm_Activation:$input, F64Attr:$cap);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

class Llm_BinaryOp<string mnemonic, string formula>
    : Llm_TokenwiseOp<mnemonic, [SameOperandsAndResultType, Commutative]> {
  let summary = "element-wise " # formula;
  let arguments = (ins Llm_Activation:$lhs, Llm_Activation:$rhs);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}
def Llm_AddOp : Llm_BinaryOp<"add", "lhs + rhs">;
def Llm_MulOp : Llm_BinaryOp<"mul", "lhs * rhs">;

def Llm_BiasAddOp : Llm_WeightUserOp<"bias_add", [SameOperandsAndResultType]> {
  let summary = "Adds a weight vector to every row";
  let description = [{
    `result[t] = input[t] + bias`, `bias` a `[D]` weight. An encoder adds its token-type
    embedding this way (BERT's type 0, which every token of one text has).
  }];
  let arguments = (ins Llm_Activation:$input, FlatSymbolRefAttr:$bias);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input `,` $bias attr-dict `:` type($result)";
}

def Llm_SplitOp : Llm_TokenwiseOp<"split"> {
  let summary = "Splits the feature dimension into consecutive pieces";
  let description = [{
    Result `i` holds the columns of `input` after those of results `0..i-1`; the
    result widths add up to the input width. Merged projections (QKV, gate/up) are
    split back with it.
  }];
  let arguments = (ins Llm_Activation:$input);
  let results = (outs Variadic<Llm_Activation>:$results);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($results)";
  let hasVerifier = 1;
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Llm_ConcatOp : Llm_TokenwiseOp<"concat"> {
  let summary = "Joins the features of each head";
  let description = [{
    The result has `num_heads` heads; head `h` is, in operand order, head `h` of each input
    joined end to end. An input of `num_heads * w` features has heads of `w` features; an
    input whose index `shared` lists has one head, its whole width, which every result head
    repeats (DeepSeek's multi-head latent attention: the rotated key features all heads
    share). With `num_heads = 1` it is the plain concatenation of the inputs' columns, the
    inverse of llm.split.
  }];
  let arguments = (ins Variadic<Llm_Activation>:$inputs,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       OptionalAttr<DenseI64ArrayAttr>:$shared);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs) `->` type($result)";
  let hasVerifier = 1;
}

def Llm_GatherTokensOp : Llm_TokenwiseOp<"gather_tokens", [AllTypesMatch<["input", "result"]>]> {
  let summary = "Selects the rows to sample";
  let description = [{
    `result[i] = input[rows[i]]`. Only the last token of each request that samples in
    this iteration goes on to the LM head, so the vocabulary projection is computed for
    as few rows as possible. The runtime checks `rows` against `T`.
  }];
  let arguments = (ins Llm_Activation:$input, Llm_TokenVector:$rows);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input `,` $rows attr-dict `:` type($input) `,` type($rows)";
}

def Llm_LogitsOp : Llm_Op<"logits",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "LM head: f32 logits = input * weight^T";
  let description = [{
    Projects `[S, D]` hidden states onto the vocabulary with `weight` `[V, D]` (the
    embedding table when embeddings are tied). The result is always f32, whatever the
    compute dtype, so sampling sees full-precision logits.
  }];
  let arguments = (ins Llm_Activation:$input, FlatSymbolRefAttr:$weight);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input `,` $weight attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Llm_MoeOp : Llm_WeightUserOp<"moe", [AttrSizedOperandSegments]> {
  let summary = "Mixture of experts: each token through its top-k experts' gated MLPs";
  let description = [{
    A sparse MLP block over all tokens at once (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE,
    GraniteMoE).
    For each token row `t`: `p = softmax(router_logits[t])` in f32 over the
    `num_experts` experts (`router_logits` is `[T, E]`, typically an `llm.linear` of
    `input`); the `top_k` largest probabilities choose the experts (ties to the lower
    index); with `normalize_top_k` their weights are divided by their sum; with
    `round_weights` the weights are rounded to the activation type before they scale the
    experts' outputs (Qwen MoE and OLMoE round them, Mixtral keeps them in f32).

    Expert `e` is a SiLU-gated MLP, `down_e(silu(gate_e(x)) * up_e(x))`: `gate_e` is rows
    `[e * I, (e + 1) * I)` of `gate` (`[E * I, D]`), `up_e` the same rows of `up`, and
    `down_e` rows `[e * D, (e + 1) * D)` of `down` (`[E * D, I]`), so a weight is the
    experts' matrices stacked (one `llm.weight` listing a source per expert, or a
    stacked 3-D tensor). The result row is the sum, over the chosen experts in the order
    they were chosen (probability descending), of `weight * expert(x)`, accumulated in f32
    and rounded to the activation type once; with `round_weights` each term is first
    rounded to the activation type (a product of two values of that type), as
    transformers' default (`grouped_mm`) experts compute it. Ties between equal
    probabilities go to the lower expert, where `torch.topk` may pick either.

    With `shared` (`[T, D]`, a shared expert's output computed by ordinary ops: Qwen2-MoE)
    the result adds it, scaled per row by `sigmoid(shared_gate)` when `shared_gate`
    (`[T, 1]`, a linear of `input`) is given: `round(round(routed) + round(round(sigmoid(g))
    * shared))`, as transformers adds them in the activation type.

    gpt-oss's experts differ in three ways, each optional: biases (`gate_bias` and
    `up_bias` `[E, I]`, `down_bias` `[E, D]`; row `e` is expert `e`'s) added to each
    projection's output; the clamped SwiGLU when `swiglu_limit` L and `swiglu_alpha` a
    are given, `(clamp(u, -L, L) + 1) * g' * sigmoid(a * g')` with `g' = min(g, L)`, in
    place of `silu(g) * u`; and routing by the softmax of the top-k logits, which is
    `normalize_top_k` of the softmax over all of them.

    DeepSeek-V3-style routing (GLM-4.5's MoE), each part optional: with `sigmoid_scores`
    the scores are `s = sigmoid(router_logits[t])` in place of the softmax; `score_bias`
    (`[E]`, a learned correction) is added to the scores, sigmoid or softmax (ERNIE 4.5),
    for choosing only (the weights are the chosen experts' `s`); with `num_groups` G and `top_groups` g the experts form G equal
    groups, each scored by the sum of its `group_top` (default 2) largest biased scores,
    and only the g best groups' experts may be chosen; `normalize_top_k` divides the
    weights by their sum, and `routed_scale` then multiplies them. Expert groups and
    `routed_scale` also apply to softmax scores (DeepSeek-V2's `group_limited_greedy`
    routing: each group scored by its largest probability, `group_top = 1`).

    `normalize_epsilon` is added to that sum (1e-20 under sigmoid scores, 0 under the
    softmax, unless given: LFM2-MoE's 1e-6).

    With `scale_inputs` each chosen expert sees the token's row times its weight and the
    experts' outputs are summed unweighted (Llama 4, whose sigmoid-scored top-1 expert
    scales its input).

    A token's result depends on its own row alone, not on which other tokens of the batch
    chose the same experts: the runtime computes each (token, expert) pair as a row of
    that expert's GEMMs, whose rows are independent (the CPU executor's always; on CUDA,
    with `--batch-invariant-gemm`, as for every GEMM).

    ```mlir
    %logits = llm.linear %h, @layers.0.moe.router : tensor<?x64xf32> -> tensor<?x4xf32>
    %y = llm.moe %h, %logits experts(@layers.0.moe.gate, @layers.0.moe.up, @layers.0.moe.down)
        {num_experts = 4 : i64, top_k = 2 : i64, normalize_top_k}
        : tensor<?x64xf32>, tensor<?x4xf32> -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Llm_Activation:$input, Llm_Activation:$router_logits,
                       Optional<Llm_Activation>:$shared, Optional<Llm_Activation>:$shared_gate,
                       FlatSymbolRefAttr:$gate, FlatSymbolRefAttr:$up, FlatSymbolRefAttr:$down,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_experts,
                       ConfinedAttr<I64Attr, [IntPositive]>:$top_k,
                       UnitAttr:$normalize_top_k, UnitAttr:$round_weights,
                       OptionalAttr<FlatSymbolRefAttr>:$gate_bias,
                       OptionalAttr<FlatSymbolRefAttr>:$up_bias,
                       OptionalAttr<FlatSymbolRefAttr>:$down_bias,
                       OptionalAttr<F64Attr>:$swiglu_alpha,
                       OptionalAttr<F64Attr>:$swiglu_limit,
                       UnitAttr:$sigmoid_scores,
                       OptionalAttr<FlatSymbolRefAttr>:$score_bias,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$num_groups,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$top_groups,
                       OptionalAttr<F64Attr>:$routed_scale,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$group_top,
                       UnitAttr:$scale_inputs,
                       OptionalAttr<F64Attr>:$normalize_epsilon);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = [{
    $input `,` $router_logits (`shared` $shared^)? (`shared_gate` $shared_gate^)?
    `experts` `(` $gate `,` $up `,` $down `)` attr-dict
    `:` type($input) `,` type($router_logits) (`shared` type($shared)^)?
    (`shared_gate` type($shared_gate)^)? `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Attention: the one per-request op
//===----------------------------------------------------------------------===//

def Llm_AttentionOp : Llm_Op<"attention", [
    Llm_SameActivationElementType, DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead<Llm_KvCacheResource>, MemWrite<Llm_KvCacheResource>]>]> {
  let summary = "Grouped-query attention of each request over its own KV cache";
  let description = [{
    For every request in `batch`, appends its new keys and values (rows of `key` and
    `value`) to the KV cache of layer `layer` and attends each of its query rows to all
    cached positions up to and including its own (causal). Requests never see each
    other's tokens. `query` is `[T, num_heads * head_dim]`; `key` and `value` are
    `[T, num_kv_heads * head_dim]`; query head `h` uses KV head
    `h / (num_heads / num_kv_heads)`. Scores are scaled by `scale`; with
    `sliding_window` a query at position p only sees positions > p - sliding_window;
    with `logit_softcap` each scaled score s becomes `logit_softcap * tanh(s /
    logit_softcap)` before the softmax (Gemma 2). With `sinks` (a weight of
    `num_heads` values: gpt-oss) each head's softmax has one more logit, its sink, which
    takes its share of the probability and contributes no value: query row weights are
    `exp(s_j - m) / (sum_i exp(s_i - m) + exp(sink - m))`.
    With `value_head_dim` the value heads (and so the result's heads) have that many
    features instead of `head_dim`: `value` is `[T, num_kv_heads * value_head_dim]` and the
    result `[T, num_heads * value_head_dim]` (DeepSeek's multi-head latent attention, whose
    keys carry the rotated features the values lack). With `value_in_key` as well, `value`
    is `key` itself and each value head is the first `value_head_dim` features of its key
    head: the KV cache holds no values apart (DeepSeek's latent cache, whose latent is both
    the keys' first features and the values).
    With `chunk_size` C a query at position p only sees positions at or after
    `p - p mod C`, its own chunk of C positions (Llama 4's chunked local attention).
    With `bidirectional` (an encoder's: BERT) every query sees all of its request's
    positions, those after its own too; the runtime then runs each prompt whole in one
    iteration and never from a prefix cache. It excludes `sliding_window` and
    `chunk_size`, and a plan with it pools its prompts (an embedding or classification plan).
  }];
  let arguments = (ins Llm_Activation:$query, Llm_Activation:$key, Llm_Activation:$value,
                       Llm_BatchType:$batch,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$layer,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_kv_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       F64Attr:$scale,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$sliding_window,
                       OptionalAttr<F64Attr>:$logit_softcap,
                       OptionalAttr<FlatSymbolRefAttr>:$sinks,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$value_head_dim,
                       UnitAttr:$value_in_key,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$chunk_size,
                       UnitAttr:$bidirectional);
  let results = (outs Llm_Activation:$result);
  let extraClassDeclaration = [{
    // The features of each value head: value_head_dim, or head_dim when not given.
    int64_t getValueDim() { return getValueHeadDim().value_or(getHeadDim()); }
  }];
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $batch attr-dict
    `:` type($query) `,` type($key) `,` type($value) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Recurrent state: per-request ops that carry state from one token to the next
//===----------------------------------------------------------------------===//

def Llm_CausalConv1dOp : Llm_Op<"causal_conv1d", [
    Llm_SameActivationElementType, AllTypesMatch<["input", "result"]>,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead<Llm_RecurrentStateResource>,
                   MemWrite<Llm_RecurrentStateResource>]>]> {
  let summary = "Depthwise causal convolution over each request's own tokens";
  let description = [{
    For every request in `batch`, each of the C features of each of its rows is the
    dot product of `weight`'s row for that feature (`[C, kernel_size]`, oldest tap
    first) with that feature over the request's last `kernel_size` tokens, this one
    included, plus `bias` (`[C]`) if given; with `activation = "silu"` the result goes
    through SiLU. Requests never see each other's tokens.

    The `kernel_size - 1` inputs before a request's first row in this batch come from
    its recurrent state `state` (one per op, numbered from 0), which the op then
    replaces with the request's last `kernel_size - 1` inputs. A request's rows at
    position 0 start from zeros, so the state is a function of the tokens the request
    has computed so far, as the KV cache is. (LFM2's short convolutions; the
    convolutions of Mamba 2 and Gated DeltaNet layers.)
  }];
  let arguments = (ins Llm_Activation:$input, Llm_BatchType:$batch,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$state,
                       ConfinedAttr<I64Attr, [IntMinValue<2>]>:$kernel_size,
                       FlatSymbolRefAttr:$weight,
                       OptionalAttr<FlatSymbolRefAttr>:$bias,
                       OptionalAttr<StrAttr>:$activation);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = [{
    $input `,` $batch attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Llm_GatedDeltaRuleOp : Llm_Op<"gated_delta_rule", [
    Llm_SameActivationElementType, DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead<Llm_RecurrentStateResource>,
                   MemWrite<Llm_RecurrentStateResource>]>]> {
  let summary = "Gated delta rule (linear attention) over each request's own tokens";
  let description = [{
    Gated DeltaNet's recurrence (Qwen3-Next's and Qwen3.5's linear attention). Each
    request keeps, per value head h, a matrix S_h of `key_head_dim x value_head_dim`
    floats (its recurrent state `state`: zeros at position 0), which each of its rows, in
    order, updates and reads. In f32, for value head h (key head h / (num_v_heads /
    num_k_heads)) of a row:

      q = l2norm(query head) / sqrt(key_head_dim), k = l2norm(key head)
          (l2norm(x) = x / sqrt(sum x^2 + 1e-6))
      beta = sigmoid(b_h), g = -exp(a_log_h) * softplus(a_h + dt_bias_h)
      S_h = exp(g) S_h;  S_h += k (beta (v_h - S_h^T k))^T;  out_h = S_h^T q

    `query` and `key` are `[T, num_k_heads * key_head_dim]`, `value` and the result
    `[T, num_v_heads * value_head_dim]`, `a` and `b` `[T, num_v_heads]`; `a_log` and
    `dt_bias` name `[num_v_heads]` weights. Requests never see each other's tokens.
  }];
  let arguments = (ins Llm_Activation:$query, Llm_Activation:$key, Llm_Activation:$value,
                       Llm_Activation:$a, Llm_Activation:$b, Llm_BatchType:$batch,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$state,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_k_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_v_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$key_head_dim,
                       ConfinedAttr<I64Attr, [IntPositive]>:$value_head_dim,
                       FlatSymbolRefAttr:$a_log, FlatSymbolRefAttr:$dt_bias);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $a `,` $b `,` $batch attr-dict `:` type($query) `,`
    type($key) `,` type($value) `,` type($a) `,` type($b) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Llm_SsmScanOp : Llm_Op<"ssm_scan", [
    Llm_SameActivationElementType, DeclareOpInterfaceMethods<SymbolUserOpInterface>,
    MemoryEffects<[MemRead<Llm_RecurrentStateResource>,
                   MemWrite<Llm_RecurrentStateResource>]>]> {
  let summary = "Mamba 2's selective state-space scan over each request's own tokens";
  let description = [{
    Each request keeps, per head h, a state S_h of `head_dim x state_size` floats (its
    recurrent state `state`: zeros at position 0), which each of its rows, in order,
    updates and reads. In f32, for head h (group g = h / (num_heads / num_groups)) of a
    row:

      dt = softplus(dt_h + dt_bias_h),  S_h = exp(-dt exp(a_log_h)) S_h + dt x_h B_g^T
      out_h = S_h C_g + d_h x_h

    `input` and the result are `[T, num_heads * head_dim]`, `dt` `[T, num_heads]`, `b` and
    `c` `[T, num_groups * state_size]`; `a_log`, `dt_bias` and `d` name `[num_heads]`
    weights. Requests never see each other's tokens. (Mamba 2 layers: Granite 4.0-H's.)
  }];
  let arguments = (ins Llm_Activation:$input, Llm_Activation:$dt, Llm_Activation:$b,
                       Llm_Activation:$c, Llm_BatchType:$batch,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$state,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       ConfinedAttr<I64Attr, [IntPositive]>:$head_dim,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_groups,
                       ConfinedAttr<I64Attr, [IntPositive]>:$state_size,
                       FlatSymbolRefAttr:$a_log, FlatSymbolRefAttr:$dt_bias,
                       FlatSymbolRefAttr:$d);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = [{
    $input `,` $dt `,` $b `,` $c `,` $batch attr-dict `:` type($input) `,` type($dt) `,`
    type($b) `,` type($c) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Parallelism
//===----------------------------------------------------------------------===//

def Llm_AllReduceOp : Llm_TokenwiseOp<"all_reduce", [SameOperandsAndResultType]> {
  let summary = "Sum over the ranks of a tensor-parallel group";
  let description = [{
    Every rank of the tensor-parallel group contributes its partial `[T, D]` and gets
    the sum. With `group_size = 1` it is the identity and folds away.
  }];
  let arguments = (ins Llm_Activation:$input, ConfinedAttr<I64Attr, [IntPositive]>:$group_size);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasFolder = 1;
}

def Llm_AllGatherOp : Llm_TokenwiseOp<"all_gather"> {
  let summary = "Columns of every rank of a tensor-parallel group, side by side";
  let description = [{
    Every rank contributes its `[T, D]` and gets `[T, group_size * D]`: rank `r`'s columns
    at `r * D`. A vocabulary-parallel LM head (llm-partition) gathers its logits with it.
  }];
  let arguments = (ins Llm_Activation:$input, ConfinedAttr<I64Attr, [IntPositive]>:$group_size);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Llm_SendOp : Llm_Op<"send", [MemoryEffects<[MemWrite<Llm_PipelineResource>]>]> {
  let summary = "Sends activations to a later pipeline stage";
  let arguments = (ins Llm_Activation:$input, ConfinedAttr<I64Attr, [IntNonNegative]>:$stage);
  let assemblyFormat = "$input `to` $stage attr-dict `:` type($input)";
}

def Llm_RecvOp : Llm_Op<"recv", [MemoryEffects<[MemRead<Llm_PipelineResource>,
                                                 MemWrite<Llm_PipelineResource>]>]> {
  let summary = "Receives activations from an earlier pipeline stage";
  let description = [{
    The row count of the result is the iteration's token count, known from `batch`.
    Receiving takes the next message off the channel, so two receives are never one.
  }];
  let arguments = (ins Llm_BatchType:$batch, ConfinedAttr<I64Attr, [IntNonNegative]>:$stage);
  let results = (outs Llm_Activation:$result);
  let assemblyFormat = "$batch `from` $stage attr-dict `:` type($result)";
}

#endif // MODELC_LLM_OPS
