// The kern dialect: one op per kernel launch.
#pragma once

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/kern/KernDialect.h.inc"

namespace modelc::kern {
// The paged KV cache that kern.attention appends to and reads from.
struct KvCacheResource : public mlir::SideEffects::Resource::Base<KvCacheResource> {
  llvm::StringRef getName() final { return "kern.kv_cache"; }
};
// Each request's recurrent state that kern.causal_conv1d reads and replaces.
struct RecurrentStateResource : public mlir::SideEffects::Resource::Base<RecurrentStateResource> {
  llvm::StringRef getName() final { return "kern.recurrent_state"; }
};
// The point-to-point channels between pipeline stages.
struct PipelineResource : public mlir::SideEffects::Resource::Base<PipelineResource> {
  llvm::StringRef getName() final { return "kern.pipeline"; }
};
} // namespace modelc::kern

#include "dialects/kern/KernEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/kern/KernAttrs.h.inc"

#define GET_OP_CLASSES
#include "dialects/kern/KernOps.h.inc"
