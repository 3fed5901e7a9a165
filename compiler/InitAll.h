// Registers every dialect and pass of modelc. Shared by modelc, modelc-opt and tests so
// that all of them see exactly the same compiler.
#pragma once

#include "compiler/Conversion/Passes.h"
#include "compiler/pipeline/Pipelines.h"
#include "dialects/kern/IR/KernDialect.h"
#include "dialects/llm/IR/LlmDialect.h"
#include "dialects/llm/Transforms/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace modelc {

inline void registerAllDialects(mlir::DialectRegistry &registry) {
  registry
      .insert<llm::LlmDialect, kern::KernDialect, mlir::func::FuncDialect,
              mlir::arith::ArithDialect, mlir::math::MathDialect, mlir::scf::SCFDialect,
              mlir::memref::MemRefDialect, mlir::cf::ControlFlowDialect, mlir::LLVM::LLVMDialect>();
  registerCudaCodegen(registry);
}

inline void registerAllPasses() {
  llm::registerLlmPasses();
  registerConversionPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  mlir::registerLoopInvariantCodeMotionPass();
  // The MLIR conversions of the CPU kernel path, for lit tests of each stage.
  mlir::registerSCFToControlFlowPass();
  mlir::registerConvertMathToLLVMPass();
  mlir::registerConvertMathToLibm();
  mlir::registerArithToLLVMConversionPass();
  mlir::registerFinalizeMemRefToLLVMConversionPass();
  mlir::registerConvertFuncToLLVMPass();
  mlir::registerConvertControlFlowToLLVMPass();
  mlir::registerReconcileUnrealizedCasts();
  registerPipelines();
}

} // namespace modelc
