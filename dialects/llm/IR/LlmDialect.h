// The llm dialect: model-level tensor ops over the flattened token batch.
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

#include "dialects/llm/LlmDialect.h.inc"

namespace modelc::llm {

// The paged KV cache that llm.attention appends to and reads from.
struct KvCacheResource : public mlir::SideEffects::Resource::Base<KvCacheResource> {
  llvm::StringRef getName() final { return "llm.kv_cache"; }
};

// Each request's recurrent state (convolution windows, SSM states) that llm.causal_conv1d
// and its kind read and replace.
struct RecurrentStateResource : public mlir::SideEffects::Resource::Base<RecurrentStateResource> {
  llvm::StringRef getName() final { return "llm.recurrent_state"; }
};

// The point-to-point channels between pipeline stages.
struct PipelineResource : public mlir::SideEffects::Resource::Base<PipelineResource> {
  llvm::StringRef getName() final { return "llm.pipeline"; }
};

namespace OpTrait {
mlir::LogicalResult verifySameActivationElementType(mlir::Operation *op);

template <typename ConcreteType>
class SameActivationElementType
    : public mlir::OpTrait::TraitBase<ConcreteType, SameActivationElementType> {
public:
  static mlir::LogicalResult verifyTrait(mlir::Operation *op) {
    return verifySameActivationElementType(op);
  }
};
} // namespace OpTrait

} // namespace modelc::llm

namespace mlir {
// Float attribute parameters (APFloatParameter) print as plain numbers; parse them back.
template <> struct FieldParser<llvm::APFloat> {
  static FailureOr<llvm::APFloat> parse(AsmParser &parser) {
    double value;
    if (parser.parseFloat(value))
      return failure();
    return llvm::APFloat(value);
  }
};
} // namespace mlir

#include "dialects/llm/LlmEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/llm/LlmAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/llm/LlmTypes.h.inc"

#define GET_OP_CLASSES
#include "dialects/llm/LlmOps.h.inc"
