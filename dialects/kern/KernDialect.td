#ifndef MODELC_KERN_DIALECT
#define MODELC_KERN_DIALECT

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Kern_Dialect : Dialect {
  let name = "kern";
  let cppNamespace = "::modelc::kern";
  let summary = "Kernels of one iteration: generated fused row kernels and library calls";
  let description = [{
    The `kern` dialect is the level below `llm`: every op is one kernel launch. Ops that
    libraries do best are calls (`kern.gemm` to cuBLASLt or oneDNN, `kern.attention` to
    the runtime's paged-attention kernels, `kern.rope`, `kern.gather_rows`,
    `kern.all_reduce`). Everything else that touches activations is a `kern.fused` op:
    one generated kernel whose body is scalar `arith`/`math` code for one column of one
    row, with `kern.reduce` for row-wide reductions. The same body lowers to CPU loops
    and to a GPU kernel (rows to blocks, columns to threads, reductions to shuffles), so
    the CPU path checks the fusion semantics that the GPU runs.

    Activations are still `tensor<?xDxT>` over the flattened tokens of the iteration;
    `kern.columns` takes a column range of one without copying (a strided view once
    buffers are assigned), which is how the pieces of a merged QKV or gate/up GEMM reach
    their consumers.
  }];
  let useDefaultAttributePrinterParser = 1;
}

#endif // MODELC_KERN_DIALECT
