// convert-kern-fused-to-loops: kern.fused -> an outlined function of scf loops over memrefs.
#include "compiler/Conversion/KernToLoops/FusedBody.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/IR/SymbolTable.h"

namespace modelc {
#define GEN_PASS_DEF_CONVERTKERNFUSEDTOLOOPS
#include "compiler/Conversion/Passes.h.inc"
} // namespace modelc

using namespace mlir;
namespace kern = modelc::kern;

namespace {

using namespace modelc::fused;

// for row: (for col: accumulate each kern.reduce in body order), for col: compute, store.
void writeLoops(kern::FusedOp op, func::FuncOp fn) {
  Location loc = op.getLoc();
  Block *entry = fn.addEntryBlock();
  BodyCloner cloner(op, entry->getArguments());
  OpBuilder b = OpBuilder::atBlockBegin(entry);
  Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
  Value one = b.create<arith::ConstantIndexOp>(loc, 1);
  Value width = b.create<arith::ConstantIndexOp>(loc, op.getWidth());
  Value rows = b.create<memref::DimOp>(loc, cloner.firstOutput(), 0);
  auto rowLoop = b.create<scf::ForOp>(loc, zero, rows, one);
  b.setInsertionPointToStart(rowLoop.getBody());
  Value row = rowLoop.getInductionVar();

  cloner.emitRow(b, loc, row, zero, width, one,
                 [](OpBuilder &, kern::ReductionKind, Value total, int) { return total; });
  b.setInsertionPointToEnd(entry);
  b.create<func::ReturnOp>(loc);
}

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
    auto type = FunctionType::get(ctx, kernelArgTypes(op), {});
    std::string name = kernelName(op, counter++);
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
    writeLoops(op, fn);
    op->setAttr("kernel", FlatSymbolRefAttr::get(fn.getSymNameAttr()));
    return success();
  }
};

} // namespace
