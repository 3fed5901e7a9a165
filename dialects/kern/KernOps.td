#ifndef MODELC_KERN_OPS
#define MODELC_KERN_OPS

include "KernDialect.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

class Kern_Op<string mnemonic, list<Trait> traits = []>
    : Op<Kern_Dialect, mnemonic, traits>;

// [T, D] activations with T dynamic, as in llm.
def Kern_Activation : Type<
    And<[IsTensorTypePred,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getRank() == 2">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).isDynamicDim(0)">,
         CPred<"!::llvm::cast<::mlir::RankedTensorType>($_self).isDynamicDim(1)">,
         CPred<"::llvm::isa<::mlir::FloatType>("
               "::llvm::cast<::mlir::RankedTensorType>($_self).getElementType())">]>,
    "activation tensor<?xDxfloat>", "::mlir::RankedTensorType">;

def Kern_IndexVector : Type<
    And<[IsTensorTypePred,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getRank() == 1">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getElementType()"
               ".isSignlessInteger(32)">]>,
    "index vector tensor<?xi32>", "::mlir::RankedTensorType">;

def Kern_ReductionKind : I32EnumAttr<"ReductionKind", "row reduction", [
    I32EnumAttrCase<"add", 0>, I32EnumAttrCase<"max", 1>]> {
  let cppNamespace = "::modelc::kern";
  let genSpecializedAttr = 0;
}
def Kern_ReductionKindAttr : EnumAttr<Kern_Dialect, Kern_ReductionKind, "reduction"> {
  let assemblyFormat = "`<` $value `>`";
}

def Kern_KvCacheResource : Resource<"::modelc::kern::KvCacheResource">;
def Kern_PipelineResource : Resource<"::modelc::kern::PipelineResource">;
def Kern_RecurrentStateResource : Resource<"::modelc::kern::RecurrentStateResource">;

//===----------------------------------------------------------------------===//
// Views
//===----------------------------------------------------------------------===//

def Kern_ColumnsOp : Kern_Op<"columns", [Pure]> {
  let summary = "A range of columns of an activation, without a copy";
  let description = [{
    `result[t, j] = input[t, offset + j]` for `j` in `[0, width)`, `width` being the
    result's feature dimension.
  }];
  let arguments = (ins Kern_Activation:$input, ConfinedAttr<I64Attr, [IntNonNegative]>:$offset);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = "$input `[` $offset `]` attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Library calls
//===----------------------------------------------------------------------===//

def Kern_GemmOp : Kern_Op<"gemm", [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "result = input * weight^T (+ bias): a GEMM library call";
  let description = [{
    `input` `[T, K]`, `weight` `[N, K]` (an `llm.weight`), optional `bias` `[N]`. The
    result element type may be wider than the input's (f32 logits from f16 activations).
    With `num_heads` H (llm.head_linear) it is H GEMMs, head `h`'s columns of the input
    against its block of the weight's rows (`[N, K]`, or `[K, N]` with `input_rows`).
  }];
  let arguments = (ins Kern_Activation:$input, FlatSymbolRefAttr:$weight,
                       OptionalAttr<FlatSymbolRefAttr>:$bias,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$num_heads,
                       UnitAttr:$input_rows);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight (`bias` $bias^)? attr-dict `:` type($input) `->` type($result)
  }];
}

def Kern_GatherRowsOp : Kern_Op<"gather_rows", [Pure]> {
  let summary = "result[i] = source[indices[i]]: token embedding or row selection";
  let description = [{
    Reads rows of an activation (`source` operand) or of a weight (`table` symbol),
    exactly one of the two. With `row_offset` the table is a shard of rows
    `row_offset..`: index `i` reads its row `i - row_offset`, or zeros outside the shard.
  }];
  let arguments = (ins Optional<Kern_Activation>:$source, OptionalAttr<FlatSymbolRefAttr>:$table,
                       Kern_IndexVector:$indices,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$row_offset);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = [{
    ($source^ `:` type($source))? ($table^)? `[` $indices `]` attr-dict `:` type($indices) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Kern_RopeOp : Kern_Op<"rope", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "Rotary position embedding (a runtime kernel)";
  let arguments = (ins Kern_Activation:$input, Kern_IndexVector:$positions,
                       DictionaryAttr:$config);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = "$input `,` $positions $config attr-dict `:` type($input) `,` type($positions)";
}

def Kern_AttentionOp : Kern_Op<"attention", [
    MemoryEffects<[MemRead<Kern_KvCacheResource>, MemWrite<Kern_KvCacheResource>]>]> {
  let summary = "Paged attention of each request (a runtime kernel)";
  let description = [{
    The runtime's paged prefill/decode attention; `config` carries llm.attention's
    attributes (layer, heads, KV heads, head_dim, value_head_dim, scale, sliding_window,
    chunk_size, bidirectional). The
    batch layout comes from the iteration's metadata at run time.
  }];
  let arguments = (ins Kern_Activation:$query, Kern_Activation:$key, Kern_Activation:$value,
                       DictionaryAttr:$config);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value $config attr-dict
    `:` type($query) `,` type($key) `,` type($value) `->` type($result)
  }];
}

def Kern_CausalConv1dOp : Kern_Op<"causal_conv1d", [AllTypesMatch<["input", "result"]>,
    MemoryEffects<[MemRead<Kern_RecurrentStateResource>, MemWrite<Kern_RecurrentStateResource>]>]> {
  let summary = "Depthwise causal convolution of each request over its state (a runtime kernel)";
  let description = [{
    The runtime's per-request causal convolution; `config` carries llm.causal_conv1d's
    attributes (state, kernel_size, weight, bias, activation). The batch layout and each
    request's state slot come from the iteration's metadata at run time.
  }];
  let arguments = (ins Kern_Activation:$input, DictionaryAttr:$config);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = "$input $config attr-dict `:` type($input)";
}

def Kern_GatedDeltaRuleOp : Kern_Op<"gated_delta_rule", [
    MemoryEffects<[MemRead<Kern_RecurrentStateResource>, MemWrite<Kern_RecurrentStateResource>]>]> {
  let summary = "Gated delta rule of each request over its state (a runtime kernel)";
  let description = [{
    The runtime's per-request Gated DeltaNet recurrence; `config` carries
    llm.gated_delta_rule's attributes (state, heads, head dims, a_log, dt_bias).
  }];
  let arguments = (ins Kern_Activation:$query, Kern_Activation:$key, Kern_Activation:$value,
                       Kern_Activation:$a, Kern_Activation:$b, DictionaryAttr:$config);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $a `,` $b $config attr-dict `:` type($query) `,`
    type($key) `,` type($value) `,` type($a) `,` type($b) `->` type($result)
  }];
}

def Kern_SsmScanOp : Kern_Op<"ssm_scan", [
    MemoryEffects<[MemRead<Kern_RecurrentStateResource>, MemWrite<Kern_RecurrentStateResource>]>]> {
  let summary = "Mamba 2's selective scan of each request over its state (a runtime kernel)";
  let description = [{
    The runtime's per-request selective state-space scan; `config` carries llm.ssm_scan's
    attributes (state, heads, head_dim, groups, state_size, a_log, dt_bias, d).
  }];
  let arguments = (ins Kern_Activation:$input, Kern_Activation:$dt, Kern_Activation:$b,
                       Kern_Activation:$c, DictionaryAttr:$config);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = [{
    $input `,` $dt `,` $b `,` $c $config attr-dict `:` type($input) `,` type($dt) `,`
    type($b) `,` type($c) `->` type($result)
  }];
}

def Kern_ConcatOp : Kern_Op<"concat", [Pure]> {
  let summary = "Joins the features of each head (a runtime kernel)";
  let description = [{
    llm.concat as a copy: result head `h` is head `h` of each input in operand order, an
    input listed in `shared` giving its one head to every result head.
  }];
  let arguments = (ins Variadic<Kern_Activation>:$inputs,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       OptionalAttr<DenseI64ArrayAttr>:$shared);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = "$inputs attr-dict `:` type($inputs) `->` type($result)";
}

def Kern_MoeOp : Kern_Op<"moe", [Pure, AttrSizedOperandSegments,
                                  DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "Mixture of experts (a runtime kernel)";
  let description = [{
    llm.moe as a library call, with its attributes: routing (softmax, top-k, optional
    renormalization and rounding), each expert's SiLU-gated MLP over the rows that chose
    it, and the weighted sum in the order the experts were chosen; plus the optional
    `shared` expert's output, scaled by `sigmoid(shared_gate)` when given; the experts'
    optional biases and clamped SwiGLU (`swiglu_alpha`, `swiglu_limit`); sigmoid scores, a
    choice-only `score_bias` (on sigmoid or softmax scores), group-limited choice (`num_groups`, `top_groups`,
    `group_top`), `routed_scale` and `scale_inputs`, as llm.moe describes them.
  }];
  let arguments = (ins Kern_Activation:$input, Kern_Activation:$router_logits,
                       Optional<Kern_Activation>:$shared, Optional<Kern_Activation>:$shared_gate,
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
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = [{
    $input `,` $router_logits (`shared` $shared^)? (`shared_gate` $shared_gate^)?
    `experts` `(` $gate `,` $up `,` $down `)` attr-dict
    `:` type($input) `,` type($router_logits) (`shared` type($shared)^)?
    (`shared_gate` type($shared_gate)^)? `->` type($result)
  }];
}

def Kern_AllReduceOp : Kern_Op<"all_reduce", [Pure, SameOperandsAndResultType]> {
  let summary = "Sum over a tensor-parallel group (NCCL or MPI)";
  let arguments = (ins Kern_Activation:$input, ConfinedAttr<I64Attr, [IntPositive]>:$group_size);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
}

def Kern_SendOp : Kern_Op<"send", [MemoryEffects<[MemWrite<Kern_PipelineResource>]>]> {
  let summary = "Sends an activation to the next pipeline stage (the runtime's channel)";
  let arguments = (ins Kern_Activation:$input, ConfinedAttr<I64Attr, [IntNonNegative]>:$stage);
  let assemblyFormat = "$input `to` $stage attr-dict `:` type($input)";
}

def Kern_RecvOp : Kern_Op<"recv", [MemoryEffects<[MemRead<Kern_PipelineResource>,
                                                  MemWrite<Kern_PipelineResource>]>]> {
  let summary = "Receives an activation of the iteration's rows from an earlier stage";
  let arguments = (ins ConfinedAttr<I64Attr, [IntNonNegative]>:$stage);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = "`from` $stage attr-dict `:` type($result)";
}

def Kern_AllGatherOp : Kern_Op<"all_gather", [Pure]> {
  let summary = "Every rank's columns side by side, in rank order (NCCL or MPI)";
  let arguments = (ins Kern_Activation:$input, ConfinedAttr<I64Attr, [IntPositive]>:$group_size);
  let results = (outs Kern_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
}

//===----------------------------------------------------------------------===//
// Generated kernels
//===----------------------------------------------------------------------===//

def Kern_FusedOp : Kern_Op<"fused", [
    Pure, IsolatedFromAbove, SingleBlock,
    DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "One generated kernel: scalar code per column of each row";
  let description = [{
    For every row `t` and column `j` in `[0, width)` (the results' common feature
    dimension), the body receives element `j` of row `t` of each input, then element `j`
    of each weight (`[width]` vectors), and yields element `j` of row `t` of each result.
    `kern.reduce` inside the body combines a value over all columns of the row and gives
    every column the total, so norms fuse with the elementwise code around them.

    ```mlir
    %y = kern.fused ins(%x : tensor<?x64xf32>) weights(@w) -> tensor<?x64xf32> {
    ^bb0(%xj: f32, %wj: f32):
      %sq = arith.mulf %xj, %xj : f32
      %sum = kern.reduce <add> %sq : f32
      ...
      kern.yield %yj : f32
    }
    ```
  }];
  let arguments = (ins Variadic<Kern_Activation>:$inputs, SymbolRefArrayAttr:$weights);
  let results = (outs Variadic<Kern_Activation>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    `ins` `(` $inputs `:` type($inputs) `)` `weights` `(` $weights `)` attr-dict
    `->` type($results) $body
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getWidth() {
      return ::llvm::cast<::mlir::RankedTensorType>(getResult(0).getType()).getDimSize(1);
    }
  }];
}

def Kern_ReduceOp : Kern_Op<"reduce", [Pure, HasParent<"FusedOp">,
                                        SameOperandsAndResultType]> {
  let summary = "Row-wide reduction inside kern.fused";
  let description = [{
    Combines `value` over every column of the current row; each column gets the result.
  }];
  let arguments = (ins Kern_ReductionKindAttr:$kind, AnyFloat:$value);
  let results = (outs AnyFloat:$result);
  let assemblyFormat = "$kind $value attr-dict `:` type($value)";
}

def Kern_YieldOp : Kern_Op<"yield", [Pure, Terminator, HasParent<"FusedOp">]> {
  let summary = "The elements of the results for the current column";
  let arguments = (ins Variadic<AnyFloat>:$values);
  let assemblyFormat = "($values^ `:` type($values))? attr-dict";
}

#endif // MODELC_KERN_OPS
