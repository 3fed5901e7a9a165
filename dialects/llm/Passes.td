#ifndef MODELC_LLM_PASSES
#define MODELC_LLM_PASSES

include "mlir/Pass/PassBase.td"

def LlmMergeLinears : Pass<"llm-merge-linears", "::mlir::ModuleOp"> {
  let summary = "Merge linear layers that read the same input into one GEMM";
  let description = [{
    Linear layers that share their input (the Q, K and V projections; the gate and up
    projections of a gated MLP) become one `llm.linear` whose weight concatenates
    theirs along the output dimension, followed by an `llm.split`. The input is then
    read once and the GEMM is wider, which is what GPU GEMM libraries run best. The
    merged weight is a new `llm.weight` whose `sources` list the original tensors, so
    nothing is copied at compile time. Linears merge only when all or none have a
    bias, and their weights agree in element type, layout and `storage` (a GGUF file's
    Q4_K Q and K with a Q6_K V stay three GEMMs, so that each keeps its blocks).
  }];
  let options = [
    Option<"minGroupSize", "min-group-size", "unsigned", /*default=*/"2",
           "Merge only groups of at least this many linears">,
  ];
  let dependentDialects = ["::modelc::llm::LlmDialect"];
}

def LlmPartition : Pass<"llm-partition", "::mlir::ModuleOp"> {
  let summary = "Rewrite the module into the program of one tensor-parallel rank";
  let description = [{
    Megatron-style tensor parallelism, decided at compile time. A *region* is the ops
    between column-parallel linears and one row-parallel linear: the row linear's input
    comes from other linears only through element-wise ops, rope, attention and split,
    and nothing outside reads a value inside. Attention shards by heads (query heads
    split evenly over the ranks; KV heads too, or, when there are fewer KV heads than
    ranks, each rank keeps the KV head its query heads read); the other values split
    their columns evenly. Column linears keep the weight rows (and bias entries) of
    their output columns, the row linear keeps the weight columns of its input's, and
    an `llm.all_reduce` sums its partial results over the ranks; only rank 0 adds its
    bias. Weights are sharded by `slices` on the `llm.weight`, so nothing is copied at
    compile time.

    Tables read only by `llm.embedding` and `llm.logits` (the token embedding, a tied or
    separate LM head, learned positions) are split by rows over the ranks when their
    rows divide evenly (vocabulary parallelism): an embedding shard gives zero rows for
    ids outside it (`vocab_offset`) and an `llm.all_reduce` adds them up, which is
    exact; each rank computes its share of the logits and an `llm.all_gather` puts them
    side by side. Everything else (norms, residual adds) is replicated: every rank
    computes it on identical inputs.

    A Llama layer has two regions: Q/K/V projections, rope and attention before the
    output projection; gate and up projections, SiLU and the gating multiply before the
    down projection. Run it before `llm-merge-linears`, which keeps the slices.
  }];
  let options = [
    Option<"tp", "tp", "int64_t", /*default=*/"1", "Ranks in the tensor-parallel group">,
    Option<"rank", "rank", "int64_t", /*default=*/"0", "The rank whose program to build">,
  ];
  let dependentDialects = ["::modelc::llm::LlmDialect"];
}

def LlmPipeline : Pass<"llm-pipeline", "::mlir::ModuleOp"> {
  let summary = "Keep one pipeline stage's layers, with send and receive at the cuts";
  let description = [{
    Pipeline parallelism, decided at compile time: the layers (the `llm.attention` ops,
    in order) are split into `pp` consecutive stages of nearly equal size (the later
    stages, which hold the LM head, get the fewer), and each function keeps the ops of
    `stage`. A cut lies between the attention of a stage's last layer and the next
    stage's first one, where the fewest activations cross (in a transformer, the
    residual stream alone), the latest such point, so that a layer's MLP stays with its
    attention. The activations crossing into the
    stage come from `llm.recv`, those crossing out go to `llm.send`; only the last stage
    returns (the logits), so the others' functions have no results. Attention layers are
    renumbered from 0 in each stage, whose KV cache holds only its layers. Weights no op
    of the stage reads are removed.
  }];
  let options = [
    Option<"pp", "pp", "int64_t", /*default=*/"1", "Pipeline stages">,
    Option<"stage", "stage", "int64_t", /*default=*/"0", "The stage whose program to build">,
  ];
  let dependentDialects = ["::modelc::llm::LlmDialect", "::mlir::func::FuncDialect"];
}

def LlmFuse : Pass<"llm-fuse", "::mlir::ModuleOp"> {
  let summary = "Decide which token-wise ops share one generated kernel";
  let description = [{
    Groups element-wise ops, norms and residual adds of the same width into fusion
    groups, recorded as an `llm.fusion_group` integer attribute on each op; it changes
    nothing else (convert-llm-to-kern carries the decision out). Groups grow in program
    order: an op joins the group of one of its producers when the widths agree and no
    op outside the group that runs before it uses the group's values (the fused kernel
    runs where its last op stood). The usual result is one kernel for each residual add
    with the following norm, and one for the activation and gating of each MLP.
  }];
  let dependentDialects = ["::modelc::llm::LlmDialect"];
}

#endif // MODELC_LLM_PASSES
