// llm-fuse: decides fusion groups of token-wise ops and records them as attributes.
#include "dialects/llm/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

namespace modelc::llm {
#define GEN_PASS_DEF_LLMFUSE
#include "dialects/llm/Passes.h.inc"
} // namespace modelc::llm

using namespace mlir;
using namespace modelc::llm;

bool modelc::llm::isFusible(Operation *op) {
  return isa<AddOp, MulOp, ScaleOp, SoftcapOp, SiluOp, SigmoidOp, GeluOp, RmsNormOp, LayerNormOp,
             BiasAddOp>(
      op);
}

namespace {

struct Group {
  int64_t width;
  SmallVector<Operation *> ops;
};

int64_t resultWidth(Operation *op) {
  return cast<RankedTensorType>(op->getResult(0).getType()).getDimSize(1);
}

struct LlmFusePass : public modelc::llm::impl::LlmFuseBase<LlmFusePass> {
  void runOnOperation() override {
    int64_t nextId = 0;
    getOperation().walk([&](Block *block) { nextId = fuseBlock(*block, nextId); });
  }

  // True when `op` may run in `group`'s kernel, placed at `op`: nothing outside the group
  // that runs before `op` may use a value the group computes.
  static bool canJoin(const Group &group, const DenseMap<Operation *, size_t> &groupOf,
                      size_t groupIndex, Operation *op) {
    for (Operation *member : group.ops)
      for (Operation *user : member->getUsers()) {
        auto it = groupOf.find(user);
        bool inGroup = it != groupOf.end() && it->second == groupIndex;
        if (!inGroup && user != op && user->getBlock() == op->getBlock() &&
            user->isBeforeInBlock(op))
          return false;
      }
    return true;
  }

  int64_t fuseBlock(Block &block, int64_t nextId) {
    SmallVector<Group> groups;
    DenseMap<Operation *, size_t> groupOf;
    for (Operation &op : block) {
      if (!isFusible(&op))
        continue;
      int64_t width = resultWidth(&op);
      std::optional<size_t> chosen;
      for (Value operand : op.getOperands()) {
        Operation *producer = operand.getDefiningOp();
        auto it = producer ? groupOf.find(producer) : groupOf.end();
        if (it == groupOf.end() || groups[it->second].width != width)
          continue;
        if (canJoin(groups[it->second], groupOf, it->second, &op)) {
          chosen = it->second;
          break;
        }
      }
      if (!chosen) {
        chosen = groups.size();
        groups.push_back({width, {}});
      }
      groups[*chosen].ops.push_back(&op);
      groupOf[&op] = *chosen;
    }
    Builder builder(&getContext());
    for (const Group &group : groups) {
      for (Operation *op : group.ops)
        op->setAttr(kFusionGroupAttr, builder.getI64IntegerAttr(nextId));
      ++nextId;
    }
    return nextId;
  }
};

} // namespace
