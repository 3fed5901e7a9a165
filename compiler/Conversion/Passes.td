#ifndef MODELC_CONVERSION_PASSES
#define MODELC_CONVERSION_PASSES

include "mlir/Pass/PassBase.td"

def ConvertLlmToKern : Pass<"convert-llm-to-kern", "::mlir::ModuleOp"> {
  let summary = "Lower llm ops to kernels: fused row kernels and library calls";
  let description = [{
    Carries out llm-fuse's decision: each fusion group becomes one `kern.fused` whose
    body computes the group's element-wise ops and norms for one column, in f32 whatever
    the activation type, with `kern.reduce` for the norms' row sums. Token-wise ops
    without a group become kernels of their own. Linear layers and the LM head become
    `kern.gemm`, embeddings and sampled-row selection `kern.gather_rows`, split pieces
    `kern.columns` views, and rope, attention and all-reduce the runtime's kernels.
  }];
  let dependentDialects = ["::modelc::kern::KernDialect", "::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def ConvertKernFusedToLoops : Pass<"convert-kern-fused-to-loops", "::mlir::ModuleOp"> {
  let summary = "Outline each kern.fused into a CPU kernel function of loops over memrefs";
  let description = [{
    For every `kern.fused`, writes `func.func @<kernel>(inputs..., weights..., outputs...)`
    over strided memrefs (so column views need no copy): a loop over rows, and in each row
    one loop over the columns per `kern.reduce` (accumulating the reduced value, with the
    values it needs recomputed) and a last loop that computes and stores the results. The
    kern.fused op gets a `kernel` attribute naming the function. The kernel is named by
    the op's `kernel` attribute if it has one, else `fused_<n>`; an existing external
    declaration of that name receives the body (tests call kernels this way).
  }];
  let dependentDialects = ["::mlir::func::FuncDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect"];
}

def ConvertKernFusedToGpu : Pass<"convert-kern-fused-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Outline each kern.fused into a CUDA kernel (gpu.func in gpu.module @cuda_kernels)";
  let description = [{
    For every `kern.fused`, writes `gpu.func @<kernel>(inputs..., weights..., outputs...)
    kernel` (the CPU kernel's arguments and name: the op's `kernel` attribute if it has
    one, else `fused_<n>`) into `gpu.module @cuda_kernels`, and marks the module a GPU
    container. The kernel runs one block per row with B threads (the columns rounded up to
    warps, at most 256: `known_block_size`); thread t takes columns t, t + B, ...; each
    `kern.reduce` is a pass over the thread's columns, a shuffle tree within each warp,
    and the warps' partials (shared memory, one barrier) combined in warp order by every
    thread, so all threads hold the same total; a last pass computes and stores the
    results. The op gets `cuda_kernel` (the kernel's symbol) and `cuda_block_size`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::scf::SCFDialect",
                           "::mlir::memref::MemRefDialect", "::mlir::arith::ArithDialect"];
}

#endif // MODELC_CONVERSION_PASSES
