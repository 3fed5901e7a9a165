#ifndef MODELC_LLM_DIALECT
#define MODELC_LLM_DIALECT

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Llm_Dialect : Dialect {
  let name = "llm";
  let cppNamespace = "::modelc::llm";
  let summary = "Model-level tensor ops over the flattened token batch of one iteration";
  let description = [{
    The `llm` dialect describes one iteration of a decoder-only transformer as the ORCA
    paper's *selective batching* sees it. Every activation is a `tensor<?xDxT>`: the
    dynamic dimension `T` is the number of tokens of **all** requests scheduled in this
    iteration, flattened (prefill chunks and single decode tokens alike). Token-wise ops
    (embedding, norms, linear layers, rope, activations, residual adds) work on that
    `[T, D]` tensor, so each weight is read once per iteration for the whole batch.
    `llm.attention` is the one op that splits the batch: each request attends only to
    its own tokens and KV cache, as described by the iteration's `!llm.batch`.

    Weights are never SSA values or inlined constants: an `llm.weight` symbol at module
    level names a tensor of the weight store (its name(s) in the source file, dtype and
    shape), and the ops that read weights refer to it by symbol.

    The program of one iteration is a `func.func` whose arguments are the token ids
    `tensor<?xi32>`, their positions `tensor<?xi32>`, the `!llm.batch` and the rows to
    sample `tensor<?xi32>`; it returns the logits of the sampled rows.
  }];
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let hasConstantMaterializer = 0;
  let extraClassDeclaration = [{
    void registerTypes();
    void registerAttributes();
  }];
}

#endif // MODELC_LLM_DIALECT
