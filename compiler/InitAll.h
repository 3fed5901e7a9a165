// Registers every dialect and pass of modelc. Shared by modelc, modelc-opt and tests so
// that all of them see exactly the same compiler.
#pragma once

#include "compiler/Conversion/Passes.h"
#include "compiler/pipeline/Pipelines.h"
#include "dialects/kern/IR/KernDialect.h"
#include "dialects/llm/IR/LlmDialect.h"
#include "dialects/llm/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace modelc {

inline void registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<llm::LlmDialect, kern::KernDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::math::MathDialect>();
}

inline void registerAllPasses() {
  llm::registerLlmPasses();
  registerConversionPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::registerSymbolDCEPass();
  registerPipelines();
}

} // namespace modelc
