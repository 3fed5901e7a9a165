#ifndef MODELC_CONVERSION_PASSES
#define MODELC_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def ConvertLlmToKern : Pass<"convert-llm-to-kern", "::mlir::ModuleOp"> {
  let summary = "Lower llm ops to kernels: fused row kernels and library calls";
  let description = [{
    Carries out llm-fuse's decision: each fusion group becomes one `kern.fused` whose
    body computes the group's element-wise ops and norms for one column, in f32 whatever
    the activation type, with `kern.reduce` for the norms' row sums. Token-wise ops
    without a group become kernels of their own. Linear layers and the LM head become
    `kern.gemm`, embeddings and sampled-row selection `kern.gather_rows`, split pieces
    `kern.columns` views, and rope, attention and all-reduce the runtime's kernels.
  }];
  let dependentDialects = ["::modelc::kern::KernDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

#endif // MODELC_CONVERSION_PASSES
