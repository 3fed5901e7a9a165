// Named pass pipelines: what modelc runs between stages, also available to modelc-opt as
// -pass-pipeline='builtin.module(llm-optimize)'.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"

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

// kern -> loops: each kern.fused is outlined into a function of loops over memrefs.
void buildKernFusedToLoopsPipeline(mlir::OpPassManager &pm);

// A module of CPU kernel functions (loops over memrefs) -> the LLVM dialect.
void buildCpuKernelsToLlvmPipeline(mlir::OpPassManager &pm);

// Moves the outlined kernel functions of `module` into a module of their own, public, as
// the CPU kernel library of a plan is built from them.
mlir::OwningOpRef<mlir::ModuleOp> extractKernels(mlir::ModuleOp module);

// The outlined CPU kernels of `module` (after convert-kern-fused-to-loops) as LLVM IR:
// extracted, lowered with the kern-cpu-to-llvm pipeline and translated.
llvm::Expected<std::unique_ptr<llvm::Module>> cpuKernelsToLlvmIr(mlir::ModuleOp module,
                                                                 llvm::LLVMContext &context);

void registerPipelines();

} // namespace modelc
