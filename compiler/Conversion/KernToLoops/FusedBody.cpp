#include "compiler/Conversion/KernToLoops/FusedBody.h"

#include <limits>

using namespace mlir;

namespace modelc::fused {

MemRefType activationMemRef(RankedTensorType type) {
  MLIRContext *ctx = type.getContext();
  auto layout = StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {ShapedType::kDynamic, 1});
  return MemRefType::get(type.getShape(), type.getElementType(), layout);
}

SmallVector<Type> kernelArgTypes(kern::FusedOp op) {
  SmallVector<Type> types;
  for (Value input : op.getInputs())
    types.push_back(activationMemRef(cast<RankedTensorType>(input.getType())));
  Block &body = op.getBody().front();
  for (unsigned i = 0; i < op.getWeights().size(); ++i)
    types.push_back(
        MemRefType::get({op.getWidth()}, body.getArgument(op.getInputs().size() + i).getType()));
  for (Value result : op.getResults())
    types.push_back(activationMemRef(cast<RankedTensorType>(result.getType())));
  return types;
}

Value reductionInit(OpBuilder &b, Location loc, kern::ReductionKind kind) {
  double init = kind == kern::ReductionKind::add ? 0.0 : -std::numeric_limits<double>::infinity();
  return b.create<arith::ConstantOp>(loc, b.getF32FloatAttr(static_cast<float>(init)));
}

Value combine(OpBuilder &b, Location loc, kern::ReductionKind kind, Value acc, Value v) {
  if (kind == kern::ReductionKind::add)
    return b.create<arith::AddFOp>(loc, acc, v);
  return b.create<arith::MaximumFOp>(loc, acc, v);
}

std::string kernelName(kern::FusedOp op, unsigned counter) {
  if (auto given = op->getAttrOfType<StringAttr>("kernel"))
    return given.str();
  if (auto given = op->getAttrOfType<FlatSymbolRefAttr>("kernel"))
    return given.getValue().str();
  return "fused_" + std::to_string(counter);
}

IRMapping BodyCloner::columnMapping(OpBuilder &b, Location loc, Value row, Value col,
                                    const IRMapping &totals) const {
  IRMapping map = totals;
  const unsigned numInputs = op.getInputs().size(), numWeights = op.getWeights().size();
  for (unsigned i = 0; i < numInputs; ++i)
    map.map(body().getArgument(i), b.create<memref::LoadOp>(loc, args[i], ValueRange{row, col}));
  for (unsigned i = 0; i < numWeights; ++i)
    map.map(body().getArgument(numInputs + i),
            b.create<memref::LoadOp>(loc, args[numInputs + i], ValueRange{col}));
  return map;
}

void BodyCloner::cloneUpTo(OpBuilder &b, Operation *stop, IRMapping &map) const {
  for (Operation &inner : body()) {
    if (&inner == stop)
      return;
    if (!isa<kern::ReduceOp>(inner) && !map.contains(inner.getResult(0)))
      b.clone(inner, map);
  }
}

void BodyCloner::storeResults(OpBuilder &b, Location loc, Value row, Value col,
                              const IRMapping &map) const {
  const unsigned first = op.getInputs().size() + op.getWeights().size();
  for (auto [i, value] : llvm::enumerate(cast<kern::YieldOp>(body().getTerminator()).getValues()))
    b.create<memref::StoreOp>(loc, map.lookup(value), args[first + i], ValueRange{row, col});
}

void BodyCloner::emitRow(OpBuilder &b, Location loc, Value row, Value lb, Value ub, Value step,
                         FinishReduction finish) const {
  IRMapping totals;
  int index = 0;
  for (Operation &inner : body()) {
    auto reduce = dyn_cast<kern::ReduceOp>(&inner);
    if (!reduce)
      continue;
    Value init = reductionInit(b, loc, reduce.getKind());
    auto colLoop = b.create<scf::ForOp>(loc, lb, ub, step, ValueRange{init});
    OpBuilder cb = OpBuilder::atBlockBegin(colLoop.getBody());
    IRMapping map = columnMapping(cb, loc, row, colLoop.getInductionVar(), totals);
    cloneUpTo(cb, &inner, map);
    Value acc = combine(cb, loc, reduce.getKind(), colLoop.getRegionIterArgs()[0],
                        map.lookup(reduce.getValue()));
    cb.create<scf::YieldOp>(loc, acc);
    totals.map(reduce.getResult(), finish(b, reduce.getKind(), colLoop.getResult(0), index++));
  }
  auto colLoop = b.create<scf::ForOp>(loc, lb, ub, step);
  OpBuilder cb = OpBuilder::atBlockBegin(colLoop.getBody());
  IRMapping map = columnMapping(cb, loc, row, colLoop.getInductionVar(), totals);
  cloneUpTo(cb, body().getTerminator(), map);
  storeResults(cb, loc, row, colLoop.getInductionVar(), map);
}

} // namespace modelc::fused
