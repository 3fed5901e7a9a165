// Passes over the llm dialect.
#pragma once

#include "dialects/llm/IR/LlmDialect.h"
#include "mlir/Pass/Pass.h"

namespace modelc::llm {

// The attribute llm-fuse puts on each op of a fusion group: the group's number.
inline constexpr llvm::StringLiteral kFusionGroupAttr = "llm.fusion_group";

// Token-wise ops that a generated kernel can compute (element-wise ops and norms).
bool isFusible(mlir::Operation *op);

#define GEN_PASS_DECL
#include "dialects/llm/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dialects/llm/Passes.h.inc"

} // namespace modelc::llm
