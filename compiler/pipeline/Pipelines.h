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
  Option<int64_t> tp{*this, "tp", llvm::cl::desc("Tensor-parallel ranks (llm-partition)"),
                     llvm::cl::init(1)};
  Option<int64_t> rank{*this, "rank", llvm::cl::desc("The rank whose program to build"),
                       llvm::cl::init(0)};
  Option<int64_t> pp{*this, "pp", llvm::cl::desc("Pipeline stages (llm-pipeline)"),
                     llvm::cl::init(1)};
  Option<int64_t> stage{*this, "stage", llvm::cl::desc("The stage whose program to build"),
                        llvm::cl::init(0)};
};

// The llm-level pipeline: canonicalize, keep one pipeline stage (pp > 1), partition for
// one tensor-parallel rank (tp > 1), merge QKV and gate/up GEMMs, clean up.
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

// The CUDA kernels of `module` (gpu.module @cuda_kernels, after convert-kern-fused-to-gpu)
// as PTX for `chip` (sm_80, sm_90, ...): extracted, lowered to NVVM (libdevice for math)
// and compiled by LLVM's NVPTX back end. The PTX names each kernel as its gpu.func.
llvm::Expected<std::string> cudaKernelsToPtx(mlir::ModuleOp module, llvm::StringRef chip);

// The CUDA toolkit libdevice is taken from: CUDA_ROOT, CUDA_HOME or CUDA_PATH, else
// /usr/local/cuda.
std::string cudaToolkitPath();

// The passes cudaKernelsToPtx runs on a module holding the gpu.module.
void buildCudaKernelsToPtxPipeline(mlir::OpPassManager &pm, llvm::StringRef chip);

// What the CUDA path needs registered: the NVVM target of gpu.module, the LLVM IR
// translations, and LLVM's NVPTX back end.
void registerCudaCodegen(mlir::DialectRegistry &registry);

void registerPipelines();

} // namespace modelc
