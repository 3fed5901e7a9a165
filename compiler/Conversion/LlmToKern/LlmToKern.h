// llm -> kern: fusion groups to kern.fused, the rest to library-call kernels.
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LogicalResult.h"

namespace modelc {

// Rewrites every llm op of `module` except llm.weight, llm.send and llm.recv into kern
// ops. Ops with the same llm.fusion_group (from llm-fuse) share one kern.fused; fusible
// ops without one get a kernel each.
mlir::LogicalResult convertLlmToKern(mlir::ModuleOp module);

} // namespace modelc
