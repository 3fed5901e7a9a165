// Architecture builders: a ModelSpec in, an llm-dialect module out.
#pragma once

#include "compiler/frontend/ModelSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace modelc::frontend {

// Builds the module: llm.weight declarations, func @forward (one iteration over the
// flattened token batch), and module attributes describing the model, its weight and
// tokenizer sources, target and limits.
mlir::OwningOpRef<mlir::ModuleOp> buildModule(mlir::MLIRContext &context, const ModelSpec &spec);

} // namespace modelc::frontend
