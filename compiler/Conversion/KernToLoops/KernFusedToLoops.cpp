// convert-kern-fused-to-loops: kern.fused -> an outlined function of scf loops over memrefs.
#include "compiler/Conversion/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/SymbolTable.h"

namespace modelc {
#define GEN_PASS_DEF_CONVERTKERNFUSEDTOLOOPS
#include "compiler/Conversion/Passes.h.inc"
} // namespace modelc

using namespace mlir;
namespace kern = modelc::kern;

namespace {

// [?, W] with any row stride and offset: activations and their column views alike.
MemRefType activationMemRef(RankedTensorType type) {
  MLIRContext *ctx = type.getContext();
  auto layout = StridedLayoutAttr::get(ctx, ShapedType::kDynamic, {ShapedType::kDynamic, 1});
  return MemRefType::get(type.getShape(), type.getElementType(), layout);
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

class KernelWriter {
public:
  KernelWriter(kern::FusedOp op, func::FuncOp fn, unsigned numInputs, unsigned numWeights)
      : op(op), fn(fn), numInputs(numInputs), numWeights(numWeights) {}

  void write() {
    Location loc = op.getLoc();
    Block *entry = fn.addEntryBlock();
    OpBuilder b = OpBuilder::atBlockBegin(entry);
    Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
    Value one = b.create<arith::ConstantIndexOp>(loc, 1);
    Value width = b.create<arith::ConstantIndexOp>(loc, op.getWidth());
    Value rows = b.create<memref::DimOp>(loc, entry->getArgument(numInputs + numWeights), 0);
    auto rowLoop = b.create<scf::ForOp>(loc, zero, rows, one);
    b.setInsertionPointToStart(rowLoop.getBody());
    Value row = rowLoop.getInductionVar();

    // One pass over the columns per reduction, in body order; each earlier total is known.
    IRMapping totals;
    Block &body = op.getBody().front();
    for (Operation &inner : body) {
      auto reduce = dyn_cast<kern::ReduceOp>(&inner);
      if (!reduce)
        continue;
      Value init = reductionInit(b, loc, reduce.getKind());
      auto colLoop = b.create<scf::ForOp>(loc, zero, width, one, ValueRange{init});
      OpBuilder cb = OpBuilder::atBlockBegin(colLoop.getBody());
      IRMapping map = columnMapping(cb, loc, row, colLoop.getInductionVar(), totals);
      cloneUpTo(cb, body, &inner, map);
      Value sum = combine(cb, loc, reduce.getKind(), colLoop.getRegionIterArgs()[0],
                          map.lookup(reduce.getValue()));
      cb.create<scf::YieldOp>(loc, sum);
      totals.map(reduce.getResult(), colLoop.getResult(0));
    }

    // The last pass computes and stores the results.
    auto colLoop = b.create<scf::ForOp>(loc, zero, width, one);
    OpBuilder cb = OpBuilder::atBlockBegin(colLoop.getBody());
    IRMapping map = columnMapping(cb, loc, row, colLoop.getInductionVar(), totals);
    cloneUpTo(cb, body, body.getTerminator(), map);
    for (auto [i, value] : llvm::enumerate(cast<kern::YieldOp>(body.getTerminator()).getValues()))
      cb.create<memref::StoreOp>(loc, map.lookup(value),
                                 entry->getArgument(numInputs + numWeights + i),
                                 ValueRange{row, colLoop.getInductionVar()});
    b.setInsertionPointToEnd(entry);
    b.create<func::ReturnOp>(loc);
  }

private:
  // Body arguments become loads of column `col` of row `row`; reduce results their totals.
  IRMapping columnMapping(OpBuilder &b, Location loc, Value row, Value col,
                          const IRMapping &totals) {
    IRMapping map = totals;
    Block &body = op.getBody().front();
    Block &entry = fn.getBody().front();
    for (unsigned i = 0; i < numInputs; ++i)
      map.map(body.getArgument(i),
              b.create<memref::LoadOp>(loc, entry.getArgument(i), ValueRange{row, col}));
    for (unsigned i = 0; i < numWeights; ++i)
      map.map(body.getArgument(numInputs + i),
              b.create<memref::LoadOp>(loc, entry.getArgument(numInputs + i), ValueRange{col}));
    return map;
  }

  // Clones the body's ops before `stop`, except reductions (already totals in `map`).
  void cloneUpTo(OpBuilder &b, Block &body, Operation *stop, IRMapping &map) {
    for (Operation &inner : body) {
      if (&inner == stop)
        return;
      if (!isa<kern::ReduceOp>(inner) && !map.contains(inner.getResult(0)))
        b.clone(inner, map);
    }
  }

  kern::FusedOp op;
  func::FuncOp fn;
  unsigned numInputs, numWeights;
};

struct ConvertKernFusedToLoopsPass
    : public modelc::impl::ConvertKernFusedToLoopsBase<ConvertKernFusedToLoopsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);
    SmallVector<kern::FusedOp> fusedOps;
    module.walk([&](kern::FusedOp op) { fusedOps.push_back(op); });
    unsigned counter = 0;
    for (kern::FusedOp op : fusedOps)
      if (failed(outline(op, symbols, counter)))
        return signalPassFailure();
  }

  LogicalResult outline(kern::FusedOp op, SymbolTable &symbols, unsigned &counter) {
    MLIRContext *ctx = op.getContext();
    SmallVector<Type> argTypes;
    for (Value input : op.getInputs())
      argTypes.push_back(activationMemRef(cast<RankedTensorType>(input.getType())));
    Block &body = op.getBody().front();
    for (unsigned i = 0; i < op.getWeights().size(); ++i)
      argTypes.push_back(
          MemRefType::get({op.getWidth()}, body.getArgument(op.getInputs().size() + i).getType()));
    for (Value result : op.getResults())
      argTypes.push_back(activationMemRef(cast<RankedTensorType>(result.getType())));
    auto type = FunctionType::get(ctx, argTypes, {});

    std::string name = "fused_" + std::to_string(counter++);
    if (auto given = op->getAttrOfType<StringAttr>("kernel"))
      name = given.str();
    func::FuncOp fn = symbols.lookup<func::FuncOp>(name);
    if (fn && (!fn.isExternal() || fn.getFunctionType() != type))
      return op.emitOpError() << "kernel name '" << name
                              << "' is taken by a function that is not its declaration";
    if (!fn) {
      OpBuilder b(ctx);
      fn = b.create<func::FuncOp>(op.getLoc(), name, type);
      symbols.insert(fn);
    }
    fn.setPrivate();
    fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
    KernelWriter(op, fn, op.getInputs().size(), op.getWeights().size()).write();
    op->setAttr("kernel", FlatSymbolRefAttr::get(fn.getSymNameAttr()));
    return success();
  }
};

} // namespace
