// Writes the plan file: metadata, each rank's program, weights converted to the plan dtype
// (merged and transposed as the llm.weight ops declare), and the tokenizer.
#pragma once

#include "compiler/frontend/ModelSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Error.h"

#include <string>
#include <utility>
#include <vector>

namespace modelc {

// The store layout of every source tensor named by the module's llm.weight ops. Taken
// before llm-merge-linears, while each weight still has one source: random stores
// generate tensors in these shapes.
llvm::StringMap<std::vector<uint64_t>> collectSourceShapes(mlir::ModuleOp module);

// `modules` are the kern-level modules of the ranks (after the kern-lower pipeline; one
// for a plan without tensor parallelism), `cpuKernels` the shared library of each rank's
// fused kernels (buildCpuKernelLibrary), `cudaKernels` the PTX of each rank's (for
// --target cuda; empty otherwise) and `cudaCubins` each rank's cubins by architecture
// (sm_90). Model, limits and target come from rank 0.
using Cubins = std::vector<std::pair<std::string, std::vector<uint8_t>>>;
llvm::Error writePlan(llvm::ArrayRef<mlir::ModuleOp> modules, const frontend::ModelSpec &spec,
                      const llvm::StringMap<std::vector<uint64_t>> &sourceShapes,
                      llvm::ArrayRef<std::vector<uint8_t>> cpuKernels,
                      llvm::ArrayRef<std::string> cudaKernels, llvm::ArrayRef<Cubins> cudaCubins,
                      llvm::StringRef path);

// The seeded random weights of a `Random` store, element `i` of source tensor `name`
// (documented in docs/plan-format.md so that reference scripts can rebuild them).
float randomWeight(uint64_t seed, llvm::StringRef name, uint64_t index, uint64_t rows,
                   uint64_t cols);

} // namespace modelc
