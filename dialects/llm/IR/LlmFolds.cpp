// Folds and canonicalization patterns of the llm dialect.
#include "dialects/llm/IR/LlmDialect.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace modelc::llm;

// A reduction over a group of one rank is the identity (tensor parallelism of 1).
OpFoldResult AllReduceOp::fold(FoldAdaptor) {
  if (getGroupSize() == 1)
    return getInput();
  return {};
}

// Splitting into a single piece is the identity.
LogicalResult SplitOp::fold(FoldAdaptor, SmallVectorImpl<OpFoldResult> &results) {
  if (getNumResults() != 1)
    return failure();
  results.push_back(getInput());
  return success();
}

namespace {

// split(split(x)#i) -> one finer split(x) replacing both, so x is still read once. Only when
// piece i has no other user, which would still need it whole.
struct ComposeSplits : public OpRewritePattern<SplitOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SplitOp op, PatternRewriter &rewriter) const override {
    auto producer = op.getInput().getDefiningOp<SplitOp>();
    if (!producer || !op.getInput().hasOneUse())
      return failure();
    unsigned piece = cast<OpResult>(op.getInput()).getResultNumber();
    unsigned n = op.getNumResults();

    SmallVector<Type> types;
    for (unsigned i = 0; i < piece; ++i)
      types.push_back(producer.getResult(i).getType());
    llvm::append_range(types, op.getResultTypes());
    for (unsigned i = piece + 1; i < producer.getNumResults(); ++i)
      types.push_back(producer.getResult(i).getType());

    rewriter.setInsertionPoint(producer);
    auto finer = rewriter.create<SplitOp>(op.getLoc(), types, producer.getInput());
    rewriter.replaceOp(op, finer.getResults().slice(piece, n));
    SmallVector<Value> outer;
    for (unsigned i = 0; i < producer.getNumResults(); ++i)
      outer.push_back(i < piece    ? finer.getResult(i)
                      : i == piece ? Value()
                                   : finer.getResult(i + n - 1));
    for (unsigned i = 0; i < producer.getNumResults(); ++i)
      if (i != piece)
        rewriter.replaceAllUsesWith(producer.getResult(i), outer[i]);
    rewriter.eraseOp(producer);
    return success();
  }
};

} // namespace

void SplitOp::getCanonicalizationPatterns(RewritePatternSet &results, MLIRContext *context) {
  results.add<ComposeSplits>(context);
}
