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
    bias, and their weights agree in element type and layout.
  }];
  let options = [
    Option<"minGroupSize", "min-group-size", "unsigned", /*default=*/"2",
           "Merge only groups of at least this many linears">,
  ];
  let dependentDialects = ["::modelc::llm::LlmDialect"];
}

#endif // MODELC_LLM_PASSES
