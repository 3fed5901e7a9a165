#ifndef MODELC_LLM_TYPES
#define MODELC_LLM_TYPES

include "LlmDialect.td"

class Llm_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Llm_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def Llm_BatchType : Llm_Type<"Batch", "batch"> {
  let summary = "The layout of one iteration's flattened token batch";
  let description = [{
    Opaque handle to what the runtime knows about the requests of this iteration: where
    each request's tokens start in the flattened `[T, D]` activations, how many tokens of
    context each request already has, and each request's KV-cache block table. Only
    ops that must see request boundaries (`llm.attention`, `llm.recv`) take it.
  }];
}

// Activations: [T, D] with T the flattened token count (dynamic), D static.
def Llm_Activation : Type<
    And<[IsTensorTypePred,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getRank() == 2">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).isDynamicDim(0)">,
         CPred<"!::llvm::cast<::mlir::RankedTensorType>($_self).isDynamicDim(1)">,
         CPred<"::llvm::isa<::mlir::FloatType>("
               "::llvm::cast<::mlir::RankedTensorType>($_self).getElementType())">]>,
    "activation tensor<?xDxfloat>", "::mlir::RankedTensorType">;

// Per-token integer vectors: token ids, positions, sampled row indices.
def Llm_TokenVector : Type<
    And<[IsTensorTypePred,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getRank() == 1">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).isDynamicDim(0)">,
         CPred<"::llvm::cast<::mlir::RankedTensorType>($_self).getElementType()"
               ".isSignlessInteger(32)">]>,
    "token vector tensor<?xi32>", "::mlir::RankedTensorType">;

#endif // MODELC_LLM_TYPES
