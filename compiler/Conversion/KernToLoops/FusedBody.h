// What the CPU (convert-kern-fused-to-loops) and CUDA (convert-kern-fused-to-gpu) lowerings
// of kern.fused share: the kernel's argument types and the column body. A kernel takes
// (inputs..., weights..., outputs...) as memrefs; for one (row, column) it loads its
// inputs and weights and clones the fused body, reductions replaced by their row totals.
#pragma once

#include "dialects/kern/IR/KernDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace modelc::fused {

// [?, W] with any row stride and offset: activations and their column views alike.
mlir::MemRefType activationMemRef(mlir::RankedTensorType type);

// The kernel's argument types: inputs and outputs as activationMemRef, weights [W].
llvm::SmallVector<mlir::Type> kernelArgTypes(kern::FusedOp op);

// The identity of a reduction (0 or -inf, f32) and one combining step.
mlir::Value reductionInit(mlir::OpBuilder &b, mlir::Location loc, kern::ReductionKind kind);
mlir::Value combine(mlir::OpBuilder &b, mlir::Location loc, kern::ReductionKind kind,
                    mlir::Value acc, mlir::Value v);

// The name a kern.fused's kernel gets: its `kernel` attribute (a name or a symbol
// reference) if it has one, else fused_<counter>.
std::string kernelName(kern::FusedOp op, unsigned counter);

class BodyCloner {
public:
  // `args`: the kernel's arguments in kernelArgTypes order.
  BodyCloner(kern::FusedOp op, mlir::ValueRange args) : op(op), args(args) {}

  // Body arguments become loads of column `col` of row `row`; reduce results map to the
  // totals already computed.
  mlir::IRMapping columnMapping(mlir::OpBuilder &b, mlir::Location loc, mlir::Value row,
                                mlir::Value col, const mlir::IRMapping &totals) const;

  // Clones the body's ops before `stop`, except reductions (already totals in `map`).
  void cloneUpTo(mlir::OpBuilder &b, mlir::Operation *stop, mlir::IRMapping &map) const;

  // Stores the yielded values of column `col` of row `row` into the output arguments.
  void storeResults(mlir::OpBuilder &b, mlir::Location loc, mlir::Value row, mlir::Value col,
                    const mlir::IRMapping &map) const;

  // A row's work, columns lb, lb + step, ... < ub: one pass per kern.reduce in body order
  // (accumulating; `finish` turns the pass's result into the row total: identity on the
  // CPU, a block reduction on the GPU), then a pass that computes and stores the results.
  using FinishReduction = llvm::function_ref<mlir::Value(
      mlir::OpBuilder &b, kern::ReductionKind kind, mlir::Value partial, int index)>;
  void emitRow(mlir::OpBuilder &b, mlir::Location loc, mlir::Value row, mlir::Value lb,
               mlir::Value ub, mlir::Value step, FinishReduction finish) const;

  mlir::Block &body() const { return op.getBody().front(); }
  // The kernel argument holding output 0 (its rows are the kernel's rows).
  mlir::Value firstOutput() const { return args[op.getInputs().size() + op.getWeights().size()]; }

private:
  mutable kern::FusedOp op; // MLIR op handles have non-const accessors
  mlir::ValueRange args;
};

} // namespace modelc::fused
