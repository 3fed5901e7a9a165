// llm-merge-linears: linears reading the same value become one wider GEMM + llm.split.
#include "dialects/llm/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseSet.h"

namespace modelc::llm {
#define GEN_PASS_DEF_LLMMERGELINEARS
#include "dialects/llm/Passes.h.inc"
} // namespace modelc::llm

using namespace mlir;
using namespace modelc::llm;

namespace {

// Linears can share one GEMM when their weights agree on everything but the row count.
struct MergeKey {
  Value input;
  Type weightElement;
  bool transposed;
  bool hasBias;
  StringRef storage; // the weights' block type in the store, or empty
  uint64_t stride;   // of the weights' slices (1: contiguous)
  bool operator<(const MergeKey &o) const {
    return std::make_tuple(input.getAsOpaquePointer(), weightElement.getAsOpaquePointer(),
                           transposed, hasBias, storage, stride) <
           std::make_tuple(o.input.getAsOpaquePointer(), o.weightElement.getAsOpaquePointer(),
                           o.transposed, o.hasBias, o.storage, o.stride);
  }
};

// "layers.0.attn.q_proj", "layers.0.attn.k_proj" -> "layers.0.attn.q_proj_k_proj".
std::string mergedName(MutableArrayRef<WeightOp> weights) {
  StringRef first = weights.front().getSymName();
  size_t prefix = first.rfind('.') == StringRef::npos ? 0 : first.rfind('.') + 1;
  for (WeightOp w : weights)
    if (!w.getSymName().starts_with(first.take_front(prefix)))
      prefix = 0;
  std::string name = first.take_front(prefix).str();
  llvm::interleave(
      weights, [&](WeightOp w) { name += w.getSymName().drop_front(prefix).str(); },
      [&] { name += "_"; });
  return name;
}

// Declares a weight concatenating `parts` along dim 0, right after the last of them.
WeightOp concatWeights(MutableArrayRef<WeightOp> parts, SymbolTable &symbols) {
  RankedTensorType first = parts.front().getTensorType();
  SmallVector<int64_t> shape(first.getShape());
  shape[0] = 0;
  SmallVector<Attribute> sources, slices;
  bool sliced = false;
  OpBuilder builder(parts.back());
  for (WeightOp part : parts) {
    shape[0] += part.getTensorType().getDimSize(0);
    llvm::append_range(sources, part.getSources());
    for (size_t i = 0; i < part.getSources().size(); ++i) {
      slices.push_back(builder.getDenseI64ArrayAttr(part.getSourceSlice(i)));
      sliced |= !part.getSourceSlice(i).empty();
    }
  }
  builder.setInsertionPointAfter(parts.back());
  auto merged = builder.create<WeightOp>(
      parts.front().getLoc(), mergedName(parts),
      RankedTensorType::get(shape, first.getElementType()), builder.getArrayAttr(sources),
      parts.front().getTransposed(), sliced ? builder.getArrayAttr(slices) : ArrayAttr(),
      parts.front().getStrideAttr(), parts.front().getStorageAttr());
  symbols.insert(merged); // renames on collision
  return merged;
}

struct LlmMergeLinearsPass : public modelc::llm::impl::LlmMergeLinearsBase<LlmMergeLinearsPass> {
  using LlmMergeLinearsBase::LlmMergeLinearsBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    SymbolTable symbols(module);

    // Groups in program order of their first linear; within a group, program order.
    std::map<MergeKey, SmallVector<LinearOp>> groups;
    SmallVector<MergeKey> order;
    module.walk([&](LinearOp linear) {
      auto weight = symbols.lookup<WeightOp>(linear.getWeight());
      if (!weight)
        return;
      MergeKey key{linear.getInput(), weight.getTensorType().getElementType(),
                   weight.getTransposed(), linear.getBias().has_value(),
                   weight.getStorage().value_or(""), weight.getStride().value_or(1)};
      auto &group = groups[key];
      if (group.empty())
        order.push_back(key);
      group.push_back(linear);
    });

    for (const MergeKey &key : order) {
      SmallVector<LinearOp> &linears = groups[key];
      // Only linears in one block can share an insertion point.
      if (linears.size() < minGroupSize || llvm::any_of(linears, [&](LinearOp l) {
            return l->getBlock() != linears.front()->getBlock();
          }))
        continue;
      mergeGroup(linears, symbols);
    }

    // Weights no longer referenced by anything are gone from the plan too. One walk
    // collects the uses; asking per weight would walk the module once per weight.
    // llm ops name weights in top-level FlatSymbolRefAttr attributes.
    llvm::DenseSet<StringAttr> used;
    module.walk([&](Operation *op) {
      for (NamedAttribute attr : op->getAttrs())
        if (auto ref = dyn_cast<FlatSymbolRefAttr>(attr.getValue()))
          used.insert(ref.getAttr());
    });
    for (WeightOp weight : llvm::to_vector(module.getOps<WeightOp>()))
      if (!used.contains(weight.getSymNameAttr()))
        weight.erase();
  }

  void mergeGroup(MutableArrayRef<LinearOp> linears, SymbolTable &symbols) {
    SmallVector<WeightOp> weights, biases;
    for (LinearOp linear : linears) {
      weights.push_back(symbols.lookup<WeightOp>(linear.getWeight()));
      if (linear.getBias())
        biases.push_back(symbols.lookup<WeightOp>(*linear.getBias()));
    }
    if (llvm::is_contained(biases, WeightOp()))
      return;
    WeightOp weight = concatWeights(weights, symbols);
    WeightOp bias = biases.empty() ? WeightOp() : concatWeights(biases, symbols);

    LinearOp first = linears.front();
    auto inputType = cast<RankedTensorType>(first.getInput().getType());
    auto resultType = RankedTensorType::get(
        {ShapedType::kDynamic, weight.getTensorType().getDimSize(0)}, inputType.getElementType());
    OpBuilder builder(first);
    auto merged = builder.create<LinearOp>(first.getLoc(), resultType, first.getInput(),
                                           FlatSymbolRefAttr::get(weight.getSymNameAttr()),
                                           bias ? FlatSymbolRefAttr::get(bias.getSymNameAttr())
                                                : FlatSymbolRefAttr());
    SmallVector<Type> pieces;
    for (LinearOp linear : linears)
      pieces.push_back(linear.getType());
    auto split = builder.create<SplitOp>(first.getLoc(), pieces, merged.getResult());
    for (auto [linear, piece] : llvm::zip(linears, split.getResults())) {
      linear.getResult().replaceAllUsesWith(piece);
      linear.erase();
    }
  }
};

} // namespace
