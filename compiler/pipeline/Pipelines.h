// Named pass pipelines: what modelc runs between stages, also available to modelc-opt as
// -pass-pipeline='builtin.module(llm-optimize)'.
#pragma once

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace modelc {

struct LlmOptimizeOptions : public mlir::PassPipelineOptions<LlmOptimizeOptions> {
  Option<bool> mergeLinears{*this, "merge-linears",
                            llvm::cl::desc("Merge linears that share an input into one GEMM"),
                            llvm::cl::init(true)};
};

// The llm-level pipeline: canonicalize, merge QKV and gate/up GEMMs, clean up.
void buildLlmOptimizePipeline(mlir::OpPassManager &pm, const LlmOptimizeOptions &options);

// llm -> kern: decide fusion groups, lower to fused kernels and library calls, clean up.
void buildKernPipeline(mlir::OpPassManager &pm);

void registerPipelines();

} // namespace modelc
