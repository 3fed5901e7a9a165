// llm-pipeline: keeps one pipeline stage's layers of each function, with llm.recv for the
// activations coming from the stage before and llm.send for those going to the next.
#include "dialects/llm/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace modelc::llm {
#define GEN_PASS_DEF_LLMPIPELINE
#include "dialects/llm/Passes.h.inc"
} // namespace modelc::llm

using namespace mlir;
using namespace modelc::llm;

namespace {

bool isActivation(Value v) {
  auto type = dyn_cast<RankedTensorType>(v.getType());
  return type && type.getRank() == 2;
}

struct LlmPipelinePass : public modelc::llm::impl::LlmPipelineBase<LlmPipelinePass> {
  using LlmPipelineBase::LlmPipelineBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (pp < 1 || stage < 0 || stage >= pp) {
      module.emitError() << "llm-pipeline: stage " << int64_t(stage) << " is not in [0, "
                         << int64_t(pp) << ")";
      return signalPassFailure();
    }
    if (pp == 1)
      return;
    for (func::FuncOp fn : llvm::to_vector(module.getOps<func::FuncOp>()))
      if (fn.getBody().hasOneBlock() && failed(cut(fn)))
        return signalPassFailure();
    // Weights no other stage's ops read are gone from this stage.
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

  LogicalResult cut(func::FuncOp fn) {
    Block &body = fn.getBody().front();
    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator())
      ops.push_back(&op);
    llvm::DenseMap<Operation *, int64_t> index;
    for (auto [i, op] : llvm::enumerate(ops))
      index[op] = static_cast<int64_t>(i);
    const auto end = static_cast<int64_t>(ops.size()); // the terminator's position

    // Layers are the attention ops, numbered in program order.
    SmallVector<int64_t> attention; // op index of layer l's attention
    for (auto [i, op] : llvm::enumerate(ops))
      if (auto a = dyn_cast<AttentionOp>(op)) {
        if (a.getLayer() != static_cast<int64_t>(attention.size()))
          return a.emitError() << "llm-pipeline: layers must come in order 0, 1, ...; found "
                               << a.getLayer() << " after " << attention.size() << " layers";
        attention.push_back(static_cast<int64_t>(i));
      }
    const int64_t layers = static_cast<int64_t>(attention.size());
    if (layers == 0)
      return success(); // nothing to split (a helper function)
    if (pp > layers)
      return fn.emitError() << "llm-pipeline: " << int64_t(pp) << " stages for " << layers
                            << " layers";
    // Stage s holds layers [first(s), first(s + 1)): the later stages, which hold the LM
    // head, get the fewer layers.
    auto first = [&](int64_t s) { return (s * layers + pp - 1) / pp; };

    // Activations defined before `c` and used at or after it (the terminator at `end`).
    auto liveAcross = [&](int64_t c) {
      SmallVector<Value> live;
      for (int64_t i = 0; i < c; ++i)
        for (Value v : ops[i]->getResults())
          if (isActivation(v) && llvm::any_of(v.getUsers(), [&](Operation *user) {
                auto it = index.find(user);
                return (it == index.end() ? end : it->second) >= c;
              }))
            live.push_back(v);
      return live;
    };
    // The cut before stage s's first layer: between the previous layer's attention and
    // its own, where the fewest activations cross (the residual stream alone, in a
    // transformer), the latest such point (so the previous layer's MLP stays with it).
    auto cutBefore = [&](int64_t s) -> int64_t {
      if (s == 0)
        return 0;
      if (s == pp)
        return end;
      int64_t best = -1;
      size_t fewest = SIZE_MAX;
      for (int64_t c = attention[first(s) - 1] + 1; c <= attention[first(s)]; ++c)
        if (size_t n = liveAcross(c).size(); n <= fewest) {
          fewest = n;
          best = c;
        }
      return best;
    };
    const int64_t from = cutBefore(stage), to = cutBefore(stage + 1);
    SmallVector<Value> in = liveAcross(from), out = liveAcross(to);

    // The batch argument gives received activations their row count.
    Value batch;
    for (BlockArgument arg : body.getArguments())
      if (isa<BatchType>(arg.getType()))
        batch = arg;
    if (!batch && (!in.empty() || !out.empty()))
      return fn.emitError() << "llm-pipeline: no !llm.batch argument to receive with";

    OpBuilder b(&body, body.begin());
    for (Value v : in) {
      auto recv = b.create<RecvOp>(v.getLoc(), v.getType(), batch, b.getI64IntegerAttr(stage - 1));
      v.replaceUsesWithIf(recv.getResult(), [&](OpOperand &use) {
        auto it = index.find(use.getOwner());
        return (it == index.end() ? end : it->second) >= from;
      });
    }
    Operation *terminator = body.getTerminator();
    b.setInsertionPoint(terminator);
    if (stage + 1 < pp) {
      for (Value v : out)
        b.create<SendOp>(v.getLoc(), v, b.getI64IntegerAttr(stage + 1));
      // Only the last stage returns (the logits); the others end with their sends.
      terminator->setOperands({});
      fn.setType(FunctionType::get(fn.getContext(), fn.getArgumentTypes(), {}));
    }
    // Only activations cross a cut (token ids, positions and the batch are arguments that
    // every stage gets).
    for (int64_t i = 0; i < from; ++i)
      for (Operation *user : ops[i]->getUsers())
        if (auto it = index.find(user); it == index.end() ? stage + 1 == pp : it->second >= from)
          return user->emitError() << "llm-pipeline: a value that is not an activation crosses "
                                      "into stage "
                                   << int64_t(stage);
    for (int64_t i = end - 1; i >= 0; --i)
      if (i < from || i >= to) {
        ops[i]->dropAllUses();
        ops[i]->erase();
      }
    // Each stage's KV cache holds its own layers, numbered from 0.
    const int64_t offset = first(stage);
    fn.walk([&](AttentionOp a) { a.setLayer(a.getLayer() - offset); });
    // Its recurrent states likewise, in program order.
    int64_t states = 0;
    fn.walk([&](Operation *op) {
      if (auto c = dyn_cast<CausalConv1dOp>(op))
        c.setState(states++);
      else if (auto d = dyn_cast<GatedDeltaRuleOp>(op))
        d.setState(states++);
      else if (auto m = dyn_cast<SsmScanOp>(op))
        m.setState(states++);
    });
    return success();
  }
};

} // namespace
