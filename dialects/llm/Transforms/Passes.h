// Passes over the llm dialect.
#pragma once

#include "dialects/llm/IR/LlmDialect.h"
#include "mlir/Pass/Pass.h"

namespace modelc::llm {

#define GEN_PASS_DECL
#include "dialects/llm/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "dialects/llm/Passes.h.inc"

} // namespace modelc::llm
