// Binding llm.weight symbols to the tensors of a weight store (safetensors or GGUF):
// source names are translated to the store's naming, then every source is checked to
// exist with the shape the IR declares.
#pragma once

#include "compiler/frontend/ModelSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <string>

namespace modelc::frontend {

// GGUF's name of a Hugging Face tensor ("model.layers.3.self_attn.q_proj.weight" ->
// "blk.3.attn_q.weight"), or an empty string if GGUF has no such tensor. With
// `outputNorms` (Gemma 2/3, OLMo 2; and gpt-oss, whose MLP input norm llama.cpp also names
// post_attention_norm) post_attention_layernorm is post_attention_norm,
// pre_feedforward_layernorm the MLP's input norm (ffn_norm).
std::string ggufTensorName(llvm::StringRef huggingFaceName, bool outputNorms = false);

// Resolves the sources of every llm.weight in `module` against the store named by
// `spec.weights` and checks their shapes. Random stores match by construction. Errors
// name the store file, the tensor and the weight symbol.
llvm::Error bindWeights(mlir::ModuleOp module, const ModelSpec &spec);

} // namespace modelc::frontend
