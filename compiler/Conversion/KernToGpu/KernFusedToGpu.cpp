// convert-kern-fused-to-gpu: kern.fused -> a CUDA kernel (gpu.func) in gpu.module
// @cuda_kernels, from the same fused body as the CPU kernels (FusedBody.h).
#include "compiler/Conversion/KernToLoops/FusedBody.h"
#include "compiler/Conversion/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace modelc {
#define GEN_PASS_DEF_CONVERTKERNFUSEDTOGPU
#include "compiler/Conversion/Passes.h.inc"
} // namespace modelc

using namespace mlir;
namespace kern = modelc::kern;
using namespace modelc::fused;

namespace {

constexpr int kWarp = 32;
constexpr int kMaxThreads = 256;

// Threads per block: the columns rounded up to whole warps, at most kMaxThreads.
int blockSizeFor(int64_t width) {
  int64_t warps = (width + kWarp - 1) / kWarp;
  return int(std::clamp<int64_t>(warps * kWarp, kWarp, kMaxThreads));
}

class GpuKernelWriter {
public:
  GpuKernelWriter(kern::FusedOp op, gpu::GPUFuncOp fn, int blockSize)
      : op(op), fn(fn), blockSize(blockSize) {}

  // One block per row (block x = row); thread t takes columns t, t + B, ...; each
  // kern.reduce is a pass over the thread's columns, a shuffle tree in each warp and the
  // warps' partials combined, in warp order, by every thread from shared memory.
  void write() {
    Location loc = op.getLoc();
    Block &entry = fn.getBody().front();
    BodyCloner cloner(op, entry.getArguments().take_front(fn.getNumArguments()));
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    Value row = b.create<gpu::BlockIdOp>(loc, gpu::Dimension::x);
    Value tid = b.create<gpu::ThreadIdOp>(loc, gpu::Dimension::x);
    Value rows = b.create<memref::DimOp>(loc, cloner.firstOutput(), 0);
    Value width = b.create<arith::ConstantIndexOp>(loc, op.getWidth());
    Value step = b.create<arith::ConstantIndexOp>(loc, blockSize);
    // The grid has one block per row; a surplus block (none today) would return at once,
    // before any barrier, and so never holds one up.
    Value inRange = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::ult, row, rows);
    auto guard = b.create<scf::IfOp>(loc, inRange, /*withElseRegion=*/false);
    b.setInsertionPointToStart(&guard.getThenRegion().front());

    cloner.emitRow(b, loc, row, tid, width, step,
                   [&](OpBuilder &rb, kern::ReductionKind kind, Value partial, int slot) {
                     return blockReduce(rb, loc, kind, partial, tid, slot);
                   });
    b.setInsertionPointToEnd(&entry);
    b.create<gpu::ReturnOp>(loc);
  }

private:
  Value blockReduce(OpBuilder &b, Location loc, kern::ReductionKind kind, Value partial, Value tid,
                    int slot) {
    Value warpWidth = b.create<arith::ConstantIntOp>(loc, kWarp, 32);
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      Value off = b.create<arith::ConstantIntOp>(loc, offset, 32);
      auto shuffle = b.create<gpu::ShuffleOp>(loc, partial, off, warpWidth, gpu::ShuffleMode::XOR);
      partial = combine(b, loc, kind, partial, shuffle.getShuffleResult());
    }
    Value warpSize = b.create<arith::ConstantIndexOp>(loc, kWarp);
    Value lane = b.create<arith::RemUIOp>(loc, tid, warpSize);
    Value warp = b.create<arith::DivUIOp>(loc, tid, warpSize);
    Value zero = b.create<arith::ConstantIndexOp>(loc, 0);
    Value slotIndex = b.create<arith::ConstantIndexOp>(loc, slot);
    Value shared = fn.getWorkgroupAttributions()[0];
    Value isLeader = b.create<arith::CmpIOp>(loc, arith::CmpIPredicate::eq, lane, zero);
    auto write = b.create<scf::IfOp>(loc, isLeader, /*withElseRegion=*/false);
    {
      OpBuilder wb = OpBuilder::atBlockBegin(&write.getThenRegion().front());
      wb.create<memref::StoreOp>(loc, partial, shared, ValueRange{slotIndex, warp});
    }
    b.create<gpu::BarrierOp>(loc);
    Value total = reductionInit(b, loc, kind);
    for (int w = 0; w < blockSize / kWarp; ++w) {
      Value wi = b.create<arith::ConstantIndexOp>(loc, w);
      total = combine(b, loc, kind, total,
                      b.create<memref::LoadOp>(loc, shared, ValueRange{slotIndex, wi}));
    }
    return total;
  }

  kern::FusedOp op;
  gpu::GPUFuncOp fn;
  int blockSize;
};

struct ConvertKernFusedToGpuPass
    : public modelc::impl::ConvertKernFusedToGpuBase<ConvertKernFusedToGpuPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<kern::FusedOp> fusedOps;
    module.walk([&](kern::FusedOp op) { fusedOps.push_back(op); });
    if (fusedOps.empty())
      return;
    MLIRContext *ctx = module.getContext();
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(ctx));
    auto gpuModule = module.lookupSymbol<gpu::GPUModuleOp>(kGpuModuleName);
    if (!gpuModule) {
      OpBuilder b = OpBuilder::atBlockEnd(module.getBody());
      gpuModule = b.create<gpu::GPUModuleOp>(module.getLoc(), kGpuModuleName);
    }
    SymbolTable symbols(gpuModule);
    unsigned counter = 0;
    for (kern::FusedOp op : fusedOps)
      if (failed(outline(op, gpuModule, symbols, counter)))
        return signalPassFailure();
  }

  LogicalResult outline(kern::FusedOp op, gpu::GPUModuleOp gpuModule, SymbolTable &symbols,
                        unsigned &counter) {
    MLIRContext *ctx = op.getContext();
    std::string name = kernelName(op, counter++);
    if (symbols.lookup(name))
      return op.emitOpError() << "CUDA kernel name '" << name << "' is taken";
    unsigned numReduces = 0;
    op.getBody().walk([&](kern::ReduceOp) { ++numReduces; });
    const int blockSize = blockSizeFor(op.getWidth());
    // Shared memory: one row of warp partials per reduction.
    auto workgroup = gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup);
    auto sharedType =
        MemRefType::get({std::max<int64_t>(numReduces, 1), kWarp}, Float32Type::get(ctx),
                        MemRefLayoutAttrInterface{}, workgroup);
    OpBuilder b = OpBuilder::atBlockEnd(gpuModule.getBody());
    b.setInsertionPoint(gpuModule.getBody()->getTerminator());
    auto fn = b.create<gpu::GPUFuncOp>(
        op.getLoc(), name, FunctionType::get(ctx, kernelArgTypes(op), {}), TypeRange{sharedType});
    fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), UnitAttr::get(ctx));
    fn.setKnownBlockSizeAttr(DenseI32ArrayAttr::get(ctx, {blockSize, 1, 1}));
    symbols.insert(fn);
    GpuKernelWriter(op, fn, blockSize).write();
    op->setAttr("cuda_kernel", SymbolRefAttr::get(gpuModule.getSymNameAttr(),
                                                  {FlatSymbolRefAttr::get(fn.getNameAttr())}));
    op->setAttr("cuda_block_size", IntegerAttr::get(IntegerType::get(ctx, 32), blockSize));
    return success();
  }

  static constexpr llvm::StringLiteral kGpuModuleName = "cuda_kernels";
};

} // namespace
